//! `aws-trending-now`: items ranked by the increase in interactions between the two latest
//! windows of `trend_discovery_frequency`.

use super::{Hyperparameters, TrainingData};
use crate::error::{Error, Result};

pub const KNOWN: &[&str] = &["trend_discovery_frequency"];

/// The window length in seconds.
pub fn frequency(hp: &Hyperparameters) -> Result<i64> {
    match hp.text("trend_discovery_frequency").map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(3 * 3600),
        Some(s) => match s.as_str() {
            "30 minutes" => Ok(1800),
            "1 hour" => Ok(3600),
            "3 hours" => Ok(3 * 3600),
            "1 day" => Ok(86_400),
            _ => Err(Error::InvalidInput(format!(
                "trend_discovery_frequency '{s}' must be one of '30 minutes', '1 hour', '3 hours', '1 day'"
            ))),
        },
    }
}

/// Per item: interactions in the latest window minus those in the one before, with popularity
/// as a small tie-break so quiet catalogues still get an order.
pub fn fit(data: &TrainingData, window: i64, popularity: &[f32]) -> Vec<f32> {
    let end = data
        .histories
        .iter()
        .flatten()
        .map(|e| e.ts)
        .max()
        .unwrap_or(0);
    let mut trend = vec![0f32; data.n_items()];
    for e in data.histories.iter().flatten() {
        if e.ts > end - window {
            trend[e.item as usize] += 1.0;
        } else if e.ts > end - 2 * window {
            trend[e.item as usize] -= 1.0;
        }
    }
    for (t, p) in trend.iter_mut().zip(popularity) {
        *t += 1e-3 * p;
    }
    trend
}

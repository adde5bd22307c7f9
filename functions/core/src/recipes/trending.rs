//! `aws-trending-now`: items ranked by the increase in interactions between the two latest
//! windows of `trend_discovery_frequency`.

use super::{
    ArtifactError, ArtifactReader, ArtifactWriter, Hyperparameters, Learned, Recipe, RecipeDef,
    RecipeType, TrainingData,
};
use crate::error::{Error, Result};

pub const TRENDING_NOW: Recipe = Recipe::new(&RecipeDef {
    name: "aws-trending-now",
    recipe_type: RecipeType::PopularItems,
    hyperparameters: &["trend_discovery_frequency"],
    fit: fit_learned,
    read,
});

/// Per-item trend scores and the window they were measured over.
#[derive(Debug, Clone, PartialEq)]
pub struct Trending {
    /// Seconds.
    pub window: i64,
    pub scores: Vec<f32>,
}

fn fit_learned(
    data: &TrainingData,
    hp: &Hyperparameters,
    popularity: &[f32],
    _progress: &mut dyn FnMut(f64),
) -> Result<Box<dyn Learned>> {
    let window = frequency(hp)?;
    Ok(Box::new(Trending {
        window,
        scores: fit(data, window, popularity),
    }))
}

fn read(
    r: &ArtifactReader,
    hp: &serde_json::Value,
    n_items: usize,
) -> Result<Box<dyn Learned>, ArtifactError> {
    let scores = r.f32s(b"TRND")?;
    if scores.len() != n_items {
        return Err(ArtifactError::Corrupt("trend length".into()));
    }
    Ok(Box::new(Trending {
        window: hp["trend_discovery_frequency_seconds"]
            .as_i64()
            .unwrap_or(10_800),
        scores,
    }))
}

impl Learned for Trending {
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::json!({ "trend_discovery_frequency_seconds": self.window })
    }

    fn score_history(&self, _popularity: &[f32], _history: &[u32], out: &mut Vec<f32>) {
        out.extend_from_slice(&self.scores);
    }

    fn grow(&mut self, n_items: usize) {
        self.scores.resize(n_items, 0.0);
    }

    fn write(&self, w: &mut ArtifactWriter) {
        w.f32s(b"TRND", &self.scores);
    }

    fn box_clone(&self) -> Box<dyn Learned> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

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

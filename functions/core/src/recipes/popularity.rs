//! `aws-popularity-count`: items ranked by how many distinct users interacted with them.

use super::TrainingData;

/// Distinct users per item, scaled so the most popular item scores 1.
pub fn popularity(data: &TrainingData) -> Vec<f32> {
    let users = data.item_users();
    let max = users.iter().copied().max().unwrap_or(0).max(1) as f32;
    users.iter().map(|&u| u as f32 / max).collect()
}

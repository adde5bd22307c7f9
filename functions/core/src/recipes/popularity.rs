//! `aws-popularity-count`: items ranked by how many distinct users interacted with them.

use super::{ArtifactWriter, Learned, Recipe, RecipeDef, RecipeType, TrainingData};

/// Distinct users per item, scaled so the most popular item scores 1.
pub fn popularity(data: &TrainingData) -> Vec<f32> {
    scaled(&data.item_users())
}

/// Distinct users per item, scaled so the most popular item scores 1.
pub fn scaled(item_users: &[u32]) -> Vec<f32> {
    let max = item_users.iter().copied().max().unwrap_or(0).max(1) as f32;
    item_users.iter().map(|&u| u as f32 / max).collect()
}

pub const POPULARITY_COUNT: Recipe = Recipe::new(&RecipeDef {
    name: "aws-popularity-count",
    recipe_type: RecipeType::PopularItems,
    hyperparameters: &[],
    fit: |_, _, _, _| Ok(Box::new(PopularityCount)),
    read: |_, _, _| Ok(Box::new(PopularityCount)),
});

/// Learns nothing beyond the popularity every model carries.
#[derive(Debug, Clone, PartialEq)]
pub struct PopularityCount;

impl Learned for PopularityCount {
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::json!({})
    }

    fn score_history(&self, popularity: &[f32], _history: &[u32], out: &mut Vec<f32>) {
        out.extend_from_slice(popularity);
    }

    fn grow(&mut self, _n_items: usize) {}

    fn write(&self, _w: &mut ArtifactWriter) {}

    fn box_clone(&self) -> Box<dyn Learned> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

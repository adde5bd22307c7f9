//! What ranks a catalogue for one request: the model's scores for every item ([`Dense`]), or,
//! over a catalogue too large to score whole per request, a recipe's retrieval index. The
//! stages ask both the same questions, so a request answers the same way through either.

use super::stages::Softmax;
use super::{top_k, ItemSet, Scored};

/// Ranks one request's catalogue.
pub trait Ranker {
    /// The best `k` items of `allowed`, best first, ties to the lower code; `positive_only`
    /// keeps only items with a score above zero (related items).
    fn top(&mut self, k: usize, allowed: &ItemSet, positive_only: bool) -> Vec<Scored>;

    /// The best score over the whole catalogue, at least 0 (exploration's scale).
    fn best(&self) -> f32;

    /// One item's score.
    fn score(&self, item: u32) -> f32;

    /// Raises these items' scores (exploration's bonuses): later answers see the new scores.
    fn boost(&mut self, boosts: &[Scored]);

    /// Personalize's scores: the softmax over the whole catalogue's scores.
    fn softmax(&self) -> Softmax;

    /// No signal for the request: the scores are popularity.
    fn popular_fill(&self) -> bool {
        false
    }
}

/// Every item's score in one vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub values: Vec<f32>,
    /// No signal at all (an unknown or unrelated item): the values are popularity.
    pub popular_fill: bool,
}

impl Ranker for Dense {
    fn top(&mut self, k: usize, allowed: &ItemSet, positive_only: bool) -> Vec<Scored> {
        let v = &self.values;
        top_k(v, k, |i| {
            allowed.contains(i) && (!positive_only || v[i as usize] > 0.0)
        })
    }

    fn best(&self) -> f32 {
        self.values.iter().copied().fold(0f32, f32::max)
    }

    fn score(&self, item: u32) -> f32 {
        self.values.get(item as usize).copied().unwrap_or(f32::MIN)
    }

    fn boost(&mut self, boosts: &[Scored]) {
        for b in boosts {
            if let Some(s) = self.values.get_mut(b.item as usize) {
                *s = b.score;
            }
        }
    }

    fn softmax(&self) -> Softmax {
        Softmax::over(&self.values)
    }

    fn popular_fill(&self) -> bool {
        self.popular_fill
    }
}

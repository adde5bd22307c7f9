//! Cold items: a share of the catalogue is held out of training entirely (only its attributes
//! are known), and the model must find, for the users who interacted with those items, the ones
//! they chose — among the cold items alone, and among the whole catalogue.
//!
//! The baseline is what a shop does without a content model: the user's genre profile (share of
//! their history in each value of a categorical field) × each genre's popularity (share of all
//! training events), summed over an item's genres.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::Serialize;

use super::{history, recall_ndcg_at_10};
use crate::data::attrs::Attr;
use crate::engine::{self, Exploration, ItemSet, Query};
use crate::recipes::{Model, TrainingData};
use crate::sample::SplitMix;

/// Training data without the cold items' events, and each evaluated user's cold items.
#[derive(Debug, Clone)]
pub struct ColdSplit {
    pub train: TrainingData,
    /// Item codes held out (they stay in the catalogue, with their attributes).
    pub cold: Vec<u32>,
    /// Users with training events and cold items: (user, their distinct cold items).
    pub truth: Vec<(u32, Vec<u32>)>,
}

/// Holds out `fraction` of the items with interactions, drawn with `seed`.
pub fn cold_item_split(data: &TrainingData, fraction: f64, seed: u64) -> ColdSplit {
    let counts = data.item_users();
    let mut warm: Vec<u32> = (0..data.n_items() as u32)
        .filter(|&i| counts[i as usize] > 0)
        .collect();
    let mut rng = SplitMix::new(seed);
    for i in (1..warm.len()).rev() {
        warm.swap(i, rng.below(i + 1));
    }
    let k = ((fraction * warm.len() as f64).round() as usize).min(warm.len());
    let mut cold: Vec<u32> = warm[..k].to_vec();
    cold.sort_unstable();
    let mut is_cold = ItemSet::new(data.n_items());
    cold.iter().for_each(|&i| is_cold.insert(i));
    let mut train = data.clone();
    let mut truth = Vec::new();
    for (u, h) in train.histories.iter_mut().enumerate() {
        let mut held: Vec<u32> = h
            .iter()
            .filter(|e| is_cold.contains(e.item))
            .map(|e| e.item)
            .collect();
        h.retain(|e| !is_cold.contains(e.item));
        held.sort_unstable();
        held.dedup();
        if !held.is_empty() && !h.is_empty() {
            truth.push((u as u32, held));
        }
    }
    ColdSplit { train, cold, truth }
}

/// Recall@10 and NDCG@10 of one way of ranking, over one candidate set.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColdFigure {
    pub method: String,
    pub candidates: String,
    pub recall_at_10: f64,
    pub normalized_discounted_cumulative_gain_at_10: f64,
}

/// A ranker of the catalogue for a user: scores (catalogue-sized) for a history.
pub trait ColdScorer: Sync {
    fn scores(&self, history: &[u32], out: &mut Vec<f32>);
}

impl ColdScorer for Model {
    fn scores(&self, history: &[u32], out: &mut Vec<f32>) {
        self.score_history(history, out);
    }
}

/// The genre-profile × genre-popularity baseline over `field` (a categorical Items field).
pub struct GenreBaseline {
    /// Genre codes of each item.
    genres: Vec<Vec<u32>>,
    /// Share of training events per genre.
    popularity: Vec<f32>,
}

impl GenreBaseline {
    pub fn new(data: &TrainingData, field: &str) -> Option<GenreBaseline> {
        let attrs = data.content.as_ref()?;
        let mut dict: HashMap<String, u32> = HashMap::new();
        let genres: Vec<Vec<u32>> = (0..data.n_items())
            .map(
                |i| match attrs.rows.get(i).and_then(|r| r.as_ref()?.get(field)) {
                    Some(Attr::Text(s)) => s
                        .split('|')
                        .map(|g| g.trim().to_lowercase())
                        .filter(|g| !g.is_empty())
                        .map(|g| {
                            let n = dict.len() as u32;
                            *dict.entry(g).or_insert(n)
                        })
                        .collect(),
                    _ => Vec::new(),
                },
            )
            .collect();
        if dict.is_empty() {
            return None;
        }
        let mut popularity = vec![0f32; dict.len()];
        let mut total = 0f32;
        for h in &data.histories {
            for e in h {
                for &g in &genres[e.item as usize] {
                    popularity[g as usize] += 1.0;
                }
                total += 1.0;
            }
        }
        popularity.iter_mut().for_each(|p| *p /= total.max(1.0));
        Some(GenreBaseline { genres, popularity })
    }
}

impl ColdScorer for GenreBaseline {
    fn scores(&self, history: &[u32], out: &mut Vec<f32>) {
        let mut profile = vec![0f32; self.popularity.len()];
        for &i in history {
            for &g in &self.genres[i as usize] {
                profile[g as usize] += 1.0 / history.len() as f32;
            }
        }
        out.clear();
        out.extend(self.genres.iter().map(|gs| {
            gs.iter()
                .map(|&g| profile[g as usize] * self.popularity[g as usize])
                .sum::<f32>()
        }));
    }
}

/// The best 10 of `scores` among `allowed`. Ties go by a hash of the code, not the code: item
/// codes follow first appearance in the data, which is popularity by another name, and would
/// rank tied items (a scorer with nothing to say) by it.
fn top10(scores: &[f32], allowed: impl Fn(u32) -> bool) -> Vec<u32> {
    let key = |s: f32, i: u32| (s, SplitMix::new(i as u64).next_u64());
    let mut top: Vec<((f32, u64), u32)> = Vec::with_capacity(11);
    for (i, &s) in scores.iter().enumerate() {
        let i = i as u32;
        if s.is_nan() || !allowed(i) {
            continue;
        }
        let k = key(s, i);
        let better = |t: &(f32, u64)| t.0 > k.0 || (t.0 == k.0 && t.1 >= k.1);
        if top.len() < 10 || !better(&top[top.len() - 1].0) {
            let at = top.partition_point(|(t, _)| better(t));
            top.insert(at, (k, i));
            top.truncate(10);
        }
    }
    top.into_iter().map(|(_, i)| i).collect()
}

fn figure(method: &str, candidates: &str, per_user: &[(f64, f64)]) -> ColdFigure {
    let n = per_user.len().max(1) as f64;
    ColdFigure {
        method: method.to_string(),
        candidates: candidates.to_string(),
        recall_at_10: per_user.iter().fold(0.0, |s, r| s + r.0) / n,
        normalized_discounted_cumulative_gain_at_10: per_user.iter().fold(0.0, |s, r| s + r.1) / n,
    }
}

/// `scorer`'s figures with the cold items as the only candidates, and with the whole
/// catalogue (the user's training items excluded) as candidates.
pub fn evaluate_scorer(
    method: &str,
    scorer: &dyn ColdScorer,
    split: &ColdSplit,
) -> Vec<ColdFigure> {
    let n = split.train.n_items();
    let mut is_cold = ItemSet::new(n);
    split.cold.iter().for_each(|&i| is_cold.insert(i));
    let per_user: Vec<((f64, f64), (f64, f64))> = split
        .truth
        .par_iter()
        .map_init(Vec::new, |scores, (u, truth)| {
            let h = history(&split.train, *u);
            scorer.scores(&h, scores);
            let mut seen = ItemSet::new(n);
            h.iter().for_each(|&i| seen.insert(i));
            let cold_top = top10(scores, |i| is_cold.contains(i));
            let all_top = top10(scores, |i| !seen.contains(i));
            (
                recall_ndcg_at_10(&cold_top, truth),
                recall_ndcg_at_10(&all_top, truth),
            )
        })
        .collect();
    let cold: Vec<(f64, f64)> = per_user.iter().map(|r| r.0).collect();
    let all: Vec<(f64, f64)> = per_user.iter().map(|r| r.1).collect();
    vec![
        figure(method, "cold items", &cold),
        figure(method, "whole catalogue", &all),
    ]
}

/// The model through the engine's answer path over the whole catalogue, with item exploration
/// at `weight` over the cold items (as a campaign explores items created within its cut-off).
pub fn evaluate_explored(model: &Model, split: &ColdSplit, weight: f32) -> ColdFigure {
    let exploration = Exploration {
        weight,
        fresh: split.cold.iter().map(|&i| (i, 1.0)).collect(),
    };
    let per_user: Vec<(f64, f64)> = split
        .truth
        .par_iter()
        .map(|(u, truth)| {
            let h = history(&split.train, *u);
            let query = Query {
                exclude_history: true,
                exploration: Some(&exploration),
                ..Query::for_history(&h, 10)
            };
            let top: Vec<u32> = engine::recommend(model, &query)
                .iter()
                .filter_map(|p| p.item)
                .collect();
            recall_ndcg_at_10(&top, truth)
        })
        .collect();
    figure(
        &format!("{} (explorationWeight {weight})", model.recipe.name()),
        "whole catalogue",
        &per_user,
    )
}

/// The QUALITY.md split of `data` with `fraction` of the items also held out of training (their
/// training-period events dropped): each user's newest 20% is the truth, warm and cold items
/// alike. What placing cold items among warm ones is judged by — a cold item ranked too high
/// costs the warm items it displaces.
pub fn mixed_split(data: &TrainingData, fraction: f64, seed: u64) -> super::Split {
    let mut split = super::quality_split(data);
    let cold = cold_item_split(&split.train, fraction, seed);
    split.train = cold.train;
    split
}

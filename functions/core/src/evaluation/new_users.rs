//! New users: a share of the users is held out of training entirely; each is then given only
//! their first `k` events (in time order, as a session would bring them) and asked for the rest.
//! Any model answers from those events at request time (fold-in); the baselines are popularity
//! and item-kNN (SIMS) from the same events.

use rayon::prelude::*;

use super::recall_ndcg_at_10;
use crate::engine::{self, Query};
use crate::recipes::{Model, TrainingData};
use crate::sample::SplitMix;

/// Training data without the held-out users, and each held-out user's events (item codes of
/// the training catalogue, time order; items training never saw are dropped).
#[derive(Debug, Clone)]
pub struct NewUserSplit {
    pub train: TrainingData,
    pub held_out: Vec<Vec<u32>>,
}

/// `fraction` of the users with events, drawn with `seed`.
pub fn held_out_users(data: &TrainingData, fraction: f64, seed: u64) -> Vec<usize> {
    let mut users: Vec<usize> = (0..data.histories.len())
        .filter(|&u| !data.histories[u].is_empty())
        .collect();
    let mut rng = SplitMix::new(seed);
    for i in (1..users.len()).rev() {
        users.swap(i, rng.below(i + 1));
    }
    users.truncate((fraction * users.len() as f64).round() as usize);
    users
}

/// Holds out `fraction` of the users with events, drawn with `seed`.
pub fn new_user_split(data: &TrainingData, fraction: f64, seed: u64) -> NewUserSplit {
    let users = held_out_users(data, fraction, seed);
    let mut train = data.clone();
    let mut held = Vec::with_capacity(users.len());
    for &u in &users {
        held.push(std::mem::take(&mut train.histories[u]));
    }
    // Items only the held-out users touched are unknown to training: a new user's events on
    // them cannot be scored from, and they cannot be recommended.
    let known = {
        let counts = train.item_users();
        move |i: u32| counts[i as usize] > 0
    };
    let held_out = held
        .into_iter()
        .map(|h| {
            h.into_iter()
                .map(|e| e.item)
                .filter(|&i| known(i))
                .collect()
        })
        .collect();
    NewUserSplit { train, held_out }
}

/// Recall@10 and NDCG@10 of `model` for held-out users with more than `k` events, given their
/// first `k`; the truth is the rest of their items. Returns (users, recall, NDCG).
pub fn evaluate_first_k(model: &Model, split: &NewUserSplit, k: usize) -> (usize, f64, f64) {
    let per_user: Vec<(f64, f64)> = split
        .held_out
        .par_iter()
        .filter(|h| h.len() > k)
        .map(|h| {
            let history = &h[..k];
            let mut truth: Vec<u32> = h[k..]
                .iter()
                .copied()
                .filter(|i| !history.contains(i))
                .collect();
            truth.sort_unstable();
            truth.dedup();
            let query = Query {
                exclude_history: true,
                ..Query::for_history(history, 10)
            };
            let top: Vec<u32> = engine::recommend(model, &query)
                .iter()
                .filter_map(|p| p.item)
                .collect();
            recall_ndcg_at_10(&top, &truth)
        })
        .collect();
    let n = per_user.len().max(1) as f64;
    (
        per_user.len(),
        per_user.iter().fold(0.0, |s, r| s + r.0) / n,
        per_user.iter().fold(0.0, |s, r| s + r.1) / n,
    )
}

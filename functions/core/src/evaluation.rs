//! Offline evaluation: the QUALITY.md split (temporal, per user) and Personalize's metric names.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::engine::{self, ItemSet, Query};
use crate::recipes::{Model, TrainingData};

pub mod cold;
pub mod context;
pub mod new_users;
pub mod report;

/// Training data plus each held-out user's ground truth (item codes).
#[derive(Debug, Clone)]
pub struct Split {
    pub train: TrainingData,
    pub truth: Vec<(u32, Vec<u32>)>,
}

/// For each user with at least `min_events`, the newest ceil(`fraction`) of their events (at
/// least one) become ground truth and the rest training; other users stay whole in training.
pub fn temporal_split(data: &TrainingData, min_events: usize, fraction: f64) -> Split {
    let mut train = data.clone();
    let mut truth = Vec::new();
    for (u, h) in train.histories.iter_mut().enumerate() {
        let k = held_out(h.len(), min_events, fraction);
        if k > 0 {
            let held: Vec<u32> = h
                .split_off(h.len() - k)
                .into_iter()
                .map(|e| e.item)
                .collect();
            truth.push((u as u32, held));
        }
    }
    Split { train, truth }
}

/// How many of a history's `n` newest events [`temporal_split`] holds out: the newest
/// `fraction` (at least one) of a history of `min_events` or more, else none.
pub(crate) fn held_out(n: usize, min_events: usize, fraction: f64) -> usize {
    if n >= min_events {
        ((fraction * n as f64).ceil() as usize).max(1)
    } else {
        0
    }
}

/// A user's training history as item codes, oldest first.
pub fn history(train: &TrainingData, user: u32) -> Vec<u32> {
    train.histories[user as usize]
        .iter()
        .map(|e| e.item)
        .collect()
}

/// Recall@10 and NDCG@10 of a top 10 against the relevant items (`truth` sorted, distinct).
pub fn recall_ndcg_at_10(top: &[u32], truth: &[u32]) -> (f64, f64) {
    let hits: Vec<bool> = top
        .iter()
        .take(10)
        .map(|i| truth.binary_search(i).is_ok())
        .collect();
    let ideal = truth.len().min(10);
    let recall = hits.iter().filter(|&&h| h).count() as f64 / ideal.max(1) as f64;
    (recall, ndcg(&hits, ideal))
}

/// NDCG of a ranked list's hits (gain 1/log2(rank+1)) against the best possible with
/// `ideal_hits` relevant items.
pub fn ndcg(hits: &[bool], ideal_hits: usize) -> f64 {
    let gain = |r: usize| 1.0 / ((r + 2) as f64).log2();
    let dcg: f64 = (0..hits.len()).filter(|&r| hits[r]).map(gain).sum();
    let idcg: f64 = (0..ideal_hits).map(gain).sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

/// The protocol's split: 5 events minimum, newest 20% held out.
pub fn quality_split(data: &TrainingData) -> Split {
    temporal_split(data, 5, 0.2)
}

/// Metrics under Personalize's names (plus recall, which QUALITY.md reports).
pub type Metrics = BTreeMap<String, f64>;

/// One held-out user's figures at K = 5, 10, 25.
struct UserResult {
    precision: [f64; 3],
    recall: [f64; 3],
    ndcg: [f64; 3],
    rr: f64,
    top10: Vec<u32>,
    /// NDCG@k for k = 1..=25.
    ndcg_at: Vec<f64>,
}

/// What the report draws beyond the metrics.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Curves {
    /// Mean NDCG@k for k = 1..=25.
    pub ndcg_at_k: Vec<f64>,
    /// Popularity bias: the mean popularity percentile (1 = the most popular item) of the
    /// items recommended in the top 10s...
    pub recommended_popularity: f64,
    /// ...and of the held-out items the users went on to choose.
    pub held_out_popularity: f64,
}

/// Asks the model for every held-out user's top 25, excluding their training items.
pub fn evaluate(model: &Model, split: &Split) -> Metrics {
    evaluate_with_curves(model, split).0
}

/// [`evaluate`], and the curves the HTML report draws.
pub fn evaluate_with_curves(model: &Model, split: &Split) -> (Metrics, Curves) {
    const KS: [usize; 3] = [5, 10, 25];
    let n_items = model.items.len();
    let per_user: Vec<UserResult> = split
        .truth
        .par_iter()
        .map(|(u, truth)| {
            let history = history(&split.train, *u);
            let query = Query {
                exclude_history: true,
                ..Query::for_history(&history, 25)
            };
            let top: Vec<u32> = engine::recommend(model, &query)
                .iter()
                .filter_map(|p| p.item)
                .collect();
            let mut relevant = ItemSet::new(n_items);
            truth.iter().for_each(|&i| relevant.insert(i));
            let mut distinct = truth.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let hits: Vec<bool> = top.iter().map(|&i| relevant.contains(i)).collect();
            let (mut precision, mut recall, mut ndcg) = ([0.0; 3], [0.0; 3], [0.0; 3]);
            for (slot, &k) in KS.iter().enumerate() {
                let h = &hits[..k.min(hits.len())];
                let n_hits = h.iter().filter(|&&x| x).count() as f64;
                let ideal_n = distinct.len().min(k);
                precision[slot] = n_hits / k as f64;
                recall[slot] = n_hits / ideal_n.max(1) as f64;
                ndcg[slot] = self::ndcg(h, ideal_n);
            }
            let rr = hits
                .iter()
                .position(|&x| x)
                .map_or(0.0, |r| 1.0 / (r + 1) as f64);
            let top10: Vec<u32> = top.iter().take(10).copied().collect();
            let ndcg_at = (1..=25)
                .map(|k| self::ndcg(&hits[..k.min(hits.len())], distinct.len().min(k)))
                .collect();
            UserResult {
                precision,
                recall,
                ndcg,
                rr,
                top10,
                ndcg_at,
            }
        })
        .collect();
    let users = per_user.len().max(1) as f64;
    let mut m = Metrics::new();
    for (slot, k) in KS.iter().enumerate() {
        m.insert(
            format!("precision_at_{k}"),
            per_user.iter().map(|r| r.precision[slot]).sum::<f64>() / users,
        );
        m.insert(
            format!("recall_at_{k}"),
            per_user.iter().map(|r| r.recall[slot]).sum::<f64>() / users,
        );
        m.insert(
            format!("normalized_discounted_cumulative_gain_at_{k}"),
            per_user.iter().map(|r| r.ndcg[slot]).sum::<f64>() / users,
        );
    }
    m.insert(
        "mean_reciprocal_rank_at_25".into(),
        per_user.iter().map(|r| r.rr).sum::<f64>() / users,
    );
    let mut covered = ItemSet::new(n_items);
    let mut distinct = 0usize;
    for r in &per_user {
        for &i in &r.top10 {
            if !covered.contains(i) {
                covered.insert(i);
                distinct += 1;
            }
        }
    }
    m.insert("coverage".into(), distinct as f64 / n_items.max(1) as f64);
    let percentile = popularity_percentiles(&model.popularity);
    let mean_percentile = |items: &mut dyn Iterator<Item = u32>| {
        let (sum, n) = items.fold((0.0, 0usize), |(s, n), i| {
            (
                s + percentile.get(i as usize).copied().unwrap_or(0.0),
                n + 1,
            )
        });
        sum / n.max(1) as f64
    };
    let curves = Curves {
        ndcg_at_k: (0..25)
            .map(|k| per_user.iter().map(|r| r.ndcg_at[k]).sum::<f64>() / users)
            .collect(),
        recommended_popularity: mean_percentile(
            &mut per_user.iter().flat_map(|r| r.top10.iter().copied()),
        ),
        held_out_popularity: mean_percentile(
            &mut split.truth.iter().flat_map(|(_, t)| t.iter().copied()),
        ),
    };
    (m, curves)
}

/// Each item's popularity percentile in the catalogue: 1 for the most popular, near 0 for
/// the least (ties share the higher rank).
fn popularity_percentiles(popularity: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..popularity.len()).collect();
    order.sort_by(|&a, &b| popularity[a].total_cmp(&popularity[b]));
    let n = popularity.len().max(1) as f64;
    let mut out = vec![0.0; popularity.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && popularity[order[j + 1]] == popularity[order[i]] {
            j += 1;
        }
        for &item in &order[i..=j] {
            out[item] = (j + 1) as f64 / n;
        }
        i = j + 1;
    }
    out
}

/// One evaluation: the metrics and how long the fit took.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub recipe: String,
    pub metrics: Metrics,
    pub curves: Curves,
    pub fit_seconds: f64,
    pub users_evaluated: usize,
    pub catalogue: usize,
}

/// Fits `recipe` on the split's training part and evaluates it.
pub fn run(
    recipe: crate::recipes::Recipe,
    hp: &crate::recipes::Hyperparameters,
    split: &Split,
    progress: &mut dyn FnMut(f64),
) -> crate::Result<Report> {
    let started = std::time::Instant::now();
    let model = Model::fit(recipe, &split.train, hp, progress)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let (metrics, curves) = evaluate_with_curves(&model, split);
    Ok(Report {
        recipe: recipe.name().to_string(),
        metrics,
        curves,
        fit_seconds,
        users_evaluated: split.truth.len(),
        catalogue: model.items.len(),
    })
}

/// A split from two files: `test` rows are each user's ground truth, `train` everything known.
/// Both must share the catalogue, so test-only items join it (they cannot be recommended).
pub fn pre_split(train: &TrainingData, test: &TrainingData) -> Split {
    let mut train = train.clone();
    let mut truth = Vec::new();
    for (u, h) in test.histories.iter().enumerate() {
        if h.is_empty() {
            continue;
        }
        let user = train.users.intern(test.users.name(u as u32));
        if train.histories.len() <= user as usize {
            train.histories.resize(user as usize + 1, Vec::new());
        }
        let items: Vec<u32> = h
            .iter()
            .map(|e| train.items.intern(test.items.name(e.item)))
            .collect();
        truth.push((user, items));
    }
    Split { train, truth }
}

/// Reads a Personalize CSV outside any dataset group, with a schema inferred from its header.
pub fn read_csv(
    kind: crate::schema::DatasetType,
    bytes: &[u8],
) -> crate::Result<crate::data::Table> {
    read_csv_with_text(kind, bytes, &[])
}

/// [`read_csv`], with the named columns read as `textual` (an inferred column is categorical).
pub fn read_csv_with_text(
    kind: crate::schema::DatasetType,
    bytes: &[u8],
    textual: &[&str],
) -> crate::Result<crate::data::Table> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = body.split(|&b| b == b'\n').next().unwrap_or_default();
    let header = std::str::from_utf8(first)
        .map_err(|_| crate::Error::InvalidInput("the header row is not UTF-8".into()))?
        .trim_end_matches('\r');
    let names: Vec<&str> = header
        .split(',')
        .map(|s| s.trim().trim_matches('"'))
        .collect();
    let schema = crate::schema::DatasetSchema::infer_with_text(kind, &names, textual)?;
    crate::data::csv::parse(std::sync::Arc::new(schema), bytes, &mut |_| {})
        .map_err(|e| crate::Error::InvalidInput(e.to_string()))
}

/// A Personalize CSV read with a schema given as JSON.
pub fn read_csv_with_schema(schema_json: &str, bytes: &[u8]) -> crate::Result<crate::data::Table> {
    let schema = crate::schema::DatasetSchema::parse(schema_json)?;
    crate::data::csv::parse(std::sync::Arc::new(schema), bytes, &mut |_| {})
        .map_err(|e| crate::Error::InvalidInput(e.to_string()))
}

/// Related-items figures by how much the query item was seen: for each held-out user, the
/// related items of their newest training item (their training items excluded, through the
/// engine's RELATED_ITEMS path) against their held-out items, grouped by the query item's
/// training users: `(label, users, recall@10, NDCG@10)` per group.
pub fn related_by_evidence(model: &Model, split: &Split) -> Vec<(String, usize, f64, f64)> {
    const GROUPS: [(&str, u32, u32); 3] = [
        ("query item with 1-4 users", 1, 4),
        ("query item with 5-19 users", 5, 19),
        ("query item with 20+ users", 20, u32::MAX),
    ];
    let users = split.train.item_users();
    let per_user: Vec<(u32, f64, f64)> = split
        .truth
        .par_iter()
        .filter_map(|(u, truth)| {
            let history = history(&split.train, *u);
            let &q = history.last()?;
            let query = Query {
                scoring: engine::Scoring::Related(Some(q)),
                candidates: engine::Candidates::All { exclude: &history },
                ..Query::for_history(&history, 10)
            };
            let top: Vec<u32> = engine::recommend(model, &query)
                .iter()
                .filter_map(|p| p.item)
                .collect();
            let mut distinct = truth.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let (recall, ndcg) = recall_ndcg_at_10(&top, &distinct);
            Some((users[q as usize], recall, ndcg))
        })
        .collect();
    GROUPS
        .iter()
        .map(|&(label, lo, hi)| {
            let rows: Vec<&(u32, f64, f64)> = per_user
                .iter()
                .filter(|r| (lo..=hi).contains(&r.0))
                .collect();
            let n = rows.len().max(1) as f64;
            (
                label.to_string(),
                rows.len(),
                rows.iter().fold(0.0, |s, r| s + r.1) / n,
                rows.iter().fold(0.0, |s, r| s + r.2) / n,
            )
        })
        .collect()
}

/// The mean of a numeric item attribute over every held-out user's top 10 (their training
/// items excluded, as [`evaluate`] asks): what an optimisation objective moves.
pub fn mean_attribute_at_10(model: &Model, split: &Split, attribute: &str) -> f64 {
    use crate::data::attrs::{lookup, Attr};
    let value = |item: u32| -> Option<f64> {
        let id = model.items.name(item);
        let code = split.train.items.get(id)?;
        let rows = &split.train.content.as_ref()?.rows;
        match lookup(rows.get(code as usize)?.as_ref()?, attribute)? {
            Attr::Number(x) => Some(*x),
            _ => None,
        }
    };
    let (sum, n) = split
        .truth
        .par_iter()
        .map(|(u, _)| {
            let history = history(&split.train, *u);
            let query = Query {
                exclude_history: true,
                ..Query::for_history(&history, 10)
            };
            engine::recommend(model, &query)
                .iter()
                .filter_map(|p| value(p.item?))
                .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1))
        })
        .reduce(|| (0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    sum / n.max(1) as f64
}

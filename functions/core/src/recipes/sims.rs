//! `aws-sims`: item-to-item collaborative filtering on co-occurrence in user histories.
//!
//! score(i → j) = co(i, j) / users(j)^popularity_discount_factor, where co counts users who
//! interacted with both: at 0 the most popular co-occurring items win, at 1 the items most
//! specific to i. Pairs seen together by fewer than `min_cointeraction_count` users are dropped;
//! users and items outside the history-length / interaction-count percentiles are left out of
//! training. Each item keeps its best `MAX_NEIGHBOURS`.

use rayon::prelude::*;

use super::{
    ArtifactError, ArtifactReader, ArtifactWriter, Hyperparameters, Learned, Recipe, RecipeDef,
    RecipeType, RelatedItems, TrainingData,
};
use crate::error::Result;

pub const SIMS: Recipe = Recipe::new(&RecipeDef {
    name: "aws-sims",
    recipe_type: RecipeType::RelatedItems,
    hyperparameters: KNOWN,
    fit: fit_learned,
    read,
});

const KNOWN: &[&str] = &[
    "popularity_discount_factor",
    "min_cointeraction_count",
    "min_user_history_length_percentile",
    "max_user_history_length_percentile",
    "min_item_interaction_count_percentile",
    "max_item_interaction_count_percentile",
];

const MAX_NEIGHBOURS: usize = 100;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimsParams {
    pub popularity_discount_factor: f64,
    pub min_cointeraction_count: u32,
    pub min_user_history_length_percentile: f64,
    pub max_user_history_length_percentile: f64,
    pub min_item_interaction_count_percentile: f64,
    pub max_item_interaction_count_percentile: f64,
}

impl SimsParams {
    pub fn from_hp(hp: &Hyperparameters) -> Result<SimsParams> {
        Ok(SimsParams {
            popularity_discount_factor: hp.number("popularity_discount_factor", 0.5, 0.0, 1.0)?,
            min_cointeraction_count: hp.number("min_cointeraction_count", 3, 0, 10)?,
            min_user_history_length_percentile: hp.number(
                "min_user_history_length_percentile",
                0.005,
                0.0,
                1.0,
            )?,
            max_user_history_length_percentile: hp.number(
                "max_user_history_length_percentile",
                0.995,
                0.0,
                1.0,
            )?,
            min_item_interaction_count_percentile: hp.number(
                "min_item_interaction_count_percentile",
                0.01,
                0.0,
                1.0,
            )?,
            max_item_interaction_count_percentile: hp.number(
                "max_item_interaction_count_percentile",
                1.0,
                0.0,
                1.0,
            )?,
        })
    }
}

/// Neighbour lists in CSR form: item i's neighbours are `items[offsets[i]..offsets[i+1]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sims {
    pub offsets: Vec<u32>,
    pub items: Vec<u32>,
    pub scores: Vec<f32>,
}

impl Sims {
    pub fn neighbours(&self, item: u32) -> impl Iterator<Item = (u32, f32)> + '_ {
        let (a, b) = match (
            self.offsets.get(item as usize),
            self.offsets.get(item as usize + 1),
        ) {
            (Some(&a), Some(&b)) => (a as usize, b as usize),
            _ => (0, 0),
        };
        self.items[a..b]
            .iter()
            .copied()
            .zip(self.scores[a..b].iter().copied())
    }
}

/// What SIMS learned: its parameters and the neighbour lists.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemToItem {
    pub params: SimsParams,
    pub sims: Sims,
}

fn fit_learned(
    data: &TrainingData,
    hp: &Hyperparameters,
    _popularity: &[f32],
    _progress: &mut dyn FnMut(f64),
) -> Result<Box<dyn Learned>> {
    let params = SimsParams::from_hp(hp)?;
    Ok(Box::new(ItemToItem {
        sims: fit(data, &params),
        params,
    }))
}

fn read(
    r: &ArtifactReader,
    hp: &serde_json::Value,
    n_items: usize,
) -> Result<Box<dyn Learned>, ArtifactError> {
    let corrupt = |what: &str| ArtifactError::Corrupt(what.to_string());
    let params: SimsParams =
        serde_json::from_value(hp.clone()).map_err(|e| corrupt(&e.to_string()))?;
    let sims = Sims {
        offsets: r.u32s(b"SOFF")?,
        items: r.u32s(b"SIDX")?,
        scores: r.f32s(b"SSCO")?,
    };
    let ok = sims.offsets.len() == n_items + 1
        && sims.items.len() == sims.scores.len()
        && sims.offsets.windows(2).all(|w| w[0] <= w[1])
        && sims
            .offsets
            .last()
            .is_some_and(|&l| l as usize == sims.items.len())
        && sims.items.iter().all(|&j| (j as usize) < n_items);
    if !ok {
        return Err(corrupt("neighbour lists"));
    }
    Ok(Box::new(ItemToItem { params, sims }))
}

impl Learned for ItemToItem {
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }

    /// SIMS answers item queries; for a user, blend the neighbours of the newest items.
    fn score_history(&self, popularity: &[f32], history: &[u32], out: &mut Vec<f32>) {
        out.extend(popularity.iter().map(|p| 1e-3 * p));
        for (k, &item) in history.iter().rev().take(10).enumerate() {
            let w = (-0.2 * k as f32).exp();
            for (j, s) in self.sims.neighbours(item) {
                out[j as usize] += w * s;
            }
        }
    }

    fn grow(&mut self, n_items: usize) {
        let last = *self.sims.offsets.last().unwrap_or(&0);
        self.sims.offsets.resize(n_items + 1, last);
    }

    fn write(&self, w: &mut ArtifactWriter) {
        w.u32s(b"SOFF", &self.sims.offsets)
            .u32s(b"SIDX", &self.sims.items)
            .f32s(b"SSCO", &self.sims.scores);
    }

    fn box_clone(&self) -> Box<dyn Learned> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn related(&self) -> Option<&dyn RelatedItems> {
        Some(self)
    }
}

impl RelatedItems for ItemToItem {
    fn score_related(&self, popularity: &[f32], item: u32, out: &mut Vec<f32>) {
        out.resize(popularity.len(), 0.0);
        for (j, s) in self.sims.neighbours(item) {
            out[j as usize] = s;
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64).round()) as usize]
}

pub fn fit(data: &TrainingData, p: &SimsParams) -> Sims {
    let mut data = data.clone();
    data.filter_history_percentiles(
        p.min_user_history_length_percentile,
        p.max_user_history_length_percentile,
    );
    let n = data.n_items();
    // Distinct items per user, and the inverted index.
    let baskets = data.distinct_items();
    let mut users_of: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (u, b) in baskets.iter().enumerate() {
        for &i in b {
            users_of[i as usize].push(u as u32);
        }
    }
    let counts: Vec<u32> = users_of.iter().map(|u| u.len() as u32).collect();
    let mut sorted: Vec<u32> = counts.iter().copied().filter(|&c| c > 0).collect();
    sorted.sort_unstable();
    let lo = if p.min_item_interaction_count_percentile > 0.0 {
        percentile(&sorted, p.min_item_interaction_count_percentile)
    } else {
        0
    };
    let hi = if p.max_item_interaction_count_percentile < 1.0 {
        percentile(&sorted, p.max_item_interaction_count_percentile)
    } else {
        u32::MAX
    };
    let eligible: Vec<bool> = counts
        .iter()
        .map(|&c| c > 0 && c >= lo && c <= hi)
        .collect();
    let discount: Vec<f32> = counts
        .iter()
        .map(|&c| (c.max(1) as f64).powf(p.popularity_discount_factor) as f32)
        .collect();
    let min_co = p.min_cointeraction_count.max(1);

    let lists: Vec<Vec<(u32, f32)>> = (0..n)
        .into_par_iter()
        .map_init(
            || (vec![0u32; n], Vec::<u32>::new()),
            |(co, touched), i| {
                for &u in &users_of[i] {
                    for &j in &baskets[u as usize] {
                        if j as usize != i && eligible[j as usize] {
                            if co[j as usize] == 0 {
                                touched.push(j);
                            }
                            co[j as usize] += 1;
                        }
                    }
                }
                let mut list: Vec<(u32, f32)> = touched
                    .iter()
                    .filter(|&&j| co[j as usize] >= min_co)
                    .map(|&j| (j, co[j as usize] as f32 / discount[j as usize]))
                    .collect();
                for &j in touched.iter() {
                    co[j as usize] = 0;
                }
                touched.clear();
                let keep = MAX_NEIGHBOURS.min(list.len());
                if list.len() > keep {
                    list.select_nth_unstable_by(keep, |a, b| {
                        b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
                    });
                    list.truncate(keep);
                }
                list.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                list
            },
        )
        .collect();
    let mut sims = Sims {
        offsets: Vec::with_capacity(n + 1),
        items: Vec::new(),
        scores: Vec::new(),
    };
    sims.offsets.push(0);
    for list in lists {
        for (j, s) in list {
            sims.items.push(j);
            sims.scores.push(s);
        }
        sims.offsets.push(sims.items.len() as u32);
    }
    sims
}

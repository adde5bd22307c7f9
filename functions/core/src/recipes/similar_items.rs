//! `aws-similar-items`: related items from co-occurrence and from what the items are.
//!
//! Two embeddings per item, each at unit length:
//! - `y`, `item_id_hidden_dim` implicit-feedback ALS factors: items the same users chose lie
//!   together (co-occurrence); an item with no interactions gets its factors from the content map
//!   ([`super::content`]), at training and through PutItems;
//! - `m`, the item's metadata and text features, each weighted by what the content map makes of
//!   it, projected to `item_metadata_hidden_dim` dimensions by a fixed random sign projection
//!   (cosines kept in expectation).
//!
//! ```text
//! related(i → j) = a · y_i·y_j + (1 − a) · content_weight · cos(m_i, m_j)
//! a = min(a_i, a_j),  a_i = n_i / (n_i + evidence)
//! ```
//! with `n_i` the users who interacted with `i`: a pair of items with many interactions is
//! placed by co-occurrence, one with few by content as well. An item with none has its `y` row
//! mapped from content, discounted by `cold_item_weight`, and counted in full. Without an Items
//! dataset, a data-poor query item falls back on popular items, as SIMS does.

use rayon::prelude::*;

use super::content::{ContentMap, ItemAttributes};
use super::factors::{self, AlsParams};
use super::{
    ArtifactError, ArtifactReader, ArtifactWriter, Hyperparameters, Learned, Recipe, RecipeDef,
    RecipeType, RelatedItems, TrainingData,
};
use crate::data::attrs::Attrs;
use crate::error::Result;
use crate::sample::SplitMix;

pub const SIMILAR_ITEMS: Recipe = Recipe::new(&RecipeDef {
    name: "aws-similar-items",
    recipe_type: RecipeType::RelatedItems,
    hyperparameters: KNOWN,
    fit: fit_learned,
    read,
});

const KNOWN: &[&str] = &[
    "item_id_hidden_dim",
    "item_metadata_hidden_dim",
    // tailor's own
    "evidence",
    "als_alpha",
    "als_reg",
    "als_iterations",
    "content_reg",
    "content_weight",
    "cold_item_weight",
];

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimilarParams {
    pub item_id_hidden_dim: usize,
    pub item_metadata_hidden_dim: usize,
    /// Interactions at which co-occurrence and content weigh the same.
    pub evidence: f32,
    pub als_alpha: f32,
    pub als_reg: f32,
    pub als_iterations: usize,
    pub content_reg: f32,
    /// The mean length of the trained items' factors: what a content-mapped row is divided by
    /// (set in training).
    #[serde(default = "one")]
    pub factor_norm: f32,
    /// What an item without interactions' mapped factors count for against trained ones.
    #[serde(default = "cold_item_weight")]
    pub cold_item_weight: f32,
    /// How a content cosine compares with a co-occurrence one.
    #[serde(default = "content_weight")]
    pub content_weight: f32,
}

fn one() -> f32 {
    1.0
}

fn content_weight() -> f32 {
    CONTENT_WEIGHT
}

/// Both chosen on validation (README, "aws-similar-items").
const CONTENT_WEIGHT: f32 = 0.25;
const COLD_ITEM_WEIGHT: f32 = 0.3;

fn cold_item_weight() -> f32 {
    COLD_ITEM_WEIGHT
}

impl SimilarParams {
    pub fn from_hp(hp: &Hyperparameters) -> Result<SimilarParams> {
        Ok(SimilarParams {
            item_id_hidden_dim: hp.number("item_id_hidden_dim", 100, 30, 200)?,
            item_metadata_hidden_dim: hp.number("item_metadata_hidden_dim", 100, 30, 200)?,
            evidence: hp.number("evidence", EVIDENCE, 0.0, 1e6)?,
            als_alpha: hp.number("als_alpha", 20.0, 0.0, 1e6)?,
            als_reg: hp.number("als_reg", 1.0, 0.0, 1e9)?,
            als_iterations: hp.number("als_iterations", 15, 1, 100)?,
            content_reg: hp.number("content_reg", 1.0, 1e-6, 1e6)?,
            content_weight: hp.number("content_weight", CONTENT_WEIGHT, 0.0, 1e6)?,
            factor_norm: 1.0,
            cold_item_weight: hp.number("cold_item_weight", COLD_ITEM_WEIGHT, 0.0, 1e6)?,
        })
    }
}

/// Chosen on validation (README, "aws-similar-items").
const EVIDENCE: f32 = 5.0;

/// What similar-items learned.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarItems {
    pub params: SimilarParams,
    /// Unit-length factors, `n × item_id_hidden_dim`.
    pub y: Vec<f32>,
    /// Unit-length projected content, `n × item_metadata_hidden_dim` (empty without content).
    pub m: Vec<f32>,
    /// Distinct users per item in training.
    pub users: Vec<u32>,
    /// The map from attributes to factors; its featurizer also gives the projected content.
    pub content: Option<ContentMap>,
}

/// Scales the warm items' rows to unit length and the others by the same mean factor, so a
/// row mapped from content keeps its ridge shrinkage (its uncertainty) relative to them.
fn normalise_warm(rows: &mut [f32], f: usize, warm: &[bool]) -> f32 {
    let norms: Vec<f32> = rows
        .chunks(f.max(1))
        .map(|r| r.iter().map(|v| v * v).sum::<f32>().sqrt())
        .collect();
    let warm_norms: Vec<f32> = norms
        .iter()
        .zip(warm)
        .filter(|(n, &w)| w && **n > 0.0)
        .map(|(n, _)| *n)
        .collect();
    let mean = warm_norms.iter().sum::<f32>() / warm_norms.len().max(1) as f32;
    for ((r, n), &w) in rows.chunks_mut(f.max(1)).zip(&norms).zip(warm) {
        let by = if w { *n } else { mean };
        if by > 0.0 {
            r.iter_mut().for_each(|v| *v /= by);
        }
    }
    mean
}

fn normalise(rows: &mut [f32], f: usize) {
    rows.par_chunks_mut(f.max(1)).for_each(|r| {
        let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
        if n > 0.0 {
            r.iter_mut().for_each(|v| *v /= n);
        }
    });
}

/// The fixed random sign projection of sparse features to `d` dimensions (unnormalised).
fn project(features: &[(u32, f32)], d: usize, out: &mut [f32]) {
    out.iter_mut().for_each(|v| *v = 0.0);
    for &(j, w) in features {
        let mut rng = SplitMix::new(0x5EED_0000 ^ j as u64);
        let mut bits = 0u64;
        for (k, o) in out.iter_mut().enumerate().take(d) {
            if k % 64 == 0 {
                bits = rng.next_u64();
            }
            *o += if bits >> (k % 64) & 1 == 1 { w } else { -w };
        }
    }
}

fn fit_learned(
    data: &TrainingData,
    hp: &Hyperparameters,
    _popularity: &[f32],
    progress: &mut dyn FnMut(f64),
) -> Result<Box<dyn Learned>> {
    let mut params = SimilarParams::from_hp(hp)?;
    let f = params.item_id_hidden_dim;
    let als = AlsParams {
        factors: f,
        iterations: params.als_iterations,
        alpha: params.als_alpha,
        reg: params.als_reg,
        cg_steps: 2,
    };
    let mut y = factors::fit(data, &als, None, progress).y;
    let users = data.item_users();
    let n = data.n_items();
    let mut m = Vec::new();
    let mut content = None;
    let mut cold_rows = Vec::new();
    if let Some(attrs) = data.content.as_deref() {
        let warm: Vec<bool> = users.iter().map(|&u| u > 0).collect();
        if let Some(map) = ContentMap::fit(attrs, &warm, &y, f, params.content_reg) {
            let mean = normalise_warm(&mut y, f, &warm);
            params.factor_norm = mean;
            cold_rows = attrs
                .rows
                .iter()
                .enumerate()
                .take(n)
                .filter(|&(i, _)| !warm[i])
                .filter_map(|(i, r)| {
                    let v = map.vector(r.as_ref()?)?;
                    let c = params.cold_item_weight;
                    Some((i, v.into_iter().map(|x| c * x / mean).collect::<Vec<f32>>()))
                })
                .collect::<Vec<_>>();
            m = content_rows(&map, attrs, n, params.item_metadata_hidden_dim);
            content = Some(map);
        }
    }
    if content.is_none() {
        normalise(&mut y, f);
    }
    for (i, v) in cold_rows {
        y[i * f..(i + 1) * f].copy_from_slice(&v);
    }
    Ok(Box::new(SimilarItems {
        params,
        y,
        m,
        users,
        content,
    }))
}

/// Each item's projected, unit-length content (zero without attributes): its features weighted
/// by what the content map makes of them.
fn content_rows(map: &ContentMap, attrs: &ItemAttributes, n: usize, d: usize) -> Vec<f32> {
    let mut m = vec![0f32; n * d];
    m.par_chunks_mut(d).enumerate().for_each(|(i, row)| {
        if let Some(Some(r)) = attrs.rows.get(i) {
            project(&map.weighted_features(r), d, row);
        }
    });
    normalise(&mut m, d);
    m
}

fn read(
    r: &ArtifactReader,
    hp: &serde_json::Value,
    n_items: usize,
) -> Result<Box<dyn Learned>, ArtifactError> {
    let corrupt = |what: &str| ArtifactError::Corrupt(what.to_string());
    let params: SimilarParams =
        serde_json::from_value(hp.clone()).map_err(|e| corrupt(&e.to_string()))?;
    let y = r.f32s(b"SYFA")?;
    let m = r.f32s(b"SMET")?;
    let users = r.u32s(b"SUSR")?;
    let (f, d) = (params.item_id_hidden_dim, params.item_metadata_hidden_dim);
    if y.len() != n_items * f || (!m.is_empty() && m.len() != n_items * d) || users.len() != n_items
    {
        return Err(corrupt("similar-items shapes"));
    }
    let content = ContentMap::read(r, f)?;
    Ok(Box::new(SimilarItems {
        params,
        y,
        m,
        users,
        content,
    }))
}

impl SimilarItems {
    fn n(&self) -> usize {
        self.users.len()
    }

    /// Adds `weight · related(item → j)` to `out[j]` for every item.
    fn add_related(&self, popularity: &[f32], item: u32, weight: f32, out: &mut [f32]) {
        let i = item as usize;
        if i >= self.n() {
            return;
        }
        let (f, d) = (
            self.params.item_id_hidden_dim,
            self.params.item_metadata_hidden_dim,
        );
        let e = self.params.evidence;
        let beta = self.params.content_weight;
        let evidence = |n: u32| n as f32 / (n as f32 + e).max(f32::MIN_POSITIVE);
        let a_i = evidence(self.users[i]);
        let yi = &self.y[i * f..(i + 1) * f];
        let mi = (!self.m.is_empty()).then(|| &self.m[i * d..(i + 1) * d]);
        out.par_iter_mut().enumerate().for_each(|(j, o)| {
            if j == i || j >= self.n() {
                return;
            }
            let a = a_i.min(evidence(self.users[j]));
            let yj = &self.y[j * f..(j + 1) * f];
            let dot = yi.iter().zip(yj).map(|(p, q)| p * q).sum::<f32>();
            // A row mapped from content already carries its discount (`cold_item_weight`).
            let mut s = if self.users[j] == 0 || self.users[i] == 0 {
                dot
            } else {
                a * dot
            };
            match mi {
                Some(mi) => {
                    let mj = &self.m[j * d..(j + 1) * d];
                    s += (1.0 - a) * beta * mi.iter().zip(mj).map(|(p, q)| p * q).sum::<f32>();
                }
                // Without content, a data-poor query item leans on what is popular, as SIMS
                // falls back to it. With content it is placed by what it is: popular items
                // unlike it would crowd out the related ones (README, "aws-similar-items").
                None if self.users[i] > 0 => {
                    s += (1.0 - a_i) * popularity.get(j).copied().unwrap_or(0.0);
                }
                None => {}
            }
            *o += weight * s;
        });
    }
}

impl Learned for SimilarItems {
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }

    /// Related items answer item queries; for a user, blend the newest items' related items
    /// (as SIMS does).
    fn score_history(&self, popularity: &[f32], history: &[u32], out: &mut Vec<f32>) {
        out.extend(popularity.iter().map(|p| 1e-3 * p));
        for (k, &item) in history.iter().rev().take(10).enumerate() {
            self.add_related(popularity, item, (-0.2 * k as f32).exp(), out);
        }
    }

    fn grow(&mut self, n_items: usize) {
        let (f, d) = (
            self.params.item_id_hidden_dim,
            self.params.item_metadata_hidden_dim,
        );
        if n_items > self.n() {
            self.y.resize(n_items * f, 0.0);
            if !self.m.is_empty() {
                self.m.resize(n_items * d, 0.0);
            }
            self.users.resize(n_items, 0);
        }
    }

    fn describe(&mut self, first: usize, attrs: &[Option<&Attrs>]) {
        let Some(map) = &self.content else {
            return;
        };
        let (f, d) = (
            self.params.item_id_hidden_dim,
            self.params.item_metadata_hidden_dim,
        );
        for (k, a) in attrs.iter().enumerate() {
            let (Some(a), i) = (a, first + k) else {
                continue;
            };
            if i >= self.n() {
                continue;
            }
            if let Some(v) = map.vector(a) {
                let by =
                    self.params.cold_item_weight / self.params.factor_norm.max(f32::MIN_POSITIVE);
                for (dst, x) in self.y[i * f..(i + 1) * f].iter_mut().zip(v) {
                    *dst = x * by;
                }
            }
            if !self.m.is_empty() {
                let row = &mut self.m[i * d..(i + 1) * d];
                project(&map.weighted_features(a), d, row);
                normalise(row, d);
            }
        }
    }

    fn write(&self, w: &mut ArtifactWriter) {
        w.f32s(b"SYFA", &self.y)
            .f32s(b"SMET", &self.m)
            .u32s(b"SUSR", &self.users);
        if let Some(map) = &self.content {
            map.write(w);
        }
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

impl RelatedItems for SimilarItems {
    fn score_related(&self, popularity: &[f32], item: u32, out: &mut Vec<f32>) {
        out.extend(popularity.iter().map(|p| 1e-3 * p));
        self.add_related(popularity, item, 1.0, out);
    }
}

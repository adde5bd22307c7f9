//! User-personalization over a catalogue too large to score whole per request (past
//! [`EXACT_UP_TO`] items). An item's score is the same sum as the dense path's,
//! `γ·popularity + head(history) + w·x·y`, found in two parts:
//!
//! - the head items (the next-items matrix's columns, a few thousand at most) are scored
//!   exactly, as are items put after training;
//! - every other item is reached through the [`Ivf`] over the factors: clusters in order of
//!   `w·x·centroid`, items scored from 8-bit codes plus their popularity term, the request's
//!   allowed set (filter minus exclusions) checked inside the scan, until the probe's share of
//!   the allowed items has been read; the best candidates are then re-scored exactly.
//!
//! A very selective filter is answered by scoring its allowed items directly, which is then
//! cheaper than the scan. The softmax over the catalogue sums the scanned clusters' items and
//! estimates each unread cluster from its centroid.

use rayon::prelude::*;

use super::factors::{dot, ItemFactors, EXACT_UP_TO};
use super::ivf::{quantise, Ivf};
use super::next_items::NextItems;
use super::TrainingData;
use crate::engine::stages::{exp_neg, Softmax};
use crate::engine::{top_k, ItemSet, Ranker, Scored, TopK};

/// Shares of the allowed items a request reads, tried in order when training picks the probe.
const PROBES: &[f32] = &[0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.3, 0.5, 1.0];

/// Recall@10 against exact scoring the chosen probe reaches on training users.
pub const TARGET_RECALL: f64 = 0.995;

/// Training users the probe is chosen on.
const TUNING_USERS: usize = 200;

/// Candidates re-scored exactly after the 8-bit scan, at least.
const RESCORED: usize = 64;

/// The retrieval index of a next-items model with factors.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    pub ivf: Ivf,
    /// Share of the allowed items a request reads (chosen in training).
    pub probe: f32,
    /// Per position of the index: `γ·popularity`, or −∞ for a head item (scored apart).
    bias: Vec<f32>,
    /// Per cluster: the mean bias of its non-head items, and how many there are.
    cluster_bias: Vec<(f32, u32)>,
    /// `γ·Σ popularity` over the catalogue.
    bias_sum: f64,
    /// `Σ y` over the trained items.
    y_sum: Vec<f32>,
}

impl Index {
    /// Whether a catalogue of `n_items` is served through an index.
    pub fn wanted(n_items: usize) -> bool {
        n_items > EXACT_UP_TO
    }

    /// The index over `factors` (`m`'s) for `m`: its head and popularity terms.
    pub fn new(
        ivf: Ivf,
        probe: f32,
        m: &NextItems,
        factors: &ItemFactors,
        popularity: &[f32],
    ) -> Index {
        let f = ivf.factors;
        let mut y_sum = vec![0f32; f];
        for i in 0..ivf.assign.len() {
            for (s, v) in y_sum.iter_mut().zip(factors.item(i as u32)) {
                *s += v;
            }
        }
        let mut index = Index {
            ivf,
            probe,
            bias: Vec::new(),
            cluster_bias: Vec::new(),
            bias_sum: 0.0,
            y_sum,
        };
        index.rebias(m, popularity);
        index
    }

    /// Recomputes the popularity terms (popularity changes with an UPDATE).
    pub fn rebias(&mut self, m: &NextItems, popularity: &[f32]) {
        let gamma = m.params.popularity_weight;
        let head = |i: u32| m.column_of.get(i as usize).is_some_and(|&c| c != u32::MAX);
        self.bias = self
            .ivf
            .order
            .iter()
            .map(|&i| {
                if head(i) {
                    f32::NEG_INFINITY
                } else {
                    gamma * popularity.get(i as usize).copied().unwrap_or(0.0)
                }
            })
            .collect();
        self.cluster_bias = (0..self.ivf.clusters())
            .map(|c| {
                let b: Vec<f32> = self.bias[self.ivf.range(c)]
                    .iter()
                    .copied()
                    .filter(|b| b.is_finite())
                    .collect();
                let mean = b.iter().sum::<f32>() / b.len().max(1) as f32;
                (mean, b.len() as u32)
            })
            .collect();
        self.bias_sum = popularity.iter().map(|&p| (gamma * p) as f64).sum();
    }

    /// Picks the smallest probe whose top-10 matches exact scoring's with [`TARGET_RECALL`]
    /// on a sample of `data`'s users; returns the recall reached.
    pub fn tune(m: &mut NextItems, data: &TrainingData, popularity: &[f32]) -> f64 {
        let step = data.histories.len().div_ceil(TUNING_USERS).max(1);
        let histories: Vec<Vec<u32>> = data
            .histories
            .iter()
            .step_by(step)
            .filter(|h| !h.is_empty())
            .map(|h| h.iter().map(|e| e.item).collect())
            .collect();
        let all = ItemSet::full(popularity.len());
        let exact: Vec<Vec<u32>> = histories
            .par_iter()
            .map_init(Vec::new, |v, h| {
                v.clear();
                m.score(popularity, h, v);
                top_k(v, 10, |_| true).iter().map(|s| s.item).collect()
            })
            .collect();
        let mut reached = 1.0;
        for &p in PROBES {
            if let Some(ix) = m.index.as_mut() {
                ix.probe = p;
            }
            let found: usize = histories
                .par_iter()
                .zip(&exact)
                .map(|(h, want)| {
                    let Some(mut r) = ranker(m, popularity, h) else {
                        return want.len();
                    };
                    let got = r.top(10, &all, false);
                    got.iter().filter(|s| want.contains(&s.item)).count()
                })
                .sum();
            let wanted: usize = exact.iter().map(Vec::len).sum();
            reached = found as f64 / wanted.max(1) as f64;
            if reached >= TARGET_RECALL {
                break;
            }
        }
        reached
    }
}

/// The request's ranker over `m`'s index; `None` without an index, factors or a history the
/// factors know.
pub fn ranker<'a>(
    m: &'a NextItems,
    popularity: &'a [f32],
    history: &[u32],
) -> Option<IvfRanker<'a>> {
    let index = m.index.as_ref()?;
    let (factors, x) = m.user_vector(history)?;
    let w = m.params.factor_weight;
    let gamma = m.params.popularity_weight;
    let n_items = popularity.len();
    let ivf = &index.ivf;
    let mut qx = vec![0i8; x.len()];
    let sx = quantise(&x, &mut qx);
    let acc = m.head_scores(history);
    let head: Vec<f32> = m
        .columns
        .iter()
        .enumerate()
        .map(|(j, &i)| {
            gamma * popularity[i as usize]
                + acc.as_ref().map_or(0.0, |a| a[j])
                + w * dot(&x, factors.item(i))
        })
        .collect();
    let f = ivf.factors;
    let cscore: Vec<f32> = ivf
        .centroids
        .chunks_exact(f)
        .map(|c| w * dot(&x, c))
        .collect();
    let mut order: Vec<u32> = (0..cscore.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| cscore[b as usize].total_cmp(&cscore[a as usize]));
    let mut r = IvfRanker {
        m,
        index,
        factors,
        popularity,
        x,
        qx,
        sx,
        w,
        n_items,
        head,
        cscore,
        order,
        summed: Vec::new(),
        max: 0.0,
        inv_t: 0.0,
        mean: 0.0,
        boosts: Vec::new(),
        boosted: ItemSet::new(n_items),
        dots: Vec::new(),
        scores: Vec::new(),
    };
    r.summed = vec![f64::NAN; ivf.clusters()];
    // The catalogue's best score (the head's, the best cluster's, new items') and its mean
    // (exact: every term is linear) set the softmax's temperature.
    let mut best = r.head.iter().copied().fold(0f32, f32::max);
    if let Some(&c) = r.order.first() {
        for p in ivf.range(c as usize) {
            if index.bias[p].is_finite() {
                best = best.max(r.score(ivf.order[p]));
            }
        }
    }
    for i in ivf.assign.len()..n_items {
        best = best.max(r.score(i as u32));
    }
    let head_sum: f64 = acc.iter().flatten().map(|&a| a as f64).sum();
    r.mean =
        (index.bias_sum + head_sum + (w * dot(&r.x, &index.y_sum)) as f64) / n_items.max(1) as f64;
    r.max = best;
    r.inv_t = (1.0 / Softmax::temperature(best as f64, r.mean)) as f32;
    Some(r)
}

/// One request's ranking through the index.
pub struct IvfRanker<'a> {
    m: &'a NextItems,
    index: &'a Index,
    factors: &'a ItemFactors,
    popularity: &'a [f32],
    x: Vec<f32>,
    qx: Vec<i8>,
    sx: f32,
    w: f32,
    n_items: usize,
    /// Exact scores of the head items, by column.
    head: Vec<f32>,
    /// `w·x·centroid` per cluster, and the clusters best first.
    cscore: Vec<f32>,
    order: Vec<u32>,
    /// Per cluster, once scanned: `Σ e^((s − max)/T)` over its non-head items.
    summed: Vec<f64>,
    max: f32,
    inv_t: f32,
    mean: f64,
    boosts: Vec<Scored>,
    /// The boosted items, for the scan's per-item check.
    boosted: ItemSet,
    dots: Vec<i32>,
    scores: Vec<f32>,
}

impl IvfRanker<'_> {
    fn boosted(&self, item: u32) -> Option<f32> {
        if !self.boosted.contains(item) {
            return None;
        }
        self.boosts.iter().find(|b| b.item == item).map(|b| b.score)
    }

    fn unboosted(&self, item: u32) -> f32 {
        let Some(&col) = self.m.column_of.get(item as usize) else {
            return f32::MIN;
        };
        if col != u32::MAX {
            return self.head[col as usize];
        }
        self.m.params.popularity_weight * self.popularity[item as usize]
            + self.w * dot(&self.x, self.factors.item(item))
    }

    fn term(&self, s: f32) -> f64 {
        exp_neg((s - self.max) * self.inv_t) as f64
    }
}

impl Ranker for IvfRanker<'_> {
    fn top(&mut self, k: usize, allowed: &ItemSet, positive_only: bool) -> Vec<Scored> {
        let mut best = TopK::new(k);
        if k == 0 {
            return Vec::new();
        }
        let passes = |s: f32| !positive_only || s > 0.0;
        // Exactly: the head, items put after training, boosted items.
        for (&i, &s) in self.m.columns.iter().zip(&self.head) {
            if allowed.contains(i) && passes(s) && self.boosted(i).is_none() {
                best.push(i, s);
            }
        }
        let ivf = &self.index.ivf;
        for i in ivf.assign.len() as u32..self.n_items as u32 {
            let s = self.unboosted(i);
            if allowed.contains(i) && passes(s) && self.boosted(i).is_none() {
                best.push(i, s);
            }
        }
        for b in &self.boosts {
            if allowed.contains(b.item) && passes(b.score) {
                best.push(b.item, b.score);
            }
        }
        let allowed_n = allowed.len();
        let probe = self.index.probe;
        let ordinary = |i: u32| {
            (i as usize) < ivf.assign.len()
                && self.m.column_of[i as usize] == u32::MAX
                && !self.boosted.contains(i)
        };
        if (allowed_n as f32) * 8.0 <= probe * ivf.assign.len() as f32 {
            // A selective filter: its items, scored exactly, cost less than the scan.
            for i in allowed.iter().filter(|&i| ordinary(i)) {
                let s = self.unboosted(i);
                if passes(s) {
                    best.push(i, s);
                }
            }
            return best.into_sorted();
        }
        let want = (probe as f64 * allowed_n as f64).ceil() as usize;
        let rescored = RESCORED.max(2 * k);
        let mut approx = TopK::new(rescored);
        let mut seen = 0usize;
        let scale = self.w * self.sx;
        let order = std::mem::take(&mut self.order);
        for &c in &order {
            let c = c as usize;
            let range = ivf.range(c);
            ivf.dots(range.clone(), &self.qx, &mut self.dots);
            self.scores.clear();
            self.scores.extend(
                self.dots
                    .iter()
                    .zip(&ivf.scales[range.clone()])
                    .zip(&self.index.bias[range.clone()])
                    .map(|((&d, &sc), &b)| scale * sc * d as f32 + b),
            );
            if self.summed[c].is_nan() {
                self.summed[c] = self.scores.iter().map(|&s| self.term(s)).sum();
            }
            for (&i, &s) in ivf.order[range].iter().zip(&self.scores) {
                if allowed.contains(i) {
                    seen += 1;
                    if approx.admits(i, s) && s.is_finite() && passes(s) && ordinary(i) {
                        approx.push(i, s);
                    }
                }
            }
            if seen >= want && approx.len() >= rescored.min(allowed_n) {
                break;
            }
        }
        self.order = order;
        for a in approx.into_sorted() {
            let s = self.unboosted(a.item);
            if passes(s) {
                best.push(a.item, s);
            }
        }
        best.into_sorted()
    }

    fn best(&self) -> f32 {
        self.max
    }

    fn score(&self, item: u32) -> f32 {
        self.boosted(item).unwrap_or_else(|| self.unboosted(item))
    }

    fn boost(&mut self, boosts: &[Scored]) {
        // An item boosted twice (the context stage, then exploration) keeps its newest score.
        for b in boosts {
            if self.boosted.contains(b.item) {
                if let Some(old) = self.boosts.iter_mut().find(|o| o.item == b.item) {
                    old.score = b.score;
                }
            } else {
                self.boosts.push(*b);
                self.boosted.insert(b.item);
            }
        }
    }

    fn softmax(&self) -> Softmax {
        let ivf = &self.index.ivf;
        let mut total: f64 = self.head.iter().map(|&s| self.term(s)).sum();
        for (c, &summed) in self.summed.iter().enumerate() {
            total += if summed.is_nan() {
                let (bias, count) = self.index.cluster_bias[c];
                count as f64 * self.term(self.cscore[c] + bias)
            } else {
                summed
            };
        }
        for i in ivf.assign.len()..self.n_items {
            total += self.term(self.unboosted(i as u32));
        }
        for b in &self.boosts {
            total += self.term(b.score) - self.term(self.unboosted(b.item));
        }
        let (max, mean) = (self.max as f64, self.mean);
        Softmax::from_parts(max, mean, total)
    }
}

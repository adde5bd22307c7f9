//! The stages of an answer, in order. Each is a plain function of what the previous ones made,
//! so a test can run one alone on planted scores.

use super::ranker::{Dense, Ranker};
use super::{top_k, Candidates, Exploration, ItemSet, Pick, PromotionQuery, Query, Reason, Scored};
use crate::recipes::context::{ContextModel, CANDIDATES};
use crate::recipes::Model;

/// Stage 1: what ranks the catalogue for the query: the recipe's retrieval index where it has
/// one for this catalogue and history, else the model's scores for every item.
pub fn score<'m>(model: &'m Model, q: &Query<'_>) -> Box<dyn Ranker + 'm> {
    if let (super::Scoring::History, Some(r)) = (q.scoring, model.learned.retrieval()) {
        if let Some(ranker) = r.ranker(&model.popularity, q.history) {
            return ranker;
        }
    }
    Box::new(dense(model, q))
}

/// The model's scores over the whole catalogue.
pub fn dense(model: &Model, q: &Query<'_>) -> Dense {
    let mut values = Vec::with_capacity(model.items.len());
    let related = matches!(q.scoring, super::Scoring::Related(_));
    match q.scoring {
        super::Scoring::History => model.score_history(q.history, &mut values),
        super::Scoring::Related(Some(item)) => {
            // A recipe without the related-items capability answers with popularity.
            if let Some(related) = model.learned.related() {
                related.score_related(&model.popularity, item, &mut values);
            }
        }
        super::Scoring::Related(None) => {}
    }
    let popular_fill = values.is_empty() || (related && values.iter().all(|&s| s <= 0.0));
    if popular_fill {
        values = model.popularity.clone();
    }
    Dense {
        values,
        popular_fill,
    }
}

/// Stage 2: items that may not be answered whatever the filter says — the request's excluded
/// ids, the item a related-items request is about, and (offline) the history.
pub fn exclude(n_items: usize, q: &Query<'_>) -> ItemSet {
    let mut skip = ItemSet::new(n_items);
    if let Candidates::All { exclude } = q.candidates {
        exclude.iter().for_each(|&i| skip.insert(i));
    }
    if let super::Scoring::Related(Some(item)) = q.scoring {
        skip.insert(item);
    }
    if q.exclude_history {
        q.history.iter().for_each(|&i| skip.insert(i));
    }
    skip
}

/// Stage 3: what may be answered — the filter's items (all without one) minus `skip`.
pub fn filter(n_items: usize, allowed: Option<&ItemSet>, skip: &ItemSet) -> ItemSet {
    let mut passes = match allowed {
        Some(a) => a.clone(),
        None => ItemSet::full(n_items),
    };
    passes.subtract(skip);
    passes
}

/// Stage 3b: for a history, what passes among the items it reaches (`recipes::components`):
/// an item no chain of users links to the history has nothing in the data for it but the
/// factors' shared dimensions. Unless fewer than `k` would be left (a history on an island of
/// items): then what passes.
pub fn reachable(model: &Model, q: &Query<'_>, passes: ItemSet, k: usize) -> ItemSet {
    if !matches!(q.scoring, super::Scoring::History) {
        return passes;
    }
    let Some(mut reach) = model
        .learned
        .components()
        .and_then(|c| c.reach(q.history, model.items.len()))
    else {
        return passes;
    };
    reach.intersect_with(&passes);
    if reach.len() >= k {
        reach
    } else {
        passes
    }
}

/// Stage 4: the model's context stage re-ranks the catalogue's best candidates by what the
/// request's context and the user's metadata predict (a user with no history is a cold one).
/// The candidates are the catalogue's, not what the filter or the request lets through, so an
/// item's new score is the same whatever else the request asks: a filter only removes items,
/// and GetPersonalizedRanking orders as GetRecommendations does.
pub fn contextualise(stage: &ContextModel, ranker: &mut dyn Ranker, q: &Query<'_>, n_items: usize) {
    let values = stage.resolve(q.context, q.user_attrs);
    if values.iter().all(Option::is_none) {
        return;
    }
    let candidates: Vec<(u32, f32)> = ranker
        .top(CANDIDATES, &ItemSet::full(n_items), false)
        .into_iter()
        .map(|s| (s.item, s.score))
        .collect();
    if let Some(scores) = stage.rerank(&values, !q.history.is_empty(), &candidates) {
        let boosts: Vec<Scored> = candidates
            .iter()
            .zip(scores)
            .map(|(&(item, _), score)| Scored { item, score })
            .collect();
        ranker.boost(&boosts);
    }
}

/// Stage 5: new items get a bonus of `weight` × the best score, shrinking with their
/// interactions. Returns the items that got one.
pub fn explore(ranker: &mut dyn Ranker, n_items: usize, exploration: &Exploration) -> ItemSet {
    let mut explored = ItemSet::new(n_items);
    if exploration.fresh.is_empty() {
        return explored;
    }
    let best = ranker.best();
    let mut boosts = Vec::new();
    for &(item, share) in &exploration.fresh {
        let bonus = exploration.weight * best * share;
        if (item as usize) < n_items && bonus > 0.0 && !explored.contains(item) {
            boosts.push(Scored {
                item,
                score: ranker.score(item) + bonus,
            });
            explored.insert(item);
        }
    }
    ranker.boost(&boosts);
    explored
}

/// Stage 6: the promotion's items, best first: its share of `k` (rounded up) among items it
/// allows and `skip` does not hold (the main filter does not apply to them, as in Personalize).
pub fn promote(
    ranker: &mut dyn Ranker,
    k: usize,
    p: &PromotionQuery<'_>,
    skip: &ItemSet,
) -> Vec<Scored> {
    let n = (k * p.percent as usize).div_ceil(100).min(k);
    if n == 0 {
        return Vec::new();
    }
    let mut allowed = match p.allowed {
        Some(a) => a.clone(),
        None => ItemSet::full(skip.capacity()),
    };
    allowed.subtract(skip);
    ranker.top(n, &allowed, false)
}

/// Stage 7: the best `n` of what passes and is not taken; related items need a positive score.
pub fn pick(
    ranker: &mut dyn Ranker,
    related: bool,
    n: usize,
    passes: &ItemSet,
    taken: &[Scored],
) -> Vec<Scored> {
    if n == 0 {
        return Vec::new();
    }
    let mut allowed = passes.clone();
    taken.iter().for_each(|t| allowed.remove(t.item));
    let signal_only = related && !ranker.popular_fill();
    ranker.top(n, &allowed, signal_only)
}

/// Stage 8: the popular items that pass, for the slots still empty (`n`).
pub fn backfill(popularity: &[f32], n: usize, passes: &ItemSet, taken: &ItemSet) -> Vec<Scored> {
    top_k(popularity, n, |i| passes.contains(i) && !taken.contains(i))
}

/// Stage 9: Personalize's scores: a softmax of the model's scores over a set of items (the
/// catalogue for GetRecommendations, the input list for GetPersonalizedRanking), so they lie in
/// [0, 1] and sum to 1 over that set. The temperature puts the best item 4 units above the
/// mean, which keeps the order and gives a peaked but not degenerate distribution for any
/// model's scale.
#[derive(Debug, Clone, Copy)]
pub struct Softmax {
    max: f64,
    temperature: f64,
    total: f64,
}

impl Softmax {
    /// From a catalogue's best score, mean score and `Σ e^((s − max) / temperature)` (the
    /// temperature as [`Softmax::over`] sets it), for a caller that sums without a full pass.
    pub fn from_parts(max: f64, mean: f64, total: f64) -> Softmax {
        Softmax {
            max,
            temperature: Softmax::temperature(max, mean),
            total: total.max(f64::MIN_POSITIVE),
        }
    }

    /// The temperature that puts the best score 4 units above the mean.
    pub fn temperature(max: f64, mean: f64) -> f64 {
        ((max - mean) / 4.0).max(1e-12)
    }

    /// The catalogue-wide pass is most of an answer's time, so it runs in f32 lanes the
    /// compiler vectorises, with [`exp_neg`] in place of libm's `exp`, and in AVX2 registers
    /// where the CPU has them (pulp's runtime dispatch). Each lane adds in the same order
    /// either way, so the result is bit-for-bit the same on every x86-64.
    pub fn over(scores: &[f32]) -> Softmax {
        // A struct, not a closure: the pass must inline into pulp's feature-enabled frame.
        struct Pass<'a>(&'a [f32]);
        impl pulp::WithSimd for Pass<'_> {
            type Output = Softmax;
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _: S) -> Softmax {
                Softmax::over_lanes(self.0)
            }
        }
        pulp::Arch::new().dispatch(Pass(scores))
    }

    #[inline(always)]
    fn over_lanes(scores: &[f32]) -> Softmax {
        const LANES: usize = 8;
        let (mut max, mut sum, mut n) = ([f32::MIN; LANES], [0f32; LANES], [0u32; LANES]);
        let chunks = scores.chunks_exact(LANES);
        let rest = chunks.remainder();
        // Selects, not branches, so each loop is a few vector instructions per 8 items.
        for c in chunks {
            for l in 0..LANES {
                let (s, ok) = (c[l], c[l].is_finite());
                max[l] = if ok { max[l].max(s) } else { max[l] };
                sum[l] += if ok { s } else { 0.0 };
                n[l] += ok as u32;
            }
        }
        for (l, &s) in rest.iter().enumerate() {
            if s.is_finite() {
                max[l] = max[l].max(s);
                sum[l] += s;
                n[l] += 1;
            }
        }
        let max = max.iter().copied().fold(f32::MIN, f32::max);
        let count: u32 = n.iter().sum();
        let mean = if count > 0 {
            sum.iter().map(|&s| s as f64).sum::<f64>() / count as f64
        } else {
            0.0
        };
        let temperature = Softmax::temperature(max as f64, mean);
        let inv_t = (1.0 / temperature) as f32;
        // A non-finite score is sent far below the maximum, where its term underflows to ~0.
        let term = |s: f32| {
            let x = if s.is_finite() {
                (s - max) * inv_t
            } else {
                -1e30
            };
            exp_neg(x) as f64
        };
        // Terms in f32, sums in f64: the probabilities of a set then add up to 1 to 1e-12.
        let mut total = [0f64; LANES];
        let chunks = scores.chunks_exact(LANES);
        let rest = chunks.remainder();
        for c in chunks {
            for l in 0..LANES {
                total[l] += term(c[l]);
            }
        }
        for (t, &s) in total.iter_mut().zip(rest) {
            *t += if s.is_finite() { term(s) } else { 0.0 };
        }
        let total = total.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        Softmax {
            max: max as f64,
            temperature,
            total,
        }
    }

    pub fn probability(&self, score: f32) -> f64 {
        // The same f32 steps as `over`'s terms, so a set's probabilities sum to 1.
        let x = (score - self.max as f32) * (1.0 / self.temperature) as f32;
        (exp_neg(x) as f64 / self.total).min(1.0)
    }
}

/// `e^x` for `x <= 0` (larger `x` is clamped to 0, below -87 to -87), within 1e-5 relative
/// (f32 rounding of `x log2 e`; far less near 0): `2^(x log2 e)` split into an integer power,
/// set in the exponent bits, and a fraction in [-0.5, 0.5] by a degree-6 Taylor polynomial.
/// Branch-free, so loops over it vectorise.
#[inline(always)]
pub fn exp_neg(x: f32) -> f32 {
    let t = x.clamp(-87.0, 0.0) * std::f32::consts::LOG2_E;
    // Adding 1.5 × 2^23 rounds to the nearest integer n and leaves n in the low mantissa bits,
    // so neither `round` nor a float-to-int cast is needed.
    const ROUND: f32 = 12_582_912.0;
    let r = t + ROUND;
    let f = (t - (r - ROUND)) * std::f32::consts::LN_2;
    let p = 1.0
        + f * (1.0
            + f * (0.5
                + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    // (n + 127) << 23 is 2^n; n = bits(r) - bits(ROUND).
    let scale = r.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23;
    f32::from_bits(scale) * p
}

/// A seed from text (FNV-1a), e.g. the recommendation id.
pub fn seed(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Deterministic slots for `n` promoted items among `k`, from a seed.
pub fn promoted_slots(k: usize, n: usize, seed: u64) -> Vec<bool> {
    let mut rng = crate::sample::SplitMix::new(seed);
    let mut slots: Vec<usize> = (0..k).collect();
    for i in (1..slots.len()).rev() {
        slots.swap(i, rng.below(i + 1));
    }
    let mut marks = vec![false; k];
    for &s in slots.iter().take(n) {
        marks[s] = true;
    }
    marks
}

/// Every stage, in order, for one query.
pub fn answer(model: &Model, q: &Query<'_>) -> Vec<Pick> {
    match q.candidates {
        Candidates::All { .. } => answer_catalogue(model, q),
        Candidates::Only(list) => answer_list(model, q, list),
    }
}

fn answer_catalogue(model: &Model, q: &Query<'_>) -> Vec<Pick> {
    let n_items = model.items.len();
    let k = q.num_results;
    let related = matches!(q.scoring, super::Scoring::Related(_));
    let mut ranker = score(model, q);
    let skip = exclude(n_items, q);
    let passes = reachable(model, q, filter(n_items, q.filter, &skip), k);
    if let (false, Some(stage)) = (related, &model.context) {
        contextualise(stage, ranker.as_mut(), q, n_items);
    }
    let explored = match q.exploration {
        Some(e) if e.weight > 0.0 => explore(ranker.as_mut(), n_items, e),
        _ => ItemSet::new(n_items),
    };
    let promoted = match &q.promotion {
        Some(p) => promote(ranker.as_mut(), k, p, &skip),
        None => Vec::new(),
    };
    let mut regular = pick(
        ranker.as_mut(),
        related,
        k - promoted.len(),
        &passes,
        &promoted,
    );
    let missing = k - promoted.len() - regular.len();
    let filled = if missing > 0 {
        let mut taken = ItemSet::new(n_items);
        promoted
            .iter()
            .chain(&regular)
            .for_each(|p| taken.insert(p.item));
        backfill(&model.popularity, missing, &passes, &taken)
    } else {
        Vec::new()
    };
    let mut backfilled = ItemSet::new(n_items);
    filled.iter().for_each(|p| backfilled.insert(p.item));
    regular.extend(filled);

    let softmax = ranker.softmax();
    let popular_fill = ranker.popular_fill();
    let marks = promoted_slots(promoted.len() + regular.len(), promoted.len(), q.seed);
    let (mut pi, mut ri) = (promoted.into_iter(), regular.into_iter());
    marks
        .into_iter()
        .filter_map(|is_promoted| {
            let p = if is_promoted { pi.next() } else { ri.next() }?;
            let popular = popular_fill || backfilled.contains(p.item);
            let reason = if is_promoted {
                Reason::Promoted
            } else if popular {
                Reason::Popular
            } else if explored.contains(p.item) {
                Reason::Exploration
            } else {
                Reason::Model
            };
            Some(Pick {
                item: Some(p.item),
                input: None,
                raw: p.score,
                // Popular fill carries no personal score, promoted or not.
                score: (!popular).then(|| softmax.probability(p.score)),
                reason,
            })
        })
        .collect()
}

/// GetPersonalizedRanking: the listed items the filter allows, by score (ties in input order),
/// then the unknown ones in input order; the softmax runs over the ranked known items.
fn answer_list(model: &Model, q: &Query<'_>, list: &[Option<u32>]) -> Vec<Pick> {
    let mut ranker = score(model, q);
    if let Some(stage) = &model.context {
        contextualise(stage, ranker.as_mut(), q, model.items.len());
    }
    let mut known: Vec<(usize, u32, f32)> = list
        .iter()
        .enumerate()
        .filter_map(|(pos, c)| c.map(|i| (pos, i)))
        .filter(|&(_, i)| q.filter.is_none_or(|f| f.contains(i)))
        .map(|(pos, i)| (pos, i, ranker.score(i)))
        .collect();
    known.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    let ranked: Vec<f32> = known.iter().map(|k| k.2).collect();
    let softmax = Softmax::over(&ranked);
    let mut out: Vec<Pick> = known
        .into_iter()
        .map(|(pos, item, raw)| Pick {
            item: Some(item),
            input: Some(pos),
            raw,
            score: Some(softmax.probability(raw)),
            reason: Reason::Model,
        })
        .collect();
    out.extend(
        list.iter()
            .enumerate()
            .filter(|(_, c)| c.is_none())
            .map(|(pos, _)| Pick {
                item: None,
                input: Some(pos),
                raw: f32::NAN,
                score: None,
                reason: Reason::Model,
            }),
    );
    out
}

//! The stages of an answer, in order. Each is a plain function of what the previous ones made,
//! so a test can run one alone on planted scores.

use super::{top_k, Candidates, Exploration, ItemSet, Pick, PromotionQuery, Query, Reason, Scored};
use crate::recipes::Model;

/// What the score stage found.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub values: Vec<f32>,
    /// No signal at all (an unknown or unrelated item): the values are popularity.
    pub popular_fill: bool,
    /// Related-items scoring: only items with a positive score count as related.
    pub related: bool,
}

/// Stage 1: the model's scores over the catalogue.
pub fn score(model: &Model, q: &Query<'_>) -> Scores {
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
    Scores {
        values,
        popular_fill,
        related,
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

/// Stage 4: new items get a bonus of `weight` × the best score, shrinking with their
/// interactions. Returns the items that got one.
pub fn explore(scores: &mut [f32], exploration: &Exploration) -> ItemSet {
    let mut explored = ItemSet::new(scores.len());
    let best = scores.iter().copied().fold(0f32, f32::max);
    for &(item, share) in &exploration.fresh {
        let Some(s) = scores.get_mut(item as usize) else {
            continue;
        };
        let bonus = exploration.weight * best * share;
        if bonus > 0.0 {
            *s += bonus;
            explored.insert(item);
        }
    }
    explored
}

/// Stage 5: the promotion's items, best first: its share of `k` (rounded up) among items it
/// allows and `skip` does not hold (the main filter does not apply to them, as in Personalize).
pub fn promote(scores: &[f32], k: usize, p: &PromotionQuery<'_>, skip: &ItemSet) -> Vec<Scored> {
    let n = (k * p.percent as usize).div_ceil(100);
    top_k(scores, n.min(k), |i| {
        !skip.contains(i) && p.allowed.is_none_or(|a| a.contains(i))
    })
}

/// Stage 6: the best `n` of what passes and is not taken; related items need a positive score.
pub fn pick(s: &Scores, n: usize, passes: &ItemSet, taken: &ItemSet) -> Vec<Scored> {
    let signal_only = s.related && !s.popular_fill;
    top_k(&s.values, n, |i| {
        passes.contains(i) && !taken.contains(i) && (!signal_only || s.values[i as usize] > 0.0)
    })
}

/// Stage 7: the popular items that pass, for the slots still empty (`n`).
pub fn backfill(popularity: &[f32], n: usize, passes: &ItemSet, taken: &ItemSet) -> Vec<Scored> {
    top_k(popularity, n, |i| passes.contains(i) && !taken.contains(i))
}

/// Stage 8: Personalize's scores: a softmax of the model's scores over a set of items (the
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
    pub fn over(scores: &[f32]) -> Softmax {
        let (mut max, mut sum, mut n) = (f64::MIN, 0.0, 0usize);
        for &s in scores.iter().filter(|s| s.is_finite()) {
            let s = s as f64;
            max = max.max(s);
            sum += s;
            n += 1;
        }
        let mean = if n > 0 { sum / n as f64 } else { 0.0 };
        let temperature = ((max - mean) / 4.0).max(1e-12);
        let total = scores
            .iter()
            .filter(|s| s.is_finite())
            .map(|&s| ((s as f64 - max) / temperature).exp())
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
        Softmax {
            max,
            temperature,
            total,
        }
    }

    pub fn probability(&self, score: f32) -> f64 {
        ((score as f64 - self.max) / self.temperature).exp() / self.total
    }
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
    let mut s = score(model, q);
    let skip = exclude(n_items, q);
    let passes = filter(n_items, q.filter, &skip);
    let explored = match q.exploration {
        Some(e) if e.weight > 0.0 => explore(&mut s.values, e),
        _ => ItemSet::new(n_items),
    };
    let promoted = match &q.promotion {
        Some(p) => promote(&s.values, k, p, &skip),
        None => Vec::new(),
    };
    let mut taken = ItemSet::new(n_items);
    promoted.iter().for_each(|p| taken.insert(p.item));
    let mut regular = pick(&s, k - promoted.len(), &passes, &taken);
    regular.iter().for_each(|p| taken.insert(p.item));
    let missing = k - promoted.len() - regular.len();
    let filled = if missing > 0 {
        backfill(&model.popularity, missing, &passes, &taken)
    } else {
        Vec::new()
    };
    let mut backfilled = ItemSet::new(n_items);
    filled.iter().for_each(|p| backfilled.insert(p.item));
    regular.extend(filled);

    let softmax = Softmax::over(&s.values);
    let marks = promoted_slots(promoted.len() + regular.len(), promoted.len(), q.seed);
    let (mut pi, mut ri) = (promoted.into_iter(), regular.into_iter());
    marks
        .into_iter()
        .filter_map(|is_promoted| {
            let p = if is_promoted { pi.next() } else { ri.next() }?;
            let popular = s.popular_fill || backfilled.contains(p.item);
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
    let s = score(model, q);
    let mut known: Vec<(usize, u32, f32)> = list
        .iter()
        .enumerate()
        .filter_map(|(pos, c)| c.map(|i| (pos, i)))
        .filter(|&(_, i)| q.filter.is_none_or(|f| f.contains(i)))
        .map(|(pos, i)| {
            (
                pos,
                i,
                s.values.get(i as usize).copied().unwrap_or(f32::MIN),
            )
        })
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

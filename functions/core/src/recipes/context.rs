//! The context stage: a second-stage model, over any recipe's scores, that re-ranks a
//! request's best candidates by what its `context` (Interactions fields such as DEVICE) and the
//! user's metadata (the Users dataset's categorical fields) predict.
//!
//! Each field value's pull on an item is a shrunken log-lift, `ln((c + β) / (e + β))`: `c` the
//! item's events under the value, `e` those expected from the item's share of all events, `β`
//! a prior of [`PRIOR`] events, so a value seen with an item a few times by chance moves
//! nothing. How much each field's lift counts against the recipe's own score is a logistic
//! regression (smartcore) fitted on held-out events: features are the candidate's base score,
//! standardised over the request's candidates, and one lift per field; the label is whether it
//! was the item picked. Their strength is chosen, and checked against the recipe alone, out of
//! fold (users in four folds), so a context that carries nothing changes nothing.
//! Users with and without history get their own weights: with none, the base is popularity.

use std::collections::{BTreeMap, HashMap};

use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

use super::data::{Situations, NO_VALUE};
use super::{ArtifactError, ArtifactReader, ArtifactWriter, Model, TrainingData};
use crate::data::attrs::{lookup, Attrs};
use crate::data::IdDict;
use crate::engine::top_k;
use crate::sample::SplitMix;

/// Candidates the stage re-ranks per request: the base's best this many.
pub const CANDIDATES: usize = 100;
/// The lift's prior, in events.
const PRIOR: f64 = 5.0;
/// Negatives sampled per held-out event for the fit.
const NEGATIVES: usize = 20;
/// Held-out users the fit reads at most (a few events each).
const MAX_USERS: usize = 3000;
const EVENTS_PER_USER: usize = 10;
/// The weights must beat the recipe alone by this share of its NDCG@10, out of fold.
const MIN_GAIN: f64 = 0.01;
/// Folds of the held-out users: the weights' strength is chosen and checked out of fold.
const FOLDS: usize = 4;

/// Where a field's value comes from at request time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The request's `context` map (an Interactions field).
    Context,
    /// The user's record in the Users dataset.
    User,
}

/// One field's values and, per value, its events by item.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub source: Source,
    pub values: IdDict,
    /// Per value: all its events, and (item, events) sorted by item.
    counts: Vec<(f64, Vec<(u32, f32)>)>,
}

impl Field {
    /// The shrunken log-lift of `value` for `item`.
    /// `own` takes one user's events out of the counts: (their events of the item under the
    /// value, their events under the value).
    fn lift(&self, value: u32, item: u32, expected_share: f64, own: (f64, f64)) -> f32 {
        let (events, items) = &self.counts[value as usize];
        let c = match items.binary_search_by_key(&item, |&(i, _)| i) {
            Ok(at) => items[at].1 as f64,
            Err(_) => 0.0,
        };
        let (c, events) = ((c - own.0).max(0.0), (events - own.1).max(0.0));
        ((c + PRIOR) / (events * expected_share + PRIOR)).ln() as f32
    }
}

/// The learned stage: lift tables, and per field its weight against the recipe's standardised
/// score, for users with history (`warm`) and without (`cold`); an all-zero set is off.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextModel {
    pub fields: Vec<Field>,
    /// Events per item where the lifts were counted; items added since (past its end) have
    /// none, so a grown catalogue needs no change here.
    item_events: Vec<f32>,
    total: f64,
    pub warm: Vec<f32>,
    pub cold: Vec<f32>,
}

/// A request's value per field (`None` where it has none the model knows).
pub type Values = Vec<Option<u32>>;

impl ContextModel {
    /// Lift tables over `data`'s events; weights zero.
    pub fn count(data: &TrainingData) -> Option<ContextModel> {
        let s = data.situations.as_deref()?;
        let mut fields: Vec<Field> = s
            .event_fields
            .iter()
            .map(|(n, d)| (n, d, Source::Context))
            .chain(s.user_fields.iter().map(|(n, d)| (n, d, Source::User)))
            .map(|(name, values, source)| Field {
                name: name.clone(),
                source,
                values: values.clone(),
                counts: vec![(0.0, Vec::new()); values.len()],
            })
            .collect();
        if fields.is_empty() {
            return None;
        }
        let mut maps: Vec<Vec<HashMap<u32, f32>>> = fields
            .iter()
            .map(|f| vec![HashMap::new(); f.values.len()])
            .collect();
        let mut item_events = vec![0f32; data.n_items()];
        let mut total = 0.0;
        for (u, h) in data.histories.iter().enumerate() {
            for e in h {
                item_events[e.item as usize] += 1.0;
                total += 1.0;
                for (f, v) in event_values(s, u, e.ctx).into_iter().enumerate() {
                    if let Some(v) = v {
                        *maps[f][v as usize].entry(e.item).or_default() += 1.0;
                    }
                }
            }
        }
        for (field, maps) in fields.iter_mut().zip(maps) {
            for (slot, map) in field.counts.iter_mut().zip(maps) {
                let mut items: Vec<(u32, f32)> = map.into_iter().collect();
                items.sort_unstable_by_key(|&(i, _)| i);
                slot.0 = items.iter().map(|&(_, c)| c as f64).sum();
                slot.1 = items;
            }
        }
        let n = fields.len();
        Some(ContextModel {
            fields,
            item_events,
            total,
            warm: vec![0.0; n],
            cold: vec![0.0; n],
        })
    }

    /// Whether any weight is set.
    pub fn is_on(&self) -> bool {
        self.warm.iter().chain(&self.cold).any(|&w| w != 0.0)
    }

    /// The request's values: context keys are Interactions field names (exact, then ignoring
    /// case); user fields come from the user's record.
    pub fn resolve(
        &self,
        context: Option<&BTreeMap<String, String>>,
        user: Option<&Attrs>,
    ) -> Values {
        self.fields
            .iter()
            .map(|f| match f.source {
                Source::Context => {
                    let c = context?;
                    let v = c.get(&f.name).or_else(|| {
                        c.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(&f.name))
                            .map(|(_, v)| v)
                    })?;
                    f.values.get(v)
                }
                Source::User => f.values.get(&lookup(user?, &f.name)?.to_wire()),
            })
            .collect()
    }

    /// Each field's lift for `item` under `values` (0 where the request has no value).
    fn lifts(&self, values: &Values, item: u32, out: &mut Vec<f32>) {
        self.lifts_without(values, item, None, out)
    }

    /// [`Self::lifts`] with one user's own events left out of the counts, as they would be
    /// for a user training never saw.
    fn lifts_without(
        &self,
        values: &Values,
        item: u32,
        own: Option<&OwnEvents>,
        out: &mut Vec<f32>,
    ) {
        out.clear();
        let share = self.item_events.get(item as usize).copied().unwrap_or(0.0) as f64
            / self.total.max(1.0);
        for (f, (field, v)) in self.fields.iter().zip(values).enumerate() {
            out.push(v.map_or(0.0, |v| {
                let own = own.map_or((0.0, 0.0), |o| {
                    (
                        o.items.get(&(f, v, item)).copied().unwrap_or(0.0),
                        o.values.get(&(f, v)).copied().unwrap_or(0.0),
                    )
                });
                field.lift(v, item, share, own)
            }));
        }
    }

    /// The stage: new scores for `candidates` (item, base score). Returns `None` when the
    /// request has no value the chosen weights use.
    pub fn rerank(
        &self,
        values: &Values,
        warm: bool,
        candidates: &[(u32, f32)],
    ) -> Option<Vec<f32>> {
        let weights = if warm { &self.warm } else { &self.cold };
        if candidates.len() < 2
            || !weights
                .iter()
                .zip(values)
                .any(|(&w, v)| w != 0.0 && v.is_some())
        {
            return None;
        }
        let (_, std) = mean_std(candidates.iter().map(|c| c.1));
        let mut lifts = Vec::with_capacity(weights.len());
        Some(
            candidates
                .iter()
                .map(|&(item, s)| {
                    self.lifts(values, item, &mut lifts);
                    s + std * dot(weights, &lifts)
                })
                .collect(),
        )
    }

    pub fn write(&self, w: &mut ArtifactWriter) {
        let meta = serde_json::json!({
            "total": self.total,
            "warm": self.warm,
            "cold": self.cold,
            "fields": self.fields.iter().map(|f| serde_json::json!({
                "name": f.name,
                "source": match f.source { Source::Context => "context", Source::User => "user" },
                "values": f.values.iter().collect::<Vec<_>>(),
                "lengths": f.counts.iter().map(|c| c.1.len()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        let (mut items, mut counts) = (Vec::new(), Vec::new());
        for f in &self.fields {
            for (_, list) in &f.counts {
                items.extend(list.iter().map(|&(i, _)| i));
                counts.extend(list.iter().map(|&(_, c)| c));
            }
        }
        w.bytes(b"CTXM", &serde_json::to_vec(&meta).unwrap_or_default())
            .u32s(b"CTXI", &items)
            .f32s(b"CTXC", &counts)
            .f32s(b"CTXN", &self.item_events);
    }

    /// The stage from an artifact; `None` when the artifact has none.
    pub fn read(r: &ArtifactReader, n_items: usize) -> Result<Option<ContextModel>, ArtifactError> {
        let meta = match r.bytes(b"CTXM") {
            Ok(b) => b,
            Err(ArtifactError::Missing(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let corrupt = |what: &str| ArtifactError::Corrupt(format!("context stage: {what}"));
        let meta: serde_json::Value =
            serde_json::from_slice(meta).map_err(|e| corrupt(&e.to_string()))?;
        let (items, counts) = (r.u32s(b"CTXI")?, r.f32s(b"CTXC")?);
        let item_events = r.f32s(b"CTXN")?;
        if items.len() != counts.len() || item_events.len() > n_items {
            return Err(corrupt("lengths"));
        }
        let floats = |v: &serde_json::Value| -> Result<Vec<f32>, ArtifactError> {
            v.as_array()
                .ok_or_else(|| corrupt("weights"))?
                .iter()
                .map(|w| {
                    w.as_f64()
                        .map(|w| w as f32)
                        .ok_or_else(|| corrupt("weight"))
                })
                .collect()
        };
        let mut at = 0usize;
        let mut fields = Vec::new();
        for f in meta["fields"].as_array().ok_or_else(|| corrupt("fields"))? {
            let mut values = IdDict::new();
            for v in f["values"].as_array().ok_or_else(|| corrupt("values"))? {
                values.intern(v.as_str().ok_or_else(|| corrupt("value"))?);
            }
            let lengths = f["lengths"].as_array().ok_or_else(|| corrupt("lengths"))?;
            if lengths.len() != values.len() {
                return Err(corrupt("lengths"));
            }
            let mut per_value = Vec::with_capacity(lengths.len());
            for len in lengths {
                let len = len.as_u64().ok_or_else(|| corrupt("length"))? as usize;
                let end = at.checked_add(len).filter(|&e| e <= items.len());
                let end = end.ok_or_else(|| corrupt("lengths"))?;
                let list: Vec<(u32, f32)> = items[at..end]
                    .iter()
                    .copied()
                    .zip(counts[at..end].iter().copied())
                    .collect();
                if list.iter().any(|&(i, _)| i as usize >= n_items)
                    || list.windows(2).any(|w| w[0].0 >= w[1].0)
                {
                    return Err(corrupt("item codes"));
                }
                per_value.push((list.iter().map(|&(_, c)| c as f64).sum(), list));
                at = end;
            }
            fields.push(Field {
                name: f["name"]
                    .as_str()
                    .ok_or_else(|| corrupt("name"))?
                    .to_string(),
                source: match f["source"].as_str() {
                    Some("context") => Source::Context,
                    Some("user") => Source::User,
                    _ => return Err(corrupt("source")),
                },
                values,
                counts: per_value,
            });
        }
        let (warm, cold) = (floats(&meta["warm"])?, floats(&meta["cold"])?);
        if warm.len() != fields.len() || cold.len() != fields.len() || at != items.len() {
            return Err(corrupt("weights"));
        }
        Ok(Some(ContextModel {
            fields,
            item_events,
            total: meta["total"].as_f64().ok_or_else(|| corrupt("total"))?,
            warm,
            cold,
        }))
    }
}

/// One user's events as the lift tables count them: per (field, value, item) and per
/// (field, value).
#[derive(Debug, Default)]
struct OwnEvents {
    items: HashMap<(usize, u32, u32), f64>,
    values: HashMap<(usize, u32), f64>,
}

impl OwnEvents {
    fn of(s: &Situations, user: usize, events: &[super::Event]) -> OwnEvents {
        let mut own = OwnEvents::default();
        for e in events {
            for (f, v) in event_values(s, user, e.ctx).into_iter().enumerate() {
                if let Some(v) = v {
                    *own.items.entry((f, v, e.item)).or_default() += 1.0;
                    *own.values.entry((f, v)).or_default() += 1.0;
                }
            }
        }
        own
    }
}

/// An event's value per field: its context tuple's, then its user's.
fn event_values(s: &Situations, user: usize, ctx: u32) -> Values {
    let tuple = s.tuples.get(ctx as usize);
    let user_row = s.users.get(user);
    let context = (0..s.event_fields.len()).map(|f| tuple.map_or(NO_VALUE, |t| t[f]));
    let users = (0..s.user_fields.len()).map(|f| user_row.map_or(NO_VALUE, |r| r[f]));
    context
        .chain(users)
        .map(|v| (v != NO_VALUE).then_some(v))
        .collect()
}

fn mean_std(xs: impl Iterator<Item = f32> + Clone) -> (f32, f32) {
    let n = xs.clone().count().max(1) as f64;
    let mean = xs.clone().map(|x| x as f64).sum::<f64>() / n;
    let var = xs.map(|x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean as f32, (var.sqrt() as f32).max(1e-6))
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// One held-out event as the fit sees it: every candidate's features (standardised base score,
/// then one lift per field) and which candidate was picked.
struct Example {
    features: Vec<Vec<f32>>,
    picked: usize,
}

/// Learns the stage for a model trained on `full`: `base` is the recipe fitted on `train`
/// (`full` with each held-out user's newest events cut), the held-out events are what it
/// learns from, and the lifts it serves with are counted on `full`. `None` when the data has no
/// context or metadata fields, or when they do not beat the recipe alone.
pub fn learn(base: &Model, train: &TrainingData, full: &TrainingData) -> Option<ContextModel> {
    let s = full.situations.as_deref()?;
    let started = std::time::Instant::now();
    let counted = ContextModel::count(train)?;
    let mut users: Vec<usize> = (0..full.histories.len().min(train.histories.len()))
        .filter(|&u| full.histories[u].len() > train.histories[u].len())
        .collect();
    let mut rng = SplitMix::new(0x5eed_c0de);
    for i in (1..users.len()).rev() {
        users.swap(i, rng.below(i + 1));
    }
    users.truncate(MAX_USERS);
    // The catalogue's best, as serving takes them (history included). Cold: popularity's,
    // the same for every user.
    let best = |scores: &[f32]| -> Vec<(u32, f32)> {
        top_k(scores, CANDIDATES, |_| true)
            .into_iter()
            .map(|c| (c.item, c.score))
            .collect()
    };
    let popular = best(&base.popularity);
    let mut weights = [Vec::new(), Vec::new()];
    for (slot, warm) in [(0, true), (1, false)] {
        let mut examples = Vec::new();
        for (n, &u) in users.iter().enumerate() {
            let candidates = if warm {
                let history: Vec<u32> = train.histories[u].iter().map(|e| e.item).collect();
                let mut scores = Vec::new();
                base.score_history(&history, &mut scores);
                if scores.len() != base.items.len() {
                    continue;
                }
                best(&scores)
            } else {
                popular.clone()
            };
            let (mean, std) = mean_std(candidates.iter().map(|c| c.1));
            let held = &full.histories[u][train.histories[u].len()..];
            // The user's own events say what they like whatever the field: counted in, a
            // user field's lift would read as their history, and learn to trust it.
            let own = OwnEvents::of(s, u, &train.histories[u]);
            for e in held.iter().take(EVENTS_PER_USER) {
                let Some(picked) = candidates.iter().position(|c| c.0 == e.item) else {
                    continue;
                };
                let values = event_values(s, u, e.ctx);
                let mut lifts = Vec::new();
                let features = candidates
                    .iter()
                    .map(|&(item, score)| {
                        counted.lifts_without(&values, item, Some(&own), &mut lifts);
                        std::iter::once((score - mean) / std)
                            .chain(lifts.iter().copied())
                            .collect()
                    })
                    .collect();
                // Users, not events, make the folds: a user's events are alike.
                examples.push((n % FOLDS, Example { features, picked }));
            }
        }
        weights[slot] = fit_weights(&examples, &mut rng).unwrap_or_default();
    }
    let mut m = ContextModel::count(full)?;
    let n = m.fields.len();
    let [warm, cold] = weights;
    m.warm = if warm.len() == n { warm } else { vec![0.0; n] };
    m.cold = if cold.len() == n { cold } else { vec![0.0; n] };
    tracing::info!(
        warm = ?m.warm,
        cold = ?m.cold,
        seconds = started.elapsed().as_secs_f64(),
        "context stage learned"
    );
    m.is_on().then_some(m)
}

/// The logistic regression's field weights over the base score's, at the strength that ranks
/// best out of fold, when that beats the base alone out of fold. `examples` are (fold, example).
fn fit_weights(examples: &[(usize, Example)], rng: &mut SplitMix) -> Option<Vec<f32>> {
    if examples.len() < 100 {
        return None;
    }
    // The pointwise fit gets the fields' direction right but not always the strength that
    // ranks best, so the strength is chosen too; 0 is the base alone.
    const STRENGTHS: [f32; 5] = [0.0, 0.5, 1.0, 1.5, 2.0];
    let mut ndcg = [0.0; STRENGTHS.len()];
    for fold in 0..FOLDS {
        let fit: Vec<&Example> = examples
            .iter()
            .filter(|e| e.0 != fold)
            .map(|e| &e.1)
            .collect();
        let held: Vec<&Example> = examples
            .iter()
            .filter(|e| e.0 == fold)
            .map(|e| &e.1)
            .collect();
        let fitted = logistic(&fit, rng)?;
        for (t, total) in STRENGTHS.iter().zip(&mut ndcg) {
            let w: Vec<f32> = fitted.iter().map(|w| w * t).collect();
            *total += held.iter().map(|e| example_ndcg(e, &w)).sum::<f64>();
        }
    }
    let (best, strength) = STRENGTHS
        .iter()
        .zip(ndcg)
        .map(|(&t, n)| (n, t))
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    tracing::debug!(
        ?ndcg,
        strength,
        "context stage, NDCG@10 sums out of fold by strength"
    );
    if best.is_nan() || best <= ndcg[0] * (1.0 + MIN_GAIN) {
        return None;
    }
    let all: Vec<&Example> = examples.iter().map(|e| &e.1).collect();
    Some(logistic(&all, rng)?.iter().map(|w| w * strength).collect())
}

/// The logistic regression (smartcore) of picked against `NEGATIVES` sampled candidates per
/// example; the fields' coefficients over the base score's, negative ones dropped.
fn logistic(examples: &[&Example], rng: &mut SplitMix) -> Option<Vec<f32>> {
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for e in examples {
        let row = |c: usize| {
            e.features[c]
                .iter()
                .map(|&x| x as f64)
                .collect::<Vec<f64>>()
        };
        rows.push(row(e.picked));
        labels.push(1u32);
        for _ in 0..NEGATIVES.min(e.features.len() - 1) {
            let mut c = rng.below(e.features.len() - 1);
            if c >= e.picked {
                c += 1;
            }
            rows.push(row(c));
            labels.push(0);
        }
    }
    let x = DenseMatrix::from_2d_vec(&rows).ok()?;
    let params = LogisticRegressionParameters::default().with_alpha(1.0);
    let lr = LogisticRegression::fit(&x, &labels, params).ok()?;
    // In scope here only: its `get` would shadow slices' elsewhere.
    use smartcore::linalg::basic::arrays::Array;
    let coef = lr.coefficients();
    let base = *coef.get((0, 0));
    if base.is_nan() || base <= 1e-6 {
        return None;
    }
    // A value seen with an item more than its share predicts more of it, never less: a
    // negative weight is the fit reading noise, and goes.
    let n_fields = examples.first()?.features.first()?.len() - 1;
    Some(
        (1..=n_fields)
            .map(|j| ((*coef.get((0, j)) / base) as f32).max(0.0))
            .collect(),
    )
}

/// NDCG@10 of the picked candidate when ranked by base + weights · lifts.
fn example_ndcg(e: &Example, weights: &[f32]) -> f64 {
    let score = |f: &Vec<f32>| f[0] + dot(weights, &f[1..]);
    let mine = score(&e.features[e.picked]);
    // Ties rank the picked item below the others: a stage must earn its hits.
    let rank = e
        .features
        .iter()
        .enumerate()
        .filter(|&(c, f)| c != e.picked && score(f) >= mine)
        .count();
    if rank < 10 {
        1.0 / ((rank + 2) as f64).log2()
    } else {
        0.0
    }
}

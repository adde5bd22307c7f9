//! A FULL training of a factor recipe (user-personalization, personalized-ranking): the version's
//! evaluation model and its served model from one chain of factor fits, each warm-starting the
//! next from its item factors (users restart from the random start):
//!
//! 1. `trial` — on the validation split's training part of the evaluation split's training part,
//!    two thirds of the sweeps (only when the factor weight is tuned): the weights the evaluation
//!    model uses are chosen with these factors;
//! 2. `evaluation` — on the evaluation split's training part, the rest of the sweeps: the model
//!    whose offline metrics the version reports, exactly [`Model::fit`] on that part;
//! 3. `final` — on all the data, a third of the sweeps: the model served, its weights chosen
//!    on the evaluation split's held-out events with the evaluation's factors.
//!
//! Four fits' worth of sweeps in three (an evaluation fit and a final fit, each with its trial,
//! took six thirds). The single process runs the sweeps in turn ([`fit_factors`]); the training
//! state machine runs the same sweeps on shards (`als_shards`); both end in [`finish`], so a
//! sharded version is the single-process one, and nothing after the shards fits factors in one
//! process.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::components::ItemComponents;
use super::factors::{self, AlsParams, ItemFactors};
use super::next_items::{self, NextItemsParams, PERSONALIZED_RANKING, USER_PERSONALIZATION};
use super::{Hyperparameters, Learned, Model, Recipe, TrainingData};
use crate::error::{Error, Result};
use crate::evaluation::{self, Split};

/// Which data a phase's sweeps solve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Trial,
    Evaluation,
    Final,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Trial => "trial",
            Phase::Evaluation => "evaluation",
            Phase::Final => "final",
        }
    }
}

/// The phases of a version's factor fits, in order, with their sweeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// The recipe's parameters, factors resolved ("auto" sized by the catalogue).
    pub params: NextItemsParams,
    pub phases: Vec<(Phase, usize)>,
}

/// The item factors at the end of each phase.
#[derive(Debug, Clone, Default)]
pub struct ChainFactors {
    pub trial: Option<ItemFactors>,
    pub evaluation: Option<ItemFactors>,
    pub final_: Option<ItemFactors>,
}

impl ChainFactors {
    pub fn set(&mut self, phase: Phase, y: ItemFactors) {
        *self.get_mut(phase) = Some(y);
    }

    fn get_mut(&mut self, phase: Phase) -> &mut Option<ItemFactors> {
        match phase {
            Phase::Trial => &mut self.trial,
            Phase::Evaluation => &mut self.evaluation,
            Phase::Final => &mut self.final_,
        }
    }

    /// Items put after the fits began have no factors yet, as in a grown model.
    pub fn grow(&mut self, n_items: usize) {
        for f in [&mut self.trial, &mut self.evaluation, &mut self.final_]
            .into_iter()
            .flatten()
        {
            if f.n_items() < n_items {
                f.grow(n_items);
            }
        }
    }
}

/// What a version's training made: the model its metrics are measured on, and the one served.
pub struct Trained {
    pub evaluation: Model,
    pub model: Model,
}

/// The chain `recipe` with `hp` fits on `data`, or `None` when it fits no factors.
pub fn chain(recipe: Recipe, data: &TrainingData, hp: &Hyperparameters) -> Result<Option<Chain>> {
    let longest = data.histories.iter().map(Vec::len).max().unwrap_or(0);
    chain_for(recipe, data.n_items(), longest, hp)
}

/// [`chain`] from the data's sizes alone: its catalogue and its longest history.
pub fn chain_for(
    recipe: Recipe,
    n_items: usize,
    longest: usize,
    hp: &Hyperparameters,
) -> Result<Option<Chain>> {
    let Some(params) = factor_params(recipe, n_items, hp)? else {
        return Ok(None);
    };
    let n = params.als_iterations;
    // A trial needs held-out events in the evaluation split's training part: users with 5 events
    // there (QUALITY.md's split) had 7 or more before it.
    let trial = params.tune_factor_weight && longest >= TRIAL_MIN_HISTORY;
    let mut phases = Vec::with_capacity(3);
    if trial {
        phases.push((Phase::Trial, (n * 2).div_ceil(3)));
        phases.push((Phase::Evaluation, n.div_ceil(3)));
    } else {
        phases.push((Phase::Evaluation, n));
    }
    phases.push((Phase::Final, n.div_ceil(3)));
    Ok(Some(Chain { params, phases }))
}

/// The shortest history that still leaves 5 events after the evaluation split takes its newest
/// 20% (ceil): 7 − ceil(1.4) = 5.
const TRIAL_MIN_HISTORY: usize = 7;

impl Chain {
    /// The parameters of `phase`'s sweeps.
    pub fn als(&self, iterations: usize) -> AlsParams {
        AlsParams {
            factors: self.params.factors,
            iterations,
            alpha: self.params.als_alpha as f32,
            reg: self.params.als_reg as f32,
            cg_steps: self.params.als_cg_steps,
        }
    }

    /// The rows `phase` solves, filtered as the recipe filters before fitting factors (a copy
    /// only when the filter drops users). `split` is the evaluation split of `data`.
    pub fn data<'a>(
        &self,
        phase: Phase,
        data: &'a TrainingData,
        split: &'a Split,
    ) -> Cow<'a, TrainingData> {
        let d = match phase {
            Phase::Trial => Cow::Owned(next_items::tuning_split(&split.train).train),
            Phase::Evaluation => Cow::Borrowed(&split.train),
            Phase::Final => Cow::Borrowed(data),
        };
        let (min, max) = (
            self.params.min_user_history_length_percentile,
            self.params.max_user_history_length_percentile,
        );
        if min <= 0.0 && max >= 1.0 {
            return d;
        }
        let mut d = d.into_owned();
        d.filter_history_percentiles(min, max);
        Cow::Owned(d)
    }
}

/// Every phase's sweeps in this process, each phase's data made only while it is fitted.
pub fn fit_factors(
    chain: &Chain,
    data: &TrainingData,
    split: &Split,
    progress: &mut dyn FnMut(f64),
) -> ChainFactors {
    let total: usize = chain.phases.iter().map(|p| p.1).sum::<usize>().max(1);
    let mut done = 0;
    let mut out = ChainFactors::default();
    let mut start: Option<ItemFactors> = None;
    for &(phase, iterations) in &chain.phases {
        let d = chain.data(phase, data, split);
        let y = factors::fit(&d, &chain.als(iterations), start.as_ref(), &mut |f| {
            progress((done as f64 + f * iterations as f64) / total as f64)
        });
        done += iterations;
        out.set(phase, y.clone());
        start = Some(y);
    }
    out
}

/// What the shards counted over every user, for the served model, when the finish trains on a
/// sample of them.
pub struct Whole {
    /// Distinct users per item, scaled so the most popular is 1.
    pub popularity: Vec<f32>,
    /// Which items the users join.
    pub components: Option<ItemComponents>,
}

/// The version's two models from the chain's factors; `split` is the evaluation split of `data`.
/// `whole` holds the served model's popularity and components when `data` is a sample of the
/// users (otherwise counted from `data`).
pub fn finish(
    recipe: Recipe,
    chain: &Chain,
    data: &TrainingData,
    split: &Split,
    fitted: ChainFactors,
    whole: Option<Whole>,
    progress: &mut dyn FnMut(f64),
) -> Result<Trained> {
    let ChainFactors {
        trial: y_trial,
        evaluation: y_evaluation,
        final_: y_final,
    } = fitted;
    let (Some(y_evaluation), Some(y_final)) = (y_evaluation, y_final) else {
        return Err(Error::Internal(
            "the chain's evaluation or final factors are missing".into(),
        ));
    };
    for y in [Some(&y_evaluation), Some(&y_final), y_trial.as_ref()]
        .into_iter()
        .flatten()
    {
        if y.factors != chain.params.factors || y.n_items() != data.n_items() {
            return Err(Error::Internal(format!(
                "the chain's factors ({} × {}) do not fit the data ({} items, {} factors)",
                y.n_items(),
                y.factors,
                data.n_items(),
                chain.params.factors
            )));
        }
    }
    let params = &chain.params;
    // The evaluation model: weights chosen with the trial's factors, as `Model::fit` chooses
    // them on the evaluation split's training part.
    let mut evaluated = params.clone();
    if let Some(y) = y_trial {
        let tuning = next_items::tuning_split(&split.train);
        let m = unfactored(&tuning.train, params, &mut |_| {})?;
        (evaluated.factor_weight, evaluated.popularity_weight) = weights(m, y, &tuning, params);
    }
    let mut unserved = None;
    let evaluation = Model::fit_with(
        recipe,
        &split.train,
        &mut |f| progress(0.5 * f),
        |pop, p| {
            let mut m = unfactored(&split.train, &evaluated, p)?;
            m.params = settled(evaluated.clone());
            let weight = m.params.factor_weight;
            if params.tune_factor_weight {
                // The served model's weights, on the held-out events with these factors.
                let mut chooser = m.clone();
                chooser.params = params.clone();
                chooser.factors = Some(y_evaluation.clone());
                unserved = Some(chooser);
            }
            Ok(wrap(
                recipe,
                with_factors(
                    m,
                    weight,
                    y_evaluation,
                    &split.train,
                    pop,
                    ItemComponents::of(&split.train),
                )?,
            ))
        },
    )?;
    let mut served = params.clone();
    if let Some(chooser) = unserved {
        (served.factor_weight, served.popularity_weight) = chooser.best_weights(split);
    }
    let (popularity, components) = match whole {
        Some(w) => (w.popularity, w.components),
        None => (
            super::popularity::popularity(data),
            ItemComponents::of(data),
        ),
    };
    let model = Model::fit_with_popularity(
        recipe,
        data,
        popularity,
        &mut |f| progress(0.5 + 0.5 * f),
        |pop, p| {
            let mut m = unfactored(data, &served, p)?;
            m.params = settled(served.clone());
            let weight = m.params.factor_weight;
            let m = with_factors(m, weight, y_final, data, pop, components)?;
            Ok(wrap(recipe, m))
        },
    )?;
    Ok(Trained { evaluation, model })
}

/// The next-items part alone (no factors) with `params`.
fn unfactored(
    data: &TrainingData,
    params: &NextItemsParams,
    progress: &mut dyn FnMut(f64),
) -> Result<next_items::NextItems> {
    next_items::fit(
        data,
        NextItemsParams {
            factors: 0,
            ..params.clone()
        },
        progress,
    )
}

/// The factor and popularity weights `m` with factors `y` scores best on `split`'s held-out
/// events, tuned as `params` says.
fn weights(
    mut m: next_items::NextItems,
    y: ItemFactors,
    split: &Split,
    params: &NextItemsParams,
) -> (f32, f32) {
    m.params = params.clone();
    m.factors = Some(y);
    m.best_weights(split)
}

/// Resolved parameters: nothing left to tune.
fn settled(params: NextItemsParams) -> NextItemsParams {
    NextItemsParams {
        tune_factor_weight: false,
        tune_popularity_weight: false,
        ..params
    }
}

/// `m` with factors `y`, unless they did not help (weight 0: the artifact stays small, as
/// `next_items::fit` keeps it), indexed for retrieval.
fn with_factors(
    mut m: next_items::NextItems,
    weight: f32,
    y: ItemFactors,
    data: &TrainingData,
    popularity: &[f32],
    components: Option<ItemComponents>,
) -> Result<next_items::NextItems> {
    if weight > 0.0 {
        m.factors = Some(y);
    } else {
        m.params.factors = 0;
    }
    m.finish_catalogue(data, popularity, components)?;
    Ok(m)
}

fn wrap(recipe: Recipe, m: next_items::NextItems) -> Box<dyn Learned> {
    if recipe == USER_PERSONALIZATION {
        Box::new(next_items::UserPersonalization(m))
    } else {
        Box::new(next_items::PersonalizedRanking(m))
    }
}

/// The next-items parameters with factors resolved ("auto" sized by the catalogue), when the
/// recipe fits factors.
fn factor_params(
    recipe: Recipe,
    n_items: usize,
    hp: &Hyperparameters,
) -> Result<Option<NextItemsParams>> {
    if recipe != USER_PERSONALIZATION && recipe != PERSONALIZED_RANKING {
        return Ok(None);
    }
    hp.only(recipe.name(), recipe.hyperparameters())?;
    let mut p = NextItemsParams::from_hp(hp)?;
    if p.auto_factors {
        p.factors = next_items::auto_factors(n_items);
        p.auto_factors = false;
    }
    Ok((p.factors > 0).then_some(p))
}

/// Whether `recipe` with `hp` fits factors at all (what sharding splits).
pub fn fits_factors(recipe: Recipe, hp: &Hyperparameters) -> Result<bool> {
    Ok(factor_params(recipe, 0, hp)?.is_some())
}

/// A version's FULL training in this process: the chain for a factor recipe, otherwise the
/// evaluation fit and the final fit apart. Returns the trained models and the evaluation split.
pub fn train(
    recipe: Recipe,
    data: &TrainingData,
    hp: &Hyperparameters,
    progress: &mut dyn FnMut(&str, f64),
) -> Result<(Trained, Split)> {
    let split = evaluation::quality_split(data);
    let trained = match chain(recipe, data, hp)? {
        Some(chain) => {
            let fitted = fit_factors(&chain, data, &split, &mut |f| progress("training", 0.8 * f));
            finish(recipe, &chain, data, &split, fitted, None, &mut |f| {
                progress("training", 0.8 + 0.2 * f)
            })?
        }
        None => Trained {
            evaluation: Model::fit(recipe, &split.train, hp, &mut |f| progress("evaluating", f))?,
            model: Model::fit(recipe, data, hp, &mut |f| progress("training", f))?,
        },
    };
    Ok((trained, split))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipes::next_items::NextItems;
    use crate::recipes::Event;
    use crate::sample::SplitMix;

    /// Users of 6 taste clusters, events on their own cluster's items: factors help here.
    fn clustered() -> TrainingData {
        let (users, items, k) = (600, 120, 6);
        let mut rng = SplitMix::new(29);
        let mut d = TrainingData::default();
        for i in 0..items {
            d.items.intern(&format!("i{i}"));
        }
        let per = items / k;
        for u in 0..users {
            d.users.intern(&format!("u{u}"));
            let c = u % k;
            let h = (0..4 + rng.below(20))
                .map(|t| {
                    let r = rng.unit();
                    Event {
                        item: (c * per + ((r * r * per as f64) as usize).min(per - 1)) as u32,
                        ts: t as i64,
                        weight: 1.0,
                        ctx: 0,
                    }
                })
                .collect();
            d.histories.push(h);
        }
        d
    }

    fn learned(m: &Model) -> &NextItems {
        &m.learned
            .as_any()
            .downcast_ref::<next_items::UserPersonalization>()
            .unwrap()
            .0
    }

    fn hp(tuned: bool) -> Hyperparameters {
        let hp = Hyperparameters::new()
            .with("factors", "8")
            .with("als_iterations", "6");
        if tuned {
            hp
        } else {
            hp.with("factor_weight", "0.5")
        }
    }

    #[test]
    fn the_evaluation_model_is_the_recipes_fit_on_the_evaluation_part() {
        let d = clustered();
        for tuned in [true, false] {
            let (trained, split) =
                train(USER_PERSONALIZATION, &d, &hp(tuned), &mut |_, _| {}).unwrap();
            let alone =
                Model::fit(USER_PERSONALIZATION, &split.train, &hp(tuned), &mut |_| {}).unwrap();
            let (a, b) = (learned(&trained.evaluation), learned(&alone));
            assert_eq!(a.params, b.params, "tuned: {tuned}");
            assert_eq!((&a.b, &a.columns), (&b.b, &b.columns));
            let (fa, fb) = (a.factors.as_ref().unwrap(), b.factors.as_ref().unwrap());
            let diff =
                fa.y.iter()
                    .zip(&fb.y)
                    .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(diff <= 1e-5, "factors differ by {diff}");
            // The served model is fitted on all the data, not on the evaluation part.
            assert_eq!(trained.model.items.len(), d.n_items());
            assert_ne!(learned(&trained.model).b, a.b);
        }
    }

    #[test]
    fn the_chain_sweeps_four_thirds_of_one_fit() {
        let d = clustered();
        let c = chain(USER_PERSONALIZATION, &d, &hp(true)).unwrap().unwrap();
        let phases: Vec<Phase> = c.phases.iter().map(|p| p.0).collect();
        assert_eq!(phases, [Phase::Trial, Phase::Evaluation, Phase::Final]);
        assert_eq!(c.phases.iter().map(|p| p.1).sum::<usize>(), 4 + 2 + 2);
        // Weights given: no trial.
        let c = chain(USER_PERSONALIZATION, &d, &hp(false))
            .unwrap()
            .unwrap();
        assert_eq!(c.phases, [(Phase::Evaluation, 6), (Phase::Final, 2)]);
        // Histories too short to hold out from the evaluation part: no trial either.
        let mut short = d.clone();
        short.histories.iter_mut().for_each(|h| h.truncate(6));
        let c = chain(USER_PERSONALIZATION, &short, &hp(true))
            .unwrap()
            .unwrap();
        assert_eq!(c.phases[0].0, Phase::Evaluation);
        assert!(
            chain(crate::recipes::sims::SIMS, &d, &Hyperparameters::new())
                .unwrap()
                .is_none()
        );
    }
}

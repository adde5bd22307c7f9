//! `performHPO`: a random search over `solutionConfig.hpoConfig`'s ranges. Every trial fits the
//! recipe on a validation split carved from the *training part* of the version's evaluation
//! split (the QUALITY.md protocol applied twice), so the metrics the version reports are never
//! the ones it was tuned on. The first trial is the recipe's defaults (or the solution's own
//! values), and another trial is chosen only when it beats them by more than 1% on validation.
//! Trials run `maxParallelTrainingJobs` at a time.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Deserialize;

use super::{Hyperparameters, Model, Recipe, TrainingData};
use crate::error::{Error, Result};
use crate::evaluation::{self, quality_split};
use crate::sample::SplitMix;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntRange {
    name: String,
    min_value: i64,
    max_value: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FloatRange {
    name: String,
    min_value: f64,
    max_value: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CategoryRange {
    name: String,
    values: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ranges {
    #[serde(default)]
    integer_hyper_parameter_ranges: Vec<IntRange>,
    #[serde(default)]
    continuous_hyper_parameter_ranges: Vec<FloatRange>,
    #[serde(default)]
    categorical_hyper_parameter_ranges: Vec<CategoryRange>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resources {
    max_number_of_training_jobs: Option<String>,
    max_parallel_training_jobs: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Objective {
    #[serde(rename = "type")]
    kind: Option<String>,
    metric_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    hpo_objective: Option<Objective>,
    hpo_resource_config: Option<Resources>,
    algorithm_hyper_parameter_ranges: Option<Ranges>,
}

/// A checked `hpoConfig`.
#[derive(Debug, Clone)]
pub struct HpoConfig {
    ranges: Ranges,
    pub jobs: usize,
    pub parallel: usize,
    pub metric: String,
    maximize: bool,
}

/// Personalize's limits.
const MAX_JOBS: usize = 40;
const MAX_PARALLEL: usize = 10;
const DEFAULT_JOBS: usize = 8;

/// The relative validation gain over the defaults a trial needs to be chosen.
const MIN_GAIN: f64 = 0.01;

fn invalid(m: String) -> Error {
    Error::InvalidInput(format!("hpoConfig: {m}"))
}

impl HpoConfig {
    /// Checks `hpoConfig` against `recipe`'s hyperparameters; `None` JSON means defaults
    /// with nothing to tune, which is refused.
    pub fn parse(recipe: Recipe, v: Option<&serde_json::Value>) -> Result<HpoConfig> {
        let raw: Raw = match v {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| invalid(e.to_string()))?,
            None => Raw::default(),
        };
        let ranges = raw.algorithm_hyper_parameter_ranges.unwrap_or_default();
        let names = ranges
            .integer_hyper_parameter_ranges
            .iter()
            .map(|r| &r.name)
            .chain(
                ranges
                    .continuous_hyper_parameter_ranges
                    .iter()
                    .map(|r| &r.name),
            )
            .chain(
                ranges
                    .categorical_hyper_parameter_ranges
                    .iter()
                    .map(|r| &r.name),
            );
        let mut count = 0;
        for name in names {
            count += 1;
            if !recipe.hyperparameters().contains(&name.as_str()) {
                return Err(invalid(format!(
                    "{} has no hyperparameter '{name}' (it has {})",
                    recipe.name(),
                    recipe.hyperparameters().join(", ")
                )));
            }
        }
        if count == 0 {
            return Err(invalid(
                "performHPO needs algorithmHyperParameterRanges with at least one range".into(),
            ));
        }
        for r in &ranges.integer_hyper_parameter_ranges {
            if r.min_value > r.max_value {
                return Err(invalid(format!("{}: minValue exceeds maxValue", r.name)));
            }
        }
        for r in &ranges.continuous_hyper_parameter_ranges {
            if r.min_value.is_nan() || r.max_value.is_nan() || r.min_value > r.max_value {
                return Err(invalid(format!("{}: minValue exceeds maxValue", r.name)));
            }
        }
        for r in &ranges.categorical_hyper_parameter_ranges {
            if r.values.is_empty() {
                return Err(invalid(format!("{}: values is empty", r.name)));
            }
        }
        let res = raw.hpo_resource_config.unwrap_or_default();
        let number = |v: &Option<String>, field: &str, default: usize, max: usize| {
            let n = match v {
                Some(s) => s.trim().parse::<usize>().map_err(|_| {
                    invalid(format!("hpoResourceConfig.{field} '{s}' is not a number"))
                })?,
                None => default,
            };
            if n == 0 || n > max {
                return Err(invalid(format!(
                    "hpoResourceConfig.{field} {n} is out of range [1, {max}]"
                )));
            }
            Ok(n)
        };
        let jobs = number(
            &res.max_number_of_training_jobs,
            "maxNumberOfTrainingJobs",
            DEFAULT_JOBS,
            MAX_JOBS,
        )?;
        let parallel = number(
            &res.max_parallel_training_jobs,
            "maxParallelTrainingJobs",
            rayon::current_num_threads().min(MAX_PARALLEL),
            MAX_PARALLEL,
        )?;
        let objective = raw.hpo_objective.unwrap_or_default();
        let metric = objective
            .metric_name
            .unwrap_or_else(|| "normalized_discounted_cumulative_gain_at_10".into());
        let maximize = match objective.kind.as_deref().map(str::to_ascii_lowercase) {
            None => true,
            Some(k) if k == "maximize" => true,
            Some(k) if k == "minimize" => false,
            Some(k) => {
                return Err(invalid(format!(
                    "hpoObjective.type '{k}' is not Maximize or Minimize"
                )))
            }
        };
        let cfg = HpoConfig {
            ranges,
            jobs,
            parallel,
            metric,
            maximize,
        };
        // Every value a trial can draw must be one the recipe takes.
        for hp in [cfg.corner(false), cfg.corner(true)] {
            hp.only(recipe.name(), recipe.hyperparameters())?;
        }
        Ok(cfg)
    }

    /// Every range at its minimum (or maximum), categorical at their first value.
    pub fn corner(&self, max: bool) -> Hyperparameters {
        let mut hp = Hyperparameters::new();
        for r in &self.ranges.integer_hyper_parameter_ranges {
            let v = if max { r.max_value } else { r.min_value };
            hp.0.insert(r.name.clone(), v.to_string());
        }
        for r in &self.ranges.continuous_hyper_parameter_ranges {
            let v = if max { r.max_value } else { r.min_value };
            hp.0.insert(r.name.clone(), v.to_string());
        }
        for r in &self.ranges.categorical_hyper_parameter_ranges {
            hp.0.insert(r.name.clone(), r.values[0].clone());
        }
        hp
    }

    /// The trials' hyperparameters over `base`: `base` itself first, then random draws
    /// (integers uniform, continuous log-uniform over a range spanning 10× or more, else
    /// uniform; categories uniform), from a fixed seed.
    pub fn trials(&self, base: &Hyperparameters) -> Vec<Hyperparameters> {
        let mut rng = SplitMix::new(0x4850_4F00);
        let mut out = vec![base.clone()];
        for _ in 1..self.jobs {
            let mut hp = base.clone();
            for r in &self.ranges.integer_hyper_parameter_ranges {
                let span = (r.max_value - r.min_value) as usize + 1;
                let v = r.min_value + rng.below(span) as i64;
                hp.0.insert(r.name.clone(), v.to_string());
            }
            for r in &self.ranges.continuous_hyper_parameter_ranges {
                let u = rng.unit();
                let v = if r.min_value > 0.0 && r.max_value >= 10.0 * r.min_value {
                    (r.min_value.ln() + u * (r.max_value.ln() - r.min_value.ln())).exp()
                } else {
                    r.min_value + u * (r.max_value - r.min_value)
                };
                hp.0.insert(r.name.clone(), format!("{v:.6}"));
            }
            for r in &self.ranges.categorical_hyper_parameter_ranges {
                hp.0.insert(r.name.clone(), rng.pick(&r.values).clone());
            }
            out.push(hp);
        }
        out
    }
}

/// One trial: the hyperparameters it set and its validation metric.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Trial {
    pub hyperparameters: BTreeMap<String, String>,
    pub metric: f64,
}

/// Runs the trials on the validation split carved from the training part of `data`'s
/// evaluation split; returns the best trial's hyperparameters and every trial.
pub fn tune(
    recipe: Recipe,
    data: &TrainingData,
    base: &Hyperparameters,
    cfg: &HpoConfig,
    progress: &mut (dyn FnMut(f64) + Send),
) -> Result<(Hyperparameters, Vec<Trial>)> {
    let validation = quality_split(&quality_split(data).train);
    let trials = cfg.trials(base);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.parallel)
        .build()
        .map_err(|e| Error::Internal(format!("HPO thread pool: {e}")))?;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let progress = std::sync::Mutex::new(progress);
    let results: Vec<Result<f64>> = pool.install(|| {
        trials
            .par_iter()
            .map(|hp| {
                let model = Model::fit(recipe, &validation.train, hp, &mut |_| {})?;
                let metrics = evaluation::evaluate(&model, &validation);
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if let Ok(mut p) = progress.lock() {
                    (*p)(n as f64 / trials.len() as f64);
                }
                metrics.get(&cfg.metric).copied().ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "hpoConfig.hpoObjective.metricName '{}' is not one of {}",
                        cfg.metric,
                        metrics.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(trials.len());
    for (hp, r) in trials.iter().zip(results) {
        out.push(Trial {
            hyperparameters: hp.0.clone().into_iter().collect(),
            metric: r?,
        });
    }
    let better = |a: f64, b: f64| if cfg.maximize { a > b } else { a < b };
    let mut best = 0;
    for (k, t) in out.iter().enumerate() {
        if better(t.metric, out[best].metric) {
            best = k;
        }
    }
    // A trial must beat the defaults by more than validation noise: on MovieLens the best of 8
    // draws beat them by 0.3% on validation and lost 3% on the test part (README, "HPO").
    let (d, b) = (out[0].metric, out[best].metric);
    let gain = if cfg.maximize { b - d } else { d - b };
    if gain <= MIN_GAIN * d.abs() {
        best = 0;
    }
    Ok((trials[best].clone(), out))
}

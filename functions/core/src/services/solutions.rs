//! Solutions (a recipe plus configuration) and solution versions (trained models with metrics).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::catalog::tables;
use super::shards::Sharded;
use super::Tailor;
use crate::crypto;
use crate::domain::*;
use crate::error::{Error, Result};
use crate::evaluation;
use crate::recipes::chain;
use crate::recipes::hpo::{self, HpoConfig};
use crate::recipes::{
    context, EventConfig, Hyperparameters, Model, Recipe, RecipeType, TrainingData,
};
use crate::schema::DatasetType;

/// The failureReason of a version whose training process stopped before it finished.
pub const TRAINING_WORKER_STOPPED: &str =
    "the training process stopped before finishing; create a new solution version";

/// Whether `version` is unfinished and the process working on it is seen gone.
fn worker_gone(version: &SolutionVersion) -> bool {
    matches!(
        version.status,
        Status::CreatePending | Status::CreateInProgress | Status::CreateStopping
    ) && version.worker.as_ref().is_some_and(|w| w.is_gone())
}

/// Personalize's training minimum: interactions, and users with two or more.
pub(crate) const MIN_EVENTS: usize = 1000;
pub(crate) const MIN_USERS: usize = 25;

/// The solution hyperparameter that decides how training runs, not what the recipe fits:
/// "auto" (the default: sharded past what one training function handles), "1" (never), or a
/// number of shards per side (users and items) for the sharded ALS (services::shards).
pub const SHARDS_HP: &str = "als_shards";

/// How a solution's training is to be cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainingShards {
    Auto,
    Fixed(usize),
}

pub(crate) fn training_shards(config: &SolutionConfig) -> Result<TrainingShards> {
    match config
        .algorithm_hyper_parameters
        .get(SHARDS_HP)
        .map(|s| s.trim())
    {
        None | Some("auto") => Ok(TrainingShards::Auto),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n @ 1..=10_000) => Ok(TrainingShards::Fixed(n)),
            _ => Err(Error::InvalidInput(format!(
                "hyperparameter {SHARDS_HP}='{raw}' must be auto or a number of shards in [1, 10000]"
            ))),
        },
    }
}

/// CreateSolution's input.
#[derive(Debug, Clone, Default)]
pub struct CreateSolution {
    pub name: String,
    pub dataset_group_arn: String,
    pub recipe_arn: String,
    pub event_type: Option<String>,
    pub solution_config: SolutionConfig,
    pub perform_hpo: bool,
    /// performAutoTraining: a FULL version every `autoTrainingConfig` period ([`auto_training_days`]).
    pub perform_auto_training: bool,
    /// performIncrementalUpdate: recorded and described. tailor's campaigns already take new
    /// items and events at once, with no retraining.
    pub perform_incremental_update: bool,
}

/// Days between automatic trainings: `solutionConfig.autoTrainingConfig.schedulingExpression`,
/// `rate(N day|days)` with N in 1..=30, default 7 (Personalize's rule).
pub fn auto_training_days(config: &SolutionConfig) -> Result<u32> {
    let Some(expr) = config
        .other
        .get("autoTrainingConfig")
        .and_then(|c| c.get("schedulingExpression"))
    else {
        return Ok(7);
    };
    let bad = || {
        Error::InvalidInput(format!(
            "solutionConfig.autoTrainingConfig.schedulingExpression {expr} must be rate(N days) with N from 1 to 30"
        ))
    };
    let text = expr.as_str().ok_or_else(bad)?;
    let n = text
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|r| r.strip_suffix(" days").or_else(|| r.strip_suffix(" day")))
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(bad)?;
    if (1..=30).contains(&n) {
        Ok(n)
    } else {
        Err(bad())
    }
}

/// How long after a solution is created its first automatic training starts (Personalize:
/// "within one hour"; a version created by hand in that hour skips it).
pub const FIRST_AUTO_TRAINING_SECONDS: f64 = 3600.0;

/// The recipe's hyperparameters: the solution's, less how training runs ([`SHARDS_HP`]).
pub(crate) fn hyperparameters(config: &SolutionConfig) -> Hyperparameters {
    let mut hp = Hyperparameters::new();
    for (k, v) in config
        .algorithm_hyper_parameters
        .iter()
        .chain(&config.feature_transformation_parameters)
        .filter(|(k, _)| k.as_str() != SHARDS_HP)
    {
        hp.0.insert(k.clone(), v.clone());
    }
    // solutionConfig.optimizationObjective reaches the recipe as two parameters it knows.
    if let Some(o) = config.other.get("optimizationObjective") {
        for (field, key) in [
            ("itemAttribute", "objective_attribute"),
            ("objectiveSensitivity", "objective_sensitivity"),
        ] {
            if let Some(v) = o.get(field).and_then(|v| v.as_str()) {
                hp.0.insert(key.to_string(), v.to_string());
            }
        }
    }
    hp
}

pub(crate) fn event_config(
    event_type: Option<&str>,
    config: &SolutionConfig,
) -> Result<EventConfig> {
    let threshold = match &config.event_value_threshold {
        Some(s) => Some(s.trim().parse::<f64>().map_err(|_| {
            Error::InvalidInput(format!(
                "solutionConfig.eventValueThreshold '{s}' is not a number"
            ))
        })?),
        None => None,
    };
    let mut per_type = std::collections::HashMap::new();
    for p in config
        .events_config
        .iter()
        .flat_map(|c| &c.event_parameters_list)
    {
        let weight = p.weight.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&weight) {
            return Err(Error::InvalidInput(format!(
                "eventsConfig weight {weight} for {} must be within [0, 1]",
                p.event_type
            )));
        }
        per_type.insert(
            p.event_type.clone(),
            (p.event_value_threshold, weight as f32),
        );
    }
    if per_type.len() > 10 {
        return Err(Error::InvalidInput(
            "eventsConfig allows at most 10 event types".into(),
        ));
    }
    Ok(EventConfig {
        event_type: event_type.map(String::from),
        event_value_threshold: threshold,
        per_type,
    })
}

/// Trains on a tiny dataset to surface bad hyperparameters at CreateSolution, not hours later.
fn check_hyperparameters(recipe: Recipe, hp: &Hyperparameters) -> Result<()> {
    let mut hp = hp.clone();
    if let Some(level) = hp.0.remove("objective_sensitivity") {
        crate::recipes::objective::sensitivity_weight(&level)?;
    }
    if hp.0.remove("objective_attribute").is_some()
        && !recipe.hyperparameters().contains(&"objective_attribute")
    {
        return Err(Error::InvalidInput(format!(
            "solutionConfig.optimizationObjective is not supported by {}",
            recipe.name()
        )));
    }
    // The attribute itself is checked against the Items dataset at training.
    let hp = &hp;
    let mut data = TrainingData::default();
    data.users.intern("u");
    data.items.intern("i");
    data.histories.push(vec![crate::recipes::Event {
        item: 0,
        ts: 0,
        weight: 1.0,
        ctx: 0,
    }]);
    Model::fit(recipe, &data, hp, &mut |_| {}).map(|_| ())
}

impl Tailor {
    pub async fn create_solution(&self, req: CreateSolution) -> Result<Solution> {
        validate_name("name", &req.name)?;
        self.describe_dataset_group(&req.dataset_group_arn).await?;
        let recipe = Recipe::parse(&req.recipe_arn)?;
        check_hyperparameters(recipe, &hyperparameters(&req.solution_config))?;
        training_shards(&req.solution_config)?;
        event_config(req.event_type.as_deref(), &req.solution_config)?;
        if req.perform_hpo {
            let cfg = HpoConfig::parse(recipe, req.solution_config.other.get("hpoConfig"))?;
            // Every value a trial can draw must train: the ranges' corners over the rest.
            for corner in [cfg.corner(false), cfg.corner(true)] {
                let mut hp = hyperparameters(&req.solution_config);
                hp.0.extend(corner.0);
                check_hyperparameters(recipe, &hp)?;
            }
        }
        if req.perform_auto_training {
            auto_training_days(&req.solution_config)?;
        }
        self.check_solution_quota(&req.dataset_group_arn).await?;
        let now = now_epoch();
        let solution = Solution {
            solution_arn: self.arns.arn(ResourceType::Solution, &req.name),
            name: req.name,
            dataset_group_arn: req.dataset_group_arn,
            recipe_arn: recipe.arn(),
            event_type: req.event_type,
            solution_config: req.solution_config,
            perform_hpo: req.perform_hpo,
            perform_auto_ml: false,
            perform_auto_training: req.perform_auto_training,
            perform_incremental_update: req.perform_incremental_update,
            status: Status::Active,
            creation_date_time: now,
            last_updated_date_time: now,
        };
        self.insert_record(&solution).await?;
        Ok(solution)
    }

    pub async fn describe_solution(&self, arn: &str) -> Result<Solution> {
        Ok(self.require(tables::SOLUTIONS, arn).await?.0)
    }

    pub async fn list_solutions(&self, dataset_group_arn: Option<&str>) -> Result<Vec<Solution>> {
        self.list_records(dataset_group_arn).await
    }

    /// Records a version as CREATE PENDING. UPDATE needs an ACTIVE FULL version of a
    /// user-personalization solution.
    pub async fn create_solution_version(
        &self,
        solution_arn: &str,
        training_mode: TrainingMode,
        name: Option<String>,
    ) -> Result<SolutionVersion> {
        self.create_solution_version_as(solution_arn, training_mode, name, "MANUAL")
            .await
    }

    /// performAutoTraining: for every solution that asks for it and is due at `now` (epoch
    /// seconds), records a FULL version of trainingType AUTOMATIC and starts its training.
    /// Due: no version pending or in progress, and the newest version (of either type) at
    /// least the solution's period old, or none and the solution an hour old. Returns the new
    /// versions; one solution's failure is logged and does not stop the others.
    pub async fn auto_train(&self, now: f64) -> Result<Vec<String>> {
        let mut started = Vec::new();
        for s in self.list_solutions(None).await? {
            if !s.perform_auto_training || s.status != Status::Active {
                continue;
            }
            match self.auto_train_one(&s, now).await {
                Ok(Some(arn)) => started.push(arn),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(solution = %s.solution_arn, error = %e, "automatic training")
                }
            }
        }
        Ok(started)
    }

    async fn auto_train_one(&self, s: &Solution, now: f64) -> Result<Option<String>> {
        let days = auto_training_days(&s.solution_config)?;
        let versions = self.list_solution_versions(Some(&s.solution_arn)).await?;
        if versions
            .iter()
            .any(|v| matches!(v.status, Status::CreatePending | Status::CreateInProgress))
        {
            return Ok(None);
        }
        let newest = versions
            .iter()
            .map(|v| v.creation_date_time)
            .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))));
        let due = match newest {
            Some(t) => now - t >= days as f64 * 86_400.0,
            None => now - s.creation_date_time >= FIRST_AUTO_TRAINING_SECONDS,
        };
        if !due {
            return Ok(None);
        }
        let v = self
            .create_solution_version_as(&s.solution_arn, TrainingMode::Full, None, "AUTOMATIC")
            .await?;
        tracing::info!(version = %v.solution_version_arn, days, "automatic training");
        self.jobs
            .start_training(self, &v.solution_version_arn)
            .await?;
        Ok(Some(v.solution_version_arn))
    }

    async fn create_solution_version_as(
        &self,
        solution_arn: &str,
        training_mode: TrainingMode,
        name: Option<String>,
        training_type: &str,
    ) -> Result<SolutionVersion> {
        let solution = self.describe_solution(solution_arn).await?;
        if let Some(n) = &name {
            validate_name("name", n)?;
        }
        if training_mode == TrainingMode::Update {
            let base =
                self.latest_full_version(solution_arn)
                    .await?
                    .ok_or_else(|| {
                        Error::InvalidInput(
                    "trainingMode UPDATE needs an ACTIVE solution version trained with FULL".into(),
                )
                    })?;
            // The trained model says whether its recipe updates without a refit.
            let model = self.load_model(&base.solution_version_arn).await?;
            if model.learned.updatable().is_none() {
                return Err(Error::InvalidInput(format!(
                    "trainingMode UPDATE is not available for {}; use FULL",
                    model.recipe.name()
                )));
            }
        }
        let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let now = now_epoch();
        let version = SolutionVersion {
            name,
            solution_version_arn: format!("{}/{id}", solution.solution_arn),
            solution_arn: solution.solution_arn.clone(),
            recipe_arn: solution.recipe_arn.clone(),
            dataset_group_arn: solution.dataset_group_arn.clone(),
            event_type: solution.event_type.clone(),
            solution_config: solution.solution_config.clone(),
            perform_hpo: solution.perform_hpo,
            training_mode,
            training_type: training_type.into(),
            training_hours: None,
            tuned_hpo_params: None,
            status: Status::CreatePending,
            failure_reason: None,
            creation_date_time: now,
            last_updated_date_time: now,
            worker: WorkerProcess::of(std::process::id()),
        };
        self.insert_record(&version).await?;
        Ok(version)
    }

    /// The version; one pending or training whose worker process is gone is failed first.
    pub async fn describe_solution_version(&self, arn: &str) -> Result<SolutionVersion> {
        let (version, v) = self.require(tables::SOLUTION_VERSIONS, arn).await?;
        self.settle_version(version, v).await
    }

    /// Versions as they stand: any whose worker is gone is failed first.
    pub(crate) async fn settle_versions(
        &self,
        mut all: Vec<SolutionVersion>,
    ) -> Result<Vec<SolutionVersion>> {
        for version in &mut all {
            if worker_gone(version) {
                *version = self
                    .describe_solution_version(&version.solution_version_arn)
                    .await?;
            }
        }
        Ok(all)
    }

    /// `version` (stored at `v`), failed first if it is unfinished and its worker is seen
    /// gone. The write is conditional: a worker that moved it on meanwhile wins.
    async fn settle_version(&self, version: SolutionVersion, v: u64) -> Result<SolutionVersion> {
        if !worker_gone(&version) {
            return Ok(version);
        }
        let mut failed = version.clone();
        failed.status = match version.status {
            Status::CreateStopping => Status::CreateStopped,
            _ => Status::CreateFailed,
        };
        if failed.status == Status::CreateFailed {
            failed.failure_reason = Some(TRAINING_WORKER_STOPPED.into());
        }
        failed.worker = None;
        failed.last_updated_date_time = now_epoch();
        match self.update_record(v, &failed).await {
            Ok(_) => {
                tracing::warn!(
                    version = failed.solution_version_arn,
                    "training worker gone"
                );
                Ok(failed)
            }
            Err(Error::Store(crate::store::StoreError::ConditionFailed)) => Ok(self
                .require(tables::SOLUTION_VERSIONS, &version.solution_version_arn)
                .await?
                .0),
            Err(e) => {
                tracing::warn!(error = %e, "could not fail an abandoned solution version");
                Ok(version)
            }
        }
    }

    /// StopSolutionVersionCreation: a pending version stops at once (CREATE STOPPED); one
    /// training goes CREATE STOPPING, and its worker discards the model when the fit ends and
    /// records CREATE STOPPED.
    pub async fn stop_solution_version_creation(&self, arn: &str) -> Result<SolutionVersion> {
        loop {
            let (mut version, v) = self
                .require::<SolutionVersion>(tables::SOLUTION_VERSIONS, arn)
                .await?;
            version.status = match version.status {
                Status::CreatePending => Status::CreateStopped,
                Status::CreateInProgress => Status::CreateStopping,
                other => {
                    return Err(Error::InUse(format!(
                        "solution version {arn} is {other}: only a pending or training version \
                         stops"
                    )))
                }
            };
            if version.status == Status::CreateStopped {
                version.worker = None;
            }
            version.last_updated_date_time = now_epoch();
            match self.update_record(v, &version).await {
                Ok(_) => return Ok(version),
                // The worker moved it on meanwhile: look again.
                Err(Error::Store(crate::store::StoreError::ConditionFailed)) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Versions of a solution, oldest first.
    pub async fn list_solution_versions(
        &self,
        solution_arn: Option<&str>,
    ) -> Result<Vec<SolutionVersion>> {
        let all = self.list_records(solution_arn).await?;
        let mut all = self.settle_versions(all).await?;
        all.sort_by(|a, b| a.creation_date_time.total_cmp(&b.creation_date_time));
        Ok(all)
    }

    /// The newest ACTIVE version of a solution.
    pub async fn latest_active_version(
        &self,
        solution_arn: &str,
    ) -> Result<Option<SolutionVersion>> {
        Ok(self
            .list_solution_versions(Some(solution_arn))
            .await?
            .into_iter()
            .rev()
            .find(|v| v.status == Status::Active))
    }

    async fn latest_full_version(&self, solution_arn: &str) -> Result<Option<SolutionVersion>> {
        Ok(self
            .list_solution_versions(Some(solution_arn))
            .await?
            .into_iter()
            .rev()
            .find(|v| v.status == Status::Active && v.training_mode == TrainingMode::Full))
    }

    /// Trains a pending version: FULL fits on everything (after measuring the recipe on the
    /// QUALITY.md split of the same data), UPDATE takes the newest FULL model in new items,
    /// users and events. Ends ACTIVE or CREATE FAILED; `progress` gets (stage, fraction).
    pub async fn run_solution_version(
        &self,
        arn: &str,
        progress: &mut (dyn FnMut(&str, f64) + Send),
    ) -> Result<SolutionVersion> {
        self.run_version(arn, None, progress).await
    }

    /// [`Self::run_solution_version`], or with `factors` the end of a sharded training
    /// (services::shards): the version is then CREATE IN PROGRESS since the shards began, and
    /// the recipe's factor part is the sharded fit.
    pub(crate) async fn run_version(
        &self,
        arn: &str,
        sharded: Option<Sharded>,
        progress: &mut (dyn FnMut(&str, f64) + Send),
    ) -> Result<SolutionVersion> {
        let (mut version, v) = self
            .require::<SolutionVersion>(tables::SOLUTION_VERSIONS, arn)
            .await?;
        let resumes = sharded.is_some() && version.status == Status::CreateInProgress;
        if version.status != Status::CreatePending && !resumes {
            return Err(Error::InUse(format!(
                "solution version {arn} is {}, not CREATE PENDING",
                version.status
            )));
        }
        version.status = Status::CreateInProgress;
        version.worker = WorkerProcess::of(std::process::id());
        version.last_updated_date_time = now_epoch();
        let v = self.update_record(v, &version).await?;
        let started = std::time::Instant::now();
        let result = self.train(&version, sharded, progress).await;
        match result {
            Ok((model, metrics)) => {
                let bytes = model.to_bytes();
                let blob_key = format!(
                    "models/{}.model.sealed",
                    arn_path(arn, ResourceType::Solution).unwrap_or("unknown")
                );
                let sealed = crypto::seal(
                    self.stores.keys.as_ref(),
                    &model_id(&version, &blob_key),
                    &bytes,
                )
                .await?;
                self.stores.blobs.put(&blob_key, sealed).await?;
                let location = ModelLocation {
                    blob_key,
                    bytes: bytes.len() as u64,
                };
                self.stores
                    .meta
                    .put(
                        tables::MODELS,
                        arn,
                        None,
                        serde_json::to_vec(&location)
                            .map_err(|e| Error::Internal(e.to_string()))?,
                        crate::store::Expect::Any,
                    )
                    .await?;
                let metrics = SolutionMetrics {
                    solution_version_arn: arn.into(),
                    metrics,
                };
                self.stores
                    .meta
                    .put(
                        tables::SOLUTION_METRICS,
                        arn,
                        None,
                        serde_json::to_vec(&metrics).map_err(|e| Error::Internal(e.to_string()))?,
                        crate::store::Expect::Any,
                    )
                    .await?;
                version.status = Status::Active;
                version.training_hours = Some(started.elapsed().as_secs_f64() / 3600.0);
                let tuned = model.hyperparameters();
                let params: BTreeMap<String, String> = tuned
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .filter(|(_, v)| !v.is_null())
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    v.as_str()
                                        .map(String::from)
                                        .unwrap_or_else(|| v.to_string()),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                version.tuned_hpo_params = Some(TunedHpoParams {
                    algorithm_hyper_parameters: params,
                });
            }
            Err(e) => {
                tracing::warn!(version = arn, error = %e, "training failed");
                version.status = Status::CreateFailed;
                version.failure_reason = Some(e.client_message());
            }
        }
        version.last_updated_date_time = now_epoch();
        version.worker = None;
        match self.update_record(v, &version).await {
            Ok(_) => Ok(version),
            // Only StopSolutionVersionCreation writes the record while it trains.
            Err(Error::Store(crate::store::StoreError::ConditionFailed)) => {
                let (mut now, v) = self
                    .require::<SolutionVersion>(tables::SOLUTION_VERSIONS, arn)
                    .await?;
                if now.status != Status::CreateStopping {
                    return Err(Error::InUse(format!(
                        "solution version {arn} changed while training: it is {}",
                        now.status
                    )));
                }
                now.status = Status::CreateStopped;
                now.worker = None;
                now.training_hours = version.training_hours;
                now.last_updated_date_time = now_epoch();
                self.update_record(v, &now).await?;
                Ok(now)
            }
            Err(e) => Err(e),
        }
    }

    pub async fn training_data(&self, version: &SolutionVersion) -> Result<TrainingData> {
        let group = self
            .describe_dataset_group(&version.dataset_group_arn)
            .await?;
        let interactions = self
            .load_dataset(
                &self
                    .arns
                    .dataset_arn(&group.name, DatasetType::Interactions),
            )
            .await
            .ok()
            .flatten()
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "dataset group {} has no imported interactions",
                    group.name
                ))
            })?;
        let items = self
            .load_dataset(&self.arns.dataset_arn(&group.name, DatasetType::Items))
            .await
            .ok()
            .flatten();
        let users = self
            .load_dataset(&self.arns.dataset_arn(&group.name, DatasetType::Users))
            .await
            .ok()
            .flatten();
        let config = event_config(version.event_type.as_deref(), &version.solution_config)?;
        let mut data = TrainingData::from_tables(&interactions, items.as_ref(), &config)?;
        if let Some(users) = &users {
            data.read_users(users);
        }
        Ok(data)
    }

    async fn train(
        &self,
        version: &SolutionVersion,
        sharded: Option<Sharded>,
        progress: &mut (dyn FnMut(&str, f64) + Send),
    ) -> Result<(Model, BTreeMap<String, f64>)> {
        let recipe = Recipe::parse(&version.recipe_arn)?;
        let hp = hyperparameters(&version.solution_config);
        if let Some(sharded) = sharded {
            // Sharded factors were fitted on the data as compacted before the shards: no
            // compaction in between. Their data arrive as the finish's user sample.
            let Sharded {
                mut factors,
                data,
                whole,
            } = sharded;
            let chain = chain::chain(recipe, &data, &hp)?.ok_or_else(|| {
                Error::Internal(format!("{} fits no factors to shard", recipe.name()))
            })?;
            factors.grow(data.n_items());
            let split = evaluation::quality_split(&data);
            let trained = chain::finish(
                recipe,
                &chain,
                &data,
                &split,
                factors,
                Some(whole),
                &mut |f| progress("training", f),
            )?;
            return Ok(self.measured(recipe, trained, &split, &data, progress));
        }
        // What PutEvents / PutItems / PutUsers recorded trains too (the state machine runs this
        // step before training as well; a second run finds nothing new).
        progress("compacting events", 0.0);
        self.compact(&version.dataset_group_arn).await?;
        progress("loading data", 0.0);
        let data = self.training_data(version).await?;
        data.check_minimum(MIN_EVENTS, MIN_USERS)?;
        if version.training_mode == TrainingMode::Update {
            let base = self
                .latest_full_version(&version.solution_arn)
                .await?
                .ok_or_else(|| Error::InvalidInput("no ACTIVE FULL version to update".into()))?;
            let model = self
                .load_model(&base.solution_version_arn)
                .await?
                .update(&data)?;
            let metrics = self
                .get_solution_metrics(&base.solution_version_arn)
                .await?
                .metrics;
            progress("updating", 1.0);
            return Ok((model, metrics));
        }
        let (trained, split) = match () {
            () if version.perform_hpo => {
                let cfg = HpoConfig::parse(recipe, version.solution_config.other.get("hpoConfig"))?;
                let started = std::time::Instant::now();
                let (tuned, trials) = hpo::tune(recipe, &data, &hp, &cfg, &mut |f| {
                    progress("tuning hyperparameters", f)
                })?;
                tracing::info!(
                    version = %version.solution_version_arn,
                    trials = trials.len(),
                    seconds = started.elapsed().as_secs_f64(),
                    chosen = ?tuned.0,
                    "HPO finished"
                );
                chain::train(recipe, &data, &tuned, progress)?
            }
            () => chain::train(recipe, &data, &hp, progress)?,
        };
        Ok(self.measured(recipe, trained, &split, &data, progress))
    }

    /// The served model with its context stage, and the evaluation model's offline metrics.
    fn measured(
        &self,
        recipe: Recipe,
        trained: chain::Trained,
        split: &evaluation::Split,
        data: &TrainingData,
        progress: &mut (dyn FnMut(&str, f64) + Send),
    ) -> (Model, BTreeMap<String, f64>) {
        progress("evaluating", 0.0);
        let metrics = evaluation::evaluate(&trained.evaluation, split);
        let mut model = trained.model;
        // Personalize's recipes that read context and user metadata.
        if matches!(
            recipe.recipe_type(),
            RecipeType::UserPersonalization | RecipeType::PersonalizedRanking
        ) {
            progress("learning the context stage", 0.0);
            model.context = context::learn(&trained.evaluation, &split.train, data).map(Arc::new);
        }
        (model, metrics)
    }

    pub async fn get_solution_metrics(
        &self,
        solution_version_arn: &str,
    ) -> Result<SolutionMetrics> {
        self.describe_solution_version(solution_version_arn).await?;
        Ok(self
            .get_record::<SolutionMetrics>(tables::SOLUTION_METRICS, solution_version_arn)
            .await?
            .map(|(m, _)| m)
            .unwrap_or(SolutionMetrics {
                solution_version_arn: solution_version_arn.into(),
                metrics: BTreeMap::new(),
            }))
    }

    /// Loads a trained version's model from the blob store.
    pub async fn load_model(&self, solution_version_arn: &str) -> Result<Model> {
        let version = self.describe_solution_version(solution_version_arn).await?;
        if version.status != Status::Active {
            return Err(Error::InUse(format!(
                "solution version {solution_version_arn} is {}",
                version.status
            )));
        }
        let (location, _) = self
            .require::<ModelLocation>(tables::MODELS, solution_version_arn)
            .await?;
        let sealed = self
            .stores
            .blobs
            .get(&location.blob_key)
            .await?
            .ok_or_else(|| Error::Internal(format!("model {} is missing", location.blob_key)))?;
        let id = model_id(&version, &location.blob_key);
        let bytes = crypto::open(self.stores.keys.as_ref(), &id, &sealed).await?;
        Model::from_bytes(&bytes)
            .map_err(|e| Error::Internal(format!("{}: {e}", location.blob_key)))
    }
}

/// What a solution version's model artifact under `key` is.
fn model_id<'a>(version: &'a SolutionVersion, key: &'a str) -> crypto::ObjectId<'a> {
    crypto::ObjectId {
        group: &version.dataset_group_arn,
        kind: "model",
        resource: &version.solution_version_arn,
        key,
    }
}

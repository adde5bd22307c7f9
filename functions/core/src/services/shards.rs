//! Training fanned out over shards (recipes::als_shards): the state machine's sharded branch.
//!
//! `shardPrepare` cuts the version's data into user and item row shards and writes them with the
//! random start; per iteration, a `solveUsers` task per user shard and then a `solveItems` task per
//! item shard each read the other side's latest factors, solve their shard and write it;
//! `shardFinish` gathers the item factors and trains the version as `train` would, the factor
//! part taken from the shards. Every object is sealed under the version's dataset group key and
//! bound to its key and version, under
//!
//! ```text
//! training/{solution}/{version}/als/plan
//! training/{solution}/{version}/als/rows/{users|items}/{shard}
//! training/{solution}/{version}/als/factors/{users|items}/{iteration}/{shard}
//! ```
//!
//! Each task is idempotent (a retry rewrites the same object from the same inputs).

use serde_json::{json, Value};

use super::solutions::{hyperparameters, training_shards, TrainingShards};
use super::Tailor;
use crate::crypto;
use crate::domain::*;
use crate::error::{Error, Result};
use crate::evaluation;
use crate::recipes::als_shards::{self, FactorShard, Plan, ShardRows, Side};
use crate::recipes::chain::{self, ChainFactors, Phase};
use crate::recipes::{ArtifactError, Recipe};
use crate::schema::DatasetType;

/// Interactions one training function (10 GB, 6 vCPUs, 15 minutes) trains in one process: memory
/// binds first, at ~150 B per event measured on the 20M-event shop (README, "Training that scales
/// out"), so ~60M with a margin; beyond it, `als_shards=auto` trains sharded.
pub const SINGLE_FUNCTION_EVENTS: u64 = 50_000_000;

/// Interactions per shard when `als_shards=auto`: a task then solves in ~2 s and reads ~460 MB
/// on a 6-vCPU function at 64 factors (`cargo bench --bench shards`; README).
pub const EVENTS_PER_SHARD: u64 = 25_000_000;

fn prefix(version_arn: &str) -> String {
    format!(
        "training/{}/als/",
        arn_path(version_arn, ResourceType::Solution).unwrap_or("unknown")
    )
}

/// The rows a shard solves in `phase` (recipes::chain).
fn rows_key(version_arn: &str, side: Side, shard: usize, phase: Phase) -> String {
    format!(
        "{}rows/{}/{}/{shard}",
        prefix(version_arn),
        phase.name(),
        side.name()
    )
}

fn factors_key(version_arn: &str, side: Side, iteration: usize, shard: usize) -> String {
    format!(
        "{}factors/{}/{iteration}/{shard}",
        prefix(version_arn),
        side.name()
    )
}

fn corrupt(key: &str) -> impl Fn(ArtifactError) -> Error + '_ {
    move |e| Error::Internal(format!("{key}: {e}"))
}

impl Tailor {
    /// Whether a pending version trains sharded: by the solution's `als_shards`, or with
    /// "auto" when its interactions exceed [`SINGLE_FUNCTION_EVENTS`]. Only FULL trainings of a
    /// recipe that fits factors are.
    pub(crate) async fn trains_sharded(&self, version: &SolutionVersion) -> Result<bool> {
        let recipe = Recipe::parse(&version.recipe_arn)?;
        let hp = hyperparameters(&version.solution_config);
        if version.training_mode != TrainingMode::Full || !chain::fits_factors(recipe, &hp)? {
            return Ok(false);
        }
        Ok(match training_shards(&version.solution_config)? {
            TrainingShards::Fixed(n) => n > 1,
            TrainingShards::Auto => self.interactions_rows(version).await? > SINGLE_FUNCTION_EVENTS,
        })
    }

    async fn interactions_rows(&self, version: &SolutionVersion) -> Result<u64> {
        let group = self
            .describe_dataset_group(&version.dataset_group_arn)
            .await?;
        let arn = self
            .arns
            .dataset_arn(&group.name, DatasetType::Interactions);
        Ok(self
            .get_record::<DatasetData>(super::tables::DATASET_DATA, &arn)
            .await?
            .map_or(0, |(d, _)| d.rows))
    }

    async fn put_sealed(&self, version: &SolutionVersion, key: &str, bytes: &[u8]) -> Result<()> {
        let id = shard_id(version, key);
        let sealed = crypto::seal(self.stores.keys.as_ref(), &id, bytes).await?;
        self.stores.blobs.put(key, sealed).await?;
        Ok(())
    }

    async fn get_sealed(&self, version: &SolutionVersion, key: &str) -> Result<Vec<u8>> {
        let sealed = self.stores.blobs.get(key).await?.ok_or_else(|| {
            Error::Internal(format!(
                "shard object {key} is missing: was shardPrepare run?"
            ))
        })?;
        Ok(crypto::open(self.stores.keys.as_ref(), &shard_id(version, key), &sealed).await?)
    }

    async fn plan(&self, version: &SolutionVersion) -> Result<Plan> {
        let key = format!("{}plan", prefix(&version.solution_version_arn));
        Plan::from_bytes(&self.get_sealed(version, &key).await?).map_err(corrupt(&key))
    }

    async fn factor_shard(
        &self,
        version: &SolutionVersion,
        side: Side,
        iteration: usize,
        shard: usize,
    ) -> Result<FactorShard> {
        let key = factors_key(&version.solution_version_arn, side, iteration, shard);
        FactorShard::from_bytes(&self.get_sealed(version, &key).await?).map_err(corrupt(&key))
    }

    /// All of `side`'s factors after `iteration`, every shard checked present.
    async fn gathered(
        &self,
        version: &SolutionVersion,
        plan: &Plan,
        side: Side,
        iteration: usize,
    ) -> Result<Vec<f32>> {
        let mut shards = Vec::with_capacity(plan.shards(side));
        for s in 0..plan.shards(side) {
            shards.push(self.factor_shard(version, side, iteration, s).await?);
        }
        als_shards::gather(plan, side, iteration, shards)
    }

    /// Cuts the version's data into shards and writes them with the random start; marks the
    /// version CREATE IN PROGRESS. Returns the shard numbers the state machine maps over.
    pub(crate) async fn shard_prepare(&self, arn: &str) -> Result<Value> {
        let (mut version, v) = self
            .require::<SolutionVersion>(super::tables::SOLUTION_VERSIONS, arn)
            .await?;
        if !matches!(
            version.status,
            Status::CreatePending | Status::CreateInProgress
        ) {
            return Err(Error::InUse(format!(
                "solution version {arn} is {}, not CREATE PENDING",
                version.status
            )));
        }
        let recipe = Recipe::parse(&version.recipe_arn)?;
        let hp = hyperparameters(&version.solution_config);
        let data = self.training_data(&version).await?;
        data.check_minimum(super::solutions::MIN_EVENTS, super::solutions::MIN_USERS)?;
        let shards = match training_shards(&version.solution_config)? {
            TrainingShards::Fixed(n) => n,
            TrainingShards::Auto => {
                (data.n_events() as u64).div_ceil(EVENTS_PER_SHARD).max(2) as usize
            }
        };
        let chain = chain::chain(recipe, &data, &hp)?.ok_or_else(|| {
            Error::InvalidInput(format!(
                "{} with these hyperparameters fits no factors: nothing to shard (set {}=1)",
                recipe.name(),
                super::solutions::SHARDS_HP
            ))
        })?;
        let plan = Plan::for_chain(&chain, &data, shards);
        // A retried prepare starts over from nothing left by the first attempt.
        self.delete_shards(arn).await?;
        self.put_sealed(&version, &format!("{}plan", prefix(arn)), &plan.to_bytes())
            .await?;
        let split = evaluation::quality_split(&data);
        for &(phase, _) in &chain.phases {
            // One phase's rows at a time: only one filtered copy of the data is held.
            let (users, items) = als_shards::split_rows(&chain.data(phase, &data, &split), &plan);
            for rows in users.iter().chain(&items) {
                let key = rows_key(arn, rows.side, rows.shard, phase);
                self.put_sealed(&version, &key, &rows.to_bytes()).await?;
            }
        }
        let (x, y) = als_shards::initial_shards(&plan);
        for shard in x.iter().chain(&y) {
            let key = factors_key(arn, shard.side, 0, shard.shard);
            self.put_sealed(&version, &key, &shard.to_bytes()).await?;
        }
        if version.status == Status::CreatePending {
            version.status = Status::CreateInProgress;
            version.last_updated_date_time = now_epoch();
            self.update_record(v, &version).await?;
        }
        tracing::info!(
            version = arn,
            users = plan.n_users,
            items = plan.n_items,
            user_shards = plan.shards(Side::Users),
            item_shards = plan.shards(Side::Items),
            "sharded training prepared"
        );
        Ok(json!({
            "solutionVersionArn": arn,
            "userShards": (0..plan.shards(Side::Users)).collect::<Vec<_>>(),
            "itemShards": (0..plan.shards(Side::Items)).collect::<Vec<_>>(),
            "iterations": plan.iterations(),
        }))
    }

    /// One shard's half-sweep of `iteration` (from 1): users against the items of the previous
    /// iteration, items against the users of this one.
    pub(crate) async fn solve_shard(
        &self,
        arn: &str,
        side: Side,
        shard: usize,
        iteration: usize,
    ) -> Result<Value> {
        let version = self.describe_solution_version(arn).await?;
        let plan = self.plan(&version).await?;
        if iteration == 0 || iteration > plan.iterations() || shard >= plan.shards(side) {
            return Err(Error::InvalidInput(format!(
                "{} shard {shard} of iteration {iteration} is outside the plan ({} shards, {} iterations)",
                side.name(),
                plan.shards(side),
                plan.iterations()
            )));
        }
        let started = std::time::Instant::now();
        let key = rows_key(arn, side, shard, plan.phase_of(iteration));
        let rows = ShardRows::from_bytes(&self.get_sealed(&version, &key).await?)
            .map_err(corrupt(&key))?;
        let own = self
            .factor_shard(&version, side, plan.start_of(side, iteration), shard)
            .await?;
        let other = match side {
            Side::Users => {
                self.gathered(&version, &plan, Side::Items, iteration - 1)
                    .await?
            }
            Side::Items => {
                self.gathered(&version, &plan, Side::Users, iteration)
                    .await?
            }
        };
        let read = started.elapsed();
        let solved = als_shards::solve(&plan, &rows, &own, &other, iteration)?;
        let solving = started.elapsed() - read;
        let key = factors_key(arn, side, iteration, shard);
        self.put_sealed(&version, &key, &solved.to_bytes()).await?;
        tracing::info!(
            version = arn,
            side = side.name(),
            shard,
            iteration,
            rows = rows.rows(),
            nnz = rows.nnz(),
            read_ms = read.as_millis() as u64,
            solve_ms = solving.as_millis() as u64,
            "shard solved"
        );
        Ok(json!({ "side": side, "shard": shard, "iteration": iteration }))
    }

    /// Gathers the item factors at the end of each phase and trains the version with them, as
    /// the `train` step would (`recipes::chain::finish`); then deletes the shard objects.
    pub(crate) async fn shard_finish(
        &self,
        arn: &str,
        progress: &mut (dyn FnMut(&str, f64) + Send),
    ) -> Result<SolutionVersion> {
        let version = self.describe_solution_version(arn).await?;
        if version.status != Status::CreateInProgress {
            return Err(Error::InUse(format!(
                "solution version {arn} is {}, not CREATE IN PROGRESS from its shards",
                version.status
            )));
        }
        let plan = self.plan(&version).await?;
        let mut factors = ChainFactors::default();
        for &(phase, _) in &plan.phases {
            if let Some(end) = plan.end_of(phase) {
                let y = self.gathered(&version, &plan, Side::Items, end).await?;
                factors.set(phase, als_shards::item_factors(&plan, y));
            }
        }
        let version = self.run_version(arn, Some(factors), progress).await?;
        self.delete_shards(arn).await?;
        Ok(version)
    }

    /// Removes a version's shard objects (after training, or after it failed).
    pub(crate) async fn delete_shards(&self, arn: &str) -> Result<()> {
        for key in self.stores.blobs.list(&prefix(arn)).await? {
            self.stores.blobs.delete(&key).await?;
        }
        Ok(())
    }
}

/// What a shard object under `key` is: bound to its version, so one version's shards cannot be
/// read as another's.
fn shard_id<'a>(version: &'a SolutionVersion, key: &'a str) -> crypto::ObjectId<'a> {
    crypto::ObjectId {
        group: &version.dataset_group_arn,
        kind: "training/als-shard",
        resource: &version.solution_version_arn,
        key,
    }
}

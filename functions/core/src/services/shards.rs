//! Training fanned out over shards (recipes::als_shards, recipes::shuffle): the state machine's
//! sharded branch. No step holds all of the data:
//!
//! 1. `shardPrepare` lists byte ranges of the interactions data files;
//! 2. `shardScan` (a Map over ranges) reads one range with ranged GETs: its ids and counts;
//! 3. `shardPlan` merges the ids in range order, cuts the plan and writes the random start;
//! 4. `shardCut` (a Map over ranges) sends each event to its user's shard, and keeps a user
//!    sample's rows for the finish;
//! 5. `shardUsers` (a Map over user shards) makes each phase's user rows and transposed parts;
//! 6. `shardItems` (a Map over item shards) makes each phase's item rows;
//! 7. per iteration, `solveUsers` and then `solveItems` (Maps over shards) read the other side's
//!    latest factors, solve their shard and write it;
//! 8. `shardFinish` gathers the item factors and trains the version as `train` would, the
//!    factor part from the shards and the rest from the user sample.
//!
//! Every object is sealed under the version's dataset group key and bound to its key and
//! version, under `training/{solution}/{version}/als/` (`manifest`, `scan/{range}`, `ids`,
//! `layout`, `plan`, `events/{user shard}/{range}`, `sample/{range}`,
//! `transpose/{phase}/{item shard}/{user shard}`, `popularity/{user shard}`,
//! `rows/{phase}/{side}/{shard}`, `factors/{side}/{iteration}/{shard}`), and deleted at the end.
//! Each task is idempotent (a retry rewrites the same objects from the same inputs).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::solutions::{event_config, hyperparameters, training_shards, TrainingShards};
use super::Tailor;
use crate::crypto;
use crate::data::{avro, Table};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::recipes::als_shards::{self, FactorShard, Plan, ShardRows, Side};
use crate::recipes::chain::{self, ChainFactors, Phase, Whole};
use crate::recipes::components::Links;
use crate::recipes::shuffle::{self, ItemPiece, Kept, Merged, UserPiece};
use crate::recipes::{ArtifactError, ArtifactReader, ArtifactWriter, Recipe, TrainingData};
use crate::schema::DatasetType;

/// Interactions one training function (10 GB, 6 vCPUs, 15 minutes) trains in one process: memory
/// binds first, at ~150 B per event measured on the 20M-event shop (README, "Training that scales
/// out"), so ~60M with a margin; beyond it, `als_shards=auto` trains sharded.
pub const SINGLE_FUNCTION_EVENTS: u64 = 50_000_000;

/// Interactions per shard when `als_shards=auto`: a task then solves in ~2 s and reads ~460 MB
/// on a 6-vCPU function at 64 factors (`cargo bench --bench shards`; README).
pub const EVENTS_PER_SHARD: u64 = 25_000_000;

/// Plaintext bytes of interactions data per range when not configured
/// (`TAILOR_SHARD_RANGE_BYTES`): ~6M events, read and cut in a few seconds by one task.
pub const RANGE_BYTES: u64 = 256 << 20;

/// Events the finish trains its next-items part and measures its metrics on by default: every
/// user up to this, a hashed sample of the users beyond it. The finish holds ~150 B per event, so
/// this stays within one function whatever the data's size.
pub const SAMPLE_EVENTS: u64 = 20_000_000;

/// Bytes read for a data file's Avro header (its schema and sync marker).
const HEADER_BYTES: u64 = 1 << 20;

/// The factors and data the sharded branch hands the `train` step's finish.
pub(crate) struct Sharded {
    pub factors: ChainFactors,
    /// The users sampled for the finish, the items coded as the factors are.
    pub data: TrainingData,
    /// What the shards counted over every user.
    pub whole: Whole,
}

/// The data a sharded training reads: its files and their ranges, fixed when it starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    dataset_arn: String,
    files: Vec<DataFile>,
    ranges: Vec<Range>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DataFile {
    key: String,
    /// Plaintext length.
    len: u64,
}

/// Plaintext bytes `start..end` of file `file`: its task reads the blocks starting there.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Range {
    file: usize,
    start: u64,
    end: u64,
}

/// What the plan fixes beyond the [`Plan`]: the history lengths each phase keeps, and the
/// share of users the finish samples.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layout {
    kept: Vec<Kept>,
    sample_rate: f64,
}

fn check_shard(plan: &Plan, side: Side, shard: usize) -> Result<()> {
    if shard >= plan.shards(side) {
        return Err(Error::InvalidInput(format!(
            "{} shard {shard} is outside the plan ({} shards)",
            side.name(),
            plan.shards(side)
        )));
    }
    Ok(())
}

/// One user shard's part of one item shard's rows in `phase`.
fn transpose_key(version_arn: &str, phase: Phase, item_shard: usize, user_shard: usize) -> String {
    format!(
        "{}transpose/{}/{item_shard}/{user_shard}",
        prefix(version_arn),
        phase.name()
    )
}

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

    /// A version still training, sharded: CREATE IN PROGRESS.
    async fn training_version(&self, arn: &str) -> Result<SolutionVersion> {
        let version = self.describe_solution_version(arn).await?;
        if version.status != Status::CreateInProgress {
            return Err(Error::InUse(format!(
                "solution version {arn} is {}, not CREATE IN PROGRESS from its shards",
                version.status
            )));
        }
        Ok(version)
    }

    async fn json_object<T: serde::de::DeserializeOwned>(
        &self,
        version: &SolutionVersion,
        key: &str,
    ) -> Result<T> {
        serde_json::from_slice(&self.get_sealed(version, key).await?)
            .map_err(|e| Error::Internal(format!("{key}: {e}")))
    }

    async fn put_json(
        &self,
        version: &SolutionVersion,
        key: &str,
        value: &impl Serialize,
    ) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| Error::Internal(e.to_string()))?;
        self.put_sealed(version, key, &bytes).await
    }

    async fn manifest(&self, version: &SolutionVersion) -> Result<Manifest> {
        let key = format!("{}manifest", prefix(&version.solution_version_arn));
        self.json_object(version, &key).await
    }

    async fn merged(&self, version: &SolutionVersion) -> Result<Merged> {
        let key = format!("{}ids", prefix(&version.solution_version_arn));
        Merged::from_bytes(&self.get_sealed(version, &key).await?).map_err(corrupt(&key))
    }

    /// Lists the byte ranges of the version's interactions data that the scan and cut Maps
    /// read, one task each; marks the version CREATE IN PROGRESS, its worker `worker`: none when
    /// the steps run in many processes (the state machine's catch then fails it), this one when
    /// they all run here.
    pub(crate) async fn shard_prepare(
        &self,
        arn: &str,
        worker: Option<WorkerProcess>,
    ) -> Result<Value> {
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
        if !chain::fits_factors(recipe, &hyperparameters(&version.solution_config))? {
            return Err(Error::InvalidInput(format!(
                "{} with these hyperparameters fits no factors: nothing to shard (set {}=1)",
                recipe.name(),
                super::solutions::SHARDS_HP
            )));
        }
        let group = self
            .describe_dataset_group(&version.dataset_group_arn)
            .await?;
        let dataset_arn = self
            .arns
            .dataset_arn(&group.name, DatasetType::Interactions);
        let Some((dataset, pointer)) = self.data_pointer(&dataset_arn).await? else {
            return Err(Error::InvalidInput(format!(
                "dataset group {} has no imported interactions",
                group.name
            )));
        };
        // A retried prepare starts over from nothing left by the first attempt.
        self.delete_shards(arn).await?;
        let range_bytes = self.shard_range_bytes.max(1);
        let mut files = Vec::new();
        let mut ranges = Vec::new();
        // The bulk data, then the compacted events: the order one process appends them in.
        for key in std::iter::once(&pointer.blob_key).chain(pointer.events_key.as_ref()) {
            let parts = self.sealed_parts(&dataset, key).await?;
            let len = parts.len();
            for start in (0..len.max(1)).step_by(range_bytes as usize) {
                ranges.push(Range {
                    file: files.len(),
                    start,
                    end: (start + range_bytes).min(len),
                });
            }
            files.push(DataFile {
                key: key.clone(),
                len,
            });
        }
        let manifest = Manifest {
            dataset_arn,
            files,
            ranges,
        };
        self.put_json(&version, &format!("{}manifest", prefix(arn)), &manifest)
            .await?;
        version.status = Status::CreateInProgress;
        version.worker = worker;
        version.last_updated_date_time = now_epoch();
        self.update_record(v, &version).await?;
        Ok(json!({
            "solutionVersionArn": arn,
            "ranges": (0..manifest.ranges.len()).collect::<Vec<_>>(),
        }))
    }

    /// The header of a sealed data file, from its first bytes.
    async fn sealed_parts(&self, dataset: &Dataset, key: &str) -> Result<crypto::SealedParts> {
        let kind = super::datasets::data_kind(dataset.dataset_type);
        let id = super::datasets::data_id(dataset, &kind, key);
        let head = self
            .stores
            .blobs
            .get_range(key, 0..crypto::SealedParts::HEADER_MAX)
            .await?
            .ok_or_else(|| Error::Internal(format!("data file {key} is missing")))?;
        Ok(crypto::SealedParts::open(self.stores.keys.as_ref(), &id, &head).await?)
    }

    /// Plaintext bytes of a sealed file covering `range`: the whole chunks holding it, and
    /// where the first starts.
    async fn plaintext(
        &self,
        key: &str,
        parts: &crypto::SealedParts,
        range: std::ops::Range<u64>,
    ) -> Result<(u64, Vec<u8>)> {
        let chunks = parts.chunks(range);
        let at = parts.plain_at(chunks.start);
        if chunks.is_empty() {
            return Ok((at, Vec::new()));
        }
        let sealed = self
            .stores
            .blobs
            .get_range(key, parts.sealed_range(chunks.clone()))
            .await?
            .ok_or_else(|| Error::Internal(format!("data file {key} is missing")))?;
        Ok((at, parts.open_chunks(chunks.start, &sealed)?))
    }

    /// The interactions of range `r` of the manifest: the rows of the Avro blocks that start in
    /// it, read with ranged GETs (the header's chunk, then the range's chunks).
    async fn read_range(&self, manifest: &Manifest, r: usize) -> Result<Table> {
        let range = manifest.ranges.get(r).ok_or_else(|| {
            Error::InvalidInput(format!(
                "range {r} is outside the plan ({} ranges)",
                manifest.ranges.len()
            ))
        })?;
        let file = manifest.files.get(range.file).ok_or_else(|| {
            Error::Internal(format!(
                "range {r} names file {}, not in the manifest",
                range.file
            ))
        })?;
        let dataset = self.describe_dataset(&manifest.dataset_arn).await?;
        let schema = self.dataset_schema(&dataset).await?;
        let parts = self.sealed_parts(&dataset, &file.key).await?;
        if parts.len() != file.len {
            return Err(Error::Internal(format!(
                "data file {} changed during training",
                file.key
            )));
        }
        let avro_err = |e: avro::AvroError| Error::Internal(format!("{}: {e}", file.key));
        let (_, head) = self
            .plaintext(&file.key, &parts, 0..HEADER_BYTES.min(file.len))
            .await?;
        let container = avro::Container::parse(schema, &head).map_err(avro_err)?;
        let (at, mut window) = self
            .plaintext(&file.key, &parts, range.start.saturating_sub(16)..range.end)
            .await?;
        loop {
            match container
                .read_range(&window, at, range.start..range.end, file.len)
                .map_err(avro_err)?
            {
                avro::RangeRead::Done(table) => return Ok(table),
                avro::RangeRead::Short { need } => {
                    // The range's last block runs on: the chunks after the window, up to it.
                    let end = at + window.len() as u64;
                    let (_, more) = self.plaintext(&file.key, &parts, end..need).await?;
                    if more.is_empty() {
                        return Err(Error::Internal(format!(
                            "{}: a block runs past the end of the file",
                            file.key
                        )));
                    }
                    window.extend_from_slice(&more);
                }
            }
        }
    }

    /// Scan Map, one task per range: the range's ids and counts.
    pub(crate) async fn shard_scan(&self, arn: &str, r: usize) -> Result<Value> {
        let version = self.training_version(arn).await?;
        let manifest = self.manifest(&version).await?;
        let table = self.read_range(&manifest, r).await?;
        let config = event_config(version.event_type.as_deref(), &version.solution_config)?;
        let scan = shuffle::scan(&table, &config)?;
        let key = format!("{}scan/{r}", prefix(arn));
        self.put_sealed(&version, &key, &scan.to_bytes()).await?;
        Ok(json!({ "range": r, "rows": table.rows() }))
    }

    /// One task after the scans: the ids merged in range order, the plan cut by their counts,
    /// the history lengths each phase keeps, the finish's sample rate and the random start.
    /// Returns the shard numbers the later Maps run over.
    pub(crate) async fn shard_plan(&self, arn: &str) -> Result<Value> {
        let version = self.training_version(arn).await?;
        let manifest = self.manifest(&version).await?;
        let recipe = Recipe::parse(&version.recipe_arn)?;
        let hp = hyperparameters(&version.solution_config);
        let mut merged = Merged::default();
        for r in 0..manifest.ranges.len() {
            let key = format!("{}scan/{r}", prefix(arn));
            let scan = Merged::from_bytes(&self.get_sealed(&version, &key).await?)
                .map_err(corrupt(&key))?;
            merged.add(&scan);
        }
        if let Some(items) = self.catalogue(&version).await? {
            if let Some((dict, _)) = items.codes("ITEM_ID") {
                merged.add_catalogue(dict);
            }
        }
        let events = merged.n_events();
        let users = merged.user_events.iter().filter(|&&n| n >= 2).count();
        crate::recipes::check_minimum(
            events,
            users,
            super::solutions::MIN_EVENTS,
            super::solutions::MIN_USERS,
        )?;
        let chain = chain::chain_for(recipe, merged.items.len(), merged.longest(), &hp)?
            .ok_or_else(|| Error::Internal(format!("{} fits no factors", recipe.name())))?;
        let shards = match training_shards(&version.solution_config)? {
            TrainingShards::Fixed(n) => n,
            TrainingShards::Auto => events.div_ceil(EVENTS_PER_SHARD).max(2) as usize,
        };
        let plan = merged.plan(&chain, shards);
        let layout = Layout {
            kept: merged.kept_lengths(&chain),
            sample_rate: (self.shard_sample_events as f64 / events.max(1) as f64).min(1.0),
        };
        self.put_sealed(&version, &format!("{}ids", prefix(arn)), &merged.to_bytes())
            .await?;
        self.put_json(&version, &format!("{}layout", prefix(arn)), &layout)
            .await?;
        self.put_sealed(&version, &format!("{}plan", prefix(arn)), &plan.to_bytes())
            .await?;
        let (x, y) = als_shards::initial_shards(&plan);
        for shard in x.iter().chain(&y) {
            let key = factors_key(arn, shard.side, 0, shard.shard);
            self.put_sealed(&version, &key, &shard.to_bytes()).await?;
        }
        tracing::info!(
            version = arn,
            events,
            users = plan.n_users,
            items = plan.n_items,
            ranges = manifest.ranges.len(),
            user_shards = plan.shards(Side::Users),
            item_shards = plan.shards(Side::Items),
            sample_rate = layout.sample_rate,
            "sharded training planned"
        );
        Ok(json!({
            "solutionVersionArn": arn,
            "userShards": (0..plan.shards(Side::Users)).collect::<Vec<_>>(),
            "itemShards": (0..plan.shards(Side::Items)).collect::<Vec<_>>(),
            "iterations": plan.iterations(),
        }))
    }

    /// The version's Items dataset, if it has one (catalogue-sized: one task holds it).
    async fn catalogue(&self, version: &SolutionVersion) -> Result<Option<Table>> {
        let group = self
            .describe_dataset_group(&version.dataset_group_arn)
            .await?;
        Ok(self
            .load_dataset(&self.arns.dataset_arn(&group.name, DatasetType::Items))
            .await
            .ok()
            .flatten())
    }

    /// Cut Map, one task per range: each counted event coded and sent to its user's shard; the
    /// sampled users' rows kept for the finish.
    pub(crate) async fn shard_cut(&self, arn: &str, r: usize) -> Result<Value> {
        let version = self.training_version(arn).await?;
        let manifest = self.manifest(&version).await?;
        let merged = self.merged(&version).await?;
        let plan = self.plan(&version).await?;
        let layout: Layout = self
            .json_object(&version, &format!("{}layout", prefix(arn)))
            .await?;
        let table = self.read_range(&manifest, r).await?;
        let config = event_config(version.event_type.as_deref(), &version.solution_config)?;
        let pieces = shuffle::cut(&table, &config, &merged, &plan)?;
        for (s, piece) in pieces.iter().enumerate() {
            let key = format!("{}events/{s}/{r}", prefix(arn));
            self.put_sealed(&version, &key, &piece.to_bytes()).await?;
        }
        let sample = shuffle::sample_rows(&table, layout.sample_rate)?;
        let bytes = avro::write(&sample).map_err(|e| Error::Internal(e.to_string()))?;
        self.put_sealed(&version, &format!("{}sample/{r}", prefix(arn)), &bytes)
            .await?;
        Ok(json!({ "range": r, "rows": table.rows(), "sampled": sample.rows() }))
    }

    /// Users Map, one task per user shard: its users' histories from every range's piece; per
    /// phase its rows and its part of each item shard's; its count of users per item.
    pub(crate) async fn shard_users(&self, arn: &str, shard: usize) -> Result<Value> {
        let version = self.training_version(arn).await?;
        let manifest = self.manifest(&version).await?;
        let plan = self.plan(&version).await?;
        check_shard(&plan, Side::Users, shard)?;
        let layout: Layout = self
            .json_object(&version, &format!("{}layout", prefix(arn)))
            .await?;
        let mut pieces = Vec::with_capacity(manifest.ranges.len());
        for r in 0..manifest.ranges.len() {
            let key = format!("{}events/{shard}/{r}", prefix(arn));
            pieces.push(
                UserPiece::from_bytes(&self.get_sealed(&version, &key).await?)
                    .map_err(corrupt(&key))?,
            );
        }
        let (phases, counts) = shuffle::users(&plan, &layout.kept, shard, &pieces)?;
        drop(pieces);
        for p in &phases {
            let key = rows_key(arn, Side::Users, shard, p.phase);
            self.put_sealed(&version, &key, &p.rows.to_bytes()).await?;
            for (i, part) in p.transposed.iter().enumerate() {
                let key = transpose_key(arn, p.phase, i, shard);
                self.put_sealed(&version, &key, &part.to_bytes()).await?;
            }
        }
        let mut w = ArtifactWriter::new(&json!({ "kind": "als-item-users", "shard": shard }));
        let links: Vec<u32> = counts.links.iter().flat_map(|&(i, r)| [i, r]).collect();
        w.u32s(b"USRS", &counts.item_users).u32s(b"LINK", &links);
        let key = format!("{}popularity/{shard}", prefix(arn));
        self.put_sealed(&version, &key, &w.finish()).await?;
        Ok(json!({ "side": Side::Users, "shard": shard }))
    }

    /// Items Map, one task per item shard: per phase its rows, from every user shard's part.
    pub(crate) async fn shard_items(&self, arn: &str, shard: usize) -> Result<Value> {
        let version = self.training_version(arn).await?;
        let plan = self.plan(&version).await?;
        check_shard(&plan, Side::Items, shard)?;
        for &(phase, _) in &plan.phases {
            let mut parts = Vec::with_capacity(plan.shards(Side::Users));
            for u in 0..plan.shards(Side::Users) {
                let key = transpose_key(arn, phase, shard, u);
                parts.push(
                    ItemPiece::from_bytes(&self.get_sealed(&version, &key).await?)
                        .map_err(corrupt(&key))?,
                );
            }
            let rows = shuffle::items(&plan, shard, &parts)?;
            let key = rows_key(arn, Side::Items, shard, phase);
            self.put_sealed(&version, &key, &rows.to_bytes()).await?;
        }
        Ok(json!({ "side": Side::Items, "shard": shard }))
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

    /// Gathers the item factors at the end of each phase and trains the version with them as the
    /// `train` step would (`recipes::chain::finish`), on the cut's user sample (all the users
    /// up to `Tailor::shard_sample_events`) with the popularity counted over every shard; then deletes the
    /// shard objects.
    pub(crate) async fn shard_finish(
        &self,
        arn: &str,
        progress: &mut (dyn FnMut(&str, f64) + Send),
    ) -> Result<SolutionVersion> {
        let version = self.training_version(arn).await?;
        let plan = self.plan(&version).await?;
        let manifest = self.manifest(&version).await?;
        let merged = self.merged(&version).await?;
        let mut factors = ChainFactors::default();
        for &(phase, _) in &plan.phases {
            if let Some(end) = plan.end_of(phase) {
                let y = self.gathered(&version, &plan, Side::Items, end).await?;
                factors.set(phase, als_shards::item_factors(&plan, y));
            }
        }
        progress("loading the sample", 0.0);
        let dataset = self.describe_dataset(&manifest.dataset_arn).await?;
        let schema = self.dataset_schema(&dataset).await?;
        let mut sample = Table::empty(schema.clone());
        for r in 0..manifest.ranges.len() {
            let key = format!("{}sample/{r}", prefix(arn));
            let bytes = self.get_sealed(&version, &key).await?;
            let part = avro::read(schema.clone(), &bytes)
                .map_err(|e| Error::Internal(format!("{key}: {e}")))?;
            sample.append(&part);
        }
        // One coding of the items: the merged one the factors are indexed by.
        sample.recode("ITEM_ID", &merged.items);
        let config = event_config(version.event_type.as_deref(), &version.solution_config)?;
        let catalogue = self.catalogue(&version).await?;
        let mut data = TrainingData::from_tables(&sample, catalogue.as_ref(), &config)?;
        drop(sample);
        let group = self
            .describe_dataset_group(&version.dataset_group_arn)
            .await?;
        if let Some(users) = self
            .load_dataset(&self.arns.dataset_arn(&group.name, DatasetType::Users))
            .await
            .ok()
            .flatten()
        {
            data.read_users(&users);
        }
        let mut item_users = vec![0u32; plan.n_items];
        let mut links = Links::new(plan.n_items);
        for s in 0..plan.shards(Side::Users) {
            let key = format!("{}popularity/{s}", prefix(arn));
            let bytes = self.get_sealed(&version, &key).await?;
            let (counts, pairs) = ArtifactReader::parse(&bytes)
                .and_then(|r| Ok((r.u32s(b"USRS")?, r.u32s(b"LINK")?)))
                .map_err(corrupt(&key))?;
            let n = plan.n_items as u32;
            if pairs.len() % 2 != 0 || pairs.iter().any(|&i| i >= n) {
                return Err(Error::Internal(format!("{key}: links outside the plan")));
            }
            pairs.chunks_exact(2).for_each(|p| links.join(p[0], p[1]));
            if counts.len() != plan.n_items {
                return Err(Error::Internal(format!(
                    "{key}: {} items, want {}",
                    counts.len(),
                    plan.n_items
                )));
            }
            item_users.iter_mut().zip(counts).for_each(|(a, b)| *a += b);
        }
        item_users.resize(data.n_items(), 0);
        let whole = Whole {
            popularity: crate::recipes::popularity::scaled(&item_users),
            components: links.components(),
        };
        let sharded = Sharded {
            factors,
            data,
            whole,
        };
        let version = self.run_version(arn, Some(sharded), progress).await?;
        self.delete_shards(arn).await?;
        Ok(version)
    }

    /// Trains a pending version here as the training state machine would: the sharded branch's
    /// steps in turn (each Map's tasks one after another) when it trains sharded, otherwise
    /// [`Tailor::run_solution_version`]. What the CLI and the local job runner call, so a
    /// laptop trains data past one process's memory the same way AWS does. A failed step fails
    /// the version with its reason, as the machine's catch does.
    pub async fn train_solution_version(
        &self,
        arn: &str,
        progress: &mut (dyn FnMut(&str, f64) + Send),
    ) -> Result<SolutionVersion> {
        let version = self.describe_solution_version(arn).await?;
        if version.status != Status::CreatePending || !self.trains_sharded(&version).await? {
            return self.run_solution_version(arn, progress).await;
        }
        match self.run_shards_here(arn, progress).await {
            Ok(v) => Ok(v),
            Err(e) => {
                if let Err(d) = self.delete_shards(arn).await {
                    tracing::warn!(version = arn, error = %d, "shard objects left behind");
                }
                self.fail_solution_version(arn, &e.to_string()).await
            }
        }
    }

    async fn run_shards_here(
        &self,
        arn: &str,
        progress: &mut (dyn FnMut(&str, f64) + Send),
    ) -> Result<SolutionVersion> {
        let timed = |step: &'static str, task: usize, started: std::time::Instant| {
            tracing::info!(
                version = arn,
                step,
                task,
                seconds = started.elapsed().as_secs_f64(),
                "sharded step"
            );
        };
        progress("cutting the data into shards", 0.0);
        let started = std::time::Instant::now();
        let worker = WorkerProcess::of(std::process::id());
        let ranges = self.shard_prepare(arn, worker).await?["ranges"]
            .as_array()
            .map_or(0, Vec::len);
        timed("shardPrepare", 0, started);
        for r in 0..ranges {
            let started = std::time::Instant::now();
            self.shard_scan(arn, r).await?;
            timed("shardScan", r, started);
        }
        let started = std::time::Instant::now();
        let plan = self.shard_plan(arn).await?;
        timed("shardPlan", 0, started);
        for r in 0..ranges {
            let started = std::time::Instant::now();
            self.shard_cut(arn, r).await?;
            timed("shardCut", r, started);
        }
        let count = |k: &str| plan[k].as_array().map_or(0, Vec::len);
        let (users, items) = (count("userShards"), count("itemShards"));
        for s in 0..users {
            let started = std::time::Instant::now();
            self.shard_users(arn, s).await?;
            timed("shardUsers", s, started);
        }
        for s in 0..items {
            let started = std::time::Instant::now();
            self.shard_items(arn, s).await?;
            timed("shardItems", s, started);
        }
        let iterations = plan["iterations"].as_u64().unwrap_or(0) as usize;
        for it in 1..=iterations {
            progress(
                "fitting factors on shards",
                0.1 + 0.6 * (it - 1) as f64 / iterations as f64,
            );
            for (side, n) in [(Side::Users, users), (Side::Items, items)] {
                for s in 0..n {
                    self.solve_shard(arn, side, s, it).await?;
                }
            }
        }
        let started = std::time::Instant::now();
        let done = self
            .shard_finish(arn, &mut |stage, f| progress(stage, 0.7 + 0.3 * f))
            .await?;
        timed("shardFinish", 0, started);
        Ok(done)
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

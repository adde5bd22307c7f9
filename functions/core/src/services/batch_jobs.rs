//! Batch inference and batch segment jobs: records (CREATE PENDING → CREATE IN_PROGRESS →
//! ACTIVE | CREATE FAILED), and running one from its input files to `<input file name>.out`
//! under the output path.
//!
//! Paths are `s3://bucket/key` (an object, or every object under a prefix), read and written
//! through the door's [`crate::store::DataSources`]; locally they may also be a file or a
//! directory. The answering itself is the runtime's ([`crate::serving::batch`]); on AWS the
//! batch state machine runs it a shard at a time (see the batch function).

use super::catalog::Resource;
use super::jobs::s3_location;
use super::Tailor;
use crate::domain::*;
use crate::error::{Error, Result};
use crate::recipes::{Recipe, RecipeType};
use crate::serving::batch::{BatchCounts, BatchSettings};
use crate::serving::Runtime;

/// Personalize's limits on one job's input.
pub const MAX_INPUT_FILES: usize = 1000;
pub const MAX_INPUT_BYTES: usize = 1 << 30;
/// Users per segment line at most (Personalize's).
pub const MAX_SEGMENT_USERS: u32 = 5_000_000;

/// A CreateBatchInferenceJob / CreateBatchSegmentJob request (the config and mode are
/// inference's only).
#[derive(Debug, Clone, Default)]
pub struct CreateBatchJob {
    pub job_name: String,
    pub solution_version_arn: String,
    pub filter_arn: Option<String>,
    pub num_results: Option<u32>,
    pub job_input: BatchJobInput,
    pub job_output: BatchJobOutput,
    pub role_arn: Option<String>,
    pub config: BatchInferenceJobConfig,
    pub mode: Option<String>,
}

impl CreateBatchJob {
    /// A job reading `input` and writing under `output` (paths with no key of their own), the
    /// rest as Personalize's defaults.
    pub fn new(
        job_name: impl Into<String>,
        solution_version_arn: impl Into<String>,
        input: impl Into<String>,
        output: impl Into<String>,
    ) -> CreateBatchJob {
        CreateBatchJob {
            job_name: job_name.into(),
            solution_version_arn: solution_version_arn.into(),
            job_input: BatchJobInput {
                s3_data_source: S3DataConfig {
                    path: input.into(),
                    kms_key_arn: None,
                },
            },
            job_output: BatchJobOutput {
                s3_data_destination: S3DataConfig {
                    path: output.into(),
                    kms_key_arn: None,
                },
            },
            ..Default::default()
        }
    }
}

/// What both kinds of batch job share, so one runner serves them.
pub(crate) trait BatchJob: Resource + Clone + Send + Sync {
    const SEGMENT: bool;
    fn version_arn(&self) -> &str;
    fn status(&self) -> Status;
    fn input(&self) -> &S3DataConfig;
    fn output(&self) -> &S3DataConfig;
    fn settings(&self) -> BatchSettings;
    fn set(&mut self, status: Status, reason: Option<String>, counts: Option<BatchRecordCounts>);
    fn worker(&self) -> Option<&WorkerProcess>;
    fn set_worker(&mut self, worker: Option<WorkerProcess>);
}

macro_rules! batch_job {
    ($ty:ty, $segment:expr, |$j:ident| $config:expr) => {
        impl BatchJob for $ty {
            const SEGMENT: bool = $segment;
            fn version_arn(&self) -> &str {
                &self.solution_version_arn
            }
            fn status(&self) -> Status {
                self.status
            }
            fn input(&self) -> &S3DataConfig {
                &self.job_input.s3_data_source
            }
            fn output(&self) -> &S3DataConfig {
                &self.job_output.s3_data_destination
            }
            fn settings(&self) -> BatchSettings {
                let $j = self;
                BatchSettings {
                    num_results: Some(self.num_results as usize),
                    filter_arn: self.filter_arn.clone(),
                    item_exploration_config: $config,
                    ..Default::default()
                }
            }
            fn set(
                &mut self,
                status: Status,
                reason: Option<String>,
                counts: Option<BatchRecordCounts>,
            ) {
                self.status = status;
                self.failure_reason = reason;
                if counts.is_some() {
                    self.record_counts = counts;
                }
                if status.is_terminal() {
                    self.worker = None;
                }
                self.last_updated_date_time = now_epoch();
            }
            fn worker(&self) -> Option<&WorkerProcess> {
                self.worker.as_ref()
            }
            fn set_worker(&mut self, worker: Option<WorkerProcess>) {
                self.worker = worker;
            }
        }
    };
}

batch_job!(BatchInferenceJob, false, |j| j
    .batch_inference_job_config
    .item_exploration_config
    .clone());
batch_job!(BatchSegmentJob, true, |_j| Default::default());

/// Checks a job's input or output path: `s3://bucket/key` this door can reach, or locally an
/// existing file or directory (input) / a directory or a path for one (output).
pub(crate) fn check_path(tailor: &Tailor, field: &str, raw: &str, input: bool) -> Result<()> {
    let bad =
        |why: &str| Error::InvalidInput(format!("{field} {}: {why}", crate::api::text::shown(raw)));
    if let Some(rest) = raw.strip_prefix("s3://") {
        // An input names an object or a prefix; an output may be a whole bucket.
        let named = match rest.split_once('/') {
            Some((bucket, key)) => !bucket.is_empty() && (!input || !key.is_empty()),
            None => false,
        };
        if !named {
            return Err(bad("an S3 path is s3://bucket/key"));
        }
        if tailor.sources.is_none() {
            return Err(bad(
                "this tailor cannot reach S3 (build with the aws feature; credentials and, for \
                 an emulator, AWS_ENDPOINT_URL from the environment)",
            ));
        }
        return Ok(());
    }
    if raw.is_empty() {
        return Err(bad("a path is required"));
    }
    let path = local_path(raw);
    if input && !path.exists() {
        return Err(bad("no such file or directory"));
    }
    if !input && path.is_file() {
        return Err(bad("the output path is a file; name a directory"));
    }
    Ok(())
}

fn local_path(raw: &str) -> &std::path::Path {
    std::path::Path::new(raw.strip_prefix("file://").unwrap_or(raw))
}

/// A batch job's failureReason when the process running it is gone.
pub const BATCH_WORKER_STOPPED: &str =
    "the process running the batch job stopped before it finished; create the job again";

fn worker_gone<J: BatchJob>(job: &J) -> bool {
    matches!(
        job.status(),
        Status::CreatePending | Status::CreateInProgress
    ) && job.worker().is_some_and(|w| w.is_gone())
}

/// Whether a batch job ARN names a segment job (else an inference job).
pub(crate) fn is_segment(arn: &str) -> bool {
    arn_path(arn, ResourceType::BatchSegmentJob).is_some()
}

/// The output object for an input file: `<output path>/<input file name>.out`.
pub fn output_name(file_name: &str) -> String {
    format!("{file_name}.out")
}

impl Tailor {
    pub async fn create_batch_inference_job(
        &self,
        req: CreateBatchJob,
    ) -> Result<BatchInferenceJob> {
        if let Some(mode) = req.mode.as_deref() {
            if mode != "BATCH_INFERENCE" {
                return Err(Error::InvalidInput(format!(
                    "batchInferenceJobMode {}: tailor runs BATCH_INFERENCE (THEME_GENERATION needs \
                     a hosted language model)",
                    crate::api::text::shown(mode)
                )));
            }
        }
        super::campaigns::check_config(
            &req.config.item_exploration_config,
            req.config.ranking_influence.as_ref(),
        )?;
        let n = req.num_results.unwrap_or(25);
        if !(1..=crate::api::runtime::MAX_NUM_RESULTS as u32).contains(&n) {
            return Err(Error::InvalidInput(format!(
                "numResults {n} must be 1-{}",
                crate::api::runtime::MAX_NUM_RESULTS
            )));
        }
        self.check_batch_request(&req, false).await?;
        self.check_pending_batch_quota::<BatchInferenceJob>(
            super::quotas::PENDING_BATCH_INFERENCE_JOBS,
            |j| j.status,
        )
        .await?;
        let now = now_epoch();
        let job = BatchInferenceJob {
            batch_inference_job_arn: self
                .arns
                .arn(ResourceType::BatchInferenceJob, &req.job_name),
            job_name: req.job_name,
            filter_arn: req.filter_arn,
            solution_version_arn: req.solution_version_arn,
            num_results: n,
            job_input: req.job_input,
            job_output: req.job_output,
            batch_inference_job_config: req.config,
            role_arn: req.role_arn,
            batch_inference_job_mode: "BATCH_INFERENCE".into(),
            status: Status::CreatePending,
            failure_reason: None,
            creation_date_time: now,
            last_updated_date_time: now,
            record_counts: None,
            // Recorded by the process that runs the job (`run`), not the one creating it.
            worker: None,
        };
        self.insert_record(&job).await?;
        Ok(job)
    }

    pub async fn create_batch_segment_job(&self, req: CreateBatchJob) -> Result<BatchSegmentJob> {
        let n = req.num_results.unwrap_or(25);
        if !(1..=MAX_SEGMENT_USERS).contains(&n) {
            return Err(Error::InvalidInput(format!(
                "numResults {n} must be 1-{MAX_SEGMENT_USERS}"
            )));
        }
        self.check_batch_request(&req, true).await?;
        self.check_pending_batch_quota::<BatchSegmentJob>(
            super::quotas::PENDING_BATCH_SEGMENT_JOBS,
            |j| j.status,
        )
        .await?;
        let now = now_epoch();
        let job = BatchSegmentJob {
            batch_segment_job_arn: self.arns.arn(ResourceType::BatchSegmentJob, &req.job_name),
            job_name: req.job_name,
            filter_arn: req.filter_arn,
            solution_version_arn: req.solution_version_arn,
            num_results: n,
            job_input: req.job_input,
            job_output: req.job_output,
            role_arn: req.role_arn,
            status: Status::CreatePending,
            failure_reason: None,
            creation_date_time: now,
            last_updated_date_time: now,
            record_counts: None,
            // Recorded by the process that runs the job (`run`), not the one creating it.
            worker: None,
        };
        self.insert_record(&job).await?;
        Ok(job)
    }

    /// What both Create operations check before anything is recorded: the name, an ACTIVE
    /// version of a recipe the job kind serves, the filter's kind and group, the paths.
    async fn check_batch_request(&self, req: &CreateBatchJob, segment: bool) -> Result<()> {
        validate_name("jobName", &req.job_name)?;
        check_path(
            self,
            "jobInput.s3DataSource.path",
            &req.job_input.s3_data_source.path,
            true,
        )?;
        check_path(
            self,
            "jobOutput.s3DataDestination.path",
            &req.job_output.s3_data_destination.path,
            false,
        )?;
        let version = self
            .describe_solution_version(&req.solution_version_arn)
            .await?;
        if version.status != Status::Active {
            return Err(Error::InUse(format!(
                "solution version {} is {}, not ACTIVE",
                version.solution_version_arn,
                version.status.as_str()
            )));
        }
        let recipe = Recipe::parse(&version.recipe_arn)?;
        let is_segmentation = recipe.recipe_type() == RecipeType::UserSegmentation;
        if segment != is_segmentation {
            return Err(Error::InvalidInput(format!(
                "solution version {} is of recipe {}: {}",
                version.solution_version_arn,
                recipe.name(),
                if segment {
                    "a batch segment job needs aws-item-affinity or aws-item-attribute-affinity"
                } else {
                    "a USER_SEGMENTATION version answers batch segment jobs, not batch inference"
                }
            )));
        }
        if !segment && recipe.name() == "aws-trending-now" {
            return Err(Error::InvalidInput(
                "batch inference does not serve aws-trending-now (as Personalize)".into(),
            ));
        }
        if let Some(arn) = &req.filter_arn {
            let filter = self.describe_filter(arn).await?;
            if filter.dataset_group_arn != version.dataset_group_arn {
                return Err(Error::InvalidInput(format!(
                    "filter {arn} belongs to another dataset group"
                )));
            }
            let parsed = crate::filters::Filter::parse(&filter.filter_expression)?;
            let wanted = if segment {
                crate::filters::Target::UserId
            } else {
                crate::filters::Target::ItemId
            };
            if parsed.target() != wanted {
                return Err(Error::InvalidInput(format!(
                    "filter {arn} selects {}; this job filters {wanted}",
                    parsed.target()
                )));
            }
            // Personalize allows no interactions filter on user segments (reference §4.4); one
            // would otherwise match nothing, silently.
            if segment && parsed.uses_interactions() {
                return Err(Error::InvalidInput(format!(
                    "filter {arn} reads Interactions: a batch segment job takes user filters on \
                     the Users dataset only"
                )));
            }
        }
        Ok(())
    }

    /// The job; one pending or running whose process is gone is failed first.
    pub async fn describe_batch_inference_job(&self, arn: &str) -> Result<BatchInferenceJob> {
        self.settled_batch_job(arn).await
    }

    /// The job; one pending or running whose process is gone is failed first.
    pub async fn describe_batch_segment_job(&self, arn: &str) -> Result<BatchSegmentJob> {
        self.settled_batch_job(arn).await
    }

    async fn settled_batch_job<J: BatchJob>(&self, arn: &str) -> Result<J> {
        let (job, version) = self.require::<J>(J::TABLE, arn).await?;
        if !worker_gone(&job) {
            return Ok(job);
        }
        let mut failed = job.clone();
        failed.set(
            Status::CreateFailed,
            Some(BATCH_WORKER_STOPPED.into()),
            None,
        );
        failed.set_worker(None);
        self.fail_abandoned(version, failed).await
    }

    /// Jobs as they stand: any whose process is gone is failed first.
    pub(crate) async fn settle_batch_jobs<J: BatchJob>(&self, mut all: Vec<J>) -> Result<Vec<J>> {
        for job in &mut all {
            if worker_gone(job) {
                *job = self.settled_batch_job(job.key()).await?;
            }
        }
        Ok(all)
    }

    /// Moves a pending job to CREATE IN_PROGRESS, run by `worker` (None when no one process
    /// runs it: the batch state machine does, and its Catch records a failure).
    pub(crate) async fn claim_batch_job<J: BatchJob>(
        &self,
        arn: &str,
        worker: Option<WorkerProcess>,
    ) -> Result<bool> {
        let (mut job, version) = self.require::<J>(J::TABLE, arn).await?;
        if !job.status().can_become(Status::CreateInProgress) {
            return Ok(false);
        }
        job.set(Status::CreateInProgress, None, None);
        job.set_worker(worker);
        self.update_record(version, &job).await?;
        Ok(true)
    }

    /// Moves a batch job on (PENDING → IN_PROGRESS → ACTIVE | FAILED); a finished job is left
    /// alone and `Ok(false)` says so.
    pub(crate) async fn set_batch_status<J: BatchJob>(
        &self,
        arn: &str,
        status: Status,
        reason: Option<String>,
        counts: Option<BatchRecordCounts>,
    ) -> Result<bool> {
        let (mut job, version) = self.require::<J>(J::TABLE, arn).await?;
        if !job.status().can_become(status) {
            return Ok(false);
        }
        job.set(status, reason, counts);
        self.update_record(version, &job).await?;
        Ok(true)
    }

    /// Records a batch job ACTIVE with what it answered.
    pub(crate) async fn finish_batch_job<J: BatchJob>(
        &self,
        arn: &str,
        counts: BatchCounts,
    ) -> Result<()> {
        let record = BatchRecordCounts {
            input_records: counts.lines,
            failed_records: counts.failed,
        };
        self.set_batch_status::<J>(arn, Status::Active, None, Some(record))
            .await?;
        Ok(())
    }

    /// Fails a batch job of either kind that has not finished, with `reason`.
    pub async fn fail_batch_job(&self, arn: &str, reason: &str) -> Result<()> {
        let reason = Some(reason.to_string());
        if is_segment(arn) {
            self.set_batch_status::<BatchSegmentJob>(arn, Status::CreateFailed, reason, None)
                .await?;
        } else {
            self.set_batch_status::<BatchInferenceJob>(arn, Status::CreateFailed, reason, None)
                .await?;
        }
        Ok(())
    }

    /// A job's input files, as (file name, bytes), sorted by name.
    pub(crate) async fn read_batch_input(
        &self,
        input: &S3DataConfig,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let raw = &input.path;
        let files: Vec<(String, Vec<u8>)> = if raw.starts_with("s3://") {
            let (bucket, key) = s3_location(raw).ok_or_else(|| {
                Error::InvalidInput(format!("input path {raw} is not s3://bucket/key"))
            })?;
            let sources = self
                .sources
                .as_ref()
                .ok_or_else(|| Error::InvalidInput("this tailor cannot reach S3".into()))?;
            sources
                .fetch(bucket, key)
                .await?
                .into_iter()
                .map(|(k, b)| (k.rsplit('/').next().unwrap_or(&k).to_string(), b))
                .collect()
        } else {
            let path = local_path(raw);
            let io = |e: std::io::Error| Error::InvalidInput(format!("reading {raw}: {e}"));
            if path.is_dir() {
                let mut files = Vec::new();
                for entry in std::fs::read_dir(path).map_err(io)? {
                    let entry = entry.map_err(io)?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if entry.path().is_file() && !name.starts_with('.') {
                        files.push((name, std::fs::read(entry.path()).map_err(io)?));
                    }
                }
                files.sort_by(|a, b| a.0.cmp(&b.0));
                files
            } else {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "input".into());
                vec![(name, std::fs::read(path).map_err(io)?)]
            }
        };
        if files.is_empty() {
            return Err(Error::InvalidInput(format!("no input file at {raw}")));
        }
        if files.len() > MAX_INPUT_FILES {
            return Err(Error::InvalidInput(format!(
                "{} input files at {raw}: a job reads at most {MAX_INPUT_FILES}",
                files.len()
            )));
        }
        let total: usize = files.iter().map(|(_, b)| b.len()).sum();
        if total > MAX_INPUT_BYTES {
            return Err(Error::InvalidInput(format!(
                "{total} bytes of input at {raw}: a job reads at most 1 GB"
            )));
        }
        Ok(files)
    }

    /// Writes `<output path>/<file name>.out`: SSE-KMS on S3 (the job's key, else the
    /// deployment's), a whole file at once locally.
    pub(crate) async fn write_batch_output(
        &self,
        output: &S3DataConfig,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<()> {
        let raw = &output.path;
        let name = output_name(file_name);
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let key = if prefix.is_empty() || prefix.ends_with('/') {
                format!("{prefix}{name}")
            } else {
                format!("{prefix}/{name}")
            };
            let sources = self
                .sources
                .as_ref()
                .ok_or_else(|| Error::InvalidInput("this tailor cannot reach S3".into()))?;
            sources
                .deliver(bucket, &key, bytes, output.kms_key_arn.as_deref())
                .await?;
            return Ok(());
        }
        let dir = local_path(raw);
        let io = |e: std::io::Error| {
            Error::InvalidInput(format!("writing {}: {e}", dir.join(&name).display()))
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        // Written beside, then renamed: a reader never sees half a file.
        let tmp = dir.join(format!(".{name}.partial"));
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, dir.join(&name)).map_err(io)?;
        Ok(())
    }
}

/// Runs a pending batch job of either kind here, to its end: every input file answered on
/// `threads` (0 = all cores) and written to its `.out`. The job's record carries the outcome;
/// the error is returned too.
pub async fn run_batch_job(runtime: &Runtime, arn: &str, threads: usize) -> Result<BatchCounts> {
    if is_segment(arn) {
        run::<BatchSegmentJob>(runtime, arn, threads).await
    } else {
        run::<BatchInferenceJob>(runtime, arn, threads).await
    }
}

async fn run<J: BatchJob>(runtime: &Runtime, arn: &str, threads: usize) -> Result<BatchCounts> {
    let tailor = &runtime.tailor;
    if !tailor
        .claim_batch_job::<J>(arn, WorkerProcess::of(std::process::id()))
        .await?
    {
        return Err(Error::InUse(format!("batch job {arn} is not pending")));
    }
    match answer_all::<J>(runtime, arn, threads).await {
        Ok(counts) => {
            tailor.finish_batch_job::<J>(arn, counts).await?;
            Ok(counts)
        }
        Err(e) => {
            tailor
                .set_batch_status::<J>(arn, Status::CreateFailed, Some(e.client_message()), None)
                .await?;
            Err(e)
        }
    }
}

async fn answer_all<J: BatchJob>(
    runtime: &Runtime,
    arn: &str,
    threads: usize,
) -> Result<BatchCounts> {
    let tailor = &runtime.tailor;
    let (job, _) = tailor.require::<J>(J::TABLE, arn).await?;
    let files = tailor.read_batch_input(job.input()).await?;
    let settings = BatchSettings {
        threads,
        ..job.settings()
    };
    // The model and the group's data load once for all the files.
    let state = runtime.batch_state(job.version_arn(), &settings).await?;
    let mut total = BatchCounts::default();
    for (name, bytes) in files {
        let text = String::from_utf8(bytes)
            .map_err(|e| Error::InvalidInput(format!("input file {name} is not UTF-8: {e}")))?;
        let mut out = Vec::new();
        total += if J::SEGMENT {
            runtime
                .batch_segments_with(&state, &settings, &text, &mut out)
                .await?
        } else {
            runtime
                .batch_inference_with(&state, &settings, &text, &mut out)
                .await?
        };
        tailor.write_batch_output(job.output(), &name, out).await?;
    }
    Ok(total)
}

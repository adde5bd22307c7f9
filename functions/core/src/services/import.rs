//! Dataset import jobs: CSV in, a new version of the dataset out, all or nothing.
//!
//! The new data is written to a fresh blob, then the dataset's data pointer is swapped with a
//! conditional write. A failed file or a lost race leaves the pointer, and so the data readers
//! see, exactly as it was. Two importers racing on one dataset each retry on the other's result.
//! The CSV is read as a stream, and a running job holds a lease ([`lease`]) so that a killed
//! worker's job ends CREATE FAILED instead of staying in progress forever.

mod lease;

use std::borrow::Cow;
use std::io::Read;
use std::time::Instant;

use super::catalog::tables;
use super::Tailor;
use crate::crypto;
use crate::data::snapshot::InteractionsSnapshot;
use crate::data::{avro, csv, Table};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::schema::DatasetType;
use crate::store::{Expect, StoreError};
use lease::Renewal;

/// How often an import re-reads and re-merges after losing a race before giving up.
const MAX_SWAP_ATTEMPTS: usize = 8;

/// Appended to a data file's key to name its serving snapshot.
pub(crate) const SERVING_SUFFIX: &str = ".serving";

/// What a finished import job produced.
#[derive(Debug)]
pub struct ImportOutcome {
    pub job: DatasetImportJob,
    /// The input's errors when the job failed on bad data.
    pub errors: Option<csv::ImportErrors>,
    /// Rows in the dataset after the import.
    pub rows: u64,
}

/// What CreateDatasetImportJob records beside the job's name, dataset, data and mode.
#[derive(Debug, Clone, Default)]
pub struct ImportJobOptions {
    /// Accepted and recorded as Personalize does; tailor reads with its own role.
    pub role_arn: Option<String>,
    /// Recorded and described; tailor publishes no attribution metrics.
    pub publish_attribution_metrics_to_s3: bool,
}

/// A job this worker runs: its record as last written, and that write's version.
struct Held {
    job: DatasetImportJob,
    version: u64,
    renewal: Renewal,
}

impl Tailor {
    /// Records an import job as CREATE PENDING.
    pub async fn create_dataset_import_job(
        &self,
        job_name: &str,
        dataset_arn: &str,
        data_location: &str,
        import_mode: ImportMode,
        options: ImportJobOptions,
    ) -> Result<DatasetImportJob> {
        validate_name("jobName", job_name)?;
        if data_location.is_empty() {
            return Err(Error::InvalidInput(
                "dataSource.dataLocation is required".into(),
            ));
        }
        self.describe_dataset(dataset_arn).await?;
        let now = now_epoch();
        let job = DatasetImportJob {
            job_name: job_name.into(),
            dataset_import_job_arn: self.arns.arn(ResourceType::DatasetImportJob, job_name),
            dataset_arn: dataset_arn.into(),
            data_source: DataSource {
                data_location: data_location.into(),
            },
            role_arn: options.role_arn,
            status: Status::CreatePending,
            import_mode,
            publish_attribution_metrics_to_s3: options.publish_attribution_metrics_to_s3,
            creation_date_time: now,
            last_updated_date_time: now,
            failure_reason: None,
            // Names the process that will run the job, so a crash before it starts is seen.
            lease: Some(lease::new_lease()),
        };
        self.insert_record(&job).await?;
        Ok(job)
    }

    /// Ends a job that has not finished as CREATE FAILED with `reason`; a finished one is left
    /// alone.
    pub async fn fail_dataset_import_job(&self, arn: &str, reason: &str) -> Result<()> {
        let (job, version) = self
            .require::<DatasetImportJob>(tables::IMPORT_JOBS, arn)
            .await?;
        if !matches!(job.status, Status::CreatePending | Status::CreateInProgress) {
            return Ok(());
        }
        self.update_record(version, &lease::failed_with(job, reason))
            .await?;
        Ok(())
    }

    /// The job; one in progress whose worker is gone is failed first (see [`lease`]).
    pub async fn describe_dataset_import_job(&self, arn: &str) -> Result<DatasetImportJob> {
        let (job, version) = self.require(tables::IMPORT_JOBS, arn).await?;
        self.settle(job, version).await
    }

    pub async fn list_dataset_import_jobs(
        &self,
        dataset_arn: Option<&str>,
    ) -> Result<Vec<DatasetImportJob>> {
        let all = self.list_records(dataset_arn).await?;
        self.settle_import_jobs(all).await
    }

    /// Jobs as they stand: any in progress with no live worker is failed first.
    pub(crate) async fn settle_import_jobs(
        &self,
        mut all: Vec<DatasetImportJob>,
    ) -> Result<Vec<DatasetImportJob>> {
        let now = now_epoch();
        for job in &mut all {
            if lease::abandoned(job, now) {
                *job = self
                    .describe_dataset_import_job(&job.dataset_import_job_arn)
                    .await?;
            }
        }
        Ok(all)
    }

    /// `job` (stored at `version`) as it stands, after failing it if it is in progress with
    /// no live worker. The write is conditional: a worker that renewed meanwhile wins.
    async fn settle(&self, job: DatasetImportJob, version: u64) -> Result<DatasetImportJob> {
        if !lease::abandoned(&job, now_epoch()) {
            return Ok(job);
        }
        let arn = job.dataset_import_job_arn.clone();
        let failed = lease::failed(job.clone());
        match self.update_record(version, &failed).await {
            Ok(_) => {
                tracing::warn!(job = arn, "import worker gone: job failed");
                Ok(failed)
            }
            Err(Error::Store(StoreError::ConditionFailed)) => {
                Ok(self.require(tables::IMPORT_JOBS, &arn).await?.0)
            }
            // A reader without write access still gets its answer.
            Err(e) => {
                tracing::warn!(job = arn, error = %e, "could not fail an abandoned import job");
                Ok(job)
            }
        }
    }

    /// Runs a pending job on CSV bytes held in memory; see [`Self::run_dataset_import_job_from`].
    pub async fn run_dataset_import_job(
        &self,
        job_arn: &str,
        csv_bytes: &[u8],
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<ImportOutcome> {
        let mut input = csv_bytes;
        self.run_dataset_import_job_from(job_arn, &mut input, csv_bytes.len() as u64, progress)
            .await
    }

    /// Runs a pending job on the CSV read from `input`, which is read once, as a stream. Bad
    /// input ends the job CREATE FAILED (returned, not an `Err`); `progress` gets (bytes
    /// read, `size`), `size` being the input's length if known (0 if not).
    pub async fn run_dataset_import_job_from(
        &self,
        job_arn: &str,
        input: &mut (dyn Read + Send),
        size: u64,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<ImportOutcome> {
        let (mut job, version) = self
            .require::<DatasetImportJob>(tables::IMPORT_JOBS, job_arn)
            .await?;
        if job.status != Status::CreatePending {
            return Err(Error::InUse(format!(
                "import job {job_arn} is {}, not CREATE PENDING",
                job.status
            )));
        }
        job.status = Status::CreateInProgress;
        job.last_updated_date_time = now_epoch();
        job.lease = Some(lease::new_lease());
        let at = Instant::now();
        let version = self
            .update_record(version, &job)
            .await
            .map_err(|e| match e {
                Error::Store(StoreError::ConditionFailed) => Error::InUse(format!(
                    "import job {job_arn} was started by another caller"
                )),
                e => e,
            })?;
        let mut held = Held {
            job,
            version,
            renewal: Renewal { at },
        };

        let result = self.import_data(&mut held, input, size, progress).await;
        let (status, failure, errors, rows) = match result {
            Ok(rows) => (Status::Active, None, None, rows),
            Err(ImportFailure::Input(errs)) => (
                Status::CreateFailed,
                Some(bounded_reason(errs.to_string())),
                Some(errs),
                0,
            ),
            Err(ImportFailure::Service(e)) => {
                // A caller's mistake (INCREMENTAL before FULL, say) is the job's failure reason,
                // which whoever runs the job reports; only a fault of ours is logged.
                let reason = match e.kind() {
                    crate::error::ErrorKind::Internal => {
                        tracing::error!(job = job_arn, error = %e, "import failed");
                        "internal error while importing".into()
                    }
                    _ => e.to_string(),
                };
                (Status::CreateFailed, Some(reason), None, 0)
            }
            Err(ImportFailure::Lost) => return self.lost(job_arn).await,
        };
        let mut job = held.job;
        job.status = status;
        job.failure_reason = failure;
        job.lease = None;
        job.last_updated_date_time = now_epoch();
        match self.update_record(held.version, &job).await {
            Ok(_) => Ok(ImportOutcome { job, errors, rows }),
            Err(Error::Store(StoreError::ConditionFailed)) => self.lost(job_arn).await,
            Err(e) => Err(e),
        }
    }

    /// The outcome of a job that a reader failed while this worker ran it (its lease ran out
    /// unrenewed: the process was suspended, say). That reader's verdict stands.
    async fn lost(&self, job_arn: &str) -> Result<ImportOutcome> {
        tracing::warn!(
            job = job_arn,
            "import job was failed while running: lease lost"
        );
        let (job, _) = self.require(tables::IMPORT_JOBS, job_arn).await?;
        Ok(ImportOutcome {
            job,
            errors: None,
            rows: 0,
        })
    }

    /// Renews the job's lease if due, or now if `force`. Fails with [`ImportFailure::Lost`]
    /// if the job record changed under this worker.
    async fn keep_lease(&self, held: &mut Held, force: bool) -> Result<(), ImportFailure> {
        if !force && !held.renewal.due() {
            return Ok(());
        }
        let at = Instant::now();
        held.job.lease = Some(lease::new_lease());
        match self.update_record(held.version, &held.job).await {
            Ok(version) => {
                held.version = version;
                held.renewal = Renewal { at };
                Ok(())
            }
            Err(Error::Store(StoreError::ConditionFailed)) => Err(ImportFailure::Lost),
            Err(e) => Err(e.into()),
        }
    }

    async fn import_data(
        &self,
        held: &mut Held,
        input: &mut (dyn Read + Send),
        size: u64,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<u64, ImportFailure> {
        let job = held.job.clone();
        let dataset = self.describe_dataset(&job.dataset_arn).await?;
        let schema = self.dataset_schema(&dataset).await?;
        let started = Instant::now();
        let mut reader =
            csv::CsvReader::new(schema.clone(), input).map_err(ImportFailure::Input)?;
        while reader.read_rows(csv::BATCH_ROWS) {
            progress(reader.bytes_read(), size);
            self.keep_lease(held, false).await?;
        }
        progress(reader.bytes_read(), size.max(reader.bytes_read()));
        let incoming = reader.finish().map_err(ImportFailure::Input)?;
        let incoming = incoming.latest_per_id();
        let parsed = started.elapsed();
        let group_name = arn_path(&dataset.dataset_group_arn, ResourceType::DatasetGroup)
            .unwrap_or("default")
            .to_string();
        let kind = super::datasets::data_kind(dataset.dataset_type);

        for _ in 0..MAX_SWAP_ATTEMPTS {
            self.keep_lease(held, false).await?;
            let current = self
                .get_record::<DatasetData>(tables::DATASET_DATA, &dataset.dataset_arn)
                .await?;
            let merged: Cow<Table> = match (job.import_mode, &current) {
                (ImportMode::Full, _) => Cow::Borrowed(&incoming),
                (ImportMode::Incremental, None) => return Err(Error::InvalidInput(
                    "INCREMENTAL import needs a prior bulk import into the dataset; use FULL first"
                        .into(),
                )
                .into()),
                (ImportMode::Incremental, Some((pointer, _))) => {
                    let mut old = self
                        .read_data_file(&dataset, schema.clone(), &pointer.blob_key)
                        .await?;
                    old.append(&incoming);
                    Cow::Owned(old.latest_per_id())
                }
            };
            let data_version = current.as_ref().map_or(0, |(p, _)| p.data_version) + 1;
            let blob_key = format!(
                "datasets/{group_name}/{}/{data_version:08}-{}-{}.avro.sealed",
                dataset.dataset_type,
                job.job_name,
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            );
            let merging = started.elapsed();
            let bytes = avro::write(&merged).map_err(|e| Error::Internal(e.to_string()))?;
            let encoding = started.elapsed();
            let id = super::datasets::data_id(&dataset, &kind, &blob_key);
            let sealed = crypto::seal(self.stores.keys.as_ref(), &id, &bytes).await?;
            let sealing = started.elapsed();
            self.stores.blobs.put(&blob_key, sealed).await?;
            let putting = started.elapsed();
            let previous = current.as_ref().map(|(p, _)| p);
            let events = match previous.and_then(|p| p.events_key.as_deref()) {
                Some(key) => Some(self.read_data_file(&dataset, schema.clone(), key).await?),
                None => None,
            };
            // Bulk data and compacted events together, once, for the snapshot and the figures.
            let (serving_key, summary) = {
                let all = with_events(&merged, events.as_ref());
                let key = self.write_snapshot(&dataset, &blob_key, &all).await?;
                (key, crate::data::summary::summarize(&all))
            };
            tracing::info!(
                parse_ms = parsed.as_millis() as u64,
                merge_ms = (merging - parsed).as_millis() as u64,
                encode_ms = (encoding - merging).as_millis() as u64,
                seal_ms = (sealing - encoding).as_millis() as u64,
                put_ms = (putting - sealing).as_millis() as u64,
                snapshot_ms = (started.elapsed() - putting).as_millis() as u64,
                "import phases"
            );
            let pointer = DatasetData {
                data_version,
                blob_key: blob_key.clone(),
                rows: merged.rows() as u64,
                import_job_arn: job.dataset_import_job_arn.clone(),
                serving_key: serving_key.clone(),
                events_key: previous.and_then(|p| p.events_key.clone()),
                events_through: previous.map_or(0, |p| p.events_through),
            };
            let written: Vec<String> = [Some(blob_key.clone()), serving_key.clone()]
                .into_iter()
                .flatten()
                .collect();
            // Renewed just before the swap, so no reader can take the job before it lands.
            if let Err(e) = self.keep_lease(held, true).await {
                self.discard(&written).await;
                return Err(e);
            }
            let at = current.as_ref().map(|(_, v)| *v);
            if self
                .swap_data_pointer(&dataset.dataset_arn, at, &pointer, &written)
                .await?
            {
                let previous = current.map(|(p, _)| p.blob_key);
                self.collect_garbage(&dataset, &blob_key, previous.as_deref())
                    .await;
                self.record_statistics(&dataset.dataset_arn, &summary).await;
                return Ok(pointer.rows);
            }
            // Another import won; ours never became visible. Merge onto theirs.
        }
        Err(Error::InUse(format!(
            "dataset {} is being imported into by others; retry the job",
            dataset.dataset_arn
        ))
        .into())
    }

    /// Stores what DescribeDataset reports as `statistics`. Best effort: the import has landed,
    /// and a failure here only leaves the previous figures.
    pub(super) async fn record_statistics(
        &self,
        dataset_arn: &str,
        summary: &crate::data::summary::Summary,
    ) {
        let put = match serde_json::to_vec(summary) {
            Ok(bytes) => {
                self.stores
                    .meta
                    .put(tables::DATASET_STATS, dataset_arn, None, bytes, Expect::Any)
                    .await
            }
            Err(e) => Err(StoreError::Io(e.to_string())),
        };
        if let Err(e) = put {
            tracing::warn!(dataset = dataset_arn, error = %e, "dataset statistics not stored");
        }
    }

    /// The statistics of a dataset's latest import, if any.
    pub async fn dataset_statistics(
        &self,
        dataset_arn: &str,
    ) -> Result<Option<crate::data::summary::Summary>> {
        Ok(self
            .get_record(tables::DATASET_STATS, dataset_arn)
            .await?
            .map(|(s, _)| s))
    }

    /// Writes the serving snapshot of an interactions dataset's version (`all`: its bulk data
    /// and compacted events, [`with_events`]) beside `blob_key`; `None` for other datasets.
    pub(super) async fn write_snapshot(
        &self,
        dataset: &Dataset,
        blob_key: &str,
        all: &Table,
    ) -> Result<Option<String>> {
        if dataset.dataset_type != DatasetType::Interactions {
            return Ok(None);
        }
        let Some(snapshot) = InteractionsSnapshot::from_table(all) else {
            return Ok(None);
        };
        let key = format!("{blob_key}{SERVING_SUFFIX}");
        let id = super::datasets::snapshot_id(dataset, &key);
        let sealed = crypto::seal(self.stores.keys.as_ref(), &id, &snapshot.to_bytes()).await?;
        self.stores.blobs.put(&key, sealed).await?;
        Ok(Some(key))
    }

    /// Makes `pointer` the dataset's current data if its pointer is still the one stored at
    /// `current` (None: no data yet): the conditional swap every new dataset version lands by.
    /// `Ok(false)` when another writer moved it first. Unless it landed, the files `written`
    /// for the version are deleted: nothing reads them.
    pub(super) async fn swap_data_pointer(
        &self,
        dataset_arn: &str,
        current: Option<u64>,
        pointer: &DatasetData,
        written: &[String],
    ) -> Result<bool> {
        let expect = current.map_or(Expect::Absent, Expect::Version);
        let encoded = serde_json::to_vec(pointer).map_err(|e| Error::Internal(e.to_string()))?;
        let put = self
            .stores
            .meta
            .put(tables::DATASET_DATA, dataset_arn, None, encoded, expect)
            .await;
        if put.is_err() {
            self.discard(written).await;
        }
        match put {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the files of a version that never became visible.
    pub(super) async fn discard(&self, keys: &[String]) {
        for k in keys {
            let _ = self.stores.blobs.delete(k).await;
        }
    }

    /// Deletes data files older than the previous version. The previous one stays so a reader
    /// that fetched the old pointer an instant ago can still open it.
    pub(super) async fn collect_garbage(
        &self,
        dataset: &Dataset,
        current: &str,
        previous: Option<&str>,
    ) {
        let Some(dir) = current.rsplit_once('/').map(|(d, _)| format!("{d}/")) else {
            return;
        };
        let Ok(keys) = self.stores.blobs.list(&dir).await else {
            return;
        };
        for key in keys {
            let version_of = key.strip_suffix(SERVING_SUFFIX).unwrap_or(&key);
            if version_of != current && Some(version_of) != previous && key.as_str() < current {
                if let Err(e) = self.stores.blobs.delete(&key).await {
                    tracing::warn!(dataset = %dataset.dataset_arn, key, error = %e, "could not delete an old data file");
                }
            }
        }
    }
}

/// The longest failureReason a job record keeps: the reasons name lines and columns, and a bad
/// value echoed whole (a 50 MB single-line file) must not become a 50 MB record.
pub const MAX_FAILURE_REASON_BYTES: usize = 2048;

fn bounded_reason(reason: String) -> String {
    if reason.len() <= MAX_FAILURE_REASON_BYTES {
        return reason;
    }
    let mut end = MAX_FAILURE_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &reason[..end], reason.len() - end)
}

enum ImportFailure {
    Input(csv::ImportErrors),
    Service(Error),
    /// The job was failed by a reader that took this worker for dead.
    Lost,
}

impl From<Error> for ImportFailure {
    fn from(e: Error) -> Self {
        ImportFailure::Service(e)
    }
}

impl From<StoreError> for ImportFailure {
    fn from(e: StoreError) -> Self {
        ImportFailure::Service(e.into())
    }
}

/// A dataset's bulk data with its compacted events appended (borrowed when there are none).
pub(super) fn with_events<'a>(bulk: &'a Table, events: Option<&Table>) -> Cow<'a, Table> {
    match events {
        Some(e) => {
            let mut all = bulk.clone();
            all.append(e);
            Cow::Owned(all)
        }
        None => Cow::Borrowed(bulk),
    }
}

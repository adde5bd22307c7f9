//! Dataset import jobs: CSV in, a new version of the dataset out, all or nothing.
//!
//! The new data is written to a fresh blob, then the dataset's data pointer is swapped with a
//! conditional write. A failed file or a lost race leaves the pointer, and so the data readers
//! see, exactly as it was. Two importers racing on one dataset each retry on the other's result.

use super::catalog::tables;
use super::Tailor;
use crate::crypto;
use crate::data::snapshot::InteractionsSnapshot;
use crate::data::{avro, csv, Table};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::schema::DatasetType;
use crate::store::{Expect, StoreError};

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

impl Tailor {
    /// Records an import job as CREATE PENDING.
    pub async fn create_dataset_import_job(
        &self,
        job_name: &str,
        dataset_arn: &str,
        data_location: &str,
        import_mode: ImportMode,
        role_arn: Option<String>,
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
            role_arn,
            status: Status::CreatePending,
            import_mode,
            publish_attribution_metrics_to_s3: false,
            creation_date_time: now,
            last_updated_date_time: now,
            failure_reason: None,
        };
        self.insert_record(tables::IMPORT_JOBS, &job.dataset_import_job_arn, &job)
            .await?;
        Ok(job)
    }

    pub async fn describe_dataset_import_job(&self, arn: &str) -> Result<DatasetImportJob> {
        Ok(self.require(tables::IMPORT_JOBS, arn).await?.0)
    }

    pub async fn list_dataset_import_jobs(
        &self,
        dataset_arn: Option<&str>,
    ) -> Result<Vec<DatasetImportJob>> {
        let mut all: Vec<DatasetImportJob> = self.list_records(tables::IMPORT_JOBS).await?;
        if let Some(d) = dataset_arn {
            all.retain(|j| j.dataset_arn == d);
        }
        Ok(all)
    }

    /// Runs a pending job on the CSV bytes its data source holds. Bad input ends the job
    /// CREATE FAILED (returned, not an `Err`); `progress` gets (bytes parsed, total bytes).
    pub async fn run_dataset_import_job(
        &self,
        job_arn: &str,
        csv_bytes: &[u8],
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
        let version = self
            .update_record(tables::IMPORT_JOBS, job_arn, version, &job)
            .await
            .map_err(|e| match e {
                Error::Store(StoreError::ConditionFailed) => Error::InUse(format!(
                    "import job {job_arn} was started by another caller"
                )),
                e => e,
            })?;

        let result = self.import_data(&job, csv_bytes, progress).await;
        let (status, failure, errors, rows) = match result {
            Ok(rows) => (Status::Active, None, None, rows),
            Err(ImportFailure::Input(errs)) => (
                Status::CreateFailed,
                Some(bounded_reason(errs.to_string())),
                Some(errs),
                0,
            ),
            Err(ImportFailure::Service(e)) => {
                tracing::error!(job = job_arn, error = %e, "import failed");
                let reason = match e.kind() {
                    crate::error::ErrorKind::Internal => "internal error while importing".into(),
                    _ => e.to_string(),
                };
                (Status::CreateFailed, Some(reason), None, 0)
            }
        };
        job.status = status;
        job.failure_reason = failure;
        job.last_updated_date_time = now_epoch();
        self.update_record(tables::IMPORT_JOBS, job_arn, version, &job)
            .await?;
        Ok(ImportOutcome { job, errors, rows })
    }

    async fn import_data(
        &self,
        job: &DatasetImportJob,
        csv_bytes: &[u8],
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<u64, ImportFailure> {
        let dataset = self.describe_dataset(&job.dataset_arn).await?;
        let schema = self.dataset_schema(&dataset).await?;
        let total = csv_bytes.len() as u64;
        let incoming = csv::parse(schema.clone(), csv_bytes, &mut |done| progress(done, total))
            .map_err(ImportFailure::Input)?;
        let incoming = incoming.latest_per_id();
        let group_name = arn_path(&dataset.dataset_group_arn, ResourceType::DatasetGroup)
            .unwrap_or("default")
            .to_string();
        let kind = super::datasets::data_kind(dataset.dataset_type);

        for _ in 0..MAX_SWAP_ATTEMPTS {
            let current = self
                .get_record::<DatasetData>(tables::DATASET_DATA, &dataset.dataset_arn)
                .await?;
            let merged: Table = match (job.import_mode, &current) {
                (ImportMode::Full, _) => incoming.clone(),
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
                    old.latest_per_id()
                }
            };
            let data_version = current.as_ref().map_or(0, |(p, _)| p.data_version) + 1;
            let blob_key = format!(
                "datasets/{group_name}/{}/{data_version:08}-{}-{}.avro.sealed",
                dataset.dataset_type,
                job.job_name,
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            );
            let bytes = avro::write(&merged).map_err(|e| Error::Internal(e.to_string()))?;
            let id = super::datasets::data_id(&dataset, &kind, &blob_key);
            let sealed = crypto::seal(self.stores.keys.as_ref(), &id, &bytes).await?;
            self.stores.blobs.put(&blob_key, sealed).await?;
            let serving_key = match InteractionsSnapshot::from_table(&merged) {
                Some(snapshot) if dataset.dataset_type == DatasetType::Interactions => {
                    let key = format!("{blob_key}{SERVING_SUFFIX}");
                    let id = super::datasets::snapshot_id(&dataset, &key);
                    let sealed =
                        crypto::seal(self.stores.keys.as_ref(), &id, &snapshot.to_bytes()).await?;
                    self.stores.blobs.put(&key, sealed).await?;
                    Some(key)
                }
                _ => None,
            };
            let pointer = DatasetData {
                data_version,
                blob_key: blob_key.clone(),
                rows: merged.rows() as u64,
                import_job_arn: job.dataset_import_job_arn.clone(),
                serving_key: serving_key.clone(),
            };
            let written: Vec<String> = [Some(blob_key.clone()), serving_key.clone()]
                .into_iter()
                .flatten()
                .collect();
            let expect = current
                .as_ref()
                .map_or(Expect::Absent, |(_, v)| Expect::Version(*v));
            let encoded =
                serde_json::to_vec(&pointer).map_err(|e| Error::Internal(e.to_string()))?;
            match self
                .stores
                .meta
                .put(tables::DATASET_DATA, &dataset.dataset_arn, encoded, expect)
                .await
            {
                Ok(_) => {
                    let previous = current.map(|(p, _)| p.blob_key);
                    self.collect_garbage(&dataset, &blob_key, previous.as_deref())
                        .await;
                    return Ok(pointer.rows);
                }
                Err(StoreError::ConditionFailed) => {
                    // Another import won; ours never became visible. Merge onto theirs.
                    self.discard(&written).await;
                }
                Err(e) => {
                    self.discard(&written).await;
                    return Err(Error::from(e).into());
                }
            }
        }
        Err(Error::InUse(format!(
            "dataset {} is being imported into by others; retry the job",
            dataset.dataset_arn
        ))
        .into())
    }

    /// Deletes the files of a version that never became visible.
    async fn discard(&self, keys: &[String]) {
        for k in keys {
            let _ = self.stores.blobs.delete(k).await;
        }
    }

    /// Deletes data files older than the previous version. The previous one stays so a reader
    /// that fetched the old pointer an instant ago can still open it.
    async fn collect_garbage(&self, dataset: &Dataset, current: &str, previous: Option<&str>) {
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

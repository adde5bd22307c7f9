//! Data deletion jobs (CreateDataDeletionJob): a CSV of USER_IDs, and those users' data leaves
//! the dataset group — their interactions (bulk and streamed) and Users rows become new
//! dataset versions without them, their events in the event log are redacted in place, their
//! PutUsers records are deleted — so the next training cannot see them. Everything else stays
//! as it was. Status: PENDING → IN_PROGRESS → COMPLETED | FAILED, `numDeleted` users.

use std::collections::HashSet;

use super::catalog::tables;
use super::Tailor;
use crate::data::Table;
use crate::domain::*;
use crate::error::{Error, Result};
use crate::schema::DatasetType;
use crate::store::{Expect, StoreError};

/// How often a dataset rewrite re-reads after losing the pointer race before giving up.
const MAX_SWAP_ATTEMPTS: usize = 8;

/// The user ids of a deletion CSV: a header naming `USER_ID` (any case), one id per row.
pub fn parse_user_ids(bytes: &[u8]) -> Result<HashSet<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| Error::InvalidInput(format!("line 1: {e}")))?
        .clone();
    let col = headers
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case("USER_ID"))
        .ok_or_else(|| Error::InvalidInput("line 1: the header has no USER_ID column".into()))?;
    let mut users = HashSet::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| Error::InvalidInput(format!("line {}: {e}", i + 2)))?;
        let id = row.get(col).map(str::trim).unwrap_or_default();
        if id.is_empty() {
            return Err(Error::InvalidInput(format!(
                "line {}, field USER_ID: empty",
                i + 2
            )));
        }
        users.insert(id.to_string());
    }
    Ok(users)
}

impl Tailor {
    pub async fn create_data_deletion_job(
        &self,
        job_name: &str,
        dataset_group_arn: &str,
        data_location: &str,
        role_arn: Option<String>,
    ) -> Result<DataDeletionJob> {
        validate_name("jobName", job_name)?;
        self.describe_dataset_group(dataset_group_arn).await?;
        let now = now_epoch();
        let job = DataDeletionJob {
            job_name: job_name.into(),
            data_deletion_job_arn: self.arns.arn(ResourceType::DataDeletionJob, job_name),
            dataset_group_arn: dataset_group_arn.into(),
            data_source: DataSource {
                data_location: data_location.into(),
            },
            role_arn,
            status: DeletionStatus::Pending,
            num_deleted: None,
            creation_date_time: now,
            last_updated_date_time: now,
            failure_reason: None,
            worker: None,
            deadline: None,
        };
        self.insert_record(&job).await?;
        Ok(job)
    }

    /// The job; one running whose process is gone, or past its runner's deadline, is failed
    /// first (never left IN_PROGRESS).
    pub async fn describe_data_deletion_job(&self, arn: &str) -> Result<DataDeletionJob> {
        let (job, version) = self
            .require::<DataDeletionJob>(tables::DATA_DELETION_JOBS, arn)
            .await?;
        if !deletion_abandoned(&job, now_epoch()) {
            return Ok(job);
        }
        let mut failed = job.clone();
        failed.status = DeletionStatus::Failed;
        failed.failure_reason = Some(DELETION_WORKER_STOPPED.into());
        failed.worker = None;
        failed.last_updated_date_time = now_epoch();
        self.fail_abandoned(version, failed).await
    }

    /// Jobs as they stand: any abandoned by its runner is failed first.
    pub(crate) async fn settle_deletion_jobs(
        &self,
        mut all: Vec<DataDeletionJob>,
    ) -> Result<Vec<DataDeletionJob>> {
        let now = now_epoch();
        for job in &mut all {
            if deletion_abandoned(job, now) {
                *job = self
                    .describe_data_deletion_job(&job.data_deletion_job_arn)
                    .await?;
            }
        }
        Ok(all)
    }

    /// Moves a deletion job on; `Ok(false)` when it is not in `from`.
    async fn set_deletion(
        &self,
        arn: &str,
        from: DeletionStatus,
        to: DeletionStatus,
        num_deleted: Option<u64>,
        reason: Option<String>,
    ) -> Result<bool> {
        let (mut job, version) = self
            .require::<DataDeletionJob>(tables::DATA_DELETION_JOBS, arn)
            .await?;
        if job.status != from {
            return Ok(false);
        }
        job.status = to;
        if matches!(to, DeletionStatus::Completed | DeletionStatus::Failed) {
            job.worker = None;
        }
        job.num_deleted = num_deleted.or(job.num_deleted);
        job.failure_reason = reason;
        job.last_updated_date_time = now_epoch();
        self.update_record(version, &job).await?;
        Ok(true)
    }

    /// Moves a pending job IN_PROGRESS, naming this process and its deadline.
    async fn claim_deletion(&self, arn: &str, deadline: Option<f64>) -> Result<bool> {
        let (mut job, version) = self
            .require::<DataDeletionJob>(tables::DATA_DELETION_JOBS, arn)
            .await?;
        if job.status != DeletionStatus::Pending {
            return Ok(false);
        }
        job.status = DeletionStatus::InProgress;
        job.worker = WorkerProcess::of(std::process::id());
        job.deadline = deadline;
        job.last_updated_date_time = now_epoch();
        self.update_record(version, &job).await?;
        Ok(true)
    }

    /// Fails a deletion job that has not started.
    pub async fn fail_data_deletion_job(&self, arn: &str, reason: &str) -> Result<()> {
        self.set_deletion(
            arn,
            DeletionStatus::Pending,
            DeletionStatus::Failed,
            None,
            Some(reason.into()),
        )
        .await?;
        Ok(())
    }

    /// Runs a pending deletion job here, to its end; returns the users deleted. `deadline`
    /// (epoch seconds) is when this runner is stopped, if it has such a limit (a Lambda).
    pub async fn run_data_deletion_job(&self, arn: &str, deadline: Option<f64>) -> Result<u64> {
        let ok = self.claim_deletion(arn, deadline).await?;
        if !ok {
            return Err(Error::InUse(format!(
                "data deletion job {arn} is not pending"
            )));
        }
        let job = self.describe_data_deletion_job(arn).await?;
        match self.delete_users_data(&job).await {
            Ok(n) => {
                self.set_deletion(
                    arn,
                    DeletionStatus::InProgress,
                    DeletionStatus::Completed,
                    Some(n),
                    None,
                )
                .await?;
                tracing::info!(job = arn, users = n, "data deletion completed");
                Ok(n)
            }
            Err(e) => {
                self.set_deletion(
                    arn,
                    DeletionStatus::InProgress,
                    DeletionStatus::Failed,
                    None,
                    Some(e.client_message()),
                )
                .await?;
                Err(e)
            }
        }
    }

    async fn delete_users_data(&self, job: &DataDeletionJob) -> Result<u64> {
        let location = job.data_source.data_location.clone();
        let bytes = if location.starts_with("s3://") {
            super::jobs::read_s3(self.sources.clone(), location.clone()).await
        } else {
            std::fs::read(location.strip_prefix("file://").unwrap_or(&location))
        }
        .map_err(|e| Error::InvalidInput(format!("reading {location}: {e}")))?;
        let users = parse_user_ids(&bytes)?;
        let group_arn = &job.dataset_group_arn;
        let group = self.describe_dataset_group(group_arn).await?;
        // Streamed events first become dataset rows, so the rewrite below removes them too.
        self.compact(group_arn).await?;
        let mut found: HashSet<String> = HashSet::new();
        for kind in [DatasetType::Interactions, DatasetType::Users] {
            let arn = self.arns.dataset_arn(&group.name, kind);
            if let Ok(dataset) = self.describe_dataset(&arn).await {
                found.extend(self.rewrite_without(&dataset, &group.name, &users).await?);
            }
        }
        let redacted = self.stores.events.redact(group_arn, &users).await?;
        let users_arn = self.arns.dataset_arn(&group.name, DatasetType::Users);
        let records = super::compaction::put_records_table(&group.name);
        for user in &users {
            let key = format!("{users_arn}|{user}");
            if self.stores.meta.get(&records, &key).await?.is_some() {
                found.insert(user.clone());
                match self.stores.meta.delete(&records, &key, Expect::Any).await {
                    Ok(()) | Err(StoreError::ConditionFailed) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        tracing::info!(group = %group_arn, redacted, "events redacted");
        Ok(found.len() as u64)
    }

    /// A new version of `dataset` without the users' rows (bulk and events parts); returns
    /// the users that had rows. Older versions' files are deleted once it is visible.
    async fn rewrite_without(
        &self,
        dataset: &Dataset,
        group_name: &str,
        users: &HashSet<String>,
    ) -> Result<HashSet<String>> {
        let schema = self.dataset_schema(dataset).await?;
        let kind = super::datasets::data_kind(dataset.dataset_type);
        for _ in 0..MAX_SWAP_ATTEMPTS {
            let Some((current, version)) = self
                .get_record::<DatasetData>(tables::DATASET_DATA, &dataset.dataset_arn)
                .await?
            else {
                return Ok(HashSet::new());
            };
            let mut found = HashSet::new();
            let bulk = self
                .read_data_file(dataset, schema.clone(), &current.blob_key)
                .await?;
            let bulk = without(bulk, users, &mut found);
            let events = match &current.events_key {
                Some(key) => Some(without(
                    self.read_data_file(dataset, schema.clone(), key).await?,
                    users,
                    &mut found,
                )),
                None => None,
            };
            if found.is_empty() {
                return Ok(found);
            }
            let data_version = current.data_version + 1;
            let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
            let blob_key = format!(
                "datasets/{group_name}/{}/{data_version:08}-deletion-{tag}.avro.sealed",
                dataset.dataset_type
            );
            let mut written = vec![blob_key.clone()];
            self.seal_data(dataset, &kind, &blob_key, &bulk).await?;
            let events_key = match &events {
                Some(table) => {
                    let key = format!(
                        "datasets/{group_name}/{}-events/{data_version:08}-{tag}.avro.sealed",
                        dataset.dataset_type
                    );
                    self.seal_data(dataset, &kind, &key, table).await?;
                    written.push(key.clone());
                    Some(key)
                }
                None => None,
            };
            let (serving_key, summary) = {
                let all = super::import::with_events(&bulk, events.as_ref());
                let key = self
                    .write_snapshot(dataset, events_key.as_deref().unwrap_or(&blob_key), &all)
                    .await?;
                (key, crate::data::summary::summarize(&all))
            };
            written.extend(serving_key.clone());
            let pointer = DatasetData {
                data_version,
                blob_key: blob_key.clone(),
                rows: (bulk.rows() + events.as_ref().map_or(0, Table::rows)) as u64,
                import_job_arn: current.import_job_arn.clone(),
                serving_key,
                events_key: events_key.clone(),
                events_through: current.events_through,
            };
            if self
                .swap_data_pointer(&dataset.dataset_arn, Some(version), &pointer, &written)
                .await?
            {
                // Unlike an import, no earlier version is kept for readers in flight: the
                // point is that the deleted rows exist nowhere.
                self.collect_garbage(dataset, &blob_key, None).await;
                if let Some(key) = &events_key {
                    self.collect_garbage(dataset, key, None).await;
                }
                // The statistics count the deleted users no more.
                self.record_statistics(&dataset.dataset_arn, &summary).await;
                return Ok(found);
            }
        }
        Err(Error::InUse(format!(
            "dataset {} is being imported into or compacted by others; retry",
            dataset.dataset_arn
        )))
    }
}

/// `table` without the rows of `users`; the users it had are added to `found`.
fn without(table: Table, users: &HashSet<String>, found: &mut HashSet<String>) -> Table {
    let Some((dict, codes)) = table.codes("USER_ID") else {
        return table;
    };
    let gone: Vec<bool> = (0..dict.len() as u32)
        .map(|c| users.contains(dict.name(c)))
        .collect();
    let mut kept = Vec::with_capacity(codes.len());
    for (row, &c) in codes.iter().enumerate() {
        if gone[c as usize] {
            found.insert(dict.name(c).to_string());
        } else {
            kept.push(row);
        }
    }
    if kept.len() == codes.len() {
        return table;
    }
    table.take(&kept)
}

/// A deletion job's failureReason when its runner stopped before it finished.
pub const DELETION_WORKER_STOPPED: &str =
    "the process running the data deletion job stopped before it finished; create the job again";

/// A job left IN_PROGRESS by a runner that is gone, or past the deadline it was stopped at.
/// The margin lets a runner at its deadline write its own end first.
fn deletion_abandoned(job: &DataDeletionJob, now: f64) -> bool {
    job.status == DeletionStatus::InProgress
        && (job.worker.as_ref().is_some_and(|w| w.is_gone())
            || job.deadline.is_some_and(|d| now > d + 60.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletion_csvs_name_users_by_header() {
        let users = parse_user_ids(b"user_id\nU1\n\"U2\"\nU1\n").unwrap();
        assert_eq!(users, ["U1".to_string(), "U2".to_string()].into());
        let e = parse_user_ids(b"ITEM_ID\nI1\n").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = parse_user_ids(b"USER_ID,X\nU1,a\n,b\n").unwrap_err();
        assert!(e.to_string().contains("line 3, field USER_ID"), "{e}");
    }
}

//! Typed access to resource records in the metadata store.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Tailor;
use crate::domain::*;
use crate::error::{Error, Result};
use crate::store::{Expect, ListQuery, StoreError};

/// Table names in the metadata store.
pub mod tables {
    pub const DATASET_GROUPS: &str = "dataset-groups";
    pub const SCHEMAS: &str = "schemas";
    pub const DATASETS: &str = "datasets";
    pub const IMPORT_JOBS: &str = "dataset-import-jobs";
    /// Pointer from a dataset ARN to its current data file.
    pub const DATASET_DATA: &str = "dataset-data";
    /// A dataset's statistics as of its latest import (`data::summary`), by dataset ARN.
    pub const DATASET_STATS: &str = "dataset-stats";
    pub const SOLUTIONS: &str = "solutions";
    pub const SOLUTION_VERSIONS: &str = "solution-versions";
    pub const SOLUTION_METRICS: &str = "solution-metrics";
    /// Pointer from a solution version ARN to its model artifact.
    pub const MODELS: &str = "models";
    pub const CAMPAIGNS: &str = "campaigns";
    pub const EVENT_TRACKERS: &str = "event-trackers";
    pub const FILTERS: &str = "filters";
    /// A resource's tags, keyed by its ARN.
    pub const TAGS: &str = "tags";
    pub const BATCH_INFERENCE_JOBS: &str = "batch-inference-jobs";
    pub const BATCH_SEGMENT_JOBS: &str = "batch-segment-jobs";
    pub const DATA_DELETION_JOBS: &str = "data-deletion-jobs";
    /// Records written by PutItems / PutUsers, keyed `<datasetArn>|<id>`.
    pub const PUT_RECORDS: &str = "put-records";
}

/// A resource record: the table it lives in, its key (its ARN) and the parent it is listed
/// under, so one parent's children list without reading the whole table.
pub(crate) trait Resource: Serialize + DeserializeOwned {
    const TABLE: &'static str;
    fn key(&self) -> &str;
    fn parent(&self) -> Option<&str>;
}

macro_rules! resource {
    ($ty:ty, $table:expr, |$r:ident| $key:expr, $parent:expr) => {
        impl Resource for $ty {
            const TABLE: &'static str = $table;
            fn key(&self) -> &str {
                let $r = self;
                &$key
            }
            #[allow(unused_variables)]
            fn parent(&self) -> Option<&str> {
                let $r = self;
                $parent
            }
        }
    };
}

resource!(
    DatasetGroup,
    tables::DATASET_GROUPS,
    |r| r.dataset_group_arn,
    None
);
resource!(DatasetSchemaRecord, tables::SCHEMAS, |r| r.schema_arn, None);
resource!(
    Dataset,
    tables::DATASETS,
    |r| r.dataset_arn,
    Some(&r.dataset_group_arn)
);
resource!(
    DatasetImportJob,
    tables::IMPORT_JOBS,
    |r| r.dataset_import_job_arn,
    Some(&r.dataset_arn)
);
resource!(
    Solution,
    tables::SOLUTIONS,
    |r| r.solution_arn,
    Some(&r.dataset_group_arn)
);
resource!(
    SolutionVersion,
    tables::SOLUTION_VERSIONS,
    |r| r.solution_version_arn,
    Some(&r.solution_arn)
);
// A version's ARN is its solution's plus `/<id>`.
resource!(
    Campaign,
    tables::CAMPAIGNS,
    |r| r.campaign_arn,
    r.solution_version_arn.rsplit_once('/').map(|(s, _)| s)
);
resource!(
    EventTracker,
    tables::EVENT_TRACKERS,
    |r| r.event_tracker_arn,
    Some(&r.dataset_group_arn)
);
resource!(
    FilterRecord,
    tables::FILTERS,
    |r| r.filter_arn,
    Some(&r.dataset_group_arn)
);

resource!(
    BatchInferenceJob,
    tables::BATCH_INFERENCE_JOBS,
    |r| r.batch_inference_job_arn,
    Some(&r.solution_version_arn)
);
resource!(
    BatchSegmentJob,
    tables::BATCH_SEGMENT_JOBS,
    |r| r.batch_segment_job_arn,
    Some(&r.solution_version_arn)
);
resource!(
    DataDeletionJob,
    tables::DATA_DELETION_JOBS,
    |r| r.data_deletion_job_arn,
    Some(&r.dataset_group_arn)
);

fn decode<T: DeserializeOwned>(table: &str, key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Internal(format!("record {table}/{key} is unreadable: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Internal(e.to_string()))
}

impl Tailor {
    pub(crate) async fn get_record<T: DeserializeOwned>(
        &self,
        table: &str,
        key: &str,
    ) -> Result<Option<(T, u64)>> {
        match self.stores.meta.get(table, key).await? {
            Some(v) => Ok(Some((decode(table, key, &v.value)?, v.version))),
            None => Ok(None),
        }
    }

    /// The record, or ResourceNotFound naming what was asked for.
    pub(crate) async fn require<T: DeserializeOwned>(
        &self,
        table: &str,
        key: &str,
    ) -> Result<(T, u64)> {
        self.get_record(table, key)
            .await?
            .ok_or_else(|| Error::NotFound(format!("resource {key} does not exist")))
    }

    /// Creates a record; ResourceAlreadyExists if the key is taken.
    pub(crate) async fn insert_record<T: Resource>(&self, value: &T) -> Result<u64> {
        let key = value.key();
        match self
            .stores
            .meta
            .put(
                T::TABLE,
                key,
                value.parent(),
                encode(value)?,
                Expect::Absent,
            )
            .await
        {
            Err(StoreError::ConditionFailed) => Err(Error::AlreadyExists(format!(
                "resource {key} already exists"
            ))),
            other => Ok(other?),
        }
    }

    /// Replaces a record if it is still at `version`.
    pub(crate) async fn update_record<T: Resource>(&self, version: u64, value: &T) -> Result<u64> {
        Ok(self
            .stores
            .meta
            .put(
                T::TABLE,
                value.key(),
                value.parent(),
                encode(value)?,
                Expect::Version(version),
            )
            .await?)
    }

    /// Writes `failed` over a job record its worker abandoned (stored at `version`): the write
    /// is conditional, so a worker that moved the job on meanwhile wins, and what it wrote is
    /// returned instead.
    pub(crate) async fn fail_abandoned<T: Resource>(&self, version: u64, failed: T) -> Result<T> {
        match self.update_record(version, &failed).await {
            Ok(_) => {
                tracing::warn!(
                    job = failed.key(),
                    table = T::TABLE,
                    "worker gone: job failed"
                );
                Ok(failed)
            }
            Err(Error::Store(StoreError::ConditionFailed)) => {
                Ok(self.require::<T>(T::TABLE, failed.key()).await?.0)
            }
            Err(e) => Err(e),
        }
    }

    /// Every record of a kind (one parent's, when given), sorted by key.
    pub(crate) async fn list_records<T: Resource>(&self, parent: Option<&str>) -> Result<Vec<T>> {
        self.stores
            .meta
            .list(T::TABLE, parent)
            .await?
            .into_iter()
            .map(|(k, v)| decode(T::TABLE, &k, &v.value))
            .collect()
    }

    /// One page of a kind's records (one parent's, when given), sorted by key, and the key the
    /// next page starts after when more remain.
    pub(crate) async fn list_page<T: Resource>(
        &self,
        parent: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<T>, Option<String>)> {
        let page = self
            .stores
            .meta
            .list_page(
                T::TABLE,
                ListQuery {
                    parent,
                    after,
                    limit,
                },
            )
            .await?;
        let records = page
            .records
            .iter()
            .map(|(k, v)| decode(T::TABLE, k, &v.value))
            .collect::<Result<_>>()?;
        Ok((records, page.next))
    }

    /// Files every resource record written before records had parents under its parent, once
    /// per data directory; later opens read one marker record.
    pub async fn upgrade_records(&self) -> Result<()> {
        const FORMAT: u64 = 2;
        let marker = self.get_record::<u64>("format", "records").await?;
        if marker.as_ref().is_some_and(|(f, _)| *f >= FORMAT) {
            return Ok(());
        }
        self.refile::<Dataset>().await?;
        self.refile::<DatasetImportJob>().await?;
        self.refile::<Solution>().await?;
        self.refile::<SolutionVersion>().await?;
        self.refile::<Campaign>().await?;
        self.refile::<EventTracker>().await?;
        self.refile::<FilterRecord>().await?;
        let expect = marker.map_or(Expect::Absent, |(_, v)| Expect::Version(v));
        match self
            .stores
            .meta
            .put("format", "records", None, encode(&FORMAT)?, expect)
            .await
        {
            // Another process upgraded at the same time: the work is idempotent.
            Err(StoreError::ConditionFailed) => Ok(()),
            other => Ok(other.map(|_| ())?),
        }
    }

    async fn refile<T: Resource>(&self) -> Result<()> {
        for (key, v) in self.stores.meta.list(T::TABLE, None).await? {
            let record: T = decode(T::TABLE, &key, &v.value)?;
            match self.update_record(v.version, &record).await {
                Err(Error::Store(StoreError::ConditionFailed)) | Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

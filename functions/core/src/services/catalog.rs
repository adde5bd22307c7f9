//! Typed access to resource records in the metadata store.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Tailor;
use crate::error::{Error, Result};
use crate::store::{Expect, StoreError};

/// Table names in the metadata store.
pub mod tables {
    pub const DATASET_GROUPS: &str = "dataset-groups";
    pub const SCHEMAS: &str = "schemas";
    pub const DATASETS: &str = "datasets";
    pub const IMPORT_JOBS: &str = "dataset-import-jobs";
    /// Pointer from a dataset ARN to its current data file.
    pub const DATASET_DATA: &str = "dataset-data";
    pub const SOLUTIONS: &str = "solutions";
    pub const SOLUTION_VERSIONS: &str = "solution-versions";
    pub const SOLUTION_METRICS: &str = "solution-metrics";
    /// Pointer from a solution version ARN to its model artifact.
    pub const MODELS: &str = "models";
    pub const CAMPAIGNS: &str = "campaigns";
    pub const EVENT_TRACKERS: &str = "event-trackers";
    pub const FILTERS: &str = "filters";
    /// Records written by PutItems / PutUsers, keyed `<datasetArn>|<id>`.
    pub const PUT_RECORDS: &str = "put-records";
}

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
    pub(crate) async fn insert_record<T: Serialize>(
        &self,
        table: &str,
        key: &str,
        value: &T,
    ) -> Result<u64> {
        match self
            .stores
            .meta
            .put(table, key, encode(value)?, Expect::Absent)
            .await
        {
            Err(StoreError::ConditionFailed) => Err(Error::AlreadyExists(format!(
                "resource {key} already exists"
            ))),
            other => Ok(other?),
        }
    }

    /// Replaces a record if it is still at `version`.
    pub(crate) async fn update_record<T: Serialize>(
        &self,
        table: &str,
        key: &str,
        version: u64,
        value: &T,
    ) -> Result<u64> {
        Ok(self
            .stores
            .meta
            .put(table, key, encode(value)?, Expect::Version(version))
            .await?)
    }

    pub(crate) async fn list_records<T: DeserializeOwned>(&self, table: &str) -> Result<Vec<T>> {
        self.stores
            .meta
            .list(table)
            .await?
            .into_iter()
            .map(|(k, v)| decode(table, &k, &v.value))
            .collect()
    }
}

//! Dataset groups, schemas and datasets: create, describe, list, and reading a dataset's data.

use std::sync::Arc;

use super::catalog::tables;
use super::Tailor;
use crate::crypto;
use crate::data::snapshot::InteractionsSnapshot;
use crate::data::{avro, Table};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::schema::{DatasetSchema, DatasetType};

impl Tailor {
    pub async fn create_dataset_group(
        &self,
        name: &str,
        kms_key_arn: Option<String>,
        role_arn: Option<String>,
    ) -> Result<DatasetGroup> {
        validate_name("name", name)?;
        if role_arn.is_some() && kms_key_arn.is_none() {
            return Err(Error::InvalidInput(
                "roleArn is only accepted together with kmsKeyArn".into(),
            ));
        }
        self.check_dataset_group_quota().await?;
        let now = now_epoch();
        let group = DatasetGroup {
            name: name.into(),
            dataset_group_arn: self.arns.arn(ResourceType::DatasetGroup, name),
            status: Status::Active,
            role_arn,
            kms_key_arn,
            domain: None,
            creation_date_time: now,
            last_updated_date_time: now,
            failure_reason: None,
        };
        self.insert_record(&group).await?;
        Ok(group)
    }

    pub async fn describe_dataset_group(&self, arn: &str) -> Result<DatasetGroup> {
        Ok(self.require(tables::DATASET_GROUPS, arn).await?.0)
    }

    pub async fn list_dataset_groups(&self) -> Result<Vec<DatasetGroup>> {
        self.list_records(None).await
    }

    /// Registers a schema after checking it against Personalize's rules.
    pub async fn create_schema(
        &self,
        name: &str,
        schema_json: &str,
    ) -> Result<DatasetSchemaRecord> {
        validate_name("name", name)?;
        DatasetSchema::parse(schema_json)?;
        self.check_schema_quota().await?;
        let now = now_epoch();
        let record = DatasetSchemaRecord {
            name: name.into(),
            schema_arn: self.arns.arn(ResourceType::Schema, name),
            schema: schema_json.into(),
            domain: None,
            creation_date_time: now,
            last_updated_date_time: now,
        };
        self.insert_record(&record).await?;
        Ok(record)
    }

    pub async fn describe_schema(&self, arn: &str) -> Result<DatasetSchemaRecord> {
        Ok(self.require(tables::SCHEMAS, arn).await?.0)
    }

    pub async fn list_schemas(&self) -> Result<Vec<DatasetSchemaRecord>> {
        self.list_records(None).await
    }

    /// Creates the group's dataset of `dataset_type` (one per type, as in Personalize).
    pub async fn create_dataset(
        &self,
        name: &str,
        schema_arn: &str,
        dataset_group_arn: &str,
        dataset_type: DatasetType,
    ) -> Result<Dataset> {
        validate_name("name", name)?;
        let group = self.describe_dataset_group(dataset_group_arn).await?;
        let schema = self.describe_schema(schema_arn).await?;
        DatasetSchema::parse_for(dataset_type, &schema.schema)?;
        let now = now_epoch();
        let dataset = Dataset {
            name: name.into(),
            dataset_arn: self.arns.dataset_arn(&group.name, dataset_type),
            dataset_group_arn: dataset_group_arn.into(),
            dataset_type,
            schema_arn: schema_arn.into(),
            status: Status::Active,
            creation_date_time: now,
            last_updated_date_time: now,
        };
        self.insert_record(&dataset).await.map_err(|e| match e {
            Error::AlreadyExists(_) => Error::AlreadyExists(format!(
                "dataset group {} already has a {} dataset",
                group.name, dataset_type
            )),
            e => e,
        })?;
        Ok(dataset)
    }

    pub async fn describe_dataset(&self, arn: &str) -> Result<Dataset> {
        Ok(self.require(tables::DATASETS, arn).await?.0)
    }

    pub async fn list_datasets(&self, dataset_group_arn: Option<&str>) -> Result<Vec<Dataset>> {
        self.list_records(dataset_group_arn).await
    }

    /// The checked schema of a dataset.
    pub async fn dataset_schema(&self, dataset: &Dataset) -> Result<Arc<DatasetSchema>> {
        let record = self.describe_schema(&dataset.schema_arn).await?;
        Ok(Arc::new(DatasetSchema::parse_for(
            dataset.dataset_type,
            &record.schema,
        )?))
    }

    /// The dataset and where its current data lives, or `None` before its first import.
    pub(super) async fn data_pointer(
        &self,
        dataset_arn: &str,
    ) -> Result<Option<(Dataset, DatasetData)>> {
        let dataset = self.describe_dataset(dataset_arn).await?;
        Ok(self
            .get_record::<DatasetData>(tables::DATASET_DATA, dataset_arn)
            .await?
            .map(|(pointer, _)| (dataset, pointer)))
    }

    /// The dataset's current data (for interactions, the bulk data and the compacted events),
    /// or `None` before its first import or compaction.
    pub async fn load_dataset(&self, dataset_arn: &str) -> Result<Option<Table>> {
        let Some((dataset, pointer)) = self.data_pointer(dataset_arn).await? else {
            return Ok(None);
        };
        let schema = self.dataset_schema(&dataset).await?;
        let mut table = self
            .read_data_file(&dataset, schema.clone(), &pointer.blob_key)
            .await?;
        if let Some(key) = &pointer.events_key {
            table.append(&self.read_data_file(&dataset, schema, key).await?);
        }
        Ok(Some(table))
    }

    /// The event log's sequence number up to which a group's events are compacted into its
    /// interactions dataset (0 when none are).
    pub async fn events_compacted_through(&self, dataset_group_arn: &str) -> Result<u64> {
        let group = self.describe_dataset_group(dataset_group_arn).await?;
        let arn = self
            .arns
            .dataset_arn(&group.name, DatasetType::Interactions);
        Ok(self
            .get_record::<DatasetData>(tables::DATASET_DATA, &arn)
            .await?
            .map_or(0, |(p, _)| p.events_through))
    }

    /// The serving columns of an interactions dataset: its snapshot when the import wrote one
    /// (a few copies), the Avro file otherwise (or if the snapshot cannot be read).
    pub async fn load_interactions_snapshot(
        &self,
        dataset_arn: &str,
    ) -> Result<Option<InteractionsSnapshot>> {
        Ok(self.load_serving_interactions(dataset_arn).await?.0)
    }

    /// The serving snapshot and the event log's sequence number it holds events through, from
    /// one read of the data pointer: a cold reader replays only the log after that number.
    pub async fn load_serving_interactions(
        &self,
        dataset_arn: &str,
    ) -> Result<(Option<InteractionsSnapshot>, u64)> {
        let Some((dataset, pointer)) = self.data_pointer(dataset_arn).await? else {
            return Ok((None, 0));
        };
        let through = pointer.events_through;
        if let Some(key) = &pointer.serving_key {
            match self.read_snapshot(&dataset, key).await {
                Ok(s) => return Ok((Some(s), through)),
                Err(e) => {
                    tracing::warn!(dataset = dataset_arn, key, error = %e, "serving snapshot unreadable: reading the data file")
                }
            }
        }
        let schema = self.dataset_schema(&dataset).await?;
        let mut table = self
            .read_data_file(&dataset, schema.clone(), &pointer.blob_key)
            .await?;
        if let Some(key) = &pointer.events_key {
            table.append(&self.read_data_file(&dataset, schema, key).await?);
        }
        Ok((InteractionsSnapshot::from_table(&table), through))
    }

    async fn read_snapshot(&self, dataset: &Dataset, key: &str) -> Result<InteractionsSnapshot> {
        let sealed = self
            .stores
            .blobs
            .get(key)
            .await?
            .ok_or_else(|| Error::Internal(format!("{key} is missing")))?;
        let id = snapshot_id(dataset, key);
        let bytes = crypto::open(self.stores.keys.as_ref(), &id, &sealed).await?;
        InteractionsSnapshot::from_bytes(&bytes).map_err(|e| Error::Internal(format!("{key}: {e}")))
    }

    pub(crate) async fn read_data_file(
        &self,
        dataset: &Dataset,
        schema: Arc<DatasetSchema>,
        blob_key: &str,
    ) -> Result<Table> {
        let sealed = self.stores.blobs.get(blob_key).await?.ok_or_else(|| {
            Error::Internal(format!(
                "data file {blob_key} of {} is missing",
                dataset.dataset_arn
            ))
        })?;
        let kind = data_kind(dataset.dataset_type);
        let id = data_id(dataset, &kind, blob_key);
        let bytes = crypto::open(self.stores.keys.as_ref(), &id, &sealed).await?;
        avro::read(schema, &bytes).map_err(|e| Error::Internal(format!("{blob_key}: {e}")))
    }
}

/// The sealed-object kind of a dataset's data files.
pub(crate) fn data_kind(dataset_type: crate::schema::DatasetType) -> String {
    format!("dataset/{dataset_type}")
}

/// What a dataset's data file under `key` is.
pub(crate) fn data_id<'a>(
    dataset: &'a Dataset,
    kind: &'a str,
    key: &'a str,
) -> crypto::ObjectId<'a> {
    crypto::ObjectId {
        group: &dataset.dataset_group_arn,
        kind,
        resource: &dataset.dataset_arn,
        key,
    }
}

/// What an interactions dataset's serving snapshot under `key` is.
pub(crate) fn snapshot_id<'a>(dataset: &'a Dataset, key: &'a str) -> crypto::ObjectId<'a> {
    crypto::ObjectId {
        group: &dataset.dataset_group_arn,
        kind: "snapshot/INTERACTIONS",
        resource: &dataset.dataset_arn,
        key,
    }
}

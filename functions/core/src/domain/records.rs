//! Resource records as Personalize's Describe* calls return them (camelCase JSON).

use serde::{Deserialize, Serialize};

use super::Status;
use crate::schema::DatasetType;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetGroup {
    pub name: String,
    pub dataset_group_arn: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    pub creation_date_time: f64,
    pub last_updated_date_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetSchemaRecord {
    pub name: String,
    pub schema_arn: String,
    /// The Avro JSON exactly as registered.
    pub schema: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    pub creation_date_time: f64,
    pub last_updated_date_time: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    pub name: String,
    pub dataset_arn: String,
    pub dataset_group_arn: String,
    pub dataset_type: DatasetType,
    pub schema_arn: String,
    pub status: Status,
    pub creation_date_time: f64,
    pub last_updated_date_time: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum ImportMode {
    /// Replaces everything bulk-imported before.
    #[default]
    Full,
    /// Appends interactions; replaces items/users that share an id.
    Incremental,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSource {
    pub data_location: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetImportJob {
    pub job_name: String,
    pub dataset_import_job_arn: String,
    pub dataset_arn: String,
    pub data_source: DataSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    pub status: Status,
    pub import_mode: ImportMode,
    #[serde(default)]
    pub publish_attribution_metrics_to_s3: bool,
    pub creation_date_time: f64,
    pub last_updated_date_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

/// Where a dataset's current bulk data lives. Not a Personalize shape: the pointer that imports
/// swap with a conditional write, so readers always see one whole version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetData {
    /// Monotonic data version; bumps on every successful import.
    pub data_version: u64,
    /// Blob key of the sealed Avro container file.
    pub blob_key: String,
    pub rows: u64,
    /// The import job that produced this version.
    pub import_job_arn: String,
}

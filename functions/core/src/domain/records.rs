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
    /// Not a Personalize field: while CREATE IN_PROGRESS, who runs the job and until when, so
    /// a job whose worker died can be failed instead of staying in progress forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<ImportLease>,
}

/// The running worker's claim on an import job, renewed while it works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportLease {
    /// Epoch seconds after which the job counts as abandoned unless renewed.
    pub expires: f64,
    /// The worker's process, when it can be checked for liveness (Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<WorkerProcess>,
}

/// A process, named so that another process can tell whether it is still running: only one
/// on the same kernel and in the same pid namespace can (see `services::import::lease`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerProcess {
    /// The kernel boot id and pid namespace the pid belongs to.
    pub host: String,
    pub pid: u32,
    /// The process's start time (clock ticks since boot): a reused pid has another.
    pub started: u64,
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
    /// Blob key of the sealed serving snapshot (interactions only; see `data::snapshot`): the
    /// bulk data and the compacted events together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_key: Option<String>,
    /// Blob key of the sealed Avro file of compacted PutEvents events (interactions only). Kept
    /// apart from the bulk data, so a FULL import replaces the bulk data and not the events, as
    /// in Personalize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_key: Option<String>,
    /// The event log's sequence number up to which events are in `events_key`: a cold reader
    /// replays only the log's tail after it.
    #[serde(default)]
    pub events_through: u64,
}

/// `eventsConfig.eventParametersList[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventParameters {
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_value_threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsConfig {
    #[serde(default)]
    pub event_parameters_list: Vec<EventParameters>,
}

/// CreateSolution's `solutionConfig` (the parts tailor uses; others are kept as given).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SolutionConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_value_threshold: Option<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub algorithm_hyper_parameters: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub feature_transformation_parameters: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_config: Option<EventsConfig>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Solution {
    pub name: String,
    pub solution_arn: String,
    pub dataset_group_arn: String,
    pub recipe_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default)]
    pub solution_config: SolutionConfig,
    #[serde(rename = "performHPO", default)]
    pub perform_hpo: bool,
    #[serde(rename = "performAutoML", default)]
    pub perform_auto_ml: bool,
    #[serde(default)]
    pub perform_auto_training: bool,
    #[serde(default)]
    pub perform_incremental_update: bool,
    pub status: Status,
    pub creation_date_time: f64,
    pub last_updated_date_time: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum TrainingMode {
    #[default]
    Full,
    Update,
    Autotrain,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TunedHpoParams {
    pub algorithm_hyper_parameters: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SolutionVersion {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub solution_version_arn: String,
    pub solution_arn: String,
    pub recipe_arn: String,
    pub dataset_group_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default)]
    pub solution_config: SolutionConfig,
    #[serde(rename = "performHPO", default)]
    pub perform_hpo: bool,
    pub training_mode: TrainingMode,
    /// MANUAL or AUTOMATIC.
    pub training_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_hours: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "tunedHPOParams"
    )]
    pub tuned_hpo_params: Option<TunedHpoParams>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub creation_date_time: f64,
    pub last_updated_date_time: f64,
    /// The process creating or training the version while it is pending or in progress, so a
    /// reader can fail a version whose worker died (tailor's bookkeeping, not Personalize's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerProcess>,
}

/// GetSolutionMetrics' response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SolutionMetrics {
    pub solution_version_arn: String,
    pub metrics: std::collections::BTreeMap<String, f64>,
}

/// Where a trained version's artifact lives (not a Personalize shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelLocation {
    pub blob_key: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignConfig {
    /// `explorationWeight` (0–1, default 0.3) and `explorationItemAgeCutOff` (days, default 30).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub item_exploration_config: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub enable_metadata_with_recommendations: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_with_latest_solution_version: Option<bool>,
    /// Recorded and described as given (Personalize's v2 recipes read it; tailor's do not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking_influence: Option<std::collections::BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    pub name: String,
    pub campaign_arn: String,
    pub solution_version_arn: String,
    #[serde(rename = "minProvisionedTPS")]
    pub min_provisioned_tps: u32,
    #[serde(default)]
    pub campaign_config: CampaignConfig,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub creation_date_time: f64,
    pub last_updated_date_time: f64,
    /// The newest UpdateCampaign. tailor applies an update at once, so it is ACTIVE when
    /// UpdateCampaign answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_campaign_update: Option<CampaignUpdateSummary>,
}

/// Personalize's `CampaignUpdateSummary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignUpdateSummary {
    pub solution_version_arn: String,
    #[serde(rename = "minProvisionedTPS")]
    pub min_provisioned_tps: u32,
    pub campaign_config: CampaignConfig,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub creation_date_time: f64,
    pub last_updated_date_time: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTracker {
    pub name: String,
    pub event_tracker_arn: String,
    pub account_id: String,
    pub tracking_id: String,
    pub dataset_group_arn: String,
    pub status: Status,
    pub creation_date_time: f64,
    pub last_updated_date_time: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterRecord {
    pub name: String,
    pub filter_arn: String,
    pub dataset_group_arn: String,
    pub filter_expression: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub creation_date_time: f64,
    pub last_updated_date_time: f64,
}

/// A tag on a resource, as Personalize's TagResource and the Create operations' `tags` carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tag {
    pub tag_key: String,
    pub tag_value: String,
}

/// An S3 location (`s3://bucket/key`; locally a path) and the key its objects are sealed with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3DataConfig {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
}

/// A batch job's input: JSON Lines objects, one file or every file under a prefix.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchJobInput {
    pub s3_data_source: S3DataConfig,
}

/// A batch job's output prefix: `<input file name>.out` per input file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchJobOutput {
    pub s3_data_destination: S3DataConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInferenceJobConfig {
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub item_exploration_config: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking_influence: Option<std::collections::BTreeMap<String, f64>>,
}

/// Lines a batch job read and lines that got an error (tailor's, not a Personalize field).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRecordCounts {
    pub input_records: u64,
    pub failed_records: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInferenceJob {
    pub job_name: String,
    pub batch_inference_job_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_arn: Option<String>,
    pub solution_version_arn: String,
    pub num_results: u32,
    pub job_input: BatchJobInput,
    pub job_output: BatchJobOutput,
    #[serde(default)]
    pub batch_inference_job_config: BatchInferenceJobConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    pub batch_inference_job_mode: String,
    #[serde(with = "super::status::batch_wire")]
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub creation_date_time: f64,
    pub last_updated_date_time: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_counts: Option<BatchRecordCounts>,
    /// The process running the job while it is pending or running in one process, so a
    /// reader can fail a job whose process died (tailor's bookkeeping, not Personalize's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerProcess>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchSegmentJob {
    pub job_name: String,
    pub batch_segment_job_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_arn: Option<String>,
    pub solution_version_arn: String,
    pub num_results: u32,
    pub job_input: BatchJobInput,
    pub job_output: BatchJobOutput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(with = "super::status::batch_wire")]
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub creation_date_time: f64,
    pub last_updated_date_time: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_counts: Option<BatchRecordCounts>,
    /// The process running the job while it is pending or running in one process, so a
    /// reader can fail a job whose process died (tailor's bookkeeping, not Personalize's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerProcess>,
}

/// A data deletion job's status: Personalize's own set for this resource, not [`Status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeletionStatus {
    Pending,
    InProgress,
    Completed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataDeletionJob {
    pub job_name: String,
    pub data_deletion_job_arn: String,
    pub dataset_group_arn: String,
    pub data_source: DataSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    pub status: DeletionStatus,
    /// Users deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_deleted: Option<u64>,
    pub creation_date_time: f64,
    pub last_updated_date_time: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// The process running it (not a Personalize field): a reader fails a job whose process is
    /// gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerProcess>,
    /// Epoch seconds by which its runner is stopped (a Lambda's deadline; not a Personalize
    /// field): a job still running after it is failed by the next reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<f64>,
}

//! Personalize's control plane over its own protocol (AWS JSON 1.1: `POST /`, the operation in
//! `X-Amz-Target: AmazonPersonalize.<Operation>`), request and response shapes as botocore's
//! `personalize` service model names them. Each operation is a thin call of the same service the
//! CLI calls.
//!
//! Served: Create / Describe / List / Delete of DatasetGroup, Schema, Dataset, Filter and
//! EventTracker; (`jobs`) dataset import jobs and solution versions, which run in the
//! background, StopSolutionVersionCreation, solutions, GetSolutionMetrics, campaigns with
//! UpdateCampaign, and recipes; (`batch`) batch inference, batch segment and data deletion
//! jobs; TagResource / UntagResource / ListTagsForResource and the
//! Create operations' `tags`. Every List operation reads one page (`listing`).

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::{
    BatchInferenceJob, BatchSegmentJob, Campaign, DataDeletionJob, Dataset, DatasetGroup,
    DatasetImportJob, DatasetSchemaRecord, EventTracker, FilterRecord, Solution, SolutionVersion,
    Tag,
};
use crate::error::{Error, Result};
use crate::schema::DatasetType;
use crate::services::Tailor;

mod batch;
mod jobs;
mod listing;

use listing::list;

/// The `X-Amz-Target` prefix of Personalize's control plane.
pub const TARGET_PREFIX: &str = "AmazonPersonalize.";

/// Runs `operation` on a request body; `None` when tailor does not serve that operation.
pub async fn dispatch(tailor: &Tailor, operation: &str, body: &[u8]) -> Option<Result<Value>> {
    Some(match operation {
        "CreateDatasetGroup" => create_dataset_group(tailor, body).await,
        "DescribeDatasetGroup" => describe_dataset_group(tailor, body).await,
        "ListDatasetGroups" => list::<DatasetGroup>(tailor, body).await,
        "DeleteDatasetGroup" => delete_dataset_group(tailor, body).await,
        "CreateSchema" => create_schema(tailor, body).await,
        "DescribeSchema" => describe_schema(tailor, body).await,
        "ListSchemas" => list::<DatasetSchemaRecord>(tailor, body).await,
        "DeleteSchema" => delete_schema(tailor, body).await,
        "CreateDataset" => create_dataset(tailor, body).await,
        "DescribeDataset" => describe_dataset(tailor, body).await,
        "ListDatasets" => list::<Dataset>(tailor, body).await,
        "DeleteDataset" => delete_dataset(tailor, body).await,
        "CreateFilter" => create_filter(tailor, body).await,
        "DescribeFilter" => describe_filter(tailor, body).await,
        "ListFilters" => list::<FilterRecord>(tailor, body).await,
        "DeleteFilter" => delete_filter(tailor, body).await,
        "CreateEventTracker" => create_event_tracker(tailor, body).await,
        "DescribeEventTracker" => describe_event_tracker(tailor, body).await,
        "ListEventTrackers" => list::<EventTracker>(tailor, body).await,
        "DeleteEventTracker" => delete_event_tracker(tailor, body).await,
        "CreateDatasetImportJob" => jobs::create_dataset_import_job(tailor, body).await,
        "DescribeDatasetImportJob" => jobs::describe_dataset_import_job(tailor, body).await,
        "ListDatasetImportJobs" => list::<DatasetImportJob>(tailor, body).await,
        "CreateSolution" => jobs::create_solution(tailor, body).await,
        "DescribeSolution" => jobs::describe_solution(tailor, body).await,
        "ListSolutions" => list::<Solution>(tailor, body).await,
        "DeleteSolution" => jobs::delete_solution(tailor, body).await,
        "CreateSolutionVersion" => jobs::create_solution_version(tailor, body).await,
        "DescribeSolutionVersion" => jobs::describe_solution_version(tailor, body).await,
        "ListSolutionVersions" => list::<SolutionVersion>(tailor, body).await,
        "StopSolutionVersionCreation" => jobs::stop_solution_version_creation(tailor, body).await,
        "GetSolutionMetrics" => jobs::get_solution_metrics(tailor, body).await,
        "CreateCampaign" => jobs::create_campaign(tailor, body).await,
        "DescribeCampaign" => jobs::describe_campaign(tailor, body).await,
        "ListCampaigns" => list::<Campaign>(tailor, body).await,
        "UpdateCampaign" => jobs::update_campaign(tailor, body).await,
        "DeleteCampaign" => jobs::delete_campaign(tailor, body).await,
        "CreateBatchInferenceJob" => batch::create_batch_inference_job(tailor, body).await,
        "DescribeBatchInferenceJob" => batch::describe_batch_inference_job(tailor, body).await,
        "ListBatchInferenceJobs" => list::<BatchInferenceJob>(tailor, body).await,
        "CreateBatchSegmentJob" => batch::create_batch_segment_job(tailor, body).await,
        "DescribeBatchSegmentJob" => batch::describe_batch_segment_job(tailor, body).await,
        "ListBatchSegmentJobs" => list::<BatchSegmentJob>(tailor, body).await,
        "CreateDataDeletionJob" => batch::create_data_deletion_job(tailor, body).await,
        "DescribeDataDeletionJob" => batch::describe_data_deletion_job(tailor, body).await,
        "ListDataDeletionJobs" => list::<DataDeletionJob>(tailor, body).await,
        "TagResource" => tag_resource(tailor, body).await,
        "UntagResource" => untag_resource(tailor, body).await,
        "ListTagsForResource" => list_tags_for_resource(tailor, body).await,
        "ListRecipes" => jobs::list_recipes(body).await,
        "DescribeRecipe" => jobs::describe_recipe(body).await,
        _ => return None,
    })
}

/// A request body as `T`; an empty body is `{}` (SDKs send one for operations without input).
pub(super) fn request<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    super::parse_json(body)
}

/// A Create request's tags: checked before anything is created, applied once it is.
pub(super) struct NewTags(Vec<Tag>);

impl NewTags {
    pub fn checked(tags: Option<Vec<Tag>>) -> Result<NewTags> {
        let tags = tags.unwrap_or_default();
        crate::services::check_tags(&tags)?;
        Ok(NewTags(tags))
    }

    pub async fn apply(self, tailor: &Tailor, arn: &str) -> Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        tailor.tag_resource(arn, &self.0).await
    }
}

/// A record as JSON without the fields that are tailor's bookkeeping, not Personalize's.
pub(super) fn shown<T: serde::Serialize>(record: &T, internal: &[&str]) -> Result<Value> {
    let mut v = serde_json::to_value(record).map_err(|e| Error::Internal(e.to_string()))?;
    if let Some(map) = v.as_object_mut() {
        for k in internal {
            map.remove(*k);
        }
    }
    Ok(v)
}

/// The named fields of a JSON object, those it has.
pub(super) fn pick(v: &Value, fields: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for f in fields {
        if let Some(x) = v.get(*f) {
            out.insert((*f).to_string(), x.clone());
        }
    }
    Value::Object(out)
}

// --- dataset groups -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateDatasetGroup {
    name: String,
    role_arn: Option<String>,
    kms_key_arn: Option<String>,
    domain: Option<String>,
    tags: Option<Vec<Tag>>,
}

async fn create_dataset_group(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateDatasetGroup = request(body)?;
    let tags = NewTags::checked(req.tags)?;
    if let Some(domain) = &req.domain {
        return Err(Error::InvalidInput(format!(
            "domain {domain}: tailor serves custom dataset groups only (omit domain)"
        )));
    }
    let group = tailor
        .create_dataset_group(&req.name, req.kms_key_arn, req.role_arn)
        .await?;
    tags.apply(tailor, &group.dataset_group_arn).await?;
    Ok(json!({ "datasetGroupArn": group.dataset_group_arn }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DatasetGroupArn {
    dataset_group_arn: String,
}

async fn describe_dataset_group(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: DatasetGroupArn = request(body)?;
    let group = tailor
        .describe_dataset_group(&req.dataset_group_arn)
        .await?;
    Ok(json!({ "datasetGroup": group }))
}

async fn delete_dataset_group(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: DatasetGroupArn = request(body)?;
    tailor.delete_dataset_group(&req.dataset_group_arn).await?;
    Ok(json!({}))
}

// --- schemas --------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateSchema {
    name: String,
    schema: String,
    domain: Option<String>,
}

async fn create_schema(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateSchema = request(body)?;
    if let Some(domain) = &req.domain {
        return Err(Error::InvalidInput(format!(
            "domain {domain}: tailor serves custom schemas only (omit domain)"
        )));
    }
    let schema = tailor.create_schema(&req.name, &req.schema).await?;
    Ok(json!({ "schemaArn": schema.schema_arn }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SchemaArn {
    schema_arn: String,
}

async fn describe_schema(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: SchemaArn = request(body)?;
    let schema = tailor.describe_schema(&req.schema_arn).await?;
    Ok(json!({ "schema": schema }))
}

async fn delete_schema(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: SchemaArn = request(body)?;
    tailor.delete_schema(&req.schema_arn).await?;
    Ok(json!({}))
}

// --- datasets -------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateDataset {
    name: String,
    schema_arn: String,
    dataset_group_arn: String,
    dataset_type: String,
    tags: Option<Vec<Tag>>,
}

async fn create_dataset(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateDataset = request(body)?;
    let tags = NewTags::checked(req.tags)?;
    let dataset_type: DatasetType = req.dataset_type.parse().map_err(|_| {
        Error::InvalidInput(format!(
            "datasetType {} is not one of Interactions, Items, Users",
            crate::api::text::shown(&req.dataset_type)
        ))
    })?;
    let dataset = tailor
        .create_dataset(
            &req.name,
            &req.schema_arn,
            &req.dataset_group_arn,
            dataset_type,
        )
        .await?;
    tags.apply(tailor, &dataset.dataset_arn).await?;
    Ok(json!({ "datasetArn": dataset.dataset_arn }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DatasetArn {
    dataset_arn: String,
}

async fn describe_dataset(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: DatasetArn = request(body)?;
    let dataset = tailor.describe_dataset(&req.dataset_arn).await?;
    let mut out = json!({ "dataset": dataset });
    // tailor's extension, which SDKs ignore: the data as of the latest import.
    if let Some(stats) = tailor.dataset_statistics(&req.dataset_arn).await? {
        out["dataset"]["statistics"] = json!(stats);
    }
    Ok(out)
}

async fn delete_dataset(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: DatasetArn = request(body)?;
    tailor.delete_dataset(&req.dataset_arn).await?;
    Ok(json!({}))
}

// --- filters --------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateFilter {
    name: String,
    dataset_group_arn: String,
    filter_expression: String,
    tags: Option<Vec<Tag>>,
}

async fn create_filter(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateFilter = request(body)?;
    let tags = NewTags::checked(req.tags)?;
    let filter = tailor
        .create_filter(&req.name, &req.dataset_group_arn, &req.filter_expression)
        .await?;
    tags.apply(tailor, &filter.filter_arn).await?;
    Ok(json!({ "filterArn": filter.filter_arn }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FilterArn {
    filter_arn: String,
}

async fn describe_filter(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: FilterArn = request(body)?;
    let filter = tailor.describe_filter(&req.filter_arn).await?;
    Ok(json!({ "filter": filter }))
}

async fn delete_filter(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: FilterArn = request(body)?;
    tailor.delete_filter(&req.filter_arn).await?;
    Ok(json!({}))
}

// --- event trackers -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateEventTracker {
    name: String,
    dataset_group_arn: String,
    tags: Option<Vec<Tag>>,
}

async fn create_event_tracker(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateEventTracker = request(body)?;
    let tags = NewTags::checked(req.tags)?;
    let tracker = tailor
        .create_event_tracker(&req.name, &req.dataset_group_arn)
        .await?;
    tags.apply(tailor, &tracker.event_tracker_arn).await?;
    Ok(json!({
        "eventTrackerArn": tracker.event_tracker_arn,
        "trackingId": tracker.tracking_id,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EventTrackerArn {
    event_tracker_arn: String,
}

/// How many of a group's newest events DescribeEventTracker shows.
const RECENT_EVENTS: usize = 20;

async fn describe_event_tracker(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: EventTrackerArn = request(body)?;
    let tracker = tailor
        .describe_event_tracker(&req.event_tracker_arn)
        .await?;
    // tailor's extension, which SDKs ignore: the group's newest streamed events (the
    // console's live tail).
    let recent: Vec<_> = tailor
        .stores
        .events
        .latest(&tracker.dataset_group_arn, RECENT_EVENTS)
        .await?
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| !e.is_redacted())
        .collect();
    Ok(json!({ "eventTracker": tracker, "recentEvents": recent }))
}

async fn delete_event_tracker(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: EventTrackerArn = request(body)?;
    tailor.delete_event_tracker(&req.event_tracker_arn).await?;
    Ok(json!({}))
}

// --- tags -----------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TagResource {
    resource_arn: String,
    tags: Vec<Tag>,
}

async fn tag_resource(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: TagResource = request(body)?;
    tailor.tag_resource(&req.resource_arn, &req.tags).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UntagResource {
    resource_arn: String,
    tag_keys: Vec<String>,
}

async fn untag_resource(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: UntagResource = request(body)?;
    tailor
        .untag_resource(&req.resource_arn, &req.tag_keys)
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResourceArn {
    resource_arn: String,
}

async fn list_tags_for_resource(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: ResourceArn = request(body)?;
    let tags = tailor.list_tags_for_resource(&req.resource_arn).await?;
    Ok(json!({ "tags": tags }))
}

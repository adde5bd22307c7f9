//! Personalize's control plane over its own protocol (AWS JSON 1.1: `POST /`, the operation in
//! `X-Amz-Target: AmazonPersonalize.<Operation>`), request and response shapes as botocore's
//! `personalize` service model names them. Each operation is a thin call of the same service the
//! CLI calls.
//!
//! Served so far: Create / Describe / List / Delete of DatasetGroup, Schema, Dataset, Filter and
//! EventTracker; and (`jobs`) dataset import jobs, solutions, solution versions, campaigns and
//! recipes, import jobs and solution versions running in the background. Lists
//! page with `maxResults` (1–100) and an opaque `nextToken`.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::{Dataset, DatasetGroup, DatasetSchemaRecord, EventTracker, FilterRecord};
use crate::error::{Error, Result};
use crate::schema::DatasetType;
use crate::services::Tailor;

mod jobs;

/// The `X-Amz-Target` prefix of Personalize's control plane.
pub const TARGET_PREFIX: &str = "AmazonPersonalize.";

/// Runs `operation` on a request body; `None` when tailor does not serve that operation.
pub async fn dispatch(tailor: &Tailor, operation: &str, body: &[u8]) -> Option<Result<Value>> {
    Some(match operation {
        "CreateDatasetGroup" => create_dataset_group(tailor, body).await,
        "DescribeDatasetGroup" => describe_dataset_group(tailor, body).await,
        "ListDatasetGroups" => list_dataset_groups(tailor, body).await,
        "DeleteDatasetGroup" => delete_dataset_group(tailor, body).await,
        "CreateSchema" => create_schema(tailor, body).await,
        "DescribeSchema" => describe_schema(tailor, body).await,
        "ListSchemas" => list_schemas(tailor, body).await,
        "DeleteSchema" => delete_schema(tailor, body).await,
        "CreateDataset" => create_dataset(tailor, body).await,
        "DescribeDataset" => describe_dataset(tailor, body).await,
        "ListDatasets" => list_datasets(tailor, body).await,
        "DeleteDataset" => delete_dataset(tailor, body).await,
        "CreateFilter" => create_filter(tailor, body).await,
        "DescribeFilter" => describe_filter(tailor, body).await,
        "ListFilters" => list_filters(tailor, body).await,
        "DeleteFilter" => delete_filter(tailor, body).await,
        "CreateEventTracker" => create_event_tracker(tailor, body).await,
        "DescribeEventTracker" => describe_event_tracker(tailor, body).await,
        "ListEventTrackers" => list_event_trackers(tailor, body).await,
        "DeleteEventTracker" => delete_event_tracker(tailor, body).await,
        "CreateDatasetImportJob" => jobs::create_dataset_import_job(tailor, body).await,
        "DescribeDatasetImportJob" => jobs::describe_dataset_import_job(tailor, body).await,
        "ListDatasetImportJobs" => jobs::list_dataset_import_jobs(tailor, body).await,
        "CreateSolution" => jobs::create_solution(tailor, body).await,
        "DescribeSolution" => jobs::describe_solution(tailor, body).await,
        "ListSolutions" => jobs::list_solutions(tailor, body).await,
        "DeleteSolution" => jobs::delete_solution(tailor, body).await,
        "CreateSolutionVersion" => jobs::create_solution_version(tailor, body).await,
        "DescribeSolutionVersion" => jobs::describe_solution_version(tailor, body).await,
        "ListSolutionVersions" => jobs::list_solution_versions(tailor, body).await,
        "GetSolutionMetrics" => jobs::get_solution_metrics(tailor, body).await,
        "CreateCampaign" => jobs::create_campaign(tailor, body).await,
        "DescribeCampaign" => jobs::describe_campaign(tailor, body).await,
        "ListCampaigns" => jobs::list_campaigns(tailor, body).await,
        "UpdateCampaign" => jobs::update_campaign(tailor, body).await,
        "DeleteCampaign" => jobs::delete_campaign(tailor, body).await,
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

/// One page of `all` (sorted by ARN) after `next_token`, at most `max_results` long, with the
/// token of the next page when more remain. The token is the next page's first ARN, hex-encoded
/// behind a version tag: opaque to clients, and checked when it comes back.
pub(super) fn page<T>(
    all: Vec<T>,
    arn: impl Fn(&T) -> &str,
    max_results: Option<i64>,
    next_token: Option<&str>,
) -> Result<(Vec<T>, Option<String>)> {
    let limit = match max_results {
        None => 100,
        Some(n @ 1..=100) => n as usize,
        Some(n) => {
            return Err(Error::InvalidInput(format!(
                "maxResults must be between 1 and 100, but is {n}"
            )))
        }
    };
    let start = match next_token {
        None => 0,
        Some(token) => {
            let from = decode_token(token).ok_or_else(|| {
                Error::InvalidNextToken("nextToken is not one this service issued".into())
            })?;
            all.iter()
                .position(|t| arn(t) >= from.as_str())
                .unwrap_or(all.len())
        }
    };
    let mut rest: Vec<T> = all.into_iter().skip(start).collect();
    let next = (rest.len() > limit).then(|| encode_token(arn(&rest[limit])));
    rest.truncate(limit);
    Ok((rest, next))
}

fn encode_token(arn: &str) -> String {
    let mut out = String::from("t1.");
    for b in arn.bytes() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn decode_token(token: &str) -> Option<String> {
    let hex = token.strip_prefix("t1.")?;
    if hex.len() % 2 != 0 || hex.len() > 2 * crate::domain::MAX_ARN_CHARS {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListPage {
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub(super) fn list_response(field: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut out = json!({ field: items });
    if let Some(token) = next {
        out["nextToken"] = json!(token);
    }
    out
}

// --- dataset groups -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateDatasetGroup {
    name: String,
    role_arn: Option<String>,
    kms_key_arn: Option<String>,
    domain: Option<String>,
    #[allow(dead_code)]
    tags: Option<Value>,
}

async fn create_dataset_group(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateDatasetGroup = request(body)?;
    if let Some(domain) = &req.domain {
        return Err(Error::InvalidInput(format!(
            "domain {domain}: tailor serves custom dataset groups only (omit domain)"
        )));
    }
    let group = tailor
        .create_dataset_group(&req.name, req.kms_key_arn, req.role_arn)
        .await?;
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

fn dataset_group_summary(g: &DatasetGroup) -> Value {
    let mut v = json!({
        "name": g.name,
        "datasetGroupArn": g.dataset_group_arn,
        "status": g.status,
        "creationDateTime": g.creation_date_time,
        "lastUpdatedDateTime": g.last_updated_date_time,
    });
    if let Some(reason) = &g.failure_reason {
        v["failureReason"] = json!(reason);
    }
    if let Some(domain) = &g.domain {
        v["domain"] = json!(domain);
    }
    v
}

async fn list_dataset_groups(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: ListPage = request(body)?;
    let all = tailor.list_dataset_groups().await?;
    let (groups, next) = page(
        all,
        |g| &g.dataset_group_arn,
        req.max_results,
        req.next_token.as_deref(),
    )?;
    let items = groups.iter().map(dataset_group_summary).collect();
    Ok(list_response("datasetGroups", items, next))
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

fn schema_summary(s: &DatasetSchemaRecord) -> Value {
    let mut v = json!({
        "name": s.name,
        "schemaArn": s.schema_arn,
        "creationDateTime": s.creation_date_time,
        "lastUpdatedDateTime": s.last_updated_date_time,
    });
    if let Some(domain) = &s.domain {
        v["domain"] = json!(domain);
    }
    v
}

async fn list_schemas(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: ListPage = request(body)?;
    let all = tailor.list_schemas().await?;
    let (schemas, next) = page(
        all,
        |s| &s.schema_arn,
        req.max_results,
        req.next_token.as_deref(),
    )?;
    let items = schemas.iter().map(schema_summary).collect();
    Ok(list_response("schemas", items, next))
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
    #[allow(dead_code)]
    tags: Option<Value>,
}

async fn create_dataset(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateDataset = request(body)?;
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
    Ok(json!({ "dataset": dataset }))
}

fn dataset_summary(d: &Dataset) -> Value {
    json!({
        "name": d.name,
        "datasetArn": d.dataset_arn,
        "datasetType": d.dataset_type,
        "status": d.status,
        "creationDateTime": d.creation_date_time,
        "lastUpdatedDateTime": d.last_updated_date_time,
    })
}

async fn list_datasets(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: ListInGroup = request(body)?;
    let all = tailor.list_datasets(req.group(tailor).await?).await?;
    let (datasets, next) = page(
        all,
        |d| &d.dataset_arn,
        req.max_results,
        req.next_token.as_deref(),
    )?;
    let items = datasets.iter().map(dataset_summary).collect();
    Ok(list_response("datasets", items, next))
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
    #[allow(dead_code)]
    tags: Option<Value>,
}

async fn create_filter(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateFilter = request(body)?;
    let filter = tailor
        .create_filter(&req.name, &req.dataset_group_arn, &req.filter_expression)
        .await?;
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

fn filter_summary(f: &FilterRecord) -> Value {
    let mut v = json!({
        "name": f.name,
        "filterArn": f.filter_arn,
        "datasetGroupArn": f.dataset_group_arn,
        "status": f.status,
        "creationDateTime": f.creation_date_time,
        "lastUpdatedDateTime": f.last_updated_date_time,
    });
    if let Some(reason) = &f.failure_reason {
        v["failureReason"] = json!(reason);
    }
    v
}

/// ListFilters, ListEventTrackers, ListDatasets: optionally one dataset group's.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ListInGroup {
    dataset_group_arn: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

impl ListInGroup {
    /// The group, checked to exist: an unknown group is an error, not an empty list.
    async fn group(&self, tailor: &Tailor) -> Result<Option<&str>> {
        if let Some(g) = &self.dataset_group_arn {
            tailor.describe_dataset_group(g).await?;
        }
        Ok(self.dataset_group_arn.as_deref())
    }
}

async fn list_filters(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: ListInGroup = request(body)?;
    let all = tailor.list_filters(req.group(tailor).await?).await?;
    let (filters, next) = page(
        all,
        |f| &f.filter_arn,
        req.max_results,
        req.next_token.as_deref(),
    )?;
    // Personalize's own field name, capital F included.
    let items = filters.iter().map(filter_summary).collect();
    Ok(list_response("Filters", items, next))
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
    #[allow(dead_code)]
    tags: Option<Value>,
}

async fn create_event_tracker(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateEventTracker = request(body)?;
    let tracker = tailor
        .create_event_tracker(&req.name, &req.dataset_group_arn)
        .await?;
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

async fn describe_event_tracker(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: EventTrackerArn = request(body)?;
    let tracker = tailor
        .describe_event_tracker(&req.event_tracker_arn)
        .await?;
    Ok(json!({ "eventTracker": tracker }))
}

fn event_tracker_summary(t: &EventTracker) -> Value {
    json!({
        "name": t.name,
        "eventTrackerArn": t.event_tracker_arn,
        "status": t.status,
        "creationDateTime": t.creation_date_time,
        "lastUpdatedDateTime": t.last_updated_date_time,
    })
}

async fn list_event_trackers(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: ListInGroup = request(body)?;
    let group = req.group(tailor).await?;
    let mut all = tailor.list_event_trackers().await?;
    if let Some(g) = group {
        all.retain(|t| t.dataset_group_arn == g);
    }
    let (trackers, next) = page(
        all,
        |t| &t.event_tracker_arn,
        req.max_results,
        req.next_token.as_deref(),
    )?;
    let items = trackers.iter().map(event_tracker_summary).collect();
    Ok(list_response("eventTrackers", items, next))
}

async fn delete_event_tracker(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: EventTrackerArn = request(body)?;
    tailor.delete_event_tracker(&req.event_tracker_arn).await?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_refused() {
        let arn = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop";
        assert_eq!(decode_token(&encode_token(arn)).as_deref(), Some(arn));
        for bad in ["", "t1.", "t1.zz", "t1.abc", "t2.61", "61"] {
            assert!(
                decode_token(bad).filter(|s| !s.is_empty()).is_none(),
                "{bad}"
            );
        }
    }

    #[test]
    fn pages_cover_the_list_once_in_order() {
        let all: Vec<String> = (0..7).map(|i| format!("arn:x/{i}")).collect();
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (items, next) = page(all.clone(), |s| s, Some(3), token.as_deref()).unwrap();
            assert!(items.len() <= 3);
            seen.extend(items);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, all);
        assert!(page(all.clone(), |s| s, Some(0), None).is_err());
        assert!(page(all.clone(), |s| s, Some(101), None).is_err());
        let e = page(all, |s| s, None, Some("nonsense")).unwrap_err();
        assert_eq!(e.kind().name(), "InvalidNextTokenException");
    }
}

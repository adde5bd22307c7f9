//! The control plane's long-running resources: dataset import jobs and solution versions return
//! at once, CREATE PENDING, and run in the background (`CREATE IN_PROGRESS` → `ACTIVE` or
//! `CREATE FAILED` with a `failureReason`); solutions, campaigns and recipes beside them.
//!
//! Where a job runs is the door's [`crate::services::jobs::JobRunner`]: a thread of the local
//! server, or the import and train functions behind the control function on AWS.

use serde::Deserialize;
use serde_json::{json, Value};

use super::listing::{self, Paging};
use super::{pick, request, shown, NewTags};
use crate::domain::{CampaignConfig, ImportMode, SolutionConfig, Tag, TrainingMode};
use crate::error::{Error, Result};
use crate::recipes::Recipe;
use crate::services::{CreateSolution, ImportJobOptions, Tailor};

// --- dataset import jobs --------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DataSourceIn {
    data_location: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateDatasetImportJob {
    job_name: String,
    dataset_arn: String,
    data_source: DataSourceIn,
    role_arn: Option<String>,
    import_mode: Option<ImportMode>,
    publish_attribution_metrics_to_s3: Option<bool>,
    tags: Option<Vec<Tag>>,
}

/// Checks a `dataSource.dataLocation` before a job is recorded: a local file (a plain path or
/// a `file://` URL) that exists, or an S3 object or prefix (`s3://bucket/key`) this door can
/// read (through its `DataSources`: S3, or an emulator at `AWS_ENDPOINT_URL`), whose absence
/// fails the job with a reason.
fn check_location(tailor: &Tailor, raw: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::InvalidInput(format!(
            "dataSource.dataLocation {}: {why}",
            crate::api::text::shown(raw)
        ))
    };
    if raw.starts_with("s3://") {
        if crate::services::jobs::s3_location(raw).is_none() {
            return Err(bad(
                "an S3 location is s3://bucket/key (an object or a prefix)",
            ));
        }
        if tailor.sources.is_none() {
            return Err(bad(
                "this tailor cannot reach S3 (build with the aws feature; credentials and, for \
                 an emulator, AWS_ENDPOINT_URL from the environment)",
            ));
        }
        return Ok(());
    }
    let path = std::path::Path::new(raw.strip_prefix("file://").unwrap_or(raw));
    if !path.is_file() {
        return Err(bad("no such file"));
    }
    Ok(())
}

pub(super) async fn create_dataset_import_job(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateDatasetImportJob = request(body)?;
    let tags = NewTags::checked(req.tags)?;
    check_location(tailor, &req.data_source.data_location)?;
    // The pending-job quotas bind Personalize's API; tailor's own doors (S3 uploads, the
    // retraining schedule) queue behind them instead of failing.
    tailor.check_pending_import_quota().await?;
    let job = tailor
        .create_dataset_import_job(
            &req.job_name,
            &req.dataset_arn,
            &req.data_source.data_location,
            req.import_mode.unwrap_or_default(),
            ImportJobOptions {
                role_arn: req.role_arn,
                publish_attribution_metrics_to_s3: req
                    .publish_attribution_metrics_to_s3
                    .unwrap_or(false),
            },
        )
        .await?;
    let arn = job.dataset_import_job_arn.clone();
    tags.apply(tailor, &arn).await?;
    if let Err(e) = tailor.jobs.start_import(tailor, &arn).await {
        tailor
            .fail_dataset_import_job(&arn, &format!("the import could not start: {e}"))
            .await?;
    }
    Ok(json!({ "datasetImportJobArn": job.dataset_import_job_arn }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DatasetImportJobArn {
    dataset_import_job_arn: String,
}

pub(super) async fn describe_dataset_import_job(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: DatasetImportJobArn = request(body)?;
    let job = tailor
        .describe_dataset_import_job(&req.dataset_import_job_arn)
        .await?;
    Ok(json!({ "datasetImportJob": shown(&job, &["lease"])? }))
}

// --- solutions ------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateSolutionIn {
    name: String,
    #[serde(rename = "performHPO")]
    perform_hpo: Option<bool>,
    #[serde(rename = "performAutoML")]
    perform_auto_ml: Option<bool>,
    perform_auto_training: Option<bool>,
    perform_incremental_update: Option<bool>,
    recipe_arn: Option<String>,
    dataset_group_arn: String,
    event_type: Option<String>,
    solution_config: Option<SolutionConfig>,
    tags: Option<Vec<Tag>>,
}

pub(super) async fn create_solution(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateSolutionIn = request(body)?;
    let tags = NewTags::checked(req.tags)?;
    if req.perform_auto_ml == Some(true) {
        return Err(Error::InvalidInput(
            "performAutoML is not served by tailor: name a recipeArn".into(),
        ));
    }
    let recipe_arn = req
        .recipe_arn
        .ok_or_else(|| Error::InvalidInput("recipeArn is required".into()))?;
    let solution = tailor
        .create_solution(CreateSolution {
            name: req.name,
            dataset_group_arn: req.dataset_group_arn,
            recipe_arn,
            event_type: req.event_type,
            solution_config: req.solution_config.unwrap_or_default(),
            perform_hpo: req.perform_hpo.unwrap_or(false),
            // Personalize's default.
            perform_auto_training: req.perform_auto_training.unwrap_or(true),
            perform_incremental_update: req.perform_incremental_update.unwrap_or(false),
        })
        .await?;
    tags.apply(tailor, &solution.solution_arn).await?;
    Ok(json!({ "solutionArn": solution.solution_arn }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SolutionArn {
    solution_arn: String,
}

pub(super) async fn describe_solution(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: SolutionArn = request(body)?;
    let solution = tailor.describe_solution(&req.solution_arn).await?;
    let mut v = shown(&solution, &[])?;
    let versions = tailor
        .list_solution_versions(Some(&solution.solution_arn))
        .await?;
    if let Some(latest) = versions.last() {
        v["latestSolutionVersion"] = pick(
            &shown(latest, &[])?,
            &[
                "solutionVersionArn",
                "status",
                "trainingMode",
                "trainingType",
                "creationDateTime",
                "lastUpdatedDateTime",
                "failureReason",
            ],
        );
    }
    Ok(json!({ "solution": v }))
}

pub(super) async fn delete_solution(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: SolutionArn = request(body)?;
    tailor.delete_solution(&req.solution_arn).await?;
    Ok(json!({}))
}

// --- solution versions ----------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateSolutionVersionIn {
    name: Option<String>,
    solution_arn: String,
    training_mode: Option<TrainingMode>,
    tags: Option<Vec<Tag>>,
}

pub(super) async fn create_solution_version(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateSolutionVersionIn = request(body)?;
    let tags = NewTags::checked(req.tags)?;
    tailor.check_pending_version_quota().await?;
    let version = tailor
        .create_solution_version(
            &req.solution_arn,
            req.training_mode.unwrap_or_default(),
            req.name,
        )
        .await?;
    let arn = version.solution_version_arn.clone();
    tags.apply(tailor, &arn).await?;
    if let Err(e) = tailor.jobs.start_training(tailor, &arn).await {
        tailor
            .fail_solution_version(&arn, &format!("the training could not start: {e}"))
            .await?;
    }
    Ok(json!({ "solutionVersionArn": version.solution_version_arn }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SolutionVersionArn {
    solution_version_arn: String,
}

pub(super) async fn describe_solution_version(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: SolutionVersionArn = request(body)?;
    let version = tailor
        .describe_solution_version(&req.solution_version_arn)
        .await?;
    Ok(json!({ "solutionVersion": shown(&version, &["worker"])? }))
}

pub(super) async fn stop_solution_version_creation(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: SolutionVersionArn = request(body)?;
    tailor
        .stop_solution_version_creation(&req.solution_version_arn)
        .await?;
    Ok(json!({}))
}

pub(super) async fn get_solution_metrics(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: SolutionVersionArn = request(body)?;
    let metrics = tailor
        .get_solution_metrics(&req.solution_version_arn)
        .await?;
    Ok(json!({
        "solutionVersionArn": metrics.solution_version_arn,
        "metrics": metrics.metrics,
    }))
}

// --- campaigns ------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateCampaignIn {
    name: String,
    solution_version_arn: String,
    #[serde(rename = "minProvisionedTPS")]
    min_provisioned_tps: Option<u32>,
    campaign_config: Option<CampaignConfig>,
    tags: Option<Vec<Tag>>,
}

pub(super) async fn create_campaign(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateCampaignIn = request(body)?;
    let tags = NewTags::checked(req.tags)?;
    let campaign = tailor
        .create_campaign(
            &req.name,
            &req.solution_version_arn,
            req.min_provisioned_tps,
            req.campaign_config.unwrap_or_default(),
        )
        .await?;
    tags.apply(tailor, &campaign.campaign_arn).await?;
    Ok(json!({ "campaignArn": campaign.campaign_arn }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CampaignArn {
    campaign_arn: String,
}

pub(super) async fn describe_campaign(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CampaignArn = request(body)?;
    let campaign = tailor.describe_campaign(&req.campaign_arn).await?;
    Ok(json!({ "campaign": shown(&campaign, &[])? }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateCampaignIn {
    campaign_arn: String,
    solution_version_arn: Option<String>,
    #[serde(rename = "minProvisionedTPS")]
    min_provisioned_tps: Option<u32>,
    campaign_config: Option<CampaignConfig>,
}

pub(super) async fn update_campaign(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: UpdateCampaignIn = request(body)?;
    let campaign = tailor
        .update_campaign(
            &req.campaign_arn,
            req.solution_version_arn.as_deref(),
            req.min_provisioned_tps,
            req.campaign_config,
        )
        .await?;
    Ok(json!({ "campaignArn": campaign.campaign_arn }))
}

pub(super) async fn delete_campaign(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CampaignArn = request(body)?;
    tailor.delete_campaign(&req.campaign_arn).await?;
    Ok(json!({}))
}

// --- recipes --------------------------------------------------------------------------------

fn recipe(r: Recipe) -> Value {
    json!({
        "name": r.name(),
        "recipeArn": r.arn(),
        "algorithmArn": format!("arn:aws:personalize:::algorithm/{}", r.name()),
        "status": "ACTIVE",
        "recipeType": r.recipe_type(),
        "description": format!("tailor's {}", r.name()),
        "creationDateTime": 0.0,
        "lastUpdatedDateTime": 0.0,
    })
}

pub(super) async fn list_recipes(body: &[u8]) -> Result<Value> {
    let mut req: serde_json::Map<String, Value> = request(body)?;
    let paging = Paging::take(&mut req)?;
    // tailor's recipes are all custom ones, from the one provider Personalize has (SERVICE).
    let domain = req.remove("domain");
    req.remove("recipeProvider");
    if let Some(field) = req.keys().next() {
        return Err(Error::InvalidInput(format!(
            "{} is not a field of ListRecipes' input",
            crate::api::text::shown(field)
        )));
    }
    let mut all: Vec<(String, Recipe)> = match domain {
        Some(Value::String(_)) => Vec::new(),
        _ => Recipe::ALL.iter().map(|&r| (r.arn(), r)).collect(),
    };
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let (recipes, next) =
        listing::page_of(all, |r| &r.0, &paging, &listing::scope("recipes", None))?;
    let fields = [
        "name",
        "recipeArn",
        "status",
        "creationDateTime",
        "lastUpdatedDateTime",
    ];
    let items = recipes
        .iter()
        .map(|(_, r)| pick(&recipe(*r), &fields))
        .collect();
    Ok(listing::response("recipes", items, next))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RecipeArn {
    recipe_arn: String,
}

pub(super) async fn describe_recipe(body: &[u8]) -> Result<Value> {
    let req: RecipeArn = request(body)?;
    let r = Recipe::parse(&req.recipe_arn)
        .map_err(|_| Error::NotFound(format!("recipe {} not found", req.recipe_arn)))?;
    Ok(json!({ "recipe": recipe(r) }))
}

//! The control plane's long-running resources: dataset import jobs and solution versions return
//! at once, CREATE PENDING, and run in the background (`CREATE IN_PROGRESS` → `ACTIVE` or
//! `CREATE FAILED` with a `failureReason`); solutions, campaigns and recipes beside them.
//!
//! The background runs here are the local server's (a thread per job, off the server's
//! workers: imports and training are CPU-bound). On AWS the training state machine runs them.

use std::future::Future;
use std::io::Read;

use serde::Deserialize;
use serde_json::{json, Value};

use super::listing::{self, Paging};
use super::{pick, request, shown, NewTags};
use crate::domain::{CampaignConfig, ImportMode, SolutionConfig, Tag, TrainingMode};
use crate::error::{Error, Result};
use crate::recipes::Recipe;
use crate::services::{CreateSolution, Tailor};
use crate::store::DataSources;

/// Runs `job` on a thread of its own with its own runtime, logging a failure: the request that
/// started it has already answered, and the job's record carries its outcome.
fn in_background<F, Fut>(tailor: &Tailor, what: String, job: F)
where
    F: FnOnce(Tailor) -> Fut + Send + 'static,
    Fut: Future<Output = Result<()>>,
{
    let tailor = tailor.clone();
    let name = what.clone();
    let spawned = std::thread::Builder::new()
        .name("tailor-job".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let outcome = match rt {
                Ok(rt) => rt.block_on(job(tailor)),
                Err(e) => Err(Error::Internal(format!("no runtime for the job: {e}"))),
            };
            if let Err(e) = outcome {
                tracing::error!(job = %name, error = %e, "background job failed");
            }
        });
    if let Err(e) = spawned {
        tracing::error!(job = %what, error = %e, "could not start a background job");
    }
}

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
    #[allow(dead_code)]
    publish_attribution_metrics_to_s3: Option<bool>,
    tags: Option<Vec<Tag>>,
}

/// Where a `dataSource.dataLocation` points: a local file (a plain path or a `file://` URL) or
/// an S3 object or prefix (`s3://bucket/key`), read through the door's [`DataSources`] (S3, or
/// an emulator at `AWS_ENDPOINT_URL`).
enum Location {
    Local(std::path::PathBuf),
    S3 { bucket: String, key: String },
}

fn location(tailor: &Tailor, raw: &str) -> Result<Location> {
    let bad = |why: &str| {
        Error::InvalidInput(format!(
            "dataSource.dataLocation {}: {why}",
            crate::api::text::shown(raw)
        ))
    };
    if let Some(rest) = raw.strip_prefix("s3://") {
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || key.is_empty() {
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
        return Ok(Location::S3 {
            bucket: bucket.into(),
            key: key.into(),
        });
    }
    let path = std::path::PathBuf::from(raw.strip_prefix("file://").unwrap_or(raw));
    if !path.is_file() {
        return Err(bad("no such file"));
    }
    Ok(Location::Local(path))
}

/// Several CSV objects (a prefix's) as one: each after the first loses its header line when it
/// repeats the first's, so the import reads one table.
fn concatenated(objects: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut header: Option<Vec<u8>> = None;
    for (_, bytes) in objects {
        let first_line = bytes
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| i + 1);
        let body = match &header {
            None => {
                header = Some(bytes[..first_line].to_vec());
                &bytes[..]
            }
            Some(h) if bytes[..first_line].trim_ascii_end() == h.trim_ascii_end() => {
                &bytes[first_line..]
            }
            Some(_) => &bytes[..],
        };
        if !out.is_empty() && !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.extend_from_slice(body);
    }
    out
}

/// A reader that fails at once: the file went away between the request and the run, and the
/// job records that as its failure like any other read error.
struct Unreadable(Option<std::io::Error>);

impl Read for Unreadable {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| std::io::Error::other("unreadable")))
    }
}

/// An import job's input as its background run gets it.
enum Input {
    File(std::io::Result<std::fs::File>),
    Fetched(tokio::task::JoinHandle<std::io::Result<Vec<u8>>>),
}

impl Input {
    /// The reader and its size; a source that failed reads as the error, which the job
    /// records as its failureReason.
    async fn open(self) -> (Box<dyn Read + Send>, u64) {
        let opened = match self {
            Input::File(Ok(f)) => {
                let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                return (Box::new(std::io::BufReader::new(f)), size);
            }
            Input::File(Err(e)) => Err(e),
            Input::Fetched(task) => task
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string()))),
        };
        match opened {
            Ok(bytes) => {
                let size = bytes.len() as u64;
                (Box::new(std::io::Cursor::new(bytes)), size)
            }
            Err(e) => (Box::new(Unreadable(Some(e))), 0),
        }
    }
}

async fn fetch_s3(
    sources: Option<std::sync::Arc<dyn DataSources>>,
    bucket: String,
    key: String,
) -> std::io::Result<Vec<u8>> {
    let shown = format!("s3://{bucket}/{key}");
    let sources = sources.ok_or_else(|| std::io::Error::other("no S3 access"))?;
    match sources.fetch(&bucket, &key).await {
        Ok(objects) if objects.is_empty() => {
            Err(std::io::Error::other(format!("no object at {shown}")))
        }
        Ok(objects) => Ok(concatenated(objects)),
        Err(e) => Err(std::io::Error::other(format!("reading {shown}: {e}"))),
    }
}

pub(super) async fn create_dataset_import_job(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateDatasetImportJob = request(body)?;
    let tags = NewTags::checked(req.tags)?;
    let source = location(tailor, &req.data_source.data_location)?;
    // The pending-job quotas bind Personalize's API; tailor's own doors (S3 uploads, the
    // retraining schedule) queue behind them instead of failing.
    tailor.check_pending_import_quota().await?;
    let job = tailor
        .create_dataset_import_job(
            &req.job_name,
            &req.dataset_arn,
            &req.data_source.data_location,
            req.import_mode.unwrap_or_default(),
            req.role_arn,
        )
        .await?;
    let arn = job.dataset_import_job_arn.clone();
    tags.apply(tailor, &arn).await?;
    let input = match source {
        Location::Local(path) => Input::File(std::fs::File::open(path)),
        // Read on this (the server's) runtime, where the SDK client's connections live.
        Location::S3 { bucket, key } => {
            Input::Fetched(tokio::spawn(fetch_s3(tailor.sources.clone(), bucket, key)))
        }
    };
    in_background(tailor, arn.clone(), move |tailor| async move {
        let (mut input, size) = input.open().await;
        tailor
            .run_dataset_import_job_from(&arn, &mut input, size, &mut |_, _| {})
            .await
            .map(|_| ())
    });
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
    #[allow(dead_code)]
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
    if req.perform_auto_training == Some(true) {
        return Err(Error::InvalidInput(
            "performAutoTraining is not served by tailor yet: schedule CreateSolutionVersion \
             (the deployed stack's retraining schedule does)"
                .into(),
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
    in_background(tailor, arn.clone(), move |tailor| async move {
        tailor
            .run_solution_version(&arn, &mut |_, _| {})
            .await
            .map(|_| ())
    });
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
    #[allow(dead_code)]
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
    let (recipes, next) = listing::page_of(all, |r| &r.0, &paging);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_of_csvs_reads_as_one_table() {
        let objects = vec![
            ("a.csv".into(), b"USER_ID,ITEM_ID\nu1,i1\n".to_vec()),
            ("b.csv".into(), b"USER_ID,ITEM_ID\r\nu2,i2".to_vec()),
            ("c.csv".into(), b"u3,i3\n".to_vec()),
        ];
        assert_eq!(
            String::from_utf8(concatenated(objects)).unwrap(),
            "USER_ID,ITEM_ID\nu1,i1\nu2,i2\nu3,i3\n"
        );
    }
}

//! Batch inference jobs, batch segment jobs and data deletion jobs: each Create records the job
//! and hands it to the door's [`crate::services::jobs::JobRunner`] (a thread of the local
//! server; the batch state machine or the batch function on AWS), answering at once.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{request, shown, NewTags};
use crate::domain::{BatchInferenceJobConfig, BatchJobInput, BatchJobOutput, DataSource, Tag};
use crate::error::Result;
use crate::services::batch_jobs::CreateBatchJob;
use crate::services::Tailor;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBatchInferenceJob {
    job_name: String,
    solution_version_arn: String,
    filter_arn: Option<String>,
    num_results: Option<u32>,
    job_input: BatchJobInput,
    job_output: BatchJobOutput,
    role_arn: Option<String>,
    batch_inference_job_config: Option<BatchInferenceJobConfig>,
    batch_inference_job_mode: Option<String>,
    #[allow(dead_code)]
    theme_generation_config: Option<Value>,
    tags: Option<Vec<Tag>>,
}

/// Tags a recorded job and starts it; if it cannot start, the job fails with the reason (the
/// Create still answers with its ARN, as an import job's does).
async fn tag_and_start(tailor: &Tailor, arn: &str, tags: NewTags) -> Result<()> {
    tags.apply(tailor, arn).await?;
    if let Err(e) = tailor.jobs.start_batch(tailor, arn).await {
        tailor
            .fail_batch_job(arn, &format!("the job could not start: {e}"))
            .await?;
    }
    Ok(())
}

pub(super) async fn create_batch_inference_job(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateBatchInferenceJob = request(body)?;
    let tags = NewTags::checked(req.tags)?;
    let job = tailor
        .create_batch_inference_job(CreateBatchJob {
            job_name: req.job_name,
            solution_version_arn: req.solution_version_arn,
            filter_arn: req.filter_arn,
            num_results: req.num_results,
            job_input: req.job_input,
            job_output: req.job_output,
            role_arn: req.role_arn,
            config: req.batch_inference_job_config.unwrap_or_default(),
            mode: req.batch_inference_job_mode,
        })
        .await?;
    let arn = job.batch_inference_job_arn;
    tag_and_start(tailor, &arn, tags).await?;
    Ok(json!({ "batchInferenceJobArn": arn }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BatchInferenceJobArn {
    batch_inference_job_arn: String,
}

pub(super) async fn describe_batch_inference_job(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: BatchInferenceJobArn = request(body)?;
    let job = tailor
        .describe_batch_inference_job(&req.batch_inference_job_arn)
        .await?;
    Ok(json!({ "batchInferenceJob": shown(&job, &["worker"])? }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBatchSegmentJob {
    job_name: String,
    solution_version_arn: String,
    filter_arn: Option<String>,
    num_results: Option<u32>,
    job_input: BatchJobInput,
    job_output: BatchJobOutput,
    role_arn: Option<String>,
    tags: Option<Vec<Tag>>,
}

pub(super) async fn create_batch_segment_job(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateBatchSegmentJob = request(body)?;
    let tags = NewTags::checked(req.tags)?;
    let job = tailor
        .create_batch_segment_job(CreateBatchJob {
            job_name: req.job_name,
            solution_version_arn: req.solution_version_arn,
            filter_arn: req.filter_arn,
            num_results: req.num_results,
            job_input: req.job_input,
            job_output: req.job_output,
            role_arn: req.role_arn,
            ..Default::default()
        })
        .await?;
    let arn = job.batch_segment_job_arn;
    tag_and_start(tailor, &arn, tags).await?;
    Ok(json!({ "batchSegmentJobArn": arn }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BatchSegmentJobArn {
    batch_segment_job_arn: String,
}

pub(super) async fn describe_batch_segment_job(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: BatchSegmentJobArn = request(body)?;
    let job = tailor
        .describe_batch_segment_job(&req.batch_segment_job_arn)
        .await?;
    Ok(json!({ "batchSegmentJob": shown(&job, &["worker"])? }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateDataDeletionJob {
    job_name: String,
    dataset_group_arn: String,
    data_source: DataSource,
    role_arn: Option<String>,
    tags: Option<Vec<Tag>>,
}

pub(super) async fn create_data_deletion_job(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: CreateDataDeletionJob = request(body)?;
    let tags = NewTags::checked(req.tags)?;
    crate::services::batch_jobs::check_path(
        tailor,
        "dataSource.dataLocation",
        &req.data_source.data_location,
        true,
    )?;
    let job = tailor
        .create_data_deletion_job(
            &req.job_name,
            &req.dataset_group_arn,
            &req.data_source.data_location,
            req.role_arn,
        )
        .await?;
    let arn = job.data_deletion_job_arn;
    tags.apply(tailor, &arn).await?;
    if let Err(e) = tailor.jobs.start_deletion(tailor, &arn).await {
        tailor
            .fail_data_deletion_job(&arn, &format!("the job could not start: {e}"))
            .await?;
    }
    Ok(json!({ "dataDeletionJobArn": arn }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DataDeletionJobArn {
    data_deletion_job_arn: String,
}

pub(super) async fn describe_data_deletion_job(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let req: DataDeletionJobArn = request(body)?;
    let job = tailor
        .describe_data_deletion_job(&req.data_deletion_job_arn)
        .await?;
    Ok(json!({ "dataDeletionJob": shown(&job, &["worker", "deadline"])? }))
}

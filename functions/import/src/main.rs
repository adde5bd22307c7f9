//! S3 ObjectCreated under `imports/` → a dataset import job. S3 may deliver a notification
//! more than once: each object (key and ETag) is imported once.
//!
//! Also runs the import jobs the control function records (CreateDatasetImportJob), handed over
//! as `{"datasetImportJobArn": ...}`, from their `s3://` data location.

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use tailor_core::services::uploads::{UploadOutcome, IMPORTS_PREFIX};
use tailor_core::Tailor;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tailor_aws::init_lambda_logs();
    let deployment = tailor_aws::Deployment::from_env()?;
    let tailor = deployment.tailor().await;
    let bucket = deployment.names.bucket.clone();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        handle_any(&tailor, &bucket, event.payload)
    }))
    .await
}

async fn handle_any(tailor: &Tailor, bucket: &str, payload: Value) -> Result<Value, Diagnostic> {
    if let Some(arn) = payload.get("datasetImportJobArn").and_then(Value::as_str) {
        tracing::info!(job = arn, "import job handed over by the control plane");
        tailor
            .run_dataset_import_job_from_source(arn)
            .await
            .map_err(diagnostic)?;
        let job = tailor
            .describe_dataset_import_job(arn)
            .await
            .map_err(diagnostic)?;
        tracing::info!(job = arn, status = %job.status, "import finished");
        return Ok(json!({ "datasetImportJobArn": arn, "status": job.status,
                          "failureReason": job.failure_reason }));
    }
    let event: S3Event = serde_json::from_value(payload).map_err(|e| Diagnostic {
        error_type: "InvalidInputException".into(),
        error_message: format!("neither an S3 notification nor an import job: {e}"),
    })?;
    handle(tailor, bucket, event).await
}

async fn handle(tailor: &Tailor, bucket: &str, event: S3Event) -> Result<Value, Diagnostic> {
    let mut imports = Vec::new();
    for record in event.records {
        let from = record.s3.bucket.name.as_deref().unwrap_or_default();
        let Some(raw_key) = record.s3.object.key.as_deref() else {
            continue;
        };
        let key = tailor_aws::decode_s3_event_key(raw_key);
        if from != bucket || !key.starts_with(IMPORTS_PREFIX) {
            tracing::warn!(
                bucket = from,
                key,
                "not an upload of this deployment: ignored"
            );
            continue;
        }
        // The ETag names the content. Notifications carry it bare and HeadObject quoted: strip
        // the quotes so a redelivery built from either finds the same job.
        let tag = record
            .s3
            .object
            .e_tag
            .as_deref()
            .or(record.s3.object.sequencer.as_deref())
            .unwrap_or_default()
            .trim_matches('"')
            .to_string();
        let location = format!("s3://{bucket}/{key}");
        let mut last = 0;
        let outcome = tailor
            .import_upload(&key, &tag, &location, &mut |done, total| {
                let pct = (done * 100).checked_div(total).unwrap_or(100);
                if pct >= last + 25 {
                    tracing::info!(key, pct, "importing");
                    last = pct;
                }
            })
            .await
            .map_err(diagnostic)?;
        let summary = match outcome {
            UploadOutcome::Imported { job, rows } => {
                tracing::info!(key, job = job.dataset_import_job_arn, status = %job.status, rows, "import finished");
                json!({ "key": key, "datasetImportJobArn": job.dataset_import_job_arn,
                        "status": job.status, "rows": rows, "failureReason": job.failure_reason })
            }
            UploadOutcome::AlreadyHandled(job) => {
                tracing::info!(
                    key,
                    job = job.dataset_import_job_arn,
                    "already imported: skipped"
                );
                json!({ "key": key, "datasetImportJobArn": job.dataset_import_job_arn,
                        "status": job.status, "duplicate": true })
            }
        };
        imports.push(summary);
    }
    Ok(json!({ "imports": imports }))
}

/// Personalize's exception name as the Lambda error type.
fn diagnostic(e: tailor_core::Error) -> Diagnostic {
    Diagnostic {
        error_type: e.kind().name().into(),
        error_message: e.client_message(),
    }
}

//! The batch function. For the batch state machine (`infra/statemachine/batch.asl.json`), by
//! `action`: `plan` cuts a job's input into shards and writes the manifest the Distributed Map
//! reads; `shard` answers one; `join` writes `<input file name>.out` and records the job
//! ACTIVE; `run` answers a small job whole; `fail` records the job CREATE FAILED. Also
//! `delete`: a data deletion job the control function hands over.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use tailor_core::services::batch_shards::{self, Shard, DEFAULT_SHARD_LINES};
use tailor_core::serving::{Runtime, Sharing};

/// Lines per shard (default [`DEFAULT_SHARD_LINES`]).
const SHARD_LINES_VAR: &str = "TAILOR_BATCH_SHARD_LINES";
/// Fault injection for the end-to-end test: the first attempt at this shard index fails, so
/// the state machine's retry is exercised. Unset in the template.
const FAIL_ONCE_VAR: &str = "TAILOR_BATCH_FAIL_ONCE";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tailor_aws::init_lambda_logs();
    let deployment = tailor_aws::Deployment::from_env()?;
    let tailor = deployment.tailor().await;
    let runtime = Runtime::with_sharing(
        tailor,
        Sharing::Shared {
            campaign_refresh: tailor_aws::campaign_refresh_from_env(),
        },
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        // When Lambda stops this invocation (epoch ms): a deletion records it, so a reader can
        // fail a job whose invocation timed out instead of leaving it IN_PROGRESS.
        let deadline = event.context.deadline as f64 / 1000.0;
        handle(&runtime, event.payload, deadline)
    }))
    .await
}

fn diagnostic(e: tailor_core::Error) -> Diagnostic {
    Diagnostic {
        error_type: e.kind().name().into(),
        error_message: e.client_message(),
    }
}

fn field<'a>(payload: &'a Value, name: &str) -> Result<&'a str, Diagnostic> {
    payload
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Diagnostic {
            error_type: "InvalidInputException".into(),
            error_message: format!("the batch function's input needs {name}"),
        })
}

async fn handle(runtime: &Runtime, payload: Value, deadline: f64) -> Result<Value, Diagnostic> {
    let tailor = &runtime.tailor;
    let action = field(&payload, "action")?;
    if action == "delete" {
        let arn = field(&payload, "dataDeletionJobArn")?;
        let n = tailor
            .run_data_deletion_job(arn, Some(deadline))
            .await
            .map_err(diagnostic)?;
        return Ok(json!({ "dataDeletionJobArn": arn, "numDeleted": n }));
    }
    let arn = field(&payload, "jobArn")?;
    tracing::info!(job = arn, action, "batch");
    match action {
        "plan" => {
            let lines = std::env::var(SHARD_LINES_VAR)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(DEFAULT_SHARD_LINES);
            let plan = batch_shards::plan_batch_job(tailor, arn, lines)
                .await
                .map_err(diagnostic)?;
            Ok(json!({ "small": plan.small, "shards": plan.shards,
                       "manifestKey": plan.manifest_key }))
        }
        "run" => {
            let counts = batch_shards::run_small_batch_job(runtime, arn)
                .await
                .map_err(diagnostic)?;
            Ok(json!({ "lines": counts.lines, "failed": counts.failed }))
        }
        "shard" => {
            let shard: Shard =
                serde_json::from_value(payload["shard"].clone()).map_err(|e| Diagnostic {
                    error_type: "InvalidInputException".into(),
                    error_message: format!("shard: {e}"),
                })?;
            inject_fault(tailor, arn, shard.index).await?;
            let counts = batch_shards::run_batch_shard(runtime, arn, &shard)
                .await
                .map_err(diagnostic)?;
            Ok(json!({ "index": shard.index, "lines": counts.lines, "failed": counts.failed }))
        }
        "join" => {
            let counts = batch_shards::join_batch_job(tailor, arn)
                .await
                .map_err(diagnostic)?;
            Ok(json!({ "lines": counts.lines, "failed": counts.failed }))
        }
        "fail" => {
            let cause = payload["error"]["Cause"]
                .as_str()
                .unwrap_or("the batch run failed");
            tailor
                .fail_batch_job(arn, cause)
                .await
                .map_err(diagnostic)?;
            Ok(json!({ "jobArn": arn, "status": "CREATE FAILED" }))
        }
        other => Err(Diagnostic {
            error_type: "InvalidInputException".into(),
            error_message: format!("unknown action {other}"),
        }),
    }
}

/// Fails the first attempt at the shard named by `TAILOR_BATCH_FAIL_ONCE`: a marker object
/// remembers the attempt, so the retry goes through.
async fn inject_fault(
    tailor: &tailor_core::Tailor,
    arn: &str,
    index: usize,
) -> Result<(), Diagnostic> {
    let wanted = std::env::var(FAIL_ONCE_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    if wanted != Some(index) {
        return Ok(());
    }
    let marker = format!("{}.fault-{index}", batch_shards::manifest_key(arn));
    let seen = tailor
        .stores
        .blobs
        .get(&marker)
        .await
        .map_err(|e| diagnostic(e.into()))?;
    if seen.is_some() {
        return Ok(());
    }
    tailor
        .stores
        .blobs
        .put(&marker, Vec::new())
        .await
        .map_err(|e| diagnostic(e.into()))?;
    Err(Diagnostic {
        error_type: "InjectedFault".into(),
        error_message: format!("shard {index} fails once ({FAIL_ONCE_VAR})"),
    })
}

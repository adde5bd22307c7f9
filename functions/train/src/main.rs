//! The training state machine's task: one [`TrainingStep`] per invocation
//! (`{"action": "validate" | "train" | "evaluate" | "promote" | "fail", ...}`), and the hourly
//! automatic-training tick (`{"action": "autoTrain"}`).
//! Errors carry Personalize's exception name as their type, so the state machine can catch
//! them by name.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use tailor_core::services::training::TrainingStep;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tailor_aws::init_lambda_logs();
    let deployment = tailor_aws::Deployment::from_env()?;
    // The hourly automatic-training tick starts trainings through the train function itself.
    let tailor = match tailor_aws::LambdaJobs::from_env().await {
        Ok(jobs) => deployment
            .tailor()
            .await
            .with_jobs(std::sync::Arc::new(jobs)),
        Err(_) => deployment.tailor().await,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<TrainingStep>| {
        let tailor = &tailor;
        async move {
            tracing::info!(step = ?event.payload, "training step");
            tailor
                .run_training_step(event.payload)
                .await
                .map_err(|e| Diagnostic {
                    error_type: e.kind().name().into(),
                    error_message: e.client_message(),
                })
        }
    }))
    .await
}

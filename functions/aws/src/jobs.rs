//! [`JobRunner`] on AWS: the control function hands a pending import job to the import
//! function and a pending solution version to the train function, each as an asynchronous
//! (`Event`) invocation, so CreateDatasetImportJob and CreateSolutionVersion answer at once and
//! the work runs in a function with its own time budget. Lambda retries a failed asynchronous
//! invocation twice; a job whose run still fails records why.

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde_json::json;
use tailor_core::services::jobs::JobRunner;
use tailor_core::{Error, Result, Tailor};

/// The functions that run the jobs, by name or ARN.
#[derive(Clone)]
pub struct LambdaJobs {
    client: aws_sdk_lambda::Client,
    import_function: String,
    train_function: String,
}

impl LambdaJobs {
    pub fn new(
        config: &aws_config::SdkConfig,
        import_function: &str,
        train_function: &str,
    ) -> Self {
        LambdaJobs {
            client: aws_sdk_lambda::Client::new(config),
            import_function: import_function.to_string(),
            train_function: train_function.to_string(),
        }
    }

    async fn invoke(&self, function: &str, payload: serde_json::Value) -> Result<()> {
        self.client
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| {
                Error::Internal(format!(
                    "Lambda Invoke of {function}: {}",
                    aws_sdk_lambda::error::DisplayErrorContext(&e)
                ))
            })?;
        Ok(())
    }
}

#[async_trait]
impl JobRunner for LambdaJobs {
    async fn start_import(&self, _: &Tailor, job_arn: &str) -> Result<()> {
        self.invoke(
            &self.import_function,
            json!({ "datasetImportJobArn": job_arn }),
        )
        .await
    }

    async fn start_training(&self, _: &Tailor, solution_version_arn: &str) -> Result<()> {
        // The training state machine's own Train step, for one function's worth of data.
        self.invoke(
            &self.train_function,
            json!({ "action": "train", "solutionVersionArn": solution_version_arn }),
        )
        .await
    }
}

/// The function names the control function reads.
pub const IMPORT_FUNCTION_VAR: &str = "TAILOR_IMPORT_FUNCTION";
pub const TRAIN_FUNCTION_VAR: &str = "TAILOR_TRAIN_FUNCTION";

impl LambdaJobs {
    /// From `TAILOR_IMPORT_FUNCTION` and `TAILOR_TRAIN_FUNCTION` (the SAM template sets both).
    pub async fn from_env() -> std::result::Result<LambdaJobs, String> {
        let var = |k: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("missing configuration: set {k}"))
        };
        let (import, train) = (var(IMPORT_FUNCTION_VAR)?, var(TRAIN_FUNCTION_VAR)?);
        let config = crate::sdk_config_from_env().await;
        Ok(LambdaJobs::new(&config, &import, &train))
    }
}

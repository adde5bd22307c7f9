//! [`JobRunner`] on AWS: the control function hands a pending import job to the import
//! function and a data deletion job to the batch function, each as an asynchronous (`Event`)
//! invocation, a pending solution version to the training state machine and a batch inference
//! or segment job to the batch state machine (executions named after them), so
//! CreateDatasetImportJob and CreateSolutionVersion answer at once and
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
    /// The batch function and state machine; a deployment without them fails batch jobs with
    /// that reason.
    batch_function: Option<String>,
    batch_state_machine: Option<String>,
    /// The training state machine: a solution version trains there, where a timeout or a crash
    /// of its task is caught and fails the version with the reason (the train function alone
    /// would leave it CREATE IN_PROGRESS), and past one function's data it trains sharded.
    training_state_machine: Option<String>,
    sfn: aws_sdk_sfn::Client,
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
            batch_function: None,
            batch_state_machine: None,
            training_state_machine: None,
            sfn: aws_sdk_sfn::Client::new(config),
        }
    }

    pub fn with_batch(mut self, function: Option<String>, state_machine: Option<String>) -> Self {
        self.batch_function = function;
        self.batch_state_machine = state_machine;
        self
    }

    pub fn with_training(mut self, state_machine: Option<String>) -> Self {
        self.training_state_machine = state_machine;
        self
    }

    /// Starts one execution of `machine` named after the job (a repeated start is refused by
    /// name, not run twice).
    async fn start_execution(
        &self,
        machine: &str,
        arn: &str,
        input: serde_json::Value,
    ) -> Result<()> {
        let name: String = arn
            .rsplit(['/', ':'])
            .next()
            .unwrap_or("job")
            .chars()
            .take(80)
            .collect();
        self.sfn
            .start_execution()
            .state_machine_arn(machine)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .map_err(|e| {
                Error::Internal(format!(
                    "Step Functions StartExecution of {machine}: {}",
                    aws_sdk_sfn::error::DisplayErrorContext(&e)
                ))
            })?;
        Ok(())
    }

    fn batch_function(&self) -> Result<&str> {
        self.batch_function.as_deref().ok_or_else(|| {
            Error::Internal(format!(
                "no batch function is configured ({BATCH_FUNCTION_VAR})"
            ))
        })
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
        if let Some(machine) = &self.training_state_machine {
            let input = json!({ "solutionVersionArn": solution_version_arn });
            return self
                .start_execution(machine, solution_version_arn, input)
                .await;
        }
        // No state machine: the machine's own Train step, for one function's worth of data.
        self.invoke(
            &self.train_function,
            json!({ "action": "train", "solutionVersionArn": solution_version_arn }),
        )
        .await
    }

    async fn start_batch(&self, _: &Tailor, job_arn: &str) -> Result<()> {
        let Some(machine) = &self.batch_state_machine else {
            // No state machine: the batch function runs the whole job in one invocation.
            let function = self.batch_function()?;
            return self
                .invoke(function, json!({ "action": "run", "jobArn": job_arn }))
                .await;
        };
        self.start_execution(machine, job_arn, json!({ "jobArn": job_arn }))
            .await
    }

    async fn start_deletion(&self, _: &Tailor, job_arn: &str) -> Result<()> {
        let function = self.batch_function()?;
        self.invoke(
            function,
            json!({ "action": "delete", "dataDeletionJobArn": job_arn }),
        )
        .await
    }
}

/// The function names the control function reads.
pub const IMPORT_FUNCTION_VAR: &str = "TAILOR_IMPORT_FUNCTION";
pub const TRAIN_FUNCTION_VAR: &str = "TAILOR_TRAIN_FUNCTION";
/// Optional: the batch function, and the batch state machine's ARN.
pub const BATCH_FUNCTION_VAR: &str = "TAILOR_BATCH_FUNCTION";
pub const BATCH_STATE_MACHINE_VAR: &str = "TAILOR_BATCH_STATE_MACHINE";
/// Optional: the training state machine's ARN (without it a version trains in one invocation
/// of the train function).
pub const TRAINING_STATE_MACHINE_VAR: &str = "TAILOR_TRAINING_STATE_MACHINE";

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
        let optional = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Ok(LambdaJobs::new(&config, &import, &train)
            .with_batch(
                optional(BATCH_FUNCTION_VAR),
                optional(BATCH_STATE_MACHINE_VAR),
            )
            .with_training(optional(TRAINING_STATE_MACHINE_VAR)))
    }
}

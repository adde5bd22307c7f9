//! The retraining workflow's steps (validate → train → evaluate → promote, and fail), each a
//! separate call so a state machine can run them with retries and a catch in between.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::catalog::tables;
use super::Tailor;
use crate::domain::*;
use crate::error::{Error, Result};
use crate::recipes::als_shards::Side;
use crate::schema::DatasetType;

/// The metric that decides promotion.
pub const PROMOTION_METRIC: &str = "normalized_discounted_cumulative_gain_at_10";

/// A new version is promoted unless its promotion metric is below this share of the serving
/// version's: offline metrics are noisy, and fresher data is worth a small measured loss.
pub const PROMOTION_TOLERANCE: f64 = 0.9;

/// One step, as the state machine sends it (`{"action": "validate", ...}`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum TrainingStep {
    /// Checks the solution and its data, then records a CREATE PENDING version.
    #[serde(rename_all = "camelCase")]
    Validate {
        solution_arn: String,
        campaign_arn: String,
        #[serde(default)]
        training_mode: TrainingMode,
    },
    /// Takes up a version CreateSolutionVersion recorded (CREATE PENDING): what Validate returns
    /// for the version it records, so the rest of the machine trains it the same way.
    #[serde(rename_all = "camelCase")]
    Adopt { solution_version_arn: String },
    /// Compacts the version's dataset group's streamed events and put records into its
    /// datasets, so training sees them.
    #[serde(rename_all = "camelCase")]
    Compact { solution_version_arn: String },
    /// Trains the version (FULL also measures its offline metrics).
    #[serde(rename_all = "camelCase")]
    Train { solution_version_arn: String },
    /// Lists the byte ranges of the version's data for a sharded training (when Validate said
    /// `sharded`); marks it CREATE IN PROGRESS.
    #[serde(rename = "shardPrepare", rename_all = "camelCase")]
    ShardPrepare { solution_version_arn: String },
    /// Reads one range: its ids and counts.
    #[serde(rename = "shardScan", rename_all = "camelCase")]
    ShardScan {
        solution_version_arn: String,
        range: usize,
    },
    /// Merges the ranges' ids and cuts the plan; returns the shards.
    #[serde(rename = "shardPlan", rename_all = "camelCase")]
    ShardPlan { solution_version_arn: String },
    /// Sends one range's events to their user shards.
    #[serde(rename = "shardCut", rename_all = "camelCase")]
    ShardCut {
        solution_version_arn: String,
        range: usize,
    },
    /// Makes one user shard's rows, and its parts of the item shards'.
    #[serde(rename = "shardUsers", rename_all = "camelCase")]
    ShardUsers {
        solution_version_arn: String,
        shard: usize,
    },
    /// Makes one item shard's rows.
    #[serde(rename = "shardItems", rename_all = "camelCase")]
    ShardItems {
        solution_version_arn: String,
        shard: usize,
    },
    /// Solves one user shard of one iteration (from 1) against the item factors.
    #[serde(rename = "solveUsers", rename_all = "camelCase")]
    SolveUsers {
        solution_version_arn: String,
        shard: usize,
        iteration: usize,
    },
    /// Solves one item shard of one iteration against that iteration's user factors.
    #[serde(rename = "solveItems", rename_all = "camelCase")]
    SolveItems {
        solution_version_arn: String,
        shard: usize,
        iteration: usize,
    },
    /// Trains the version from the gathered shards, as Train would (same output).
    #[serde(rename = "shardFinish", rename_all = "camelCase")]
    ShardFinish { solution_version_arn: String },
    /// performAutoTraining's hourly tick: starts the automatic trainings that are due.
    #[serde(rename = "autoTrain")]
    AutoTrain,
    /// Decides whether the version should replace the campaign's.
    #[serde(rename_all = "camelCase")]
    Evaluate {
        solution_version_arn: String,
        campaign_arn: String,
    },
    /// Points the campaign at the version, creating the campaign if it does not exist.
    #[serde(rename_all = "camelCase")]
    Promote {
        solution_version_arn: String,
        campaign_arn: String,
    },
    /// Marks the version CREATE FAILED after an error; the campaign keeps its version.
    #[serde(rename_all = "camelCase")]
    Fail {
        #[serde(default)]
        solution_version_arn: Option<String>,
        #[serde(default)]
        error: Option<Value>,
    },
}

impl Tailor {
    /// Runs one step and returns what the state machine keeps of it.
    pub async fn run_training_step(&self, step: TrainingStep) -> Result<Value> {
        match step {
            TrainingStep::Validate {
                solution_arn,
                campaign_arn,
                training_mode,
            } => {
                let version = self
                    .validate_training(&solution_arn, &campaign_arn, training_mode)
                    .await?;
                let sharded = self.trains_sharded(&version).await?;
                Ok(json!({
                    "solutionVersionArn": version.solution_version_arn,
                    "sharded": sharded,
                }))
            }
            TrainingStep::Adopt {
                solution_version_arn,
            } => {
                let version = self
                    .describe_solution_version(&solution_version_arn)
                    .await?;
                if !matches!(
                    version.status,
                    Status::CreatePending | Status::CreateInProgress
                ) {
                    return Err(Error::InUse(format!(
                        "solution version {solution_version_arn} is {}, not CREATE PENDING",
                        version.status
                    )));
                }
                let sharded = self.trains_sharded(&version).await?;
                Ok(json!({
                    "solutionVersionArn": solution_version_arn,
                    "sharded": sharded,
                }))
            }
            TrainingStep::Compact {
                solution_version_arn,
            } => {
                let version = self
                    .describe_solution_version(&solution_version_arn)
                    .await?;
                let done = self.compact(&version.dataset_group_arn).await?;
                Ok(json!({ "solutionVersionArn": solution_version_arn, "compaction": done }))
            }
            TrainingStep::Train {
                solution_version_arn,
            } => self.train_step(&solution_version_arn, false).await,
            TrainingStep::AutoTrain => {
                let started = self.auto_train(crate::domain::now_epoch()).await?;
                Ok(json!({ "solutionVersionArns": started }))
            }
            TrainingStep::ShardPrepare {
                solution_version_arn,
            } => self.shard_prepare(&solution_version_arn, None).await,
            TrainingStep::ShardScan {
                solution_version_arn,
                range,
            } => self.shard_scan(&solution_version_arn, range).await,
            TrainingStep::ShardPlan {
                solution_version_arn,
            } => self.shard_plan(&solution_version_arn).await,
            TrainingStep::ShardCut {
                solution_version_arn,
                range,
            } => self.shard_cut(&solution_version_arn, range).await,
            TrainingStep::ShardUsers {
                solution_version_arn,
                shard,
            } => self.shard_users(&solution_version_arn, shard).await,
            TrainingStep::ShardItems {
                solution_version_arn,
                shard,
            } => self.shard_items(&solution_version_arn, shard).await,
            TrainingStep::SolveUsers {
                solution_version_arn,
                shard,
                iteration,
            } => {
                self.solve_shard(&solution_version_arn, Side::Users, shard, iteration)
                    .await
            }
            TrainingStep::SolveItems {
                solution_version_arn,
                shard,
                iteration,
            } => {
                self.solve_shard(&solution_version_arn, Side::Items, shard, iteration)
                    .await
            }
            TrainingStep::ShardFinish {
                solution_version_arn,
            } => self.train_step(&solution_version_arn, true).await,
            TrainingStep::Evaluate {
                solution_version_arn,
                campaign_arn,
            } => {
                self.evaluate_for_promotion(&solution_version_arn, &campaign_arn)
                    .await
            }
            TrainingStep::Promote {
                solution_version_arn,
                campaign_arn,
            } => {
                let campaign = self.promote(&solution_version_arn, &campaign_arn).await?;
                Ok(json!({
                    "campaignArn": campaign.campaign_arn,
                    "solutionVersionArn": campaign.solution_version_arn,
                }))
            }
            TrainingStep::Fail {
                solution_version_arn,
                error,
            } => {
                let reason = failure_reason(error.as_ref());
                let status = match solution_version_arn {
                    Some(arn) => {
                        if let Err(e) = self.delete_shards(&arn).await {
                            tracing::warn!(version = arn, error = %e, "shard objects left behind");
                        }
                        self.fail_solution_version(&arn, &reason).await?.status
                    }
                    None => Status::CreateFailed,
                };
                Ok(json!({ "status": status }))
            }
        }
    }

    /// Train, or ShardFinish (`sharded`): the version trained, ACTIVE, and its metrics.
    async fn train_step(&self, arn: &str, sharded: bool) -> Result<Value> {
        let mut last = String::new();
        let mut progress = |stage: &str, _| {
            if stage != last {
                tracing::info!(version = %arn, stage, "training");
                last = stage.to_string();
            }
        };
        let version = if sharded {
            self.shard_finish(arn, &mut progress).await?
        } else {
            self.run_solution_version(arn, &mut progress).await?
        };
        if version.status != Status::Active {
            return Err(Error::InvalidInput(format!(
                "solution version {arn} failed to train: {}",
                version
                    .failure_reason
                    .as_deref()
                    .unwrap_or("unknown reason")
            )));
        }
        let metrics = self.get_solution_metrics(arn).await?;
        Ok(json!({
            "solutionVersionArn": arn,
            "status": version.status,
            "metrics": metrics.metrics,
        }))
    }

    async fn validate_training(
        &self,
        solution_arn: &str,
        campaign_arn: &str,
        mode: TrainingMode,
    ) -> Result<SolutionVersion> {
        let solution = self.describe_solution(solution_arn).await?;
        arn_path(campaign_arn, ResourceType::Campaign)
            .filter(|n| validate_name("campaignArn", n).is_ok())
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "campaignArn '{campaign_arn}' is not a campaign ARN"
                ))
            })?;
        if let Ok(campaign) = self.describe_campaign(campaign_arn).await {
            let serving = self
                .describe_solution_version(&campaign.solution_version_arn)
                .await?;
            if serving.solution_arn != solution.solution_arn {
                return Err(Error::InvalidInput(format!(
                    "campaign {campaign_arn} serves solution {}, not {solution_arn}",
                    serving.solution_arn
                )));
            }
        }
        let group = self
            .describe_dataset_group(&solution.dataset_group_arn)
            .await?;
        let interactions = self
            .arns
            .dataset_arn(&group.name, DatasetType::Interactions);
        let imported = self
            .list_dataset_import_jobs(Some(&interactions))
            .await?
            .iter()
            .any(|j| j.status == Status::Active);
        if !imported {
            return Err(Error::InvalidInput(format!(
                "dataset {interactions} has no ACTIVE import job: nothing to train on"
            )));
        }
        // A retried Validate (or a schedule firing while a run is under way) must not stack up
        // versions: a pending one is reused, a running one refuses.
        for v in self.list_solution_versions(Some(solution_arn)).await? {
            match v.status {
                Status::CreatePending if v.training_mode == mode => return Ok(v),
                Status::CreatePending | Status::CreateInProgress => {
                    return Err(Error::InUse(format!(
                        "solution version {} is {}: one training at a time",
                        v.solution_version_arn, v.status
                    )))
                }
                _ => {}
            }
        }
        self.create_solution_version(solution_arn, mode, None).await
    }

    async fn evaluate_for_promotion(&self, version_arn: &str, campaign_arn: &str) -> Result<Value> {
        let version = self.describe_solution_version(version_arn).await?;
        if version.status != Status::Active {
            return Err(Error::InUse(format!(
                "solution version {version_arn} is {}, not ACTIVE",
                version.status
            )));
        }
        let new = self.get_solution_metrics(version_arn).await?.metrics;
        let (promote, reason) = match self.describe_campaign(campaign_arn).await {
            Err(Error::NotFound(_)) => (true, "the campaign does not exist yet".to_string()),
            Err(e) => return Err(e),
            Ok(c) if c.solution_version_arn == version_arn => {
                (false, "the campaign already serves this version".into())
            }
            Ok(c) => {
                let old = self
                    .get_solution_metrics(&c.solution_version_arn)
                    .await?
                    .metrics;
                match (new.get(PROMOTION_METRIC), old.get(PROMOTION_METRIC)) {
                    (Some(n), Some(o)) if *n < o * PROMOTION_TOLERANCE => (
                        false,
                        format!("{PROMOTION_METRIC} {n:.4} is below {PROMOTION_TOLERANCE} × the serving version's {o:.4}"),
                    ),
                    (Some(n), Some(o)) => (
                        true,
                        format!("{PROMOTION_METRIC} {n:.4} against the serving version's {o:.4}"),
                    ),
                    _ => (
                        true,
                        "no offline metric to compare (UPDATE versions keep the FULL model's)"
                            .into(),
                    ),
                }
            }
        };
        Ok(json!({ "promote": promote, "reason": reason, "metrics": new }))
    }

    async fn promote(&self, version_arn: &str, campaign_arn: &str) -> Result<Campaign> {
        match self.describe_campaign(campaign_arn).await {
            Ok(_) => {
                self.update_campaign(campaign_arn, Some(version_arn), None, None)
                    .await
            }
            Err(Error::NotFound(_)) => {
                let name = arn_path(campaign_arn, ResourceType::Campaign).ok_or_else(|| {
                    Error::InvalidInput(format!("'{campaign_arn}' is not a campaign ARN"))
                })?;
                let campaign = self
                    .create_campaign(name, version_arn, None, CampaignConfig::default())
                    .await?;
                if campaign.campaign_arn != campaign_arn {
                    return Err(Error::InvalidInput(format!(
                        "campaignArn {campaign_arn} is not in this deployment's region and account ({})",
                        campaign.campaign_arn
                    )));
                }
                Ok(campaign)
            }
            Err(e) => Err(e),
        }
    }

    /// Ends a version that has not finished as CREATE FAILED; a finished one is left alone.
    pub async fn fail_solution_version(&self, arn: &str, reason: &str) -> Result<SolutionVersion> {
        let (mut version, v) = self
            .require::<SolutionVersion>(tables::SOLUTION_VERSIONS, arn)
            .await?;
        if !matches!(
            version.status,
            Status::CreatePending | Status::CreateInProgress
        ) {
            return Ok(version);
        }
        version.status = Status::CreateFailed;
        version.failure_reason = Some(reason.to_string());
        version.last_updated_date_time = now_epoch();
        self.update_record(v, &version).await?;
        Ok(version)
    }
}

/// The reason to record from a state machine's error object (`{"Error", "Cause"}`), where a
/// Lambda error's Cause is itself JSON (`{"errorType", "errorMessage"}`).
fn failure_reason(error: Option<&Value>) -> String {
    let text = |v: &Value| v.as_str().map(str::to_string);
    let reason = error
        .and_then(|e| {
            let cause = e.get("Cause").and_then(text);
            let from_lambda = cause
                .as_deref()
                .and_then(|c| serde_json::from_str::<Value>(c).ok())
                .and_then(|c| c.get("errorMessage").and_then(text));
            from_lambda
                .or(cause)
                .or_else(|| e.get("Error").and_then(text))
        })
        .unwrap_or_else(|| "the training workflow failed".into());
    reason.chars().take(1000).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_the_state_machine_payloads() {
        let step: TrainingStep = serde_json::from_value(json!({
            "action": "validate", "solutionArn": "s", "campaignArn": "c", "trainingMode": "UPDATE"
        }))
        .unwrap();
        assert_eq!(
            step,
            TrainingStep::Validate {
                solution_arn: "s".into(),
                campaign_arn: "c".into(),
                training_mode: TrainingMode::Update
            }
        );
        let step: TrainingStep =
            serde_json::from_value(json!({"action": "fail", "error": {"Error": "X"}})).unwrap();
        assert!(matches!(
            step,
            TrainingStep::Fail {
                solution_version_arn: None,
                ..
            }
        ));
        assert!(serde_json::from_value::<TrainingStep>(json!({"action": "dance"})).is_err());
    }

    #[test]
    fn failure_reasons_prefer_the_lambda_message() {
        let lambda = json!({"Error": "InvalidInputException",
            "Cause": "{\"errorType\":\"InvalidInputException\",\"errorMessage\":\"no data\"}"});
        assert_eq!(failure_reason(Some(&lambda)), "no data");
        let timeout = json!({"Error": "States.Timeout", "Cause": "Task timed out"});
        assert_eq!(failure_reason(Some(&timeout)), "Task timed out");
        assert_eq!(
            failure_reason(Some(&json!({"Error": "States.Runtime"}))),
            "States.Runtime"
        );
        assert_eq!(failure_reason(None), "the training workflow failed");
    }
}

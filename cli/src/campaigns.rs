//! Campaigns, event trackers and filters.

use std::process::ExitCode;

use tailor_core::domain::{CampaignConfig, ResourceType};
use tailor_core::{Result, Tailor};

use crate::commands::{group_arn, say};

fn print<T: serde::Serialize>(v: &T) {
    say(&format!(
        "{}\n",
        serde_json::to_string_pretty(v).unwrap_or_default()
    ));
}

#[derive(Debug, clap::Args)]
pub struct CreateCampaign {
    /// Name of the campaign.
    #[arg(long)]
    name: String,
    /// Solution name or ARN: the campaign serves its newest ACTIVE version.
    #[arg(long, required_unless_present = "solution_version")]
    solution: Option<String>,
    /// Or an exact solution version ARN.
    #[arg(long)]
    solution_version: Option<String>,
    /// itemExplorationConfig.explorationWeight (0–1, default 0.3).
    #[arg(long)]
    exploration_weight: Option<f64>,
    /// itemExplorationConfig.explorationItemAgeCutOff in days (default 30).
    #[arg(long)]
    exploration_item_age_cut_off: Option<f64>,
    /// enableMetadataWithRecommendations.
    #[arg(long)]
    enable_metadata: bool,
}

impl CreateCampaign {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        let version = match (&self.solution_version, &self.solution) {
            (Some(v), _) => v.clone(),
            (None, Some(s)) if s.starts_with("arn:") => format!("{s}/$LATEST"),
            (None, Some(s)) => format!("{}/$LATEST", tailor.arns.arn(ResourceType::Solution, s)),
            (None, None) => unreachable!("clap requires one"),
        };
        let mut config = CampaignConfig {
            enable_metadata_with_recommendations: self.enable_metadata,
            ..Default::default()
        };
        if let Some(w) = self.exploration_weight {
            config
                .item_exploration_config
                .insert("explorationWeight".into(), w.to_string());
        }
        if let Some(d) = self.exploration_item_age_cut_off {
            config
                .item_exploration_config
                .insert("explorationItemAgeCutOff".into(), d.to_string());
        }
        print(
            &tailor
                .create_campaign(&self.name, &version, None, config)
                .await?,
        );
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, clap::Args)]
pub struct CreateEventTracker {
    /// Name of the event tracker.
    #[arg(long)]
    name: String,
    /// Dataset group name or ARN (one tracker per group).
    #[arg(long)]
    dataset_group: String,
}

impl CreateEventTracker {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        print(
            &tailor
                .create_event_tracker(&self.name, &group_arn(tailor, &self.dataset_group))
                .await?,
        );
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, clap::Args)]
pub struct CreateFilter {
    /// Name of the filter.
    #[arg(long)]
    name: String,
    /// Dataset group name or ARN.
    #[arg(long)]
    dataset_group: String,
    /// e.g. `EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("Purchase")`
    #[arg(long)]
    expression: String,
}

impl CreateFilter {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        print(
            &tailor
                .create_filter(
                    &self.name,
                    &group_arn(tailor, &self.dataset_group),
                    &self.expression,
                )
                .await?,
        );
        Ok(ExitCode::SUCCESS)
    }
}

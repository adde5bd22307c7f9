//! Campaigns (a solution version served for real time) and event trackers.

use super::catalog::tables;
use super::Tailor;
use crate::domain::*;
use crate::error::{Error, Result};

impl Tailor {
    /// Creates a campaign on an ACTIVE solution version (or `{solutionArn}/$LATEST`).
    pub async fn create_campaign(
        &self,
        name: &str,
        solution_version_arn: &str,
        min_provisioned_tps: Option<u32>,
        config: CampaignConfig,
    ) -> Result<Campaign> {
        validate_name("name", name)?;
        let tps = min_provisioned_tps.unwrap_or(1);
        if tps < 1 {
            return Err(Error::InvalidInput(
                "minProvisionedTPS must be at least 1".into(),
            ));
        }
        check_config(
            &config.item_exploration_config,
            config.ranking_influence.as_ref(),
        )?;
        let version = self.resolve_version(solution_version_arn).await?;
        if crate::recipes::Recipe::parse(&version.recipe_arn)?.recipe_type()
            == crate::recipes::RecipeType::UserSegmentation
        {
            return Err(Error::InvalidInput(format!(
                "solution version {} is USER_SEGMENTATION: it serves batch segment jobs, not a campaign",
                version.solution_version_arn
            )));
        }
        self.check_campaign_quota(&version.dataset_group_arn)
            .await?;
        let now = now_epoch();
        let campaign = Campaign {
            name: name.into(),
            campaign_arn: self.arns.arn(ResourceType::Campaign, name),
            solution_version_arn: version.solution_version_arn,
            min_provisioned_tps: tps,
            campaign_config: config,
            status: Status::Active,
            failure_reason: None,
            creation_date_time: now,
            last_updated_date_time: now,
            latest_campaign_update: None,
        };
        self.insert_record(&campaign).await?;
        Ok(campaign)
    }

    /// An ACTIVE version by ARN, or the newest ACTIVE one for `{solutionArn}/$LATEST`.
    async fn resolve_version(&self, arn: &str) -> Result<SolutionVersion> {
        if let Some(solution) = arn.strip_suffix("/$LATEST") {
            return self
                .latest_active_version(solution)
                .await?
                .ok_or_else(|| Error::InUse(format!("solution {solution} has no ACTIVE version")));
        }
        let version = self.describe_solution_version(arn).await?;
        if version.status != Status::Active {
            return Err(Error::InUse(format!(
                "solution version {arn} is {}, not ACTIVE",
                version.status
            )));
        }
        Ok(version)
    }

    /// Points a campaign at another version and/or configuration.
    /// Applies at once and records it as the campaign's `latestCampaignUpdate`.
    pub async fn update_campaign(
        &self,
        campaign_arn: &str,
        solution_version_arn: Option<&str>,
        min_provisioned_tps: Option<u32>,
        config: Option<CampaignConfig>,
    ) -> Result<Campaign> {
        let (mut campaign, v) = self
            .require::<Campaign>(tables::CAMPAIGNS, campaign_arn)
            .await?;
        if let Some(arn) = solution_version_arn {
            campaign.solution_version_arn = self.resolve_version(arn).await?.solution_version_arn;
        }
        if let Some(tps) = min_provisioned_tps {
            if tps < 1 {
                return Err(Error::InvalidInput(
                    "minProvisionedTPS must be at least 1".into(),
                ));
            }
            campaign.min_provisioned_tps = tps;
        }
        if let Some(c) = config {
            check_config(&c.item_exploration_config, c.ranking_influence.as_ref())?;
            campaign.campaign_config = c;
        }
        let now = now_epoch();
        campaign.last_updated_date_time = now;
        campaign.latest_campaign_update = Some(CampaignUpdateSummary {
            solution_version_arn: campaign.solution_version_arn.clone(),
            min_provisioned_tps: campaign.min_provisioned_tps,
            campaign_config: campaign.campaign_config.clone(),
            status: Status::Active,
            failure_reason: None,
            creation_date_time: now,
            last_updated_date_time: now,
        });
        self.update_record(v, &campaign).await?;
        Ok(campaign)
    }

    pub async fn describe_campaign(&self, arn: &str) -> Result<Campaign> {
        Ok(self.require(tables::CAMPAIGNS, arn).await?.0)
    }

    /// Campaigns (of one solution, when given).
    pub async fn list_campaigns(&self, solution_arn: Option<&str>) -> Result<Vec<Campaign>> {
        self.list_records(solution_arn).await
    }

    /// One tracker per dataset group, as in Personalize.
    pub async fn create_event_tracker(
        &self,
        name: &str,
        dataset_group_arn: &str,
    ) -> Result<EventTracker> {
        validate_name("name", name)?;
        self.describe_dataset_group(dataset_group_arn).await?;
        if !self
            .list_event_trackers(Some(dataset_group_arn))
            .await?
            .is_empty()
        {
            return Err(Error::AlreadyExists(format!(
                "dataset group {dataset_group_arn} already has an event tracker"
            )));
        }
        let now = now_epoch();
        let tracker = EventTracker {
            name: name.into(),
            event_tracker_arn: self.arns.arn(ResourceType::EventTracker, name),
            account_id: self.arns.account.clone(),
            tracking_id: uuid::Uuid::new_v4().to_string(),
            dataset_group_arn: dataset_group_arn.into(),
            status: Status::Active,
            creation_date_time: now,
            last_updated_date_time: now,
        };
        self.insert_record(&tracker).await?;
        Ok(tracker)
    }

    pub async fn describe_event_tracker(&self, arn: &str) -> Result<EventTracker> {
        Ok(self.require(tables::EVENT_TRACKERS, arn).await?.0)
    }

    /// Event trackers (of one dataset group, when given).
    pub async fn list_event_trackers(
        &self,
        dataset_group_arn: Option<&str>,
    ) -> Result<Vec<EventTracker>> {
        self.list_records(dataset_group_arn).await
    }
}

/// Checks what a campaign's config and a batch inference job's config share: the
/// `itemExplorationConfig` and the `rankingInfluence`.
pub(crate) fn check_config(
    exploration: &std::collections::BTreeMap<String, String>,
    influence: Option<&std::collections::BTreeMap<String, f64>>,
) -> Result<()> {
    check_exploration_config(exploration)?;
    check_ranking_influence(influence)
}

/// Checks a `rankingInfluence`: Personalize's keys, weights 0–1.
fn check_ranking_influence(
    influence: Option<&std::collections::BTreeMap<String, f64>>,
) -> Result<()> {
    for (k, &w) in influence.into_iter().flatten() {
        if !matches!(k.as_str(), "POPULARITY" | "FRESHNESS") {
            return Err(Error::InvalidInput(format!(
                "rankingInfluence key '{k}' is not known (POPULARITY, FRESHNESS)"
            )));
        }
        if !(0.0..=1.0).contains(&w) {
            return Err(Error::InvalidInput(format!(
                "rankingInfluence.{k} {w} is out of range (0-1)"
            )));
        }
    }
    Ok(())
}

/// Checks an `itemExplorationConfig` (a campaign's, a batch inference job's): known keys,
/// numbers in range.
fn check_exploration_config(config: &std::collections::BTreeMap<String, String>) -> Result<()> {
    for (k, v) in config {
        let (lo, hi) = match k.as_str() {
            "explorationWeight" => (0.0, 1.0),
            "explorationItemAgeCutOff" => (f64::MIN_POSITIVE, f64::MAX),
            _ => return Err(Error::InvalidInput(format!("itemExplorationConfig key '{k}' is not known (explorationWeight, explorationItemAgeCutOff)"))),
        };
        let x: f64 = v.trim().parse().map_err(|_| {
            Error::InvalidInput(format!("itemExplorationConfig.{k} '{v}' is not a number"))
        })?;
        if !(x >= lo && x <= hi) {
            return Err(Error::InvalidInput(format!(
                "itemExplorationConfig.{k} {v} is out of range"
            )));
        }
    }
    Ok(())
}

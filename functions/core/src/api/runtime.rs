//! GetRecommendations and GetPersonalizedRanking (`personalize-runtime`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::text::shown;
use super::{check_count, check_len};
use crate::domain::{check_arn, ResourceType};
use crate::error::{Error, Result};

pub const DEFAULT_NUM_RESULTS: usize = 25;
pub const MAX_NUM_RESULTS: usize = 500;
pub const MAX_WITH_METADATA: usize = 50;
/// tailor's limit on `excludeItemIds` (the extension has no Personalize limit to follow):
/// as many as the largest answer, so any answer can be excluded in one call.
pub const MAX_EXCLUDED_IDS: usize = 500;
/// Item ids are at most 256 characters wherever Personalize takes them.
pub const MAX_ID_CHARS: usize = 256;
/// Personalize's limit on a `metadataColumns` column name.
pub const MAX_COLUMN_CHARS: usize = 150;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_promoted_items: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_arn: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filter_values: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetRecommendationsRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommender_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_results: Option<usize>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_arn: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filter_values: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promotions: Vec<Promotion>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata_columns: BTreeMap<String, Vec<String>>,
    /// tailor's extension: item ids never to return (also accepted as the context key
    /// `EXCLUDE_ITEM_IDS`, comma-separated, which SDKs can send unchanged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_item_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPersonalizedRankingRequest {
    #[serde(default)]
    pub campaign_arn: String,
    #[serde(default)]
    pub input_list: Vec<String>,
    #[serde(default)]
    pub user_id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_arn: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filter_values: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata_columns: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictedItem {
    pub item_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetRecommendationsResponse {
    pub item_list: Vec<PredictedItem>,
    pub recommendation_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPersonalizedRankingResponse {
    pub personalized_ranking: Vec<PredictedItem>,
    pub recommendation_id: String,
}

fn check_map(
    field: &str,
    map: &BTreeMap<String, String>,
    max_entries: usize,
    max_key: usize,
    max_value: usize,
) -> Result<()> {
    check_count(field, map.len(), 0, max_entries)?;
    for (k, v) in map {
        check_len(&format!("{field} key"), k, 1, max_key)?;
        if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::InvalidInput(format!(
                "{field} key '{}' may hold only letters, digits and '_'",
                shown(k)
            )));
        }
        check_len(&format!("{field}.{k}"), v, 0, max_value)?;
    }
    Ok(())
}

/// Columns asked for with `metadataColumns`: only the ITEMS key is defined.
fn check_metadata(columns: &BTreeMap<String, Vec<String>>) -> Result<()> {
    for (k, v) in columns {
        if k != "ITEMS" {
            return Err(Error::InvalidInput(format!(
                "metadataColumns key '{}' is not supported (use ITEMS)",
                shown(k)
            )));
        }
        check_count("metadataColumns.ITEMS", v.len(), 0, 99)?;
        for (i, column) in v.iter().enumerate() {
            check_len(
                &format!("metadataColumns.ITEMS[{i}]"),
                column,
                1,
                MAX_COLUMN_CHARS,
            )?;
        }
    }
    Ok(())
}

impl GetRecommendationsRequest {
    /// Checks Personalize's limits; returns numResults with its default applied.
    pub fn validate(&self) -> Result<usize> {
        match (&self.campaign_arn, &self.recommender_arn) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidInput(
                    "give campaignArn or recommenderArn, not both".into(),
                ))
            }
            (None, None) => return Err(Error::InvalidInput("campaignArn is required".into())),
            (None, Some(_)) => {
                return Err(Error::InvalidInput(
                    "recommenders (domain dataset groups) are not supported; use a campaign".into(),
                ))
            }
            (Some(arn), None) => check_arn("campaignArn", arn, ResourceType::Campaign)?,
        }
        if let Some(f) = &self.filter_arn {
            check_arn("filterArn", f, ResourceType::Filter)?;
        }
        if let Some(u) = &self.user_id {
            check_len("userId", u, 1, 256)?;
        }
        if let Some(i) = &self.item_id {
            check_len("itemId", i, 1, 256)?;
        }
        check_map("context", &self.context, 150, 150, 1000)?;
        check_map("filterValues", &self.filter_values, 25, 50, 1000)?;
        check_count("promotions", self.promotions.len(), 0, 1)?;
        for p in &self.promotions {
            let name = p.name.as_deref().unwrap_or_default();
            crate::domain::validate_name("promotions.name", name)?;
            let pct = p.percent_promoted_items.ok_or_else(|| {
                Error::InvalidInput("promotions.percentPromotedItems is required".into())
            })?;
            if !(1..=100).contains(&pct) {
                return Err(Error::InvalidInput(format!(
                    "promotions.percentPromotedItems must be within [1, 100], got {pct}"
                )));
            }
            match &p.filter_arn {
                None => {
                    return Err(Error::InvalidInput(
                        "promotions.filterArn is required".into(),
                    ))
                }
                Some(f) => check_arn("promotions.filterArn", f, ResourceType::Filter)?,
            }
            check_map("promotions.filterValues", &p.filter_values, 25, 50, 1000)?;
        }
        check_metadata(&self.metadata_columns)?;
        let max = if self.metadata_columns.is_empty() {
            MAX_NUM_RESULTS
        } else {
            MAX_WITH_METADATA
        };
        let n = match self.num_results {
            None | Some(0) => DEFAULT_NUM_RESULTS.min(max),
            Some(n) => n,
        };
        if n > max {
            return Err(Error::InvalidInput(format!(
                "numResults must be at most {max}{}, got {n}",
                if max == MAX_WITH_METADATA {
                    " with metadataColumns"
                } else {
                    ""
                }
            )));
        }
        check_count(
            "excludeItemIds",
            self.exclude_item_ids.len(),
            0,
            MAX_EXCLUDED_IDS,
        )?;
        for (i, id) in self.exclude_item_ids.iter().enumerate() {
            check_len(&format!("excludeItemIds[{i}]"), id, 1, MAX_ID_CHARS)?;
        }
        Ok(n)
    }

    /// The extension's excluded ids, from the field and the `EXCLUDE_ITEM_IDS` context key.
    pub fn excluded_ids(&self) -> Vec<String> {
        let mut ids = self.exclude_item_ids.clone();
        if let Some(list) = self.context.get("EXCLUDE_ITEM_IDS") {
            ids.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
        }
        ids
    }
}

impl GetPersonalizedRankingRequest {
    pub fn validate(&self) -> Result<()> {
        check_arn("campaignArn", &self.campaign_arn, ResourceType::Campaign)?;
        if let Some(f) = &self.filter_arn {
            check_arn("filterArn", f, ResourceType::Filter)?;
        }
        check_len("userId", &self.user_id, 1, 256)?;
        let max = if self.metadata_columns.is_empty() {
            MAX_NUM_RESULTS
        } else {
            MAX_WITH_METADATA
        };
        check_count("inputList", self.input_list.len(), 1, max)?;
        for (i, id) in self.input_list.iter().enumerate() {
            check_len(&format!("inputList[{i}]"), id, 1, MAX_ID_CHARS)?;
        }
        check_map("context", &self.context, 150, 150, 1000)?;
        check_map("filterValues", &self.filter_values, 25, 50, 1000)?;
        check_metadata(&self.metadata_columns)
    }
}

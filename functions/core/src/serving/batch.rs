//! Batch inference over JSON Lines, in Personalize's shapes: one output line per input line, in
//! input order, `{"input", "output": {"recommendedItems", "scores"}, "error"}`. Each line is
//! answered by the same path as GetRecommendations / GetPersonalizedRanking on the solution
//! version, so a batch answer equals the online one; a bad line gets its `error` (naming the
//! line) and the others go on.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::Runtime;
use crate::api::runtime::{
    GetPersonalizedRankingRequest, GetRecommendationsRequest, PredictedItem,
};
use crate::error::Result;
use crate::recipes::RecipeType;

/// A batch job's settings that apply to every line.
#[derive(Debug, Clone, Default)]
pub struct BatchSettings {
    /// Items per line (Personalize's default 25).
    pub num_results: Option<usize>,
    pub filter_arn: Option<String>,
}

/// What a batch run did: lines answered and lines that got an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchCounts {
    pub lines: u64,
    pub failed: u64,
}

impl Runtime {
    /// Answers every non-blank line of `input` for `solution_version_arn`, appending the
    /// output lines to `out`. Fails only when the version itself cannot be served.
    pub async fn batch_inference(
        &self,
        solution_version_arn: &str,
        settings: &BatchSettings,
        input: &str,
        out: &mut Vec<u8>,
    ) -> Result<BatchCounts> {
        let c = self.solution_version(solution_version_arn).await?;
        let mut counts = BatchCounts::default();
        for (i, raw) in input.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            counts.lines += 1;
            let line = match serde_json::from_str::<Value>(raw) {
                Ok(Value::Object(obj)) => {
                    let answered = self.answer_line(&c, settings, &obj).await;
                    match answered {
                        Ok(items) => {
                            json!({ "input": obj, "output": output(&items), "error": null })
                        }
                        Err(e) => {
                            json!({ "input": obj, "output": null,
                                    "error": format!("line {}: {}", i + 1, e.client_message()) })
                        }
                    }
                }
                Ok(_) => json!({ "input": raw, "output": null,
                                 "error": format!("line {}: not a JSON object", i + 1) }),
                Err(e) => json!({ "input": raw, "output": null,
                                  "error": format!("line {}: not JSON: {e}", i + 1) }),
            };
            if !line["error"].is_null() {
                counts.failed += 1;
            }
            out.extend_from_slice(line.to_string().as_bytes());
            out.push(b'\n');
        }
        Ok(counts)
    }

    async fn answer_line(
        &self,
        c: &super::CampaignState,
        settings: &BatchSettings,
        line: &Map<String, Value>,
    ) -> Result<Vec<PredictedItem>> {
        let text = |field: &str| line.get(field).and_then(Value::as_str).map(String::from);
        let filter_values: BTreeMap<String, String> = match line.get("filterValues") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
                crate::Error::InvalidInput("filterValues must map names to strings".into())
            })?,
        };
        let campaign_arn = c.campaign.campaign_arn.clone();
        if c.recipe_type == RecipeType::PersonalizedRanking {
            let input_list: Vec<String> = match line.get("itemList") {
                Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
                    crate::Error::InvalidInput("itemList must be a list of item ids".into())
                })?,
                None => {
                    return Err(crate::Error::InvalidInput(
                        "itemList is required for a PERSONALIZED_RANKING solution version".into(),
                    ))
                }
            };
            let req = GetPersonalizedRankingRequest {
                campaign_arn,
                input_list,
                user_id: text("userId").unwrap_or_default(),
                filter_arn: settings.filter_arn.clone(),
                filter_values,
                ..Default::default()
            };
            return Ok(self.rank_with(c, &req).await?.personalized_ranking);
        }
        let req = GetRecommendationsRequest {
            campaign_arn: Some(campaign_arn),
            user_id: text("userId"),
            item_id: text("itemId"),
            num_results: settings.num_results,
            filter_arn: settings.filter_arn.clone(),
            filter_values,
            ..Default::default()
        };
        Ok(self.recommend_with(c, &req).await?.item_list)
    }
}

/// `{"recommendedItems", "scores"}`, scores only when the answer has them.
fn output(items: &[PredictedItem]) -> Value {
    let ids: Vec<&str> = items.iter().map(|i| i.item_id.as_str()).collect();
    let scores: Option<Vec<f64>> = items.iter().map(|i| i.score).collect();
    match scores {
        Some(s) if !s.is_empty() => json!({ "recommendedItems": ids, "scores": s }),
        _ => json!({ "recommendedItems": ids }),
    }
}

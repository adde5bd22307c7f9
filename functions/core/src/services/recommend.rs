//! Answers for a user or an item from a trained model, with the user's history taken from the
//! bulk interactions and the streamed events.

use super::Tailor;
use crate::data::Table;
use crate::engine::{self, Options};
use crate::error::{Error, Result};
use crate::recipes::Model;
use crate::schema::DatasetType;

/// One recommended item.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictedItem {
    pub item_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// How many of a user's newest events a request looks at.
const HISTORY_LIMIT: usize = 500;

/// Item ids of `user`'s interactions in `table`, oldest first.
pub fn history_in(table: &Table, user_id: &str) -> Vec<String> {
    let (Some((users, user_codes)), Some((items, item_codes)), Some(ts)) = (
        table.codes("USER_ID"),
        table.codes("ITEM_ID"),
        table.longs("TIMESTAMP"),
    ) else {
        return Vec::new();
    };
    let Some(user) = users.get(user_id) else {
        return Vec::new();
    };
    let mut rows: Vec<usize> = (0..user_codes.len())
        .filter(|&r| user_codes[r] == user)
        .collect();
    rows.sort_by_key(|&r| ts[r]);
    rows.into_iter()
        .map(|r| items.name(item_codes[r]).to_string())
        .collect()
}

/// Maps ids to the model's codes, dropping ids it does not know.
pub fn codes(model: &Model, ids: &[String]) -> Vec<u32> {
    ids.iter().filter_map(|id| model.items.get(id)).collect()
}

fn named(model: &Model, scored: Vec<engine::Scored>) -> Vec<PredictedItem> {
    scored
        .into_iter()
        .map(|s| PredictedItem {
            item_id: model.items.name(s.item).to_string(),
            score: Some(s.score as f64),
        })
        .collect()
}

impl Tailor {
    /// A user's item history (ids, oldest first): bulk-imported interactions, then events
    /// streamed since, newest `HISTORY_LIMIT` kept.
    pub async fn user_history(
        &self,
        dataset_group_arn: &str,
        user_id: &str,
    ) -> Result<Vec<String>> {
        let group = self.describe_dataset_group(dataset_group_arn).await?;
        let mut history = match self
            .load_dataset(
                &self
                    .arns
                    .dataset_arn(&group.name, DatasetType::Interactions),
            )
            .await
        {
            Ok(Some(table)) => history_in(&table, user_id),
            // No interactions dataset, or none imported yet: the history is the events alone.
            Ok(None) | Err(Error::NotFound(_)) => Vec::new(),
            // Damaged data must not become an empty history and a confident wrong answer.
            Err(e) => return Err(e),
        };
        for e in self
            .stores
            .events
            .recent(dataset_group_arn, user_id, HISTORY_LIMIT)
            .await?
        {
            if let Some(item) = e.item_id {
                history.push(item);
            }
        }
        let start = history.len().saturating_sub(HISTORY_LIMIT);
        Ok(history.split_off(start))
    }
}

/// Top `k` for a user with `history` (ids, oldest first). Items they interacted with may be
/// among them, as GetRecommendations answers.
pub fn recommend(model: &Model, history: &[String], k: usize) -> Vec<PredictedItem> {
    let history = codes(model, history);
    named(
        model,
        engine::recommend(
            model,
            &history,
            &[],
            Options {
                k,
                exclude_history: false,
            },
        ),
    )
}

/// Items related to `item_id` (popular items when the model does not know it).
pub fn related(model: &Model, item_id: &str, k: usize) -> Vec<PredictedItem> {
    named(
        model,
        engine::related(model, model.items.get(item_id), &[], k),
    )
}

/// `input` re-ranked for a user; unknown items last, without a score.
pub fn rank(model: &Model, history: &[String], input: &[String]) -> Vec<PredictedItem> {
    let history = codes(model, history);
    let candidates: Vec<Option<u32>> = input.iter().map(|id| model.items.get(id)).collect();
    engine::rank(model, &history, &candidates)
        .into_iter()
        .map(|(pos, score)| PredictedItem {
            item_id: input[pos].clone(),
            score: score.map(f64::from),
        })
        .collect()
}

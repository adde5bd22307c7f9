//! PutEvents, PutItems and PutUsers (`personalize-events`).

use serde::{Deserialize, Serialize};

use super::text::shown;
use super::{check_count, check_len};
use crate::domain::{check_arn, ResourceType};
use crate::error::{Error, Result};

/// Property keys PutEvents refuses (case-insensitive).
const FORBIDDEN_EVENT_PROPERTIES: [&str; 6] = [
    "userid",
    "sessionid",
    "eventtype",
    "timestamp",
    "recommendationid",
    "impression",
];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricAttribution {
    pub event_attribution_source: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default)]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_value: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<String>,
    /// Epoch seconds.
    #[serde(default)]
    pub sent_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub impression: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_attribution: Option<MetricAttribution>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutEventsRequest {
    #[serde(default)]
    pub tracking_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default)]
    pub session_id: String,
    #[serde(default)]
    pub event_list: Vec<Event>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    #[serde(default)]
    pub item_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default)]
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutItemsRequest {
    #[serde(default)]
    pub dataset_arn: String,
    #[serde(default)]
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutUsersRequest {
    #[serde(default)]
    pub dataset_arn: String,
    #[serde(default)]
    pub users: Vec<User>,
}

/// A properties string: a JSON object of at most `max` characters.
pub fn parse_properties(
    field: &str,
    raw: &str,
    max: usize,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    check_len(field, raw, 1, max)?;
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::InvalidInput(format!(
            "{field} must be a JSON object"
        ))),
        // serde_json's syntax messages name no Rust type; the suffix repeats the position.
        Err(e) => Err(Error::InvalidInput(format!(
            "{field} is not valid JSON at column {}: {}",
            e.column(),
            shown(
                e.to_string()
                    .rsplit_once(" at line ")
                    .map_or("", |(m, _)| m)
            )
        ))),
    }
}

impl PutEventsRequest {
    pub fn validate(&self) -> Result<()> {
        check_len("trackingId", &self.tracking_id, 1, 256)?;
        check_len("sessionId", &self.session_id, 1, 256)?;
        if let Some(u) = &self.user_id {
            check_len("userId", u, 1, 256)?;
        }
        check_count("eventList", self.event_list.len(), 1, 10)?;
        for (i, e) in self.event_list.iter().enumerate() {
            let at = |f: &str| format!("eventList[{i}].{f}");
            check_len(&at("eventType"), &e.event_type, 1, 256)?;
            if e.sent_at.is_none() {
                return Err(Error::InvalidInput(format!("{} is required", at("sentAt"))));
            }
            if e.event_value.is_some_and(|v| !v.is_finite()) {
                return Err(Error::InvalidInput(format!(
                    "{} must be a finite number",
                    at("eventValue")
                )));
            }
            if e.sent_at.is_some_and(|t| !t.is_finite()) {
                return Err(Error::InvalidInput(format!(
                    "{} must be a finite number",
                    at("sentAt")
                )));
            }
            if let Some(id) = &e.event_id {
                check_len(&at("eventId"), id, 1, 256)?;
            }
            if let Some(id) = &e.item_id {
                check_len(&at("itemId"), id, 1, 256)?;
            }
            if let Some(r) = &e.recommendation_id {
                check_len(&at("recommendationId"), r, 1, 40)?;
            }
            if !e.impression.is_empty() {
                check_count(&at("impression"), e.impression.len(), 1, 25)?;
                for (k, id) in e.impression.iter().enumerate() {
                    check_len(&at(&format!("impression[{k}]")), id, 1, 256)?;
                }
            }
            if let Some(p) = &e.properties {
                let map = parse_properties(&at("properties"), p, 1024)?;
                if let Some(bad) = map
                    .keys()
                    .find(|k| FORBIDDEN_EVENT_PROPERTIES.contains(&k.to_ascii_lowercase().as_str()))
                {
                    return Err(Error::InvalidInput(format!(
                        "{} may not contain the key '{}'",
                        at("properties"),
                        shown(bad)
                    )));
                }
            }
            if let Some(m) = &e.metric_attribution {
                check_len(
                    &at("metricAttribution.eventAttributionSource"),
                    &m.event_attribution_source,
                    1,
                    1024,
                )?;
            }
        }
        Ok(())
    }
}

impl PutItemsRequest {
    pub fn validate(&self) -> Result<()> {
        check_arn("datasetArn", &self.dataset_arn, ResourceType::Dataset)?;
        check_count("items", self.items.len(), 1, 10)?;
        for (i, item) in self.items.iter().enumerate() {
            check_len(&format!("items[{i}].itemId"), &item.item_id, 1, 256)?;
            if let Some(p) = &item.properties {
                parse_properties(&format!("items[{i}].properties"), p, 32_000)?;
            }
        }
        Ok(())
    }
}

impl PutUsersRequest {
    pub fn validate(&self) -> Result<()> {
        check_arn("datasetArn", &self.dataset_arn, ResourceType::Dataset)?;
        check_count("users", self.users.len(), 1, 10)?;
        for (i, user) in self.users.iter().enumerate() {
            check_len(&format!("users[{i}].userId"), &user.user_id, 1, 256)?;
            if let Some(p) = &user.properties {
                parse_properties(&format!("users[{i}].properties"), p, 24_000)?;
            }
        }
        Ok(())
    }
}

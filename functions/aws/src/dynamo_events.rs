//! [`EventStore`] on one DynamoDB table with a composite primary key: partition key `pk` (S) and
//! sort key `sk` (N). No secondary index is needed.
//!
//! Items, per dataset group `<g>`:
//!
//! | `pk`                        | `sk`  | other attributes                    | purpose              |
//! |-----------------------------|-------|-------------------------------------|----------------------|
//! | `eventid#<g>#<eventId>`     | 0     | `seq`                               | dedup marker         |
//! | `seq#<g>`                   | 0     | `n` (N): last sequence number       | sequence counter     |
//! | `log#<g>`                   | seq   | `event` (S, JSON)                   | ordered log, `since` |
//! | `recent#<g>#<subject>`      | seq   | `event` (S, JSON), `expires_at` (N) | `recent(subject)`    |
//! | `shown#<g>#<recommendationId>` | 0  | `items` (S, JSON), `expires_at` (N) | `shown(id)`          |
//!
//! `append`, per event in order: a conditional PutItem of the dedup marker
//! (`attribute_not_exists(pk)`; a conditional-check failure means the eventId was seen, so the
//! event is skipped, which also catches duplicates inside one batch); then one atomic
//! `ADD n :count` on the counter reserves sequence numbers for the new events; then each event
//! is written to the group log and to the recent partition of its user id (if any) and of its
//! session id. Recent items carry `expires_at` (epoch seconds, [`RECENT_TTL_SECS`] after the
//! write) for a DynamoDB TTL retention policy; log items do not expire.
//!
//! `recent` queries `recent#<g>#<subject>` newest first with `Limit` and reverses the page;
//! `since` queries `log#<g>` with `sk > :after` in ascending order. Reads are strongly consistent.
//!
//! Known limits: a crash between the dedup marker and the log write loses that event (at most
//! once delivery per eventId); with concurrent appenders to one group a reader may briefly see a
//! higher sequence number before a lower one is written.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use tailor_core::store::{EventStore, StoreError, StoreResult, StoredEvent};

use crate::io_error;

/// How long per-subject recent events are kept (`expires_at`): 30 days.
pub const RECENT_TTL_SECS: u64 = 30 * 24 * 3600;

/// Name of the TTL attribute on recent-event items.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// Streamed events of every dataset group in one DynamoDB table.
#[derive(Clone)]
pub struct DynamoEventStore {
    client: aws_sdk_dynamodb::Client,
    table_name: String,
}

impl DynamoEventStore {
    pub fn new(config: &aws_config::SdkConfig, table_name: &str) -> Self {
        DynamoEventStore {
            client: aws_sdk_dynamodb::Client::new(config),
            table_name: table_name.to_string(),
        }
    }

    async fn put(&self, item: HashMap<String, AttributeValue>) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| io_error("DynamoDB PutItem", &e))?;
        Ok(())
    }

    /// Writes the dedup marker; false if the eventId was stored before.
    async fn claim(&self, group: &str, event_id: &str) -> StoreResult<bool> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .item("pk", s(&format!("eventid#{group}#{event_id}")))
            .item("sk", n(0))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(io_error("DynamoDB PutItem", &e)),
        }
    }

    /// Reserves `count` sequence numbers; returns the first.
    async fn reserve(&self, group: &str, count: u64) -> StoreResult<u64> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .key("pk", s(&format!("seq#{group}")))
            .key("sk", n(0))
            .update_expression("ADD #n :count")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":count", n(count))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| io_error("DynamoDB UpdateItem", &e))?;
        let last = match out.attributes().and_then(|a| a.get("n")) {
            Some(AttributeValue::N(v)) => v
                .parse::<u64>()
                .map_err(|_| StoreError::Corrupt(format!("sequence '{v}' is not a number")))?,
            _ => return Err(StoreError::Corrupt("sequence counter missing".into())),
        };
        Ok(last + 1 - count)
    }

    async fn query_events(
        &self,
        partition: String,
        after: Option<u64>,
        forward: bool,
        limit: usize,
    ) -> StoreResult<Vec<(u64, StoredEvent)>> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        while out.len() < limit {
            let mut req = self
                .client
                .query()
                .table_name(&self.table_name)
                .consistent_read(true)
                .scan_index_forward(forward)
                .limit(i32::try_from(limit - out.len()).unwrap_or(i32::MAX))
                .expression_attribute_values(":pk", AttributeValue::S(partition.clone()))
                .set_exclusive_start_key(start.take());
            req = match after {
                Some(a) => req
                    .key_condition_expression("pk = :pk AND sk > :after")
                    .expression_attribute_values(":after", n(a)),
                None => req.key_condition_expression("pk = :pk"),
            };
            let page = req
                .send()
                .await
                .map_err(|e| io_error("DynamoDB Query", &e))?;
            for item in page.items() {
                out.push(decode(item)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn decode(item: &HashMap<String, AttributeValue>) -> StoreResult<(u64, StoredEvent)> {
    let seq = match item.get("sk") {
        Some(AttributeValue::N(v)) => v
            .parse::<u64>()
            .map_err(|_| StoreError::Corrupt(format!("sequence '{v}' is not a number")))?,
        _ => {
            return Err(StoreError::Corrupt(
                "event without a sequence number".into(),
            ))
        }
    };
    let event = match item.get("event") {
        Some(AttributeValue::S(json)) => serde_json::from_str(json)
            .map_err(|e| StoreError::Corrupt(format!("stored event: {e}")))?,
        _ => return Err(StoreError::Corrupt("event item without a body".into())),
    };
    Ok((seq, event))
}

fn check_group(group: &str) -> StoreResult<()> {
    if group.is_empty() || group.contains('#') {
        return Err(StoreError::BadKey(group.to_string()));
    }
    Ok(())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[async_trait]
impl EventStore for DynamoEventStore {
    async fn latest(&self, group: &str, limit: usize) -> StoreResult<Vec<(u64, StoredEvent)>> {
        check_group(group)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut newest = self
            .query_events(format!("log#{group}"), None, false, limit)
            .await?;
        newest.reverse();
        Ok(newest)
    }

    async fn put_shown(
        &self,
        group: &str,
        recommendation_id: &str,
        items: &[String],
    ) -> StoreResult<()> {
        check_group(group)?;
        let json = serde_json::to_string(items).map_err(|e| StoreError::Io(e.to_string()))?;
        self.put(HashMap::from([
            (
                "pk".to_string(),
                s(&format!("shown#{group}#{recommendation_id}")),
            ),
            ("sk".to_string(), n(0)),
            ("items".to_string(), s(&json)),
            (
                TTL_ATTRIBUTE.to_string(),
                n(now_secs() + tailor_core::store::SHOWN_RETENTION_SECS),
            ),
        ]))
        .await
    }

    async fn shown(
        &self,
        group: &str,
        recommendation_id: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        check_group(group)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .key("pk", s(&format!("shown#{group}#{recommendation_id}")))
            .key("sk", n(0))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| io_error("DynamoDB GetItem", &e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let json = item
            .get("items")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| StoreError::Io("a shown record without items".into()))?;
        serde_json::from_str(json)
            .map(Some)
            .map_err(|e| StoreError::Io(format!("a shown record: {e}")))
    }

    async fn append(&self, group: &str, events: &[StoredEvent]) -> StoreResult<usize> {
        check_group(group)?;
        let mut fresh = Vec::new();
        for event in events {
            if self.claim(group, &event.event_id).await? {
                fresh.push(event);
            }
        }
        if fresh.is_empty() {
            return Ok(0);
        }
        let first = self.reserve(group, fresh.len() as u64).await?;
        let expires_at = now_secs() + RECENT_TTL_SECS;
        for (seq, event) in (first..).zip(fresh.iter()) {
            let json = serde_json::to_string(event)
                .map_err(|e| StoreError::Corrupt(format!("event to JSON: {e}")))?;
            let item = |partition: String| {
                HashMap::from([
                    ("pk".to_string(), AttributeValue::S(partition)),
                    ("sk".to_string(), n(seq)),
                    ("event".to_string(), s(&json)),
                ])
            };
            self.put(item(format!("log#{group}"))).await?;
            let mut subjects = vec![event.session_id.as_str()];
            if let Some(user) = event.user_id.as_deref() {
                if user != event.session_id {
                    subjects.insert(0, user);
                }
            }
            for subject in subjects {
                let mut recent = item(format!("recent#{group}#{subject}"));
                recent.insert(TTL_ATTRIBUTE.to_string(), n(expires_at));
                self.put(recent).await?;
            }
        }
        Ok(fresh.len())
    }

    async fn recent(
        &self,
        group: &str,
        subject: &str,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        check_group(group)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut newest = self
            .query_events(format!("recent#{group}#{subject}"), None, false, limit)
            .await?;
        newest.reverse();
        Ok(newest.into_iter().map(|(_, e)| e).collect())
    }

    async fn redact(&self, group: &str, users: &HashSet<String>) -> StoreResult<u64> {
        check_group(group)?;
        let log = self
            .query_events(format!("log#{group}"), None, true, usize::MAX)
            .await?;
        let ids = tailor_core::store::events_of(log.iter().map(|(_, e)| e), users);
        let mut redacted = 0;
        for (seq, event) in log.iter().filter(|(_, e)| ids.contains(&e.event_id)) {
            let json = serde_json::to_string(&event.redacted())
                .map_err(|e| StoreError::Corrupt(format!("event to JSON: {e}")))?;
            self.put(HashMap::from([
                ("pk".to_string(), s(&format!("log#{group}"))),
                ("sk".to_string(), n(*seq)),
                ("event".to_string(), s(&json)),
            ]))
            .await?;
            let mut subjects = vec![event.session_id.as_str()];
            subjects.extend(event.user_id.as_deref());
            for subject in subjects {
                self.client
                    .delete_item()
                    .table_name(&self.table_name)
                    .key("pk", s(&format!("recent#{group}#{subject}")))
                    .key("sk", n(*seq))
                    .send()
                    .await
                    .map_err(|e| io_error("DynamoDB DeleteItem", &e))?;
            }
            redacted += 1;
        }
        Ok(redacted)
    }

    async fn since(
        &self,
        group: &str,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<(u64, StoredEvent)>> {
        check_group(group)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.query_events(format!("log#{group}"), Some(after), true, limit)
            .await
    }
}

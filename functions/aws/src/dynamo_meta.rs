//! [`MetaStore`] on one DynamoDB table.
//!
//! Item layout (one item per record):
//!
//! | attribute | type | meaning                                   |
//! |-----------|------|-------------------------------------------|
//! | `pk`      | S    | partition key, `"<table>#<key>"`          |
//! | `tbl`     | S    | the port's table name                     |
//! | `key`     | S    | the port's key                            |
//! | `version` | N    | 1 on the first write, +1 on every write   |
//! | `value`   | B    | the record                                |
//! | `parent`  | S    | `"<table>#<parent>"`, when the record has one |
//!
//! `list_page` queries a global secondary index, projection ALL: [`BY_TABLE_INDEX`] (hash `tbl`,
//! range `key`) for a whole table, [`BY_PARENT_INDEX`] (hash `parent`, range `key`; sparse: only
//! records with a parent are in it) for one parent's children. Records come back sorted by key
//! (DynamoDB orders strings by UTF-8 bytes, as Rust does), a page costs what it returns, and
//! `after` is a range condition (`key > :after`). GSIs are eventually consistent on real
//! DynamoDB: a record written a moment ago may be missing from a listing for a short while; `get`
//! and the conditional writes are strongly consistent.
//!
//! Conditional writes: `Expect::Absent` → `attribute_not_exists(pk)`, `Expect::Version(v)` →
//! `version = :v` (PutItem writing `v + 1`); `Expect::Any` is one UpdateItem that increments the
//! stored version atomically (`if_not_exists(version, 0) + 1`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use tailor_core::store::{Expect, ListQuery, MetaStore, Page, StoreError, StoreResult, Versioned};

use crate::io_error;

/// Name of the GSI (hash `tbl`, range `key`) that lists a whole table.
pub const BY_TABLE_INDEX: &str = "by-table";
/// Name of the GSI (hash `parent`, range `key`) that lists one parent's children.
pub const BY_PARENT_INDEX: &str = "by-parent";

/// Resource records in one DynamoDB table.
#[derive(Clone)]
pub struct DynamoMetaStore {
    client: aws_sdk_dynamodb::Client,
    table_name: String,
}

impl DynamoMetaStore {
    pub fn new(config: &aws_config::SdkConfig, table_name: &str) -> Self {
        DynamoMetaStore {
            client: aws_sdk_dynamodb::Client::new(config),
            table_name: table_name.to_string(),
        }
    }
}

fn pk(table: &str, key: &str) -> AttributeValue {
    AttributeValue::S(format!("{table}#{key}"))
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The `parent` attribute: the parent key within its table's namespace.
fn parent_attr(table: &str, parent: &str) -> AttributeValue {
    AttributeValue::S(format!("{table}#{parent}"))
}

fn check(table: &str, key: &str) -> StoreResult<()> {
    if table.is_empty() || table.contains('#') {
        return Err(StoreError::BadKey(format!("{table}/{key}")));
    }
    if key.is_empty() {
        return Err(StoreError::BadKey(key.to_string()));
    }
    Ok(())
}

/// Reads `version` and `value` from an item.
pub(crate) fn versioned(item: &HashMap<String, AttributeValue>) -> StoreResult<Versioned> {
    let version = match item.get("version") {
        Some(AttributeValue::N(v)) => v
            .parse::<u64>()
            .map_err(|_| StoreError::Corrupt(format!("version '{v}' is not a number")))?,
        _ => return Err(StoreError::Corrupt("record without a version".into())),
    };
    let value = match item.get("value") {
        Some(AttributeValue::B(b)) => b.as_ref().to_vec(),
        _ => return Err(StoreError::Corrupt("record without a binary value".into())),
    };
    Ok(Versioned { value, version })
}

#[async_trait]
impl MetaStore for DynamoMetaStore {
    async fn get(&self, table: &str, key: &str) -> StoreResult<Option<Versioned>> {
        check(table, key)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .key("pk", pk(table, key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| io_error("DynamoDB GetItem", &e))?;
        out.item().map(versioned).transpose()
    }

    async fn put(
        &self,
        table: &str,
        key: &str,
        parent: Option<&str>,
        value: Vec<u8>,
        expect: Expect,
    ) -> StoreResult<u64> {
        check(table, key)?;
        let (version, condition) = match expect {
            Expect::Any => return self.put_any(table, key, parent, value).await,
            Expect::Absent => (1, "attribute_not_exists(pk)"),
            Expect::Version(v) => (v + 1, "#version = :expected"),
        };
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .item("pk", pk(table, key))
            .item("tbl", s(table))
            .item("key", s(key))
            .item("version", n(version))
            .item("value", AttributeValue::B(Blob::new(value)))
            .condition_expression(condition);
        if let Some(p) = parent {
            req = req.item("parent", parent_attr(table, p));
        }
        if let Expect::Version(v) = expect {
            req = req
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", n(v));
        }
        match req.send().await {
            Ok(_) => Ok(version),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::ConditionFailed)
            }
            Err(e) => Err(io_error("DynamoDB PutItem", &e)),
        }
    }

    async fn delete(&self, table: &str, key: &str, expect: Expect) -> StoreResult<()> {
        check(table, key)?;
        let mut req = self
            .client
            .delete_item()
            .table_name(&self.table_name)
            .key("pk", pk(table, key));
        match expect {
            Expect::Any => {}
            Expect::Absent => req = req.condition_expression("attribute_not_exists(pk)"),
            Expect::Version(v) => {
                req = req
                    .condition_expression("#version = :expected")
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(":expected", n(v));
            }
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::ConditionFailed)
            }
            Err(e) => Err(io_error("DynamoDB DeleteItem", &e)),
        }
    }

    async fn list_page(&self, table: &str, query: ListQuery<'_>) -> StoreResult<Page> {
        if table.is_empty() || table.contains('#') {
            return Err(StoreError::BadKey(table.to_string()));
        }
        let (index, hash, value) = match query.parent {
            Some(p) => (BY_PARENT_INDEX, "parent", parent_attr(table, p)),
            None => (BY_TABLE_INDEX, "tbl", s(table)),
        };
        let condition = match query.after {
            Some(_) => "#hash = :hash AND #key > :after",
            None => "#hash = :hash",
        };
        // One more than the page, to know whether more remain.
        let want = query.limit.max(1) + 1;
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.table_name)
                .index_name(index)
                .key_condition_expression(condition)
                .expression_attribute_names("#hash", hash)
                .expression_attribute_values(":hash", value.clone())
                .limit((want - records.len()).min(i32::MAX as usize) as i32)
                .set_exclusive_start_key(start);
            // DynamoDB refuses a name or value the condition does not use.
            if let Some(after) = query.after {
                req = req
                    .expression_attribute_names("#key", "key")
                    .expression_attribute_values(":after", s(after));
            }
            let out = req
                .send()
                .await
                .map_err(|e| io_error("DynamoDB Query", &e))?;
            for item in out.items() {
                let key = match item.get("key") {
                    Some(AttributeValue::S(k)) => k.clone(),
                    _ => return Err(StoreError::Corrupt("record without a key".into())),
                };
                records.push((key, versioned(item)?));
            }
            start = out.last_evaluated_key().cloned();
            // A response stops at 1 MB as well as at the limit: ask again until either is met.
            if records.len() >= want || start.is_none() {
                break;
            }
        }
        // The index already sorts by key; sorting again keeps the promise if it ever does not.
        records.sort_by(|a, b| a.0.cmp(&b.0));
        let next = if records.len() >= want {
            records.truncate(want - 1);
            records.last().map(|(k, _)| k.clone())
        } else {
            None
        };
        Ok(Page { records, next })
    }
}

impl DynamoMetaStore {
    /// An unconditional write that still advances the version atomically.
    async fn put_any(
        &self,
        table: &str,
        key: &str,
        parent: Option<&str>,
        value: Vec<u8>,
    ) -> StoreResult<u64> {
        let set = "SET #version = if_not_exists(#version, :zero) + :one, #value = :value, \
                   tbl = :tbl, #key = :key";
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .key("pk", pk(table, key));
        req = match parent {
            Some(p) => req
                .update_expression(format!("{set}, #parent = :parent"))
                .expression_attribute_values(":parent", parent_attr(table, p)),
            None => req.update_expression(format!("{set} REMOVE #parent")),
        };
        let out = req
            .expression_attribute_names("#parent", "parent")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#value", "value")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":value", AttributeValue::B(Blob::new(value)))
            .expression_attribute_values(":tbl", s(table))
            .expression_attribute_values(":key", s(key))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| io_error("DynamoDB UpdateItem", &e))?;
        match out.attributes().and_then(|a| a.get("version")) {
            Some(AttributeValue::N(v)) => v
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("version '{v}' is not a number"))),
            _ => Err(StoreError::Corrupt("UpdateItem returned no version".into())),
        }
    }
}

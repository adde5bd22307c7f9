//! Compaction: what PutEvents, PutItems and PutUsers recorded becomes a new version of the
//! group's datasets, so training sees it (Personalize trains on the event tracker's events)
//! and a cold reader loads one snapshot plus the event log's short tail instead of the whole
//! log.
//!
//! Events go to the interactions dataset's events part (`DatasetData::events_key`), with the
//! log's sequence number they reach (`events_through`), in the same conditional pointer write:
//! the new version is visible with its watermark or not at all, so compaction run twice, or
//! killed and run again, compacts every acknowledged event exactly once. Put records are merged
//! into the items / users data (an upsert by id, so merging one twice changes nothing) and then
//! deleted only if unchanged since they were read.

use std::sync::Arc;

use super::catalog::tables;
use super::Tailor;
use crate::crypto;
use crate::data::{avro, csv, Table};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::schema::{DatasetSchema, DatasetType};
use crate::serving::Attr;
use crate::store::{Expect, StoreError, StoredEvent};

/// How often compaction re-reads after losing the pointer race before giving up.
const MAX_SWAP_ATTEMPTS: usize = 8;
/// Events read from the log per call.
const READ_BATCH: usize = 10_000;

/// What one compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Compaction {
    /// Events added to the interactions dataset.
    pub events: u64,
    /// Events that cannot be rows of the interactions schema (named in the log), and so stay
    /// only in the event log.
    pub events_left_out: u64,
    /// The log's sequence number now compacted through.
    pub events_through: u64,
    /// Put records merged into the items and users datasets.
    pub items: u64,
    pub users: u64,
}

/// The meta table of a group's PutItems / PutUsers records: one per group, so a warm
/// environment re-reads its own group's records with one query.
pub fn put_records_table(group_name: &str) -> String {
    format!("{}.{group_name}", tables::PUT_RECORDS)
}

impl Tailor {
    /// Compacts the group's streamed events and put records into new dataset versions.
    pub async fn compact(&self, dataset_group_arn: &str) -> Result<Compaction> {
        let group = self.describe_dataset_group(dataset_group_arn).await?;
        let mut report = Compaction::default();
        let interactions = self
            .arns
            .dataset_arn(&group.name, DatasetType::Interactions);
        if self.describe_dataset(&interactions).await.is_ok() {
            self.compact_events(&interactions, &mut report).await?;
        }
        for (kind, count) in [
            (DatasetType::Items, &mut report.items),
            (DatasetType::Users, &mut report.users),
        ] {
            let arn = self.arns.dataset_arn(&group.name, kind);
            if self.describe_dataset(&arn).await.is_ok() {
                *count = self.compact_records(&group.name, &arn).await?;
            }
        }
        tracing::info!(group = dataset_group_arn, ?report, "compacted");
        Ok(report)
    }

    async fn compact_events(&self, dataset_arn: &str, report: &mut Compaction) -> Result<()> {
        let dataset = self.describe_dataset(dataset_arn).await?;
        let schema = self.dataset_schema(&dataset).await?;
        for _ in 0..MAX_SWAP_ATTEMPTS {
            let current = self
                .get_record::<DatasetData>(tables::DATASET_DATA, dataset_arn)
                .await?;
            let through = current.as_ref().map_or(0, |(p, _)| p.events_through);
            let mut events = Vec::new();
            let mut last = through;
            loop {
                let batch = self
                    .stores
                    .events
                    .since(&dataset.dataset_group_arn, last, READ_BATCH)
                    .await?;
                let Some(&(seq, _)) = batch.last() else { break };
                last = seq;
                events.extend(batch.into_iter().map(|(_, e)| e));
            }
            report.events_through = last;
            if last == through {
                return Ok(());
            }
            let (new_rows, left_out) = event_rows(schema.clone(), &events);
            let group_name = arn_path(&dataset.dataset_group_arn, ResourceType::DatasetGroup)
                .unwrap_or("default")
                .to_string();
            let kind = super::datasets::data_kind(dataset.dataset_type);
            let data_version = current.as_ref().map_or(0, |(p, _)| p.data_version) + 1;
            let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
            let mut written = Vec::new();
            // No bulk import yet: the bulk part is empty.
            let (blob_key, bulk) = match &current {
                Some((p, _)) => (
                    p.blob_key.clone(),
                    self.read_data_file(&dataset, schema.clone(), &p.blob_key)
                        .await?,
                ),
                None => {
                    let key = format!(
                        "datasets/{group_name}/{}/{data_version:08}-empty-{tag}.avro.sealed",
                        dataset.dataset_type
                    );
                    let empty = Table::empty(schema.clone());
                    self.seal_data(&dataset, &kind, &key, &empty).await?;
                    written.push(key.clone());
                    (key, empty)
                }
            };
            let mut all_events = match current.as_ref().and_then(|(p, _)| p.events_key.clone()) {
                Some(key) => self.read_data_file(&dataset, schema.clone(), &key).await?,
                None => Table::empty(schema.clone()),
            };
            all_events.append(&new_rows);
            let events_key = format!(
                "datasets/{group_name}/{}-events/{data_version:08}-{tag}.avro.sealed",
                dataset.dataset_type
            );
            self.seal_data(&dataset, &kind, &events_key, &all_events)
                .await?;
            written.push(events_key.clone());
            let serving_key = self
                .write_snapshot(
                    &dataset,
                    &events_key,
                    &super::import::with_events(&bulk, Some(&all_events)),
                )
                .await?;
            written.extend(serving_key.clone());
            let pointer = DatasetData {
                data_version,
                blob_key,
                rows: (bulk.rows() + all_events.rows()) as u64,
                import_job_arn: current
                    .as_ref()
                    .map(|(p, _)| p.import_job_arn.clone())
                    .unwrap_or_default(),
                serving_key,
                events_key: Some(events_key.clone()),
                events_through: last,
            };
            let at = current.as_ref().map(|(_, v)| *v);
            if self
                .swap_data_pointer(dataset_arn, at, &pointer, &written)
                .await?
            {
                report.events += new_rows.rows() as u64;
                report.events_left_out += left_out;
                let previous = current.and_then(|(p, _)| p.events_key);
                self.collect_garbage(&dataset, &events_key, previous.as_deref())
                    .await;
                return Ok(());
            }
        }
        Err(Error::InUse(format!(
            "dataset {dataset_arn} is being imported into or compacted by others; retry"
        )))
    }

    /// Merges the group's put records for `dataset_arn` into its data; returns how many.
    async fn compact_records(&self, group_name: &str, dataset_arn: &str) -> Result<u64> {
        let table_name = put_records_table(group_name);
        let prefix = format!("{dataset_arn}|");
        let records: Vec<(
            String,
            u64,
            String,
            serde_json::Map<String, serde_json::Value>,
        )> = self
            .stores
            .meta
            .list(&table_name, Some(dataset_arn))
            .await?
            .into_iter()
            .filter_map(|(key, v)| {
                let id = key.strip_prefix(&prefix)?.to_string();
                let attrs = serde_json::from_slice(&v.value).ok()?;
                Some((key, v.version, id, attrs))
            })
            .collect();
        if records.is_empty() {
            return Ok(0);
        }
        let dataset = self.describe_dataset(dataset_arn).await?;
        let schema = self.dataset_schema(&dataset).await?;
        let (incoming, kept) = record_rows(schema.clone(), &records);
        for _ in 0..MAX_SWAP_ATTEMPTS {
            let current = self
                .get_record::<DatasetData>(tables::DATASET_DATA, dataset_arn)
                .await?;
            let merged = match &current {
                Some((p, _)) => {
                    let mut old = self
                        .read_data_file(&dataset, schema.clone(), &p.blob_key)
                        .await?;
                    old.append(&incoming);
                    old.latest_per_id()
                }
                None => incoming.clone().latest_per_id(),
            };
            let data_version = current.as_ref().map_or(0, |(p, _)| p.data_version) + 1;
            let blob_key = format!(
                "datasets/{group_name}/{}/{data_version:08}-compaction-{}.avro.sealed",
                dataset.dataset_type,
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            );
            let kind = super::datasets::data_kind(dataset.dataset_type);
            self.seal_data(&dataset, &kind, &blob_key, &merged).await?;
            let pointer = DatasetData {
                data_version,
                blob_key: blob_key.clone(),
                rows: merged.rows() as u64,
                import_job_arn: current
                    .as_ref()
                    .map(|(p, _)| p.import_job_arn.clone())
                    .unwrap_or_default(),
                serving_key: None,
                events_key: None,
                events_through: 0,
            };
            let at = current.as_ref().map(|(_, v)| *v);
            let written = [blob_key.clone()];
            if self
                .swap_data_pointer(dataset_arn, at, &pointer, &written)
                .await?
            {
                let previous = current.map(|(p, _)| p.blob_key);
                self.collect_garbage(&dataset, &blob_key, previous.as_deref())
                    .await;
                // A record put again since it was read stays for the next compaction.
                for (key, version, ..) in records.iter().filter(|r| kept.contains(&r.0)) {
                    match self
                        .stores
                        .meta
                        .delete(&table_name, key, Expect::Version(*version))
                        .await
                    {
                        Ok(()) | Err(StoreError::ConditionFailed) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                return Ok(kept.len() as u64);
            }
        }
        Err(Error::InUse(format!(
            "dataset {dataset_arn} is being imported into or compacted by others; retry"
        )))
    }

    pub(super) async fn seal_data(
        &self,
        dataset: &Dataset,
        kind: &str,
        key: &str,
        table: &Table,
    ) -> Result<()> {
        let bytes = avro::write(table).map_err(|e| Error::Internal(e.to_string()))?;
        let id = super::datasets::data_id(dataset, kind, key);
        let sealed = crypto::seal(self.stores.keys.as_ref(), &id, &bytes).await?;
        self.stores.blobs.put(key, sealed).await?;
        Ok(())
    }
}

/// One event as a CSV row of the interactions schema; `None` names what is missing.
fn event_cells(
    schema: &DatasetSchema,
    e: &StoredEvent,
) -> std::result::Result<Vec<String>, String> {
    let properties: serde_json::Map<String, serde_json::Value> = match &e.properties {
        Some(p) => serde_json::from_str(p).map_err(|err| format!("properties: {err}"))?,
        None => Default::default(),
    };
    let mut cells = Vec::with_capacity(schema.fields.len());
    for f in &schema.fields {
        let cell = match f.name.as_str() {
            // An anonymous session's events train as that session's user, as Personalize does.
            "USER_ID" => e.user_id.clone().unwrap_or_else(|| e.session_id.clone()),
            "ITEM_ID" => e
                .item_id
                .clone()
                .ok_or_else(|| "an event without an itemId".to_string())?,
            "TIMESTAMP" => format!("{}", e.sent_at.floor() as i64),
            "EVENT_TYPE" => e.event_type.clone(),
            "EVENT_VALUE" => e.event_value.map(|v| v.to_string()).unwrap_or_default(),
            "RECOMMENDATION_ID" => e.recommendation_id.clone().unwrap_or_default(),
            "IMPRESSION" => e.impression.join("|"),
            column => properties
                .iter()
                .find(|(k, _)| crate::api::column_of_property(k).eq_ignore_ascii_case(column))
                .and_then(|(_, v)| Attr::from_json(v))
                .map(|a| a.to_wire())
                .unwrap_or_default(),
        };
        cells.push(cell);
    }
    Ok(cells)
}

/// The events as rows of `schema`, and how many could not be (each logged with its event id).
fn event_rows(schema: Arc<DatasetSchema>, events: &[StoredEvent]) -> (Table, u64) {
    let rows: Vec<(String, Vec<String>)> = events
        .iter()
        .filter_map(|e| match event_cells(&schema, e) {
            Ok(cells) => Some((e.event_id.clone(), cells)),
            Err(why) => {
                tracing::warn!(event = e.event_id, why, "event left out of compaction");
                None
            }
        })
        .collect();
    let (table, kept) = rows_table(schema, &rows);
    (table, (events.len() - kept) as u64)
}

/// Put records (meta key, version, id, attributes) as rows; also the keys of those kept.
fn record_rows(
    schema: Arc<DatasetSchema>,
    records: &[(
        String,
        u64,
        String,
        serde_json::Map<String, serde_json::Value>,
    )],
) -> (Table, Vec<String>) {
    let id_field = schema.dataset_type.id_field().unwrap_or("ITEM_ID");
    let rows: Vec<(String, Vec<String>)> = records
        .iter()
        .map(|(key, _, id, attrs)| {
            let cells = schema
                .fields
                .iter()
                .map(|f| {
                    if f.name == id_field {
                        return id.clone();
                    }
                    attrs
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(&f.name))
                        .and_then(|(_, v)| Attr::from_json(v))
                        .map(|a| a.to_wire())
                        .unwrap_or_default()
                })
                .collect();
            (key.clone(), cells)
        })
        .collect();
    let (table, _) = rows_table(schema, &rows);
    let kept = rows_kept(&table, id_field, records);
    (table, kept)
}

fn rows_kept(
    table: &Table,
    id_field: &str,
    records: &[(
        String,
        u64,
        String,
        serde_json::Map<String, serde_json::Value>,
    )],
) -> Vec<String> {
    let Some((dict, _)) = table.codes(id_field) else {
        return Vec::new();
    };
    records
        .iter()
        .filter(|r| dict.get(&r.2).is_some())
        .map(|r| r.0.clone())
        .collect()
}

/// Rows (label, cells) through the CSV rules every import follows; a row they refuse is left
/// out and logged. Returns the table and how many rows it holds.
fn rows_table(schema: Arc<DatasetSchema>, rows: &[(String, Vec<String>)]) -> (Table, usize) {
    let encode = |rows: &[&(String, Vec<String>)]| {
        let mut out = Vec::new();
        csv::write_row(&mut out, schema.fields.iter().map(|f| f.name.as_str()));
        for (_, cells) in rows {
            csv::write_row(&mut out, cells.iter().map(String::as_str));
        }
        out
    };
    let all: Vec<&(String, Vec<String>)> = rows.iter().collect();
    if let Ok(t) = csv::parse(schema.clone(), &encode(&all), &mut |_| {}) {
        let n = t.rows();
        return (t, n);
    }
    // Some row breaks a rule: find which, one by one (rare), and keep the others.
    let good: Vec<&(String, Vec<String>)> = rows
        .iter()
        .filter(
            |r| match csv::parse(schema.clone(), &encode(&[r]), &mut |_| {}) {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(record = r.0, error = %e, "left out of compaction");
                    false
                }
            },
        )
        .collect();
    match csv::parse(schema.clone(), &encode(&good), &mut |_| {}) {
        Ok(t) => {
            let n = t.rows();
            (t, n)
        }
        Err(_) => (Table::empty(schema), 0),
    }
}

//! What `tailor describe` prints about a dataset.

use serde::Serialize;

use super::Table;
use crate::schema::DatasetType;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub dataset_type: DatasetType,
    pub rows: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<u64>,
    /// Oldest and newest TIMESTAMP (epoch seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_range: Option<(i64, i64)>,
    /// Event types with their counts, most frequent first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<(String, u64)>,
    pub columns: Vec<String>,
}

pub fn summarize(table: &Table) -> Summary {
    let kind = table.kind();
    let distinct = |name: &str| table.codes(name).map(|(d, _)| d.len() as u64);
    let time_range = table.longs("TIMESTAMP").and_then(|ts| {
        let min = ts.iter().copied().min()?;
        let max = ts.iter().copied().max()?;
        Some((min, max))
    });
    let mut event_types = Vec::new();
    if let Some((dict, codes)) = table.codes("EVENT_TYPE") {
        let mut counts = vec![0u64; dict.len()];
        for &c in codes {
            counts[c as usize] += 1;
        }
        event_types = dict.iter().map(String::from).zip(counts).collect();
        event_types.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
    Summary {
        dataset_type: kind,
        rows: table.rows() as u64,
        users: distinct("USER_ID"),
        items: distinct("ITEM_ID"),
        time_range,
        event_types,
        columns: table.schema.fields.iter().map(|f| f.name.clone()).collect(),
    }
}

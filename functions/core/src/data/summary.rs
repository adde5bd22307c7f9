//! What `tailor describe` prints about a dataset, and what DescribeDataset adds as tailor's
//! `statistics` (the console draws it): computed by each import.

use serde::{Deserialize, Serialize};

use super::Table;
use crate::schema::DatasetType;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<(String, u64)>,
    pub columns: Vec<String>,
    /// Interactions over time, in at most [`BUCKETS`] equal spans of whole days.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub histogram: Vec<Bucket>,
    /// The items with the most interactions, most first (at most [`POPULAR`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub popular_items: Vec<Popular>,
}

/// Interactions from `start` (epoch seconds) to the next bucket's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub start: i64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Popular {
    pub item_id: String,
    pub count: u64,
}

pub const BUCKETS: i64 = 60;
pub const POPULAR: usize = 10;
const DAY: i64 = 86_400;

/// Counts per span of whole days from the first day of `ts`, at most [`BUCKETS`] spans.
fn histogram(ts: &[i64], range: (i64, i64)) -> Vec<Bucket> {
    let first = range.0.div_euclid(DAY) * DAY;
    let days = (range.1 - first) / DAY + 1;
    let width = ((days + BUCKETS - 1) / BUCKETS).max(1) * DAY;
    let n = ((range.1 - first) / width + 1) as usize;
    let mut counts = vec![0u64; n];
    for &t in ts {
        counts[((t - first) / width) as usize] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| Bucket {
            start: first + i as i64 * width,
            count,
        })
        .collect()
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
    let histogram = match (table.longs("TIMESTAMP"), time_range) {
        (Some(ts), Some(range)) => histogram(ts, range),
        _ => Vec::new(),
    };
    let mut popular_items = Vec::new();
    if let (DatasetType::Interactions, Some((dict, codes))) = (kind, table.codes("ITEM_ID")) {
        let mut counts = vec![0u64; dict.len()];
        for &c in codes {
            counts[c as usize] += 1;
        }
        let mut order: Vec<usize> = (0..counts.len()).collect();
        order.sort_by(|&a, &b| {
            counts[b]
                .cmp(&counts[a])
                .then(dict.name(a as u32).cmp(dict.name(b as u32)))
        });
        popular_items = order
            .into_iter()
            .take(POPULAR)
            .map(|i| Popular {
                item_id: dict.name(i as u32).to_string(),
                count: counts[i],
            })
            .collect();
    }
    Summary {
        dataset_type: kind,
        rows: table.rows() as u64,
        users: distinct("USER_ID"),
        items: distinct("ITEM_ID"),
        time_range,
        event_types,
        columns: table.schema.fields.iter().map(|f| f.name.clone()).collect(),
        histogram,
        popular_items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_whole_days_and_counts_every_event() {
        let day = |d: i64| 1_767_225_600 + d * DAY + 3_600;
        let ts: Vec<i64> = (0..200).map(|d| day(d % 150)).collect();
        let h = histogram(&ts, (day(0), day(149)));
        assert!(h.len() as i64 <= BUCKETS, "{}", h.len());
        assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), 200);
        assert_eq!(h[0].start % DAY, 0);
        assert_eq!((h[1].start - h[0].start) % DAY, 0);
        let one = histogram(&[day(3)], (day(3), day(3)));
        assert_eq!(
            one,
            [Bucket {
                start: day(3) - 3_600,
                count: 1
            }]
        );
    }
}

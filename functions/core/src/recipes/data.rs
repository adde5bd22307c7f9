//! Training data: each user's events in time order, with the weights the solution's event
//! configuration gives them.

use std::collections::HashMap;
use std::sync::Arc;

use super::content::ItemAttributes;
use crate::data::attrs::row_attrs;

use crate::data::{IdDict, Table, Values};
use crate::error::{Error, Result};

/// One event in a user's history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub item: u32,
    pub ts: i64,
    /// From the event type's weight in `eventsConfig` (1 when unset).
    pub weight: f32,
}

/// Which events count and how much (CreateSolution's `eventType`, `eventValueThreshold` and
/// `eventsConfig.eventParametersList`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventConfig {
    /// Train only on this event type.
    pub event_type: Option<String>,
    /// Keep only events with EVENT_VALUE >= this.
    pub event_value_threshold: Option<f64>,
    /// Per event type: (threshold, weight in 0..=1).
    pub per_type: HashMap<String, (Option<f64>, f32)>,
}

impl EventConfig {
    /// The weight of an event, or `None` when it does not count.
    fn weigh(&self, event_type: Option<&str>, value: Option<f64>) -> Option<f32> {
        if let Some(only) = &self.event_type {
            if event_type.is_none_or(|t| !t.eq_ignore_ascii_case(only)) {
                return None;
            }
        }
        let passes = |threshold: Option<f64>| match (threshold, value) {
            (Some(t), Some(v)) => v >= t,
            (Some(_), None) => false,
            (None, _) => true,
        };
        if !passes(self.event_value_threshold) {
            return None;
        }
        if self.per_type.is_empty() {
            return Some(1.0);
        }
        let (threshold, weight) = event_type.and_then(|t| self.per_type.get(t).copied())?;
        (passes(threshold) && weight > 0.0).then_some(weight)
    }
}

/// Users' time-ordered histories over a catalogue.
#[derive(Debug, Clone, Default)]
pub struct TrainingData {
    pub users: IdDict,
    /// The catalogue: every item in the interactions, then items known only from the Items
    /// dataset.
    pub items: IdDict,
    /// Indexed by user code; sorted by timestamp, ties in input order.
    pub histories: Vec<Vec<Event>>,
    /// The Items dataset's attributes by item code, when its schema has fields the content
    /// model reads: what gives items with no interactions their scores.
    pub content: Option<Arc<ItemAttributes>>,
}

impl TrainingData {
    /// Builds histories from an interactions table (and the catalogue of an items table).
    pub fn from_tables(
        interactions: &Table,
        items: Option<&Table>,
        config: &EventConfig,
    ) -> Result<TrainingData> {
        let missing =
            |f: &str| Error::InvalidInput(format!("the interactions dataset has no {f} column"));
        let (user_dict, user_codes) = interactions
            .codes("USER_ID")
            .ok_or_else(|| missing("USER_ID"))?;
        let (item_dict, item_codes) = interactions
            .codes("ITEM_ID")
            .ok_or_else(|| missing("ITEM_ID"))?;
        let ts = interactions
            .longs("TIMESTAMP")
            .ok_or_else(|| missing("TIMESTAMP"))?;
        let types = interactions.codes("EVENT_TYPE");
        let values = match interactions.column("EVENT_VALUE") {
            Some(Values::Double { data, valid }) => Some((data, valid)),
            _ => None,
        };
        let mut data = TrainingData {
            users: user_dict.clone(),
            items: item_dict.clone(),
            histories: vec![Vec::new(); user_dict.len()],
            content: None,
        };
        for row in 0..interactions.rows() {
            let event_type = types.map(|(d, c)| d.name(c[row]));
            let value = values.and_then(|(d, v)| (v.is_empty() || v[row]).then_some(d[row]));
            let Some(weight) = config.weigh(event_type, value) else {
                continue;
            };
            data.histories[user_codes[row] as usize].push(Event {
                item: item_codes[row],
                ts: ts[row],
                weight,
            });
        }
        for h in &mut data.histories {
            h.sort_by_key(|e| e.ts); // stable: ties keep input order
        }
        if let Some(table) = items {
            data.content = data.intern_items(table);
        }
        Ok(data)
    }

    /// Adds an items table's items to the catalogue; their attributes, when its schema has
    /// fields the content model reads.
    fn intern_items(&mut self, table: &Table) -> Option<Arc<ItemAttributes>> {
        let (dict, codes) = table.codes("ITEM_ID")?;
        let code_of: Vec<u32> = dict.iter().map(|id| self.items.intern(id)).collect();
        let mut attrs = ItemAttributes {
            schema: table.schema.clone(),
            rows: vec![None; self.items.len()],
        };
        if !attrs.has_features() {
            return None;
        }
        // The last row of an id is its record, as the runtime reads the dataset.
        for (row, &c) in codes.iter().enumerate() {
            attrs.rows[code_of[c as usize] as usize] = Some(row_attrs(table, row, "ITEM_ID"));
        }
        Some(Arc::new(attrs))
    }

    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    pub fn n_events(&self) -> usize {
        self.histories.iter().map(Vec::len).sum()
    }

    /// Each user's distinct items, sorted.
    pub fn distinct_items(&self) -> Vec<Vec<u32>> {
        self.histories
            .iter()
            .map(|h| {
                let mut items: Vec<u32> = h.iter().map(|e| e.item).collect();
                items.sort_unstable();
                items.dedup();
                items
            })
            .collect()
    }

    /// Events per item (repeats count).
    pub fn item_counts(&self) -> Vec<f64> {
        let mut c = vec![0.0; self.n_items()];
        for h in &self.histories {
            for e in h {
                c[e.item as usize] += 1.0;
            }
        }
        c
    }

    /// Distinct users per item.
    pub fn item_users(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.n_items()];
        let mut last_user = vec![u32::MAX; self.n_items()];
        for (u, h) in self.histories.iter().enumerate() {
            for e in h {
                if last_user[e.item as usize] != u as u32 {
                    last_user[e.item as usize] = u as u32;
                    c[e.item as usize] += 1;
                }
            }
        }
        c
    }

    /// Drops users whose history length lies outside the [min, max] percentiles of lengths
    /// (Personalize's min/max_user_history_length_percentile). Returns how many were dropped.
    pub fn filter_history_percentiles(&mut self, min: f64, max: f64) -> usize {
        let mut lens: Vec<usize> = self
            .histories
            .iter()
            .map(Vec::len)
            .filter(|&l| l > 0)
            .collect();
        if lens.is_empty() {
            return 0;
        }
        lens.sort_unstable();
        let at = |p: f64| lens[((p.clamp(0.0, 1.0) * (lens.len() - 1) as f64).round()) as usize];
        let (lo, hi) = (
            if min > 0.0 { at(min) } else { 0 },
            if max < 1.0 { at(max) } else { usize::MAX },
        );
        let mut dropped = 0;
        for h in &mut self.histories {
            if !h.is_empty() && (h.len() < lo || h.len() > hi) {
                h.clear();
                dropped += 1;
            }
        }
        dropped
    }

    /// Checks Personalize's training minimum: 1000 events from 25 users with 2 or more each.
    pub fn check_minimum(&self, min_events: usize, min_users: usize) -> Result<()> {
        let users = self.histories.iter().filter(|h| h.len() >= 2).count();
        let events = self.n_events();
        if events < min_events || users < min_users {
            return Err(Error::InvalidInput(format!(
                "training needs at least {min_events} interactions and {min_users} users with 2 or more; the data has {events} interactions and {users} such users"
            )));
        }
        Ok(())
    }
}

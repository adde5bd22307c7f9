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
    /// The event's context values: an index into [`Situations::tuples`] (0: none).
    pub ctx: u32,
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
    /// The events' context columns and the users' categorical metadata, when the schemas
    /// have any: what the context stage learns from.
    pub situations: Option<Arc<Situations>>,
}

/// A value code of a [`Situations`] field that is missing (null, or a user without a record).
pub const NO_VALUE: u32 = u32::MAX;

/// Categorical columns beside the events: the Interactions fields a request's `context`
/// carries (e.g. DEVICE) and the Users dataset's categorical fields (e.g. MEMBERSHIP).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Situations {
    /// Interactions context fields and each one's values.
    pub event_fields: Vec<(String, IdDict)>,
    /// Distinct value tuples of the event fields ([`NO_VALUE`] where null); [`Event::ctx`]
    /// indexes it, and tuple 0 holds no values.
    pub tuples: Vec<Vec<u32>>,
    /// Users' categorical fields and each one's values.
    pub user_fields: Vec<(String, IdDict)>,
    /// Per user code, per user field, the value code ([`NO_VALUE`] where unknown).
    pub users: Vec<Vec<u32>>,
}

impl Situations {
    /// The columns that carry context (Interactions) or user metadata (Users): strings that
    /// are not Personalize's reserved fields and not free text.
    fn columns(table: &Table) -> Vec<usize> {
        let kind = table.kind();
        table
            .schema
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                f.ty == crate::schema::FieldType::String && !f.textual && f.reserved(kind).is_none()
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// A string column's value at `row`, if not null.
    fn text(col: &Values, row: usize) -> Option<&str> {
        match col {
            Values::Codes { dict, codes } => Some(dict.name(codes[row])),
            Values::Str(v) => v[row].as_deref(),
            _ => None,
        }
    }
}

impl TrainingData {
    /// Builds histories from an interactions table (and the catalogue of an items table).
    pub fn from_tables(
        interactions: &Table,
        items: Option<&Table>,
        config: &EventConfig,
    ) -> Result<TrainingData> {
        let cols = InteractionColumns::of(interactions)?;
        let ((user_dict, user_codes), (item_dict, item_codes), ts) =
            (cols.users, cols.items, cols.ts);
        let mut data = TrainingData {
            users: user_dict.clone(),
            items: item_dict.clone(),
            histories: vec![Vec::new(); user_dict.len()],
            content: None,
            situations: None,
        };
        let context_columns = Situations::columns(interactions);
        let mut situations = Situations {
            event_fields: context_columns
                .iter()
                .map(|&c| (interactions.schema.fields[c].name.clone(), IdDict::new()))
                .collect(),
            tuples: vec![vec![NO_VALUE; context_columns.len()]],
            ..Situations::default()
        };
        let mut tuple_codes: HashMap<Vec<u32>, u32> = HashMap::new();
        tuple_codes.insert(situations.tuples[0].clone(), 0);
        let mut tuple = Vec::with_capacity(context_columns.len());
        for row in 0..interactions.rows() {
            let Some(weight) = cols.weight(row, config) else {
                continue;
            };
            // Without context columns every event's tuple is the empty one: no per-row work.
            let ctx = if context_columns.is_empty() {
                0
            } else {
                tuple.clear();
                for (f, &c) in context_columns.iter().enumerate() {
                    let value = Situations::text(&interactions.columns[c], row);
                    tuple.push(value.map_or(NO_VALUE, |v| situations.event_fields[f].1.intern(v)));
                }
                match tuple_codes.get(&tuple) {
                    Some(&t) => t,
                    None => {
                        let t = situations.tuples.len() as u32;
                        situations.tuples.push(tuple.clone());
                        tuple_codes.insert(tuple.clone(), t);
                        t
                    }
                }
            };
            data.histories[user_codes[row] as usize].push(Event {
                item: item_codes[row],
                ts: ts[row],
                weight,
                ctx,
            });
        }
        if !context_columns.is_empty() {
            data.situations = Some(Arc::new(situations));
        }
        for h in &mut data.histories {
            h.sort_by_key(|e| e.ts); // stable: ties keep input order
        }
        if let Some(table) = items {
            data.content = data.intern_items(table);
        }
        Ok(data)
    }

    /// Reads the Users dataset's categorical fields for the users in the data (what the context
    /// stage learns user metadata from).
    pub fn read_users(&mut self, table: &Table) {
        let Some((dict, codes)) = table.codes("USER_ID") else {
            return;
        };
        let columns = Situations::columns(table);
        if columns.is_empty() {
            return;
        }
        let mut s = self.situations.as_deref().cloned().unwrap_or_default();
        s.user_fields = columns
            .iter()
            .map(|&c| (table.schema.fields[c].name.clone(), IdDict::new()))
            .collect();
        s.users = vec![vec![NO_VALUE; columns.len()]; self.users.len()];
        // The last row of an id is its record.
        for (row, &c) in codes.iter().enumerate() {
            let Some(u) = self.users.get(dict.name(c)) else {
                continue;
            };
            for (f, &col) in columns.iter().enumerate() {
                s.users[u as usize][f] = Situations::text(&table.columns[col], row)
                    .map_or(NO_VALUE, |v| s.user_fields[f].1.intern(v));
            }
        }
        self.situations = Some(Arc::new(s));
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
        let (lo, hi) = percentile_bounds(&mut lens, min, max);
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
        check_minimum(self.n_events() as u64, users, min_events, min_users)
    }
}

/// Personalize's training minimum over counts: `events` interactions, `users` users with two
/// or more (what a sharded training knows before it holds any history).
pub(crate) fn check_minimum(
    events: u64,
    users: usize,
    min_events: usize,
    min_users: usize,
) -> Result<()> {
    if events < min_events as u64 || users < min_users {
        return Err(Error::InvalidInput(format!(
            "training needs at least {min_events} interactions and {min_users} users with 2 or more; the data has {events} interactions and {users} such users"
        )));
    }
    Ok(())
}

/// The history lengths kept between percentiles `min` and `max` of `lens` (non-empty
/// histories' lengths; sorted here): `lo..=hi`.
pub(crate) fn percentile_bounds(lens: &mut [usize], min: f64, max: f64) -> (usize, usize) {
    if lens.is_empty() {
        return (0, usize::MAX);
    }
    lens.sort_unstable();
    let at = |p: f64| lens[((p.clamp(0.0, 1.0) * (lens.len() - 1) as f64).round()) as usize];
    (
        if min > 0.0 { at(min) } else { 0 },
        if max < 1.0 { at(max) } else { usize::MAX },
    )
}

/// The columns events are read from in an interactions table.
pub(crate) struct InteractionColumns<'a> {
    pub users: (&'a IdDict, &'a [u32]),
    pub items: (&'a IdDict, &'a [u32]),
    pub ts: &'a [i64],
    types: Option<(&'a IdDict, &'a [u32])>,
    values: Option<(&'a [f64], &'a [bool])>,
}

impl<'a> InteractionColumns<'a> {
    pub fn of(table: &'a Table) -> Result<InteractionColumns<'a>> {
        let missing =
            |f: &str| Error::InvalidInput(format!("the interactions dataset has no {f} column"));
        Ok(InteractionColumns {
            users: table.codes("USER_ID").ok_or_else(|| missing("USER_ID"))?,
            items: table.codes("ITEM_ID").ok_or_else(|| missing("ITEM_ID"))?,
            ts: table
                .longs("TIMESTAMP")
                .ok_or_else(|| missing("TIMESTAMP"))?,
            types: table.codes("EVENT_TYPE"),
            values: match table.column("EVENT_VALUE") {
                Some(Values::Double { data, valid }) => Some((data, valid)),
                _ => None,
            },
        })
    }

    /// The weight `config` gives row `row`, or `None` when it does not count.
    pub fn weight(&self, row: usize, config: &EventConfig) -> Option<f32> {
        let event_type = self.types.map(|(d, c)| d.name(c[row]));
        let value = self
            .values
            .and_then(|(d, v)| (v.is_empty() || v[row]).then_some(d[row]));
        config.weigh(event_type, value)
    }
}

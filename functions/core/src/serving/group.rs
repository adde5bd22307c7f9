//! What the runtime knows of one dataset group, in memory: the catalogue, every user's (and
//! anonymous session's) history, item and user attributes. Loaded from the stores once, then
//! kept current by PutEvents / PutItems / PutUsers, so the next request sees each change.

use std::collections::{HashMap, HashSet};

pub use crate::data::attrs::{lookup, row_attrs, Attr, Attrs};
use crate::data::snapshot::InteractionsSnapshot;
use crate::data::{IdDict, Table};
use crate::schema::{DatasetSchema, FieldType};
use crate::store::StoredEvent;

/// One event of a history: group item code and event-type code.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seen {
    pub item: u32,
    pub event_type: u32,
}

#[derive(Debug, Default)]
pub struct GroupData {
    pub items: IdDict,
    pub event_types: IdDict,
    /// By user id or session id, oldest first.
    pub histories: HashMap<String, Vec<Seen>>,
    pub seen_event_ids: HashSet<String>,
    /// Sessions already merged into a user's history.
    pub session_owner: HashMap<String, String>,
    /// Per group item code.
    pub item_attrs: Vec<Option<Attrs>>,
    pub interaction_counts: Vec<u32>,
    /// Per group item code: how many times it was shown (the IMPRESSION column, PutEvents'
    /// `impression`, and the answers a `recommendationId` names).
    pub impression_counts: Vec<u32>,
    /// What this process's recent answers showed, by recommendation id (group item codes):
    /// what a later event's `recommendationId` implies was shown.
    /// Its own lock: an answer records what it showed under the group's read lock, so
    /// answers never wait on each other for it.
    pub shown: std::sync::Mutex<Shown>,
    /// CREATION_TIMESTAMP, else the first interaction's time.
    pub created: Vec<Option<i64>>,
    pub user_attrs: HashMap<String, Attrs>,
    pub items_schema: Option<std::sync::Arc<DatasetSchema>>,
    pub users_schema: Option<std::sync::Arc<DatasetSchema>>,
    pub latest_ts: i64,
    /// Group item codes whose attributes changed, in order: its length is the catalogue's
    /// version, and the tail since a campaign built its filter index names what that index
    /// has to re-check.
    pub changed_items: Vec<u32>,
    /// Bumps on every interaction counted and every item attribute set: what a campaign's
    /// cached exploration candidates were built from.
    pub revision: u64,
}

impl GroupData {
    pub fn intern_item(&mut self, id: &str) -> u32 {
        let code = self.items.intern(id);
        let n = self.items.len();
        if self.item_attrs.len() < n {
            self.item_attrs.resize(n, None);
            self.interaction_counts.resize(n, 0);
            self.impression_counts.resize(n, 0);
            self.created.resize(n, None);
        }
        code
    }

    /// Bulk interactions, sorted per user by time.
    pub fn load_interactions(&mut self, table: &Table) {
        if let Some(snapshot) = InteractionsSnapshot::from_table(table) {
            self.load_snapshot(&snapshot);
        }
    }

    /// Bulk interactions: every user's history in time order, item counts and ages.
    pub fn load_snapshot(&mut self, s: &InteractionsSnapshot) {
        let item_map: Vec<u32> = s.items.iter().map(|id| self.intern_item(id)).collect();
        let type_map: Vec<u32> = s
            .types
            .as_ref()
            .map(|(d, _)| d.iter().map(|t| self.event_types.intern(t)).collect())
            .unwrap_or_default();
        let (ts, user_codes) = (&s.timestamps, &s.user_codes);
        let mut rows: Vec<usize> = (0..s.rows()).collect();
        rows.sort_by_key(|&r| (user_codes[r], ts[r]));
        for r in rows {
            let item = item_map[s.item_codes[r] as usize];
            let event_type = s
                .types
                .as_ref()
                .map_or(u32::MAX, |(_, c)| type_map[c[r] as usize]);
            self.histories
                .entry(s.users.name(user_codes[r]).to_string())
                .or_default()
                .push(Seen { item, event_type });
            self.count(item, ts[r]);
        }
        let (shown, counts) = &s.impressions;
        for (id, &n) in shown.iter().zip(counts) {
            let code = self.intern_item(id);
            self.impression_counts[code as usize] += n;
        }
    }

    /// Counts one showing of each item; ids the group does not know yet join its catalogue.
    pub fn count_impressions<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        for id in ids {
            let code = self.intern_item(id);
            self.impression_counts[code as usize] += 1;
            self.revision += 1;
        }
    }

    /// The items an event says were shown: its explicit `impression`, else what the answer its
    /// `recommendationId` names showed (explicit wins, as in Personalize).
    pub fn impressions_of(&self, e: &StoredEvent) -> Vec<String> {
        if !e.impression.is_empty() {
            return e.impression.clone();
        }
        e.recommendation_id
            .as_deref()
            .and_then(|r| self.shown.lock().ok()?.get(r))
            .map(|codes| {
                codes
                    .iter()
                    .map(|&c| self.items.name(c).to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn count(&mut self, item: u32, ts: i64) {
        self.revision += 1;
        self.interaction_counts[item as usize] += 1;
        let c = &mut self.created[item as usize];
        if c.is_none_or(|c| c > ts)
            && self.item_attrs[item as usize]
                .as_ref()
                .is_none_or(|a| !a.contains_key("CREATION_TIMESTAMP"))
        {
            *c = Some(ts);
        }
        self.latest_ts = self.latest_ts.max(ts);
    }

    pub fn load_items(&mut self, table: &Table) {
        self.items_schema = Some(table.schema.clone());
        let Some((dict, codes)) = table.codes("ITEM_ID") else {
            return;
        };
        for (row, &c) in codes.iter().enumerate() {
            let code = self.intern_item(dict.name(c));
            self.set_item(code, row_attrs(table, row, "ITEM_ID"));
        }
    }

    pub fn set_item(&mut self, code: u32, attrs: Attrs) {
        self.revision += 1;
        match attrs.get("CREATION_TIMESTAMP") {
            Some(Attr::Number(t)) => self.created[code as usize] = Some(*t as i64),
            // As Personalize does, an item with neither a creation time nor interactions counts
            // as new as of the newest interaction.
            _ if self.created[code as usize].is_none() && self.latest_ts > 0 => {
                self.created[code as usize] = Some(self.latest_ts)
            }
            _ => {}
        }
        // Put records are re-applied on every refresh: only a real change moves the version.
        let slot = &mut self.item_attrs[code as usize];
        if slot.as_ref() != Some(&attrs) {
            *slot = Some(attrs);
            self.changed_items.push(code);
        }
    }

    pub fn load_users(&mut self, table: &Table) {
        self.users_schema = Some(table.schema.clone());
        let Some((dict, codes)) = table.codes("USER_ID") else {
            return;
        };
        for (row, &c) in codes.iter().enumerate() {
            self.user_attrs
                .insert(dict.name(c).to_string(), row_attrs(table, row, "USER_ID"));
        }
    }

    /// Applies a streamed event unless its id was seen. Events of a session that later carries
    /// a user id join that user's history.
    pub fn apply_event(&mut self, e: &StoredEvent) -> bool {
        if !self.seen_event_ids.insert(e.event_id.clone()) {
            return false;
        }
        let shown = self.impressions_of(e);
        self.count_impressions(shown.iter().map(String::as_str));
        let Some(item_id) = &e.item_id else {
            return true;
        };
        let item = self.intern_item(item_id);
        let event_type = self.event_types.intern(&e.event_type);
        let seen = Seen { item, event_type };
        match &e.user_id {
            Some(user) => {
                if !self.session_owner.contains_key(&e.session_id) && &e.session_id != user {
                    self.session_owner
                        .insert(e.session_id.clone(), user.clone());
                    if let Some(anonymous) = self.histories.get(&e.session_id).cloned() {
                        self.histories
                            .entry(user.clone())
                            .or_default()
                            .extend(anonymous);
                    }
                }
                self.histories.entry(user.clone()).or_default().push(seen);
                if &e.session_id != user {
                    self.histories
                        .entry(e.session_id.clone())
                        .or_default()
                        .push(seen);
                }
            }
            None => self
                .histories
                .entry(e.session_id.clone())
                .or_default()
                .push(seen),
        }
        self.count(item, e.sent_at as i64);
        true
    }
}

/// Recent answers' items by recommendation id, the oldest forgotten past
/// [`Shown::CAPACITY`] answers or [`Shown::ITEMS`] items.
///
/// A ring, not a map of boxed lists: an answer's record allocates nothing once the ring is
/// full, where a box per answer kept 100k small blocks churning through the allocator on every
/// request (it showed as a 10–20% slower GetRecommendations).
#[derive(Debug, Default)]
pub struct Shown {
    /// A 64-bit hash of the recommendation id → the answer's sequence number.
    by_id: HashMap<u64, u64>,
    /// Per remembered answer, oldest first: its id's hash and where its items end (absolute).
    answers: std::collections::VecDeque<(u64, u64)>,
    /// The remembered answers' items back to back, oldest first.
    items: std::collections::VecDeque<u32>,
    /// Absolute offset of `items[0]`, and sequence number of `answers[0]`.
    first_item: u64,
    first_answer: u64,
}

impl Shown {
    pub const CAPACITY: usize = 100_000;
    /// Items kept over all answers (16 MB): 100k answers of 25, or fewer longer ones.
    pub const ITEMS: usize = 4_000_000;

    pub fn insert(&mut self, recommendation_id: &str, items: impl IntoIterator<Item = u32>) {
        self.items.extend(items);
        let key = crate::engine::stages::seed(recommendation_id);
        let seq = self.first_answer + self.answers.len() as u64;
        self.answers
            .push_back((key, self.first_item + self.items.len() as u64));
        self.by_id.insert(key, seq);
        // The newest answer is always kept, even one past the item budget on its own.
        while self.answers.len() > Self::CAPACITY
            || (self.items.len() > Self::ITEMS && self.answers.len() > 1)
        {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        let Some((key, end)) = self.answers.pop_front() else {
            return;
        };
        if self.by_id.get(&key) == Some(&self.first_answer) {
            self.by_id.remove(&key);
        }
        self.items.drain(..(end - self.first_item) as usize);
        self.first_item = end;
        self.first_answer += 1;
    }

    /// How many answers are remembered.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// What the answer with this id showed, if it is still remembered.
    pub fn get(&self, recommendation_id: &str) -> Option<Vec<u32>> {
        let seq = *self
            .by_id
            .get(&crate::engine::stages::seed(recommendation_id))?;
        // Every id in the map names a remembered answer (eviction removes its own), so these
        // hold; checked all the same, a miss rather than a panic on an answer's path.
        let at = usize::try_from(seq.checked_sub(self.first_answer)?).ok()?;
        let start = match at {
            0 => self.first_item,
            _ => self.answers.get(at - 1)?.1,
        };
        let end = self.answers.get(at)?.1;
        let from = usize::try_from(start.checked_sub(self.first_item)?).ok()?;
        let to = usize::try_from(end.checked_sub(self.first_item)?).ok()?;
        (from <= to && to <= self.items.len())
            .then(|| self.items.range(from..to).copied().collect())
    }
}

/// Typed attributes from a PutItems / PutUsers `properties` object, checked against the schema
/// (keys are camelCase of its columns).
pub fn properties_to_attrs(
    schema: &DatasetSchema,
    properties: &serde_json::Map<String, serde_json::Value>,
    field: &str,
) -> crate::Result<Attrs> {
    let mut attrs = Attrs::new();
    for (key, value) in properties {
        let column = crate::api::column_of_property(key);
        let f = schema.fields.iter().find(|f| f.name.eq_ignore_ascii_case(&column)).ok_or_else(|| {
            crate::Error::InvalidInput(format!(
                "{field}: '{key}' is not a column of the dataset's schema (keys are camelCase column names)"
            ))
        })?;
        let bad = || {
            crate::Error::InvalidInput(format!("{field}.{key}: expected a {} value", f.ty.as_str()))
        };
        let attr = match (f.ty, value) {
            (_, serde_json::Value::Null) if f.nullable => continue,
            (FieldType::String, serde_json::Value::String(s)) => Attr::Text(s.clone()),
            (FieldType::Boolean, serde_json::Value::Bool(b)) => Attr::Bool(*b),
            (FieldType::Boolean, serde_json::Value::String(s)) if s == "true" || s == "false" => {
                Attr::Bool(s == "true")
            }
            (t, serde_json::Value::Number(n)) if t.is_numeric() => {
                Attr::Number(n.as_f64().ok_or_else(bad)?)
            }
            (t, serde_json::Value::String(s)) if t.is_numeric() => {
                Attr::Number(s.trim().parse().map_err(|_| bad())?)
            }
            _ => return Err(bad()),
        };
        attrs.insert(f.name.clone(), attr);
    }
    Ok(attrs)
}

#[cfg(test)]
mod tests {
    use super::Shown;

    fn id(n: usize) -> String {
        format!("RID-{n}")
    }

    #[test]
    fn shown_answers_are_kept_until_the_ring_is_full() {
        let mut s = Shown::default();
        for n in 0..Shown::CAPACITY + 10 {
            s.insert(&id(n), (0..(n % 7) as u32).map(|i| i + n as u32));
        }
        // The ten oldest are forgotten, the rest answer with exactly their own items.
        for n in 0..10 {
            assert_eq!(s.get(&id(n)), None, "{n}");
        }
        for n in [10, 11, 5_000, Shown::CAPACITY + 9] {
            let want: Vec<u32> = (0..(n % 7) as u32).map(|i| i + n as u32).collect();
            assert_eq!(s.get(&id(n)), Some(want), "{n}");
        }
        assert_eq!(s.get("never answered"), None);
    }

    #[test]
    fn shown_items_past_the_budget_forget_the_oldest_answers() {
        let mut s = Shown::default();
        let per = 500;
        let answers = Shown::ITEMS / per + 3;
        for n in 0..answers {
            s.insert(&id(n), std::iter::repeat_n(n as u32, per));
        }
        assert_eq!(s.get(&id(0)), None);
        assert_eq!(s.get(&id(2)), None);
        assert_eq!(
            s.get(&id(answers - 1)),
            Some(vec![(answers - 1) as u32; per])
        );
        assert!(s.items.len() <= Shown::ITEMS);
        // An id answered twice names its newest answer, and survives its older one's eviction.
        let mut s = Shown::default();
        s.insert("twice", [1, 2]);
        s.insert("twice", [3]);
        assert_eq!(s.get("twice"), Some(vec![3]));
        for n in 0..Shown::CAPACITY - 1 {
            s.insert(&id(n), [9]);
        }
        assert_eq!(s.get("twice"), Some(vec![3]));
    }
}

//! The storage ports, sized to capabilities, and the embedded filesystem adapters.
//!
//! Port signatures carry no adapter types, so the same services run on a directory (local mode)
//! and on S3 / DynamoDB / KMS (the AWS adapters). Every adapter must pass the suites in
//! [`conformance`].

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub mod checked;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod event_log;
pub mod fs;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: the record changed (or appeared, or vanished) since it was read.
    #[error("the stored record changed since it was read")]
    ConditionFailed,
    #[error("invalid storage key '{0}'")]
    BadKey(String),
    #[error("storage I/O failed: {0}")]
    Io(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("key service failed: {0}")]
    Key(String),
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Whole objects by key: dataset files, model artifacts, batch input and output.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `key`, replacing any previous object; readers never see a partial one.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> StoreResult<()>;
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Bytes `range` of `key`, clipped to its end (empty past it), or None when there is no such
    /// key: what lets a task read just its part of a large object. The default reads it whole.
    async fn get_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.get(key).await?.map(|b| {
            let end = (range.end as usize).min(b.len());
            b[(range.start as usize).min(end)..end].to_vec()
        }))
    }
    /// Removes `key`; removing a missing key is not an error.
    async fn delete(&self, key: &str) -> StoreResult<()>;
    /// Keys under `prefix`, sorted.
    async fn list(&self, prefix: &str) -> StoreResult<Vec<String>>;
}

/// A stored record and its version (1 for the first write, +1 on every write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub value: Vec<u8>,
    pub version: u64,
}

/// The condition a write requires of the record's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Any,
    Absent,
    Version(u64),
}

/// One page of a listing: at most `limit` records after `after` (from the first when `None`),
/// only those filed under `parent` when it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery<'a> {
    pub parent: Option<&'a str>,
    pub after: Option<&'a str>,
    pub limit: usize,
}

/// Records sorted by key, and where the next page starts (`after` for the next query) when
/// records remain. `next` may lie past the last record returned: a page can skip records (a
/// damaged one, say) and still moves on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    pub records: Vec<(String, Versioned)>,
    pub next: Option<String>,
}

/// Small records (resources, pointers) in named tables, with conditional writes.
///
/// A record may be filed under a parent key (a dataset under its dataset group, a solution
/// version under its solution) so one parent's children list without reading the table.
#[async_trait]
pub trait MetaStore: Send + Sync {
    async fn get(&self, table: &str, key: &str) -> StoreResult<Option<Versioned>>;
    /// Writes if `expect` holds, returning the new version; `ConditionFailed` otherwise. The
    /// record is filed under `parent` (and under no other) from then on.
    async fn put(
        &self,
        table: &str,
        key: &str,
        parent: Option<&str>,
        value: Vec<u8>,
        expect: Expect,
    ) -> StoreResult<u64>;
    async fn delete(&self, table: &str, key: &str, expect: Expect) -> StoreResult<()>;
    /// One page of `table`, sorted by key. Cost follows the page, not the table.
    async fn list_page(&self, table: &str, query: ListQuery<'_>) -> StoreResult<Page>;

    /// Every record of `table` (under `parent`, when given), sorted by key.
    async fn list(
        &self,
        table: &str,
        parent: Option<&str>,
    ) -> StoreResult<Vec<(String, Versioned)>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .list_page(
                    table,
                    ListQuery {
                        parent,
                        after: after.as_deref(),
                        limit: 1000,
                    },
                )
                .await?;
            out.extend(page.records);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(out),
            }
        }
    }
}

/// Objects in buckets a user names (`s3://bucket/key` data locations of import jobs), read
/// only. Not tailor's own storage: that is [`BlobStore`].
#[async_trait]
pub trait DataSources: Send + Sync {
    /// The object `key` of `bucket`, or, when no object has that key, every object under the
    /// prefix `key` (a "folder"), sorted by key. Empty when there are none.
    async fn fetch(&self, bucket: &str, key: &str) -> StoreResult<Vec<(String, Vec<u8>)>>;

    /// Writes a job's output object `key` of `bucket`, encrypted at rest under `kms_key` (a
    /// KMS key id or ARN), or under the deployment's key when None.
    async fn deliver(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        kms_key: Option<&str>,
    ) -> StoreResult<()>;
}

/// One interaction event as PutEvents records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredEvent {
    pub event_id: String,
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_value: Option<f32>,
    /// sentAt, epoch seconds.
    pub sent_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub impression: Vec<String>,
}

impl StoredEvent {
    /// What is left of an event after its user's data was deleted: its id and time only.
    pub fn redacted(&self) -> StoredEvent {
        StoredEvent {
            event_id: self.event_id.clone(),
            session_id: String::new(),
            user_id: None,
            item_id: None,
            event_type: String::new(),
            event_value: None,
            sent_at: self.sent_at,
            properties: None,
            recommendation_id: None,
            impression: Vec::new(),
        }
    }

    /// Whether this is what [`StoredEvent::redacted`] leaves; readers skip it.
    pub fn is_redacted(&self) -> bool {
        self.session_id.is_empty()
    }
}

/// The streamed-event log of a dataset group: per-subject recent events for real-time fold-in
/// and filters, and an ordered log for retraining.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends events; one whose eventId was stored before is skipped. Returns how many were new.
    async fn append(&self, group: &str, events: &[StoredEvent]) -> StoreResult<usize>;
    /// The newest `limit` events of a user id or session id, oldest first.
    async fn recent(
        &self,
        group: &str,
        subject: &str,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>>;
    /// Events with sequence numbers greater than `after`, in order, at most `limit`.
    async fn since(
        &self,
        group: &str,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<(u64, StoredEvent)>>;
    /// Redacts every event of the `users` (by user id, and of every session one of them used)
    /// in place: each keeps its eventId (so it is not stored again), its sequence number and
    /// its time, and loses everything else ([`StoredEvent::redacted`]). Returns how many were
    /// redacted now; a second call with the same users redacts none.
    async fn redact(&self, group: &str, users: &HashSet<String>) -> StoreResult<u64>;
    /// The newest `limit` events of the group's log with their sequence numbers, oldest first
    /// (redacted ones included, as [`EventStore::since`] gives them).
    async fn latest(&self, group: &str, limit: usize) -> StoreResult<Vec<(u64, StoredEvent)>>;
    /// Remembers the items an answer showed, by its recommendation id, for at least
    /// [`SHOWN_RETENTION_SECS`]: what a later event naming that id implies was shown, when the
    /// process taking the event is not the one that answered. Item ids only, no user.
    async fn put_shown(
        &self,
        group: &str,
        recommendation_id: &str,
        items: &[String],
    ) -> StoreResult<()>;
    /// The items [`EventStore::put_shown`] remembered for a recommendation id.
    async fn shown(&self, group: &str, recommendation_id: &str)
        -> StoreResult<Option<Vec<String>>>;
}

/// How long an answer's shown items stay known to later events: 30 days.
pub const SHOWN_RETENTION_SECS: u64 = 30 * 24 * 3600;

/// The events `redact` takes: those of the users and of the sessions they used.
pub fn events_of<'a>(
    events: impl Iterator<Item = &'a StoredEvent> + Clone,
    users: &HashSet<String>,
) -> HashSet<String> {
    let sessions: HashSet<&str> = events
        .clone()
        .filter(|e| e.user_id.as_ref().is_some_and(|u| users.contains(u)))
        .map(|e| e.session_id.as_str())
        .collect();
    events
        .filter(|e| !e.is_redacted())
        .filter(|e| {
            e.user_id.as_ref().is_some_and(|u| users.contains(u))
                || sessions.contains(e.session_id.as_str())
                || users.contains(&e.session_id)
        })
        .map(|e| e.event_id.clone())
        .collect()
}

/// Key-value pairs bound into every data key (KMS's encryption context).
pub type EncryptionContext = BTreeMap<String, String>;

/// A data key: plaintext for use now, ciphertext to store beside the data.
pub struct DataKey {
    pub plaintext: [u8; 32],
    pub ciphertext: Vec<u8>,
}

/// Envelope-encryption keys (KMS GenerateDataKey / Decrypt).
#[async_trait]
pub trait KeyService: Send + Sync {
    async fn generate_data_key(&self, context: &EncryptionContext) -> StoreResult<DataKey>;
    /// Fails unless `context` is the one the key was generated with.
    async fn decrypt_data_key(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> StoreResult<[u8; 32]>;
}

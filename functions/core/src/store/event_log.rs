//! The embedded event log: one append-only file per dataset group, `events/<group>/events.log`.
//!
//! ```text
//! header: "TLEV" | version u8 = 1 | 3 zero bytes
//! record: payload length u32 LE | CRC-32 (LE u32) of (group, length, payload) | payload
//! ```
//! The payload is the event as JSON. Framing is what makes a crash survivable: a process killed
//! mid-append (or a full disk, or a file-size limit) leaves a record that is short or fails its
//! checksum at the end of the file, and the next writer, holding the group's lock, cuts it off
//! before appending, so the fragment is never glued to the next event. An append is acknowledged
//! only after its bytes are fsynced, so the cut loses only what was never acknowledged. A bad
//! record with intact records after it is not a crash but damage, and is refused naming the
//! file and byte offset. The group is in the checksum so one group's log copied over another's
//! is refused too.
//!
//! Logs written before the format (`log.jsonl`, one JSON event per line) are converted on first
//! open.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use super::fs::{escape, private_open, write_atomic, LockGuard};
use super::{EventStore, StoreError, StoreResult, StoredEvent};

const MAGIC: &[u8; 4] = b"TLEV";
const VERSION: u8 = 1;
const HEADER: u64 = 8;
const RECORD_HEADER: usize = 8;
const LOG: &str = "events.log";
const LEGACY_LOG: &str = "log.jsonl";

fn file_header() -> [u8; HEADER as usize] {
    let mut h = [0u8; HEADER as usize];
    h[..4].copy_from_slice(MAGIC);
    h[4] = VERSION;
    h
}

fn checksum(group: &str, len: [u8; 4], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&(group.len() as u64).to_le_bytes());
    h.update(group.as_bytes());
    h.update(&len);
    h.update(payload);
    h.finalize()
}

/// One event framed as a record of `group`'s log.
fn encode(group: &str, event: &StoredEvent, out: &mut Vec<u8>) -> StoreResult<()> {
    let payload = serde_json::to_vec(event).map_err(|e| StoreError::Io(e.to_string()))?;
    let len = u32::try_from(payload.len())
        .map_err(|_| StoreError::Io("an event is too large to log".into()))?
        .to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&checksum(group, len, &payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// What reading the log from some offset found after its last whole record.
#[derive(Debug, PartialEq, Eq)]
enum Tail {
    /// The log ends exactly after a whole record.
    Clean,
    /// Bytes from `at` to the end are a record cut short (or one that failed its checksum with
    /// nothing but zeros after it): what a crash mid-append leaves, or a write in progress.
    Torn { at: u64 },
}

/// What one process knows of a group's log: read up to `offset`, indexed.
#[derive(Default)]
struct LogIndex {
    /// Whether this process has opened (converted, repaired) the log yet.
    opened: bool,
    offset: u64,
    events: Vec<StoredEvent>,
    ids: HashSet<String>,
    by_subject: HashMap<String, Vec<usize>>,
}

impl LogIndex {
    /// Reads the records appended since the last call (by this or another process).
    fn catch_up(&mut self, path: &Path, group: &str) -> StoreResult<Tail> {
        let mut f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Tail::Clean),
            Err(e) => return Err(e.into()),
        };
        let mut bytes = Vec::new();
        f.seek(SeekFrom::Start(self.offset))?;
        f.read_to_end(&mut bytes)?;
        let corrupt = |at: u64, why: &str| {
            StoreError::Corrupt(format!("{}: at byte {at}: {why}", path.display()))
        };
        let mut pos = 0usize;
        if self.offset == 0 {
            if bytes.is_empty() {
                return Ok(Tail::Clean);
            }
            if bytes.len() < HEADER as usize {
                return Ok(Tail::Torn { at: 0 });
            }
            if &bytes[..4] != MAGIC {
                return Err(corrupt(0, "not a tailor event log"));
            }
            if bytes[4] != VERSION {
                return Err(corrupt(0, &format!("unknown log format {}", bytes[4])));
            }
            pos = HEADER as usize;
            self.offset = HEADER;
        }
        loop {
            let rest = &bytes[pos..];
            if rest.is_empty() {
                return Ok(Tail::Clean);
            }
            let at = self.offset;
            if rest.len() < RECORD_HEADER {
                return Ok(Tail::Torn { at });
            }
            let len = [rest[0], rest[1], rest[2], rest[3]];
            let expected = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
            let end = RECORD_HEADER + u32::from_le_bytes(len) as usize;
            if rest.len() < end {
                return Ok(Tail::Torn { at });
            }
            let payload = &rest[RECORD_HEADER..end];
            if checksum(group, len, payload) != expected {
                // A crash can leave a full-length record whose bytes never reached the disk
                // (zeros, stale blocks), but only as the last thing in the file.
                if rest[end..].iter().all(|&b| b == 0) {
                    return Ok(Tail::Torn { at });
                }
                return Err(corrupt(
                    at,
                    "a record fails its checksum and more records follow (damaged, or copied \
                     from another group's log)",
                ));
            }
            let event: StoredEvent = serde_json::from_slice(payload)
                .map_err(|e| corrupt(at, &format!("a record does not hold an event: {e}")))?;
            self.add(event);
            pos += end;
            self.offset += end as u64;
        }
    }

    fn add(&mut self, event: StoredEvent) {
        let idx = self.events.len();
        self.ids.insert(event.event_id.clone());
        if event.is_redacted() {
            self.events.push(event);
            return;
        }
        self.by_subject
            .entry(event.session_id.clone())
            .or_default()
            .push(idx);
        if let Some(user) = &event.user_id {
            if user != &event.session_id {
                self.by_subject.entry(user.clone()).or_default().push(idx);
            }
        }
        self.events.push(event);
    }

    /// Catches up holding the group's lock, where no append can be in progress, so a torn
    /// tail is a crash's leftover and is cut off.
    fn catch_up_locked(&mut self, path: &Path, group: &str) -> StoreResult<()> {
        if let Tail::Torn { at } = self.catch_up(path, group)? {
            let f = OpenOptions::new().write(true).open(path)?;
            let len = f.metadata()?.len();
            f.set_len(at)?;
            f.sync_all()?;
            tracing::warn!(
                log = %path.display(),
                offset = at,
                bytes = len - at,
                "cut an unfinished record off the end of the event log (a crash during an \
                 append that was never acknowledged)"
            );
        }
        Ok(())
    }
}

/// Converts a pre-format `log.jsonl` into the framed log, once, under the group's lock.
///
/// A JSON-lines log damaged by a crash could hold a partial line with the next acknowledged
/// event glued to it; that event is recovered from the line's end. A final line without its
/// newline was never acknowledged and is dropped.
fn convert_legacy(dir: &Path, group: &str) -> StoreResult<()> {
    let legacy = dir.join(LEGACY_LOG);
    let Some(bytes) = super::fs::read_opt(&legacy)? else {
        return Ok(());
    };
    let log = dir.join(LOG);
    if log.exists() {
        return Err(StoreError::Corrupt(format!(
            "{} and {} both exist; move one away",
            legacy.display(),
            log.display()
        )));
    }
    let mut out = file_header().to_vec();
    let mut offset = 0usize;
    let mut kept = 0usize;
    for (n, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let start = offset;
        offset += line.len();
        if !line.ends_with(b"\n") {
            break;
        }
        let text = &line[..line.len() - 1];
        if text.is_empty() {
            continue;
        }
        let event = serde_json::from_slice::<StoredEvent>(text)
            .ok()
            .or_else(|| {
                text.iter()
                    .enumerate()
                    .filter(|&(i, &b)| b == b'{' && i > 0)
                    .find_map(|(i, _)| serde_json::from_slice(&text[i..]).ok())
            });
        let Some(event) = event else {
            return Err(StoreError::Corrupt(format!(
                "{}: line {} (byte {start}) is not an event; fix or remove it and restart",
                legacy.display(),
                n + 1
            )));
        };
        encode(group, &event, &mut out)?;
        kept += 1;
    }
    write_atomic(&log, &out)?;
    fs::remove_file(&legacy)?;
    File::open(dir)?.sync_all()?;
    tracing::info!(log = %log.display(), events = kept, "converted a JSON-lines event log to the framed format");
    Ok(())
}

/// [`EventStore`] on a directory: a framed append-only log per dataset group.
pub struct FsEventStore {
    root: PathBuf,
    indexes: Mutex<HashMap<String, LogIndex>>,
}

impl FsEventStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsEventStore {
            root: root.into(),
            indexes: Mutex::new(HashMap::new()),
        }
    }

    fn group_dir(&self, group: &str) -> StoreResult<PathBuf> {
        if group.is_empty() {
            return Err(StoreError::BadKey(group.into()));
        }
        // One directory per group; escaping makes an ARN a single safe name.
        Ok(self.root.join(escape(group)))
    }

    fn with_index<T>(
        &self,
        group: &str,
        f: impl FnOnce(&mut LogIndex, &Path) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let dir = self.group_dir(group)?;
        let path = dir.join(LOG);
        let mut indexes = self
            .indexes
            .lock()
            .map_err(|_| StoreError::Io("poisoned".into()))?;
        let index = indexes.entry(group.to_string()).or_default();
        if !index.opened {
            if dir.exists() {
                let _lock = LockGuard::acquire(&dir.join(".lock"))?;
                convert_legacy(&dir, group)?;
                index.catch_up_locked(&path, group)?;
            }
            index.opened = true;
        } else {
            index.catch_up(&path, group)?;
        }
        f(index, &path)
    }
}

/// The log's bytes with the records at `targets` (event indexes) replaced by `redacted` at the
/// same length (the JSON padded with spaces), so every offset another process holds stays a
/// record boundary.
fn redact_records(
    bytes: &mut [u8],
    group: &str,
    targets: &HashMap<usize, StoredEvent>,
) -> StoreResult<()> {
    let mut pos = HEADER as usize;
    let mut i = 0usize;
    while pos + RECORD_HEADER <= bytes.len() {
        let len = [bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]];
        let n = u32::from_le_bytes(len) as usize;
        let start = pos + RECORD_HEADER;
        if start + n > bytes.len() {
            // Only whole records are passed in (the log is cut at the index's offset).
            return Err(StoreError::Corrupt(format!(
                "a record at byte {pos} runs past the end of the log"
            )));
        }
        if let Some(event) = targets.get(&i) {
            let mut payload = serde_json::to_vec(event)
                .map_err(|e| StoreError::Corrupt(format!("event to JSON: {e}")))?;
            if payload.len() > n {
                return Err(StoreError::Corrupt(format!(
                    "a redacted event is longer than the record at byte {pos}"
                )));
            }
            payload.resize(n, b' ');
            bytes[start..start + n].copy_from_slice(&payload);
            bytes[pos + 4..pos + 8].copy_from_slice(&checksum(group, len, &payload).to_le_bytes());
        }
        pos = start + n;
        i += 1;
    }
    Ok(())
}

#[async_trait]
impl EventStore for FsEventStore {
    async fn latest(&self, group: &str, limit: usize) -> StoreResult<Vec<(u64, StoredEvent)>> {
        self.with_index(group, |index, _| {
            let from = index.events.len().saturating_sub(limit);
            Ok(index.events[from..]
                .iter()
                .enumerate()
                .map(|(i, e)| ((from + i) as u64 + 1, e.clone()))
                .collect())
        })
    }

    async fn put_shown(
        &self,
        group: &str,
        recommendation_id: &str,
        items: &[String],
    ) -> StoreResult<()> {
        let dir = self.group_dir(group)?.join("shown");
        fs::create_dir_all(&dir).map_err(|e| StoreError::Io(e.to_string()))?;
        write_atomic(
            &dir.join(escape(recommendation_id)),
            items.join("\n").as_bytes(),
        )
        .map_err(|e| StoreError::Io(e.to_string()))
    }

    async fn shown(
        &self,
        group: &str,
        recommendation_id: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        let path = self
            .group_dir(group)?
            .join("shown")
            .join(escape(recommendation_id));
        match fs::read_to_string(path) {
            Ok(text) => Ok(Some(
                text.lines()
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect(),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Io(e.to_string())),
        }
    }

    async fn append(&self, group: &str, events: &[StoredEvent]) -> StoreResult<usize> {
        self.with_index(group, |index, path| {
            let dir = path.parent().unwrap_or(Path::new("."));
            // Creates the group's directory too, on the first append.
            let _lock = LockGuard::acquire(&dir.join(".lock"))?;
            index.catch_up_locked(path, group)?;
            let mut buf = Vec::new();
            if index.offset == 0 {
                buf.extend_from_slice(&file_header());
            }
            let mut fresh = Vec::new();
            let mut batch_ids = HashSet::new();
            for e in events {
                if index.ids.contains(&e.event_id) || !batch_ids.insert(&e.event_id) {
                    continue;
                }
                encode(group, e, &mut buf)?;
                fresh.push(e.clone());
            }
            if fresh.is_empty() {
                return Ok(0);
            }
            let mut f = private_open(OpenOptions::new().create(true).append(true), path)?;
            let written = f.write_all(&buf).and_then(|()| f.sync_data());
            if let Err(e) = written {
                // Nothing of a failed append may stay to be read, or glued to the next one.
                let cut = f.set_len(index.offset).and_then(|()| f.sync_all());
                if let Err(cut) = cut {
                    tracing::error!(log = %path.display(), error = %cut,
                        "could not cut a failed append off the event log; the next append will");
                }
                return Err(e.into());
            }
            if index.offset == 0 {
                // A new file: its name must be as durable as its bytes.
                File::open(dir)?.sync_all()?;
            }
            index.offset += buf.len() as u64;
            let n = fresh.len();
            for e in fresh {
                index.add(e);
            }
            Ok(n)
        })
    }

    async fn recent(
        &self,
        group: &str,
        subject: &str,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.with_index(group, |index, _| {
            let Some(idxs) = index.by_subject.get(subject) else {
                return Ok(vec![]);
            };
            let start = idxs.len().saturating_sub(limit);
            Ok(idxs[start..]
                .iter()
                .map(|&i| index.events[i].clone())
                .collect())
        })
    }

    async fn redact(&self, group: &str, users: &HashSet<String>) -> StoreResult<u64> {
        self.with_index(group, |index, path| {
            let dir = path.parent().unwrap_or(Path::new("."));
            if !path.exists() {
                return Ok(0);
            }
            let _lock = LockGuard::acquire(&dir.join(".lock"))?;
            index.catch_up_locked(path, group)?;
            let ids = super::events_of(index.events.iter(), users);
            if ids.is_empty() {
                return Ok(0);
            }
            let targets: HashMap<usize, StoredEvent> = index
                .events
                .iter()
                .enumerate()
                .filter(|(_, e)| ids.contains(&e.event_id))
                .map(|(i, e)| (i, e.redacted()))
                .collect();
            let mut bytes = fs::read(path)?;
            bytes.truncate(index.offset as usize);
            redact_records(&mut bytes, group, &targets)?;
            write_atomic(path, &bytes)?;
            for (i, e) in &targets {
                index.events[*i] = e.clone();
            }
            index.by_subject.clear();
            let events = std::mem::take(&mut index.events);
            index.ids.clear();
            for e in events {
                index.add(e);
            }
            Ok(targets.len() as u64)
        })
    }

    async fn since(
        &self,
        group: &str,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<(u64, StoredEvent)>> {
        self.with_index(group, |index, _| {
            Ok(index
                .events
                .iter()
                .enumerate()
                .map(|(i, e)| (i as u64 + 1, e))
                .filter(|(seq, _)| *seq > after)
                .take(limit)
                .map(|(seq, e)| (seq, e.clone()))
                .collect())
        })
    }
}

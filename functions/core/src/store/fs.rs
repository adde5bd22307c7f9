//! Embedded adapters: everything in one directory (`./.tailor` by default).
//!
//! Layout: `blobs/<key>`, `meta/<table>/<escaped key path>`, `events/<group>/log.jsonl`,
//! `keys/master.key`. Writes go to a temp file, are fsynced and renamed into place, so a reader
//! sees the old or the new object, never half of one. Conditional writes and event appends hold
//! an exclusive OS file lock, so several processes can share one directory.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;

use super::*;

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Holds an exclusive lock on `path` (created if needed) until dropped.
struct LockGuard(File);

impl LockGuard {
    fn acquire(path: &Path) -> std::io::Result<LockGuard> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        f.lock()?;
        Ok(LockGuard(f))
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Maps a store key to a relative path: `/` separates directories, every segment is
/// percent-escaped so ARNs (with `:`) become safe file names.
fn key_path(key: &str) -> StoreResult<PathBuf> {
    if key.is_empty() || key.starts_with('/') || key.ends_with('/') {
        return Err(StoreError::BadKey(key.into()));
    }
    let mut path = PathBuf::new();
    for seg in key.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(StoreError::BadKey(key.into()));
        }
        path.push(escape(seg));
    }
    Ok(path)
}

fn escape(seg: &str) -> String {
    let mut out = String::with_capacity(seg.len());
    for b in seg.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && !out.is_empty()) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unescape(seg: &str) -> Option<String> {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Relative keys of every regular file under `dir`, skipping temp and lock files.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-") || name == ".lock" {
            continue;
        }
        let Some(seg) = unescape(&name) else { continue };
        let key = if prefix.is_empty() {
            seg
        } else {
            format!("{prefix}/{seg}")
        };
        if entry.file_type()?.is_dir() {
            walk(&entry.path(), &key, out)?;
        } else {
            out.push(key);
        }
    }
    Ok(())
}

fn read_opt(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// [`BlobStore`] on a directory.
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsBlobStore { root: root.into() }
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> StoreResult<()> {
        Ok(write_atomic(&self.root.join(key_path(key)?), &bytes)?)
    }

    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(read_opt(&self.root.join(key_path(key)?))?)
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        match fs::remove_file(self.root.join(key_path(key)?)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn list(&self, prefix: &str) -> StoreResult<Vec<String>> {
        let mut keys = Vec::new();
        walk(&self.root, "", &mut keys)?;
        keys.retain(|k| k.starts_with(prefix));
        keys.sort();
        Ok(keys)
    }
}

/// [`MetaStore`] on a directory: one file per record, `<version>\n<value>`.
pub struct FsMetaStore {
    root: PathBuf,
}

impl FsMetaStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsMetaStore { root: root.into() }
    }

    fn table_dir(&self, table: &str) -> StoreResult<PathBuf> {
        if table.contains('/') {
            return Err(StoreError::BadKey(table.into()));
        }
        Ok(self.root.join(key_path(table)?))
    }

    fn read(path: &Path) -> StoreResult<Option<Versioned>> {
        let Some(bytes) = read_opt(path)? else {
            return Ok(None);
        };
        let nl = bytes.iter().position(|&b| b == b'\n').ok_or_else(|| {
            StoreError::Corrupt(format!("{} has no version line", path.display()))
        })?;
        let version = std::str::from_utf8(&bytes[..nl])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("{} has a bad version", path.display())))?;
        Ok(Some(Versioned {
            value: bytes[nl + 1..].to_vec(),
            version,
        }))
    }

    fn check(current: Option<u64>, expect: Expect) -> StoreResult<()> {
        let ok = match expect {
            Expect::Any => true,
            Expect::Absent => current.is_none(),
            Expect::Version(v) => current == Some(v),
        };
        if ok {
            Ok(())
        } else {
            Err(StoreError::ConditionFailed)
        }
    }
}

#[async_trait]
impl MetaStore for FsMetaStore {
    async fn get(&self, table: &str, key: &str) -> StoreResult<Option<Versioned>> {
        Self::read(&self.table_dir(table)?.join(key_path(key)?))
    }

    async fn put(
        &self,
        table: &str,
        key: &str,
        value: Vec<u8>,
        expect: Expect,
    ) -> StoreResult<u64> {
        let dir = self.table_dir(table)?;
        let path = dir.join(key_path(key)?);
        let _lock = LockGuard::acquire(&dir.join(".lock"))?;
        let current = Self::read(&path)?.map(|v| v.version);
        Self::check(current, expect)?;
        let version = current.unwrap_or(0) + 1;
        let mut bytes = format!("{version}\n").into_bytes();
        bytes.extend_from_slice(&value);
        write_atomic(&path, &bytes)?;
        Ok(version)
    }

    async fn delete(&self, table: &str, key: &str, expect: Expect) -> StoreResult<()> {
        let dir = self.table_dir(table)?;
        let path = dir.join(key_path(key)?);
        let _lock = LockGuard::acquire(&dir.join(".lock"))?;
        let current = Self::read(&path)?.map(|v| v.version);
        Self::check(current, expect)?;
        if current.is_some() {
            fs::remove_file(&path)?;
        }
        Ok(())
    }

    async fn list(&self, table: &str) -> StoreResult<Vec<(String, Versioned)>> {
        let dir = self.table_dir(table)?;
        let mut keys = Vec::new();
        walk(&dir, "", &mut keys)?;
        keys.sort();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(v) = Self::read(&dir.join(key_path(&key)?))? {
                out.push((key, v));
            }
        }
        Ok(out)
    }
}

/// What one process knows of a group's log: read up to `offset`, indexed.
#[derive(Default)]
struct LogIndex {
    offset: u64,
    events: Vec<StoredEvent>,
    ids: HashSet<String>,
    by_subject: HashMap<String, Vec<usize>>,
}

impl LogIndex {
    /// Reads lines appended since the last call (by this or another process).
    fn catch_up(&mut self, path: &Path) -> StoreResult<()> {
        let mut f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        f.seek(SeekFrom::Start(self.offset))?;
        let mut reader = BufReader::new(f);
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader.read_line(&mut line)?;
            if n == 0 || !line.ends_with('\n') {
                break; // a line still being written by another process is read next time
            }
            self.offset += n as u64;
            let event: StoredEvent = serde_json::from_str(&line)
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?;
            self.add(event);
        }
        Ok(())
    }

    fn add(&mut self, event: StoredEvent) {
        let idx = self.events.len();
        self.ids.insert(event.event_id.clone());
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
}

/// [`EventStore`] on a directory: an append-only JSON-lines log per dataset group.
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

    fn log_path(&self, group: &str) -> StoreResult<PathBuf> {
        if group.is_empty() {
            return Err(StoreError::BadKey(group.into()));
        }
        // One directory per group; escaping makes an ARN a single safe name.
        Ok(self.root.join(escape(group)).join("log.jsonl"))
    }

    fn with_index<T>(
        &self,
        group: &str,
        f: impl FnOnce(&mut LogIndex, &Path) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let path = self.log_path(group)?;
        let mut indexes = self
            .indexes
            .lock()
            .map_err(|_| StoreError::Io("poisoned".into()))?;
        let index = indexes.entry(group.to_string()).or_default();
        index.catch_up(&path)?;
        f(index, &path)
    }
}

#[async_trait]
impl EventStore for FsEventStore {
    async fn append(&self, group: &str, events: &[StoredEvent]) -> StoreResult<usize> {
        self.with_index(group, |index, path| {
            let _lock = LockGuard::acquire(&path.with_file_name(".lock"))?;
            index.catch_up(path)?;
            let mut buf = Vec::new();
            let mut fresh = Vec::new();
            let mut batch_ids = HashSet::new();
            for e in events {
                if index.ids.contains(&e.event_id) || !batch_ids.insert(&e.event_id) {
                    continue;
                }
                serde_json::to_writer(&mut buf, e).map_err(|e| StoreError::Io(e.to_string()))?;
                buf.push(b'\n');
                fresh.push(e.clone());
            }
            if !buf.is_empty() {
                let mut f = OpenOptions::new().create(true).append(true).open(path)?;
                f.write_all(&buf)?;
                f.sync_data()?;
                index.offset += buf.len() as u64;
                let n = fresh.len();
                for e in fresh {
                    index.add(e);
                }
                return Ok(n);
            }
            Ok(0)
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

/// [`KeyService`] with a local master key (`keys/master.key`, created on first use, mode 0600).
/// Data keys are wrapped with AES-256-GCM, the encryption context bound as associated data.
pub struct FsKeyService {
    path: PathBuf,
}

impl FsKeyService {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsKeyService {
            path: root.into().join("master.key"),
        }
    }

    fn master(&self) -> StoreResult<Aes256Gcm> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        match opts.open(&self.path) {
            Ok(mut f) => {
                let key = random::<32>()?;
                f.write_all(&key)?;
                f.sync_all()?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        let mut key = Vec::new();
        File::open(&self.path)?.read_to_end(&mut key)?;
        Aes256Gcm::new_from_slice(&key)
            .map_err(|_| StoreError::Key(format!("{} is not a 32-byte key", self.path.display())))
    }
}

/// `N` bytes from the OS's random source.
pub(crate) fn random<const N: usize>() -> StoreResult<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::getrandom(&mut buf).map_err(|e| StoreError::Key(e.to_string()))?;
    Ok(buf)
}

pub(crate) fn context_aad(context: &EncryptionContext) -> Vec<u8> {
    serde_json::to_vec(context).unwrap_or_default()
}

#[async_trait]
impl KeyService for FsKeyService {
    async fn generate_data_key(&self, context: &EncryptionContext) -> StoreResult<DataKey> {
        let master = self.master()?;
        let plaintext = random::<32>()?;
        let nonce = random::<12>()?;
        let aad = context_aad(context);
        let sealed = master
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| StoreError::Key("wrapping a data key failed".into()))?;
        let mut ciphertext = nonce.to_vec();
        ciphertext.extend_from_slice(&sealed);
        Ok(DataKey {
            plaintext,
            ciphertext,
        })
    }

    async fn decrypt_data_key(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> StoreResult<[u8; 32]> {
        if ciphertext.len() < 12 {
            return Err(StoreError::Key("wrapped data key is too short".into()));
        }
        let master = self.master()?;
        let aad = context_aad(context);
        let plain = master
            .decrypt(
                Nonce::from_slice(&ciphertext[..12]),
                Payload {
                    msg: &ciphertext[12..],
                    aad: &aad,
                },
            )
            .map_err(|_| {
                StoreError::Key("data key does not decrypt under this key and context".into())
            })?;
        plain
            .try_into()
            .map_err(|_| StoreError::Key("data key has the wrong length".into()))
    }
}

/// The four embedded adapters over one data directory.
pub struct FsStores {
    pub root: PathBuf,
    pub blobs: FsBlobStore,
    pub meta: FsMetaStore,
    pub events: FsEventStore,
    pub keys: FsKeyService,
}

impl FsStores {
    pub fn open(root: impl Into<PathBuf>) -> StoreResult<FsStores> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        Ok(FsStores {
            blobs: FsBlobStore::new(root.join("blobs")),
            meta: FsMetaStore::new(root.join("meta")),
            events: FsEventStore::new(root.join("events")),
            keys: FsKeyService::new(root.join("keys")),
            root,
        })
    }
}

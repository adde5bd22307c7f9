//! Embedded adapters: everything in one directory (`./.tailor` by default).
//!
//! Layout: `blobs/<key>`, `meta/<table>/<escaped key path>`, `events/<group>/events.log` (see
//! [`super::event_log`]), `keys/master.key`. Writes go to a temp file, are fsynced and renamed
//! into place, so a reader sees the old or the new object, never half of one. Conditional writes
//! and event appends hold an exclusive OS file lock, so several processes can share one
//! directory. Everything is created private to its owner (files 0600, directories 0700): the
//! directory holds users' data and the key that opens it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;

pub use super::event_log::FsEventStore;
use super::*;

/// Creates `dir` and any missing parents, owner-only (0700).
pub(super) fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Opens `path` with `opts`; a file it creates is owner-only (0600).
pub(super) fn private_open(opts: &mut OpenOptions, path: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(opts, 0o600);
    opts.open(path)
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    private_dir(dir)?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    let result = (|| {
        let mut f = private_open(OpenOptions::new().write(true).create_new(true), &tmp)?;
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
pub(super) struct LockGuard(File);

impl LockGuard {
    pub(super) fn acquire(path: &Path) -> std::io::Result<LockGuard> {
        if let Some(dir) = path.parent() {
            private_dir(dir)?;
        }
        let f = private_open(
            OpenOptions::new().create(true).truncate(false).write(true),
            path,
        )?;
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

pub(super) fn escape(seg: &str) -> String {
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
        // Escaped segments never start with '.': these are temp files, locks and indexes.
        if name.starts_with('.') {
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

pub(super) fn read_opt(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
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

    async fn get_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> StoreResult<Option<Vec<u8>>> {
        use std::io::{Seek, SeekFrom};
        let mut f = match File::open(self.root.join(key_path(key)?)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let len = f.metadata()?.len();
        let end = range.end.min(len);
        let start = range.start.min(end);
        f.seek(SeekFrom::Start(start))?;
        let mut out = vec![0u8; (end - start) as usize];
        f.read_exact(&mut out)?;
        Ok(Some(out))
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

/// A record as a file holds it: a header line (`<version>` or `<version> <escaped parent>`), then
/// the value. A record with a parent also has an empty marker file at
/// `<table>/.children/<parent path>/.kids/<key path>`, so one parent's children list by walking
/// one directory. The marker is written before the record and removed after it: a crash leaves
/// at most a marker without a record, which listing skips.
struct FsRecord {
    versioned: Versioned,
    parent: Option<String>,
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

    /// The directory whose tree names `parent`'s children.
    fn children_dir(table_dir: &Path, parent: &str) -> StoreResult<PathBuf> {
        Ok(table_dir
            .join(".children")
            .join(key_path(parent)?)
            .join(".kids"))
    }

    fn read(path: &Path) -> StoreResult<Option<FsRecord>> {
        let Some(bytes) = read_opt(path)? else {
            return Ok(None);
        };
        let corrupt = |what: &str| StoreError::Corrupt(format!("{} {what}", path.display()));
        let nl = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| corrupt("has no version line"))?;
        let header = std::str::from_utf8(&bytes[..nl]).map_err(|_| corrupt("has a bad header"))?;
        let (version, parent) = match header.split_once(' ') {
            Some((v, p)) => (
                v,
                Some(unescape(p).ok_or_else(|| corrupt("has a bad parent"))?),
            ),
            None => (header, None),
        };
        let version = version.parse().map_err(|_| corrupt("has a bad version"))?;
        Ok(Some(FsRecord {
            versioned: Versioned {
                value: bytes[nl + 1..].to_vec(),
                version,
            },
            parent,
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

fn remove_opt(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[async_trait]
impl MetaStore for FsMetaStore {
    async fn get(&self, table: &str, key: &str) -> StoreResult<Option<Versioned>> {
        Ok(Self::read(&self.table_dir(table)?.join(key_path(key)?))?.map(|r| r.versioned))
    }

    async fn put(
        &self,
        table: &str,
        key: &str,
        parent: Option<&str>,
        value: Vec<u8>,
        expect: Expect,
    ) -> StoreResult<u64> {
        let dir = self.table_dir(table)?;
        let rel = key_path(key)?;
        let path = dir.join(&rel);
        let _lock = LockGuard::acquire(&dir.join(".lock"))?;
        let current = Self::read(&path)?;
        Self::check(current.as_ref().map(|r| r.versioned.version), expect)?;
        let version = current.as_ref().map_or(0, |r| r.versioned.version) + 1;
        let mut bytes = match parent {
            Some(p) => {
                write_atomic(&Self::children_dir(&dir, p)?.join(&rel), b"")?;
                format!("{version} {}\n", escape(p))
            }
            None => format!("{version}\n"),
        }
        .into_bytes();
        bytes.extend_from_slice(&value);
        write_atomic(&path, &bytes)?;
        if let Some(old) = current.and_then(|r| r.parent) {
            if Some(old.as_str()) != parent {
                remove_opt(&Self::children_dir(&dir, &old)?.join(&rel))?;
            }
        }
        Ok(version)
    }

    async fn delete(&self, table: &str, key: &str, expect: Expect) -> StoreResult<()> {
        let dir = self.table_dir(table)?;
        let rel = key_path(key)?;
        let path = dir.join(&rel);
        let _lock = LockGuard::acquire(&dir.join(".lock"))?;
        let current = Self::read(&path)?;
        Self::check(current.as_ref().map(|r| r.versioned.version), expect)?;
        if let Some(record) = current {
            fs::remove_file(&path)?;
            if let Some(parent) = record.parent {
                remove_opt(&Self::children_dir(&dir, &parent)?.join(&rel))?;
            }
        }
        Ok(())
    }

    /// Walks names only (one directory tree), then reads just the page's records.
    async fn list_page(&self, table: &str, query: ListQuery<'_>) -> StoreResult<Page> {
        let dir = self.table_dir(table)?;
        let names = match query.parent {
            Some(p) => Self::children_dir(&dir, p)?,
            None => dir.clone(),
        };
        let mut keys = Vec::new();
        walk(&names, "", &mut keys)?;
        keys.sort();
        let start = query
            .after
            .map_or(0, |after| keys.partition_point(|k| k.as_str() <= after));
        let limit = query.limit.max(1);
        let mut page = Page::default();
        for (i, key) in keys.iter().enumerate().skip(start) {
            if page.records.len() == limit {
                page.next = Some(keys[i - 1].clone());
                break;
            }
            // A marker whose record is gone (or was re-filed) is a crash's leftover: skipped.
            match Self::read(&dir.join(key_path(key)?))? {
                Some(r) if query.parent.is_none() || r.parent.as_deref() == query.parent => {
                    page.records.push((key.clone(), r.versioned))
                }
                _ => {}
            }
        }
        Ok(page)
    }
}

/// [`KeyService`] with a local master key (`keys/master.key`, mode 0600). Data keys are wrapped
/// with AES-256-GCM, the encryption context bound as associated data.
///
/// The key is made once, by [`FsStores::open`] on a new data directory, and never again: a key
/// made anew over sealed data would only turn "key missing" into "nothing decrypts".
pub struct FsKeyService {
    path: PathBuf,
}

impl FsKeyService {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsKeyService {
            path: root.into().join("master.key"),
        }
    }

    /// Makes the master key; fails if one exists.
    fn create(&self) -> StoreResult<()> {
        if let Some(dir) = self.path.parent() {
            private_dir(dir)?;
        }
        let mut f = private_open(OpenOptions::new().write(true).create_new(true), &self.path)?;
        f.write_all(&random::<32>()?)?;
        f.sync_all()?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    fn master(&self) -> StoreResult<Aes256Gcm> {
        let mut key = Vec::new();
        match File::open(&self.path) {
            Ok(mut f) => f.read_to_end(&mut key)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Key(format!(
                    "the master key {} is missing; restore it (nothing sealed under it can be \
                     read without it)",
                    self.path.display()
                )))
            }
            Err(e) => return Err(StoreError::Key(format!("{}: {e}", self.path.display()))),
        };
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
    /// Opens the data directory at `root`, making it (and its master key) if it is new. A
    /// directory that holds data but no key is refused, naming the key's path.
    pub fn open(root: impl Into<PathBuf>) -> StoreResult<FsStores> {
        let root = root.into();
        private_dir(&root)?;
        let stores = FsStores {
            blobs: FsBlobStore::new(root.join("blobs")),
            meta: FsMetaStore::new(root.join("meta")),
            events: FsEventStore::new(root.join("events")),
            keys: FsKeyService::new(root.join("keys")),
            root,
        };
        if !stores.keys.path.exists() {
            // Only tailor's own directories count: other files beside them (a log, a demo's
            // output) do not make a directory used.
            let mut files = Vec::new();
            for part in ["blobs", "meta", "events"] {
                walk(&stores.root.join(part), "", &mut files)?;
            }
            if files.is_empty() {
                stores.keys.create()?;
            } else {
                return Err(StoreError::Key(format!(
                    "the master key {} is missing but {} holds data sealed under it; restore \
                     the key, or use a new data directory",
                    stores.keys.path.display(),
                    stores.root.display()
                )));
            }
        }
        Ok(stores)
    }
}

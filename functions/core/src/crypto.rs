//! Envelope encryption of stored objects (dataset files, serving snapshots, model artifacts),
//! each bound to what it is.
//!
//! Sealed layout (little-endian):
//! ```text
//! "TLSE" | version u8 = 3 | wrapped-key length u16 | wrapped data key | plaintext length u64
//!        | nonce (12) | chunks: AES-256-GCM ciphertext+tag of each 1 MiB of plaintext
//! ```
//! Chunk `i` is sealed under the nonce with `i` added into its last four bytes, so the chunks
//! encrypt and decrypt in parallel (a 37 MB model opened in ~42 ms on one core) and cannot be
//! reordered; the plaintext length in the associated data fixes their number, so none can be
//! dropped. Version 2 (one AES-GCM message) is still read.
//!
//! The associated data is the header up to the nonce, the encryption context (the dataset
//! group, also bound into the data key by the key service) and the object's identity: its kind,
//! the resource it belongs to and the key it is stored under. So an object opens only as itself:
//! an ITEMS file copied over the USERS file, a SIMS model copied over another version's model, or
//! an older data version copied over the current one fails authentication, naming the object.
//! Version 1 bound the group only; such objects are refused rather than trusted.

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rayon::prelude::*;

use crate::store::fs::{context_aad, random};
use crate::store::{EncryptionContext, KeyService, StoreError, StoreResult};

const MAGIC: &[u8; 4] = b"TLSE";
const VERSION: u8 = 3;
/// One GCM message for the whole object (still read).
const VERSION_WHOLE: u8 = 2;
/// Plaintext bytes per chunk: large enough that a tag (16 B) per chunk costs nothing, small
/// enough that a model or dataset file spreads over every core.
const CHUNK: usize = 1 << 20;

/// The nonce of chunk `i`: the object's random nonce with `i` added into its last four bytes.
fn chunk_nonce(base: &[u8; 12], i: usize) -> [u8; 12] {
    let mut n = *base;
    let tail = u32::from_le_bytes([n[8], n[9], n[10], n[11]]).wrapping_add(i as u32);
    n[8..].copy_from_slice(&tail.to_le_bytes());
    n
}

/// The encryption context for objects of a dataset group.
pub fn group_context(dataset_group_arn: &str) -> EncryptionContext {
    EncryptionContext::from([("datasetGroupArn".to_string(), dataset_group_arn.to_string())])
}

/// What a sealed object is. Opening checks it is exactly this object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectId<'a> {
    /// The dataset group whose key seals it (the key service's encryption context).
    pub group: &'a str,
    /// e.g. `dataset/ITEMS`, `snapshot/INTERACTIONS`, `model/aws-sims`.
    pub kind: &'a str,
    /// The ARN of the dataset or solution version it belongs to.
    pub resource: &'a str,
    /// The store key it is written under (carries the data version).
    pub key: &'a str,
}

impl ObjectId<'_> {
    fn aad_tail(&self) -> Vec<u8> {
        let mut out = context_aad(&group_context(self.group));
        for part in [self.kind, self.resource, self.key] {
            // Length-prefixed, so no two identities encode alike.
            out.extend_from_slice(&(part.len() as u64).to_le_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

impl std::fmt::Display for ObjectId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} of {})", self.key, self.kind, self.resource)
    }
}

/// Encrypts `plaintext` as the object `id` under a fresh data key from `keys`.
pub async fn seal(
    keys: &dyn KeyService,
    id: &ObjectId<'_>,
    plaintext: &[u8],
) -> StoreResult<Vec<u8>> {
    let data_key = keys.generate_data_key(&group_context(id.group)).await?;
    let wrapped_len = u16::try_from(data_key.ciphertext.len())
        .map_err(|_| StoreError::Key("wrapped data key is too long".into()))?;
    let mut out = Vec::with_capacity(plaintext.len() + data_key.ciphertext.len() + 64);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&wrapped_len.to_le_bytes());
    out.extend_from_slice(&data_key.ciphertext);
    if plaintext.len() / CHUNK >= u32::MAX as usize {
        return Err(StoreError::Key("object too large to seal".into()));
    }
    out.extend_from_slice(&(plaintext.len() as u64).to_le_bytes());
    let mut aad = out.clone();
    aad.extend_from_slice(&id.aad_tail());
    let nonce = random::<12>()?;
    let cipher = Aes256Gcm::new_from_slice(&data_key.plaintext)
        .map_err(|_| StoreError::Key("bad data key".into()))?;
    out.extend_from_slice(&nonce);
    // An empty object is one empty chunk (its tag still authenticates the header).
    let pieces: Vec<&[u8]> = if plaintext.is_empty() {
        vec![&[]]
    } else {
        plaintext.chunks(CHUNK).collect()
    };
    let chunks: Vec<Vec<u8>> = pieces
        .par_iter()
        .enumerate()
        .map(|(i, chunk)| {
            cipher
                .encrypt(
                    Nonce::from_slice(&chunk_nonce(&nonce, i)),
                    Payload {
                        msg: chunk,
                        aad: &aad,
                    },
                )
                .map_err(|_| StoreError::Key("encryption failed".into()))
        })
        .collect::<StoreResult<_>>()?;
    out.reserve(plaintext.len() + 16 * chunks.len());
    for c in &chunks {
        out.extend_from_slice(c);
    }
    Ok(out)
}

/// Decrypts what [`seal`] wrote as `id`; fails, naming the object, on any change to the bytes,
/// on an object sealed as anything else, or under another group's key.
pub async fn open(keys: &dyn KeyService, id: &ObjectId<'_>, sealed: &[u8]) -> StoreResult<Vec<u8>> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("sealed object {id}: {what}"));
    if sealed.len() < 7 || &sealed[..4] != MAGIC {
        return Err(corrupt("not a tailor sealed object"));
    }
    let version = sealed[4];
    if version != VERSION && version != VERSION_WHOLE {
        return Err(corrupt(&format!(
            "format version {version} is not supported (this build reads versions \
             {VERSION_WHOLE} and {VERSION}; re-import the dataset or retrain the solution to \
             rewrite it)"
        )));
    }
    let wrapped_len = u16::from_le_bytes([sealed[5], sealed[6]]) as usize;
    let length_bytes = if version == VERSION { 8 } else { 0 };
    let header_end = 7 + wrapped_len + length_bytes;
    if sealed.len() < header_end + 12 + 16 {
        return Err(corrupt("truncated"));
    }
    let key = keys
        .decrypt_data_key(&sealed[7..7 + wrapped_len], &group_context(id.group))
        .await
        .map_err(|e| match e {
            StoreError::Key(m) => StoreError::Key(format!("sealed object {id}: {m}")),
            e => e,
        })?;
    let mut aad = sealed[..header_end].to_vec();
    aad.extend_from_slice(&id.aad_tail());
    let cipher =
        Aes256Gcm::new_from_slice(&key).map_err(|_| StoreError::Key("bad data key".into()))?;
    let failed = || {
        corrupt(
            "authentication failed: its bytes were changed, or it is another object \
             (copied from another key, kind or version)",
        )
    };
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&sealed[header_end..header_end + 12]);
    let body = &sealed[header_end + 12..];
    if version == VERSION_WHOLE {
        return cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| failed());
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&sealed[7 + wrapped_len..header_end]);
    let len = u64::from_le_bytes(len) as usize;
    let n_chunks = len.div_ceil(CHUNK).max(1);
    if body.len() != len.saturating_add(16 * n_chunks) {
        return Err(failed());
    }
    let mut out = vec![0u8; len];
    let sealed_chunks: Vec<&[u8]> = body.chunks(CHUNK + 16).collect();
    let mut plain_chunks: Vec<&mut [u8]> = out.chunks_mut(CHUNK).collect();
    if plain_chunks.is_empty() {
        plain_chunks.push(&mut []);
    }
    sealed_chunks
        .par_iter()
        .zip(plain_chunks.par_iter_mut())
        .enumerate()
        .try_for_each(|(i, (c, p))| {
            // Decrypted where it lands: no chunk-sized copy besides the ciphertext's.
            let (text, tag) = c.split_at(c.len().checked_sub(16).ok_or_else(failed)?);
            if text.len() != p.len() {
                return Err(failed());
            }
            p.copy_from_slice(text);
            cipher
                .decrypt_in_place_detached(
                    Nonce::from_slice(&chunk_nonce(&nonce, i)),
                    &aad,
                    p,
                    Tag::from_slice(tag),
                )
                .map_err(|_| failed())
        })?;
    Ok(out)
}

/// A sealed object read in parts (format 3): from its header alone, any run of its chunks
/// opens without the rest, so a task reads just its byte range of a large dataset file.
pub struct SealedParts {
    cipher: Aes256Gcm,
    aad: Vec<u8>,
    nonce: [u8; 12],
    body_at: u64,
    len: u64,
    id: String,
}

impl SealedParts {
    /// The longest header a sealed object can have: what to fetch before [`SealedParts::open`].
    pub const HEADER_MAX: u64 = 7 + u16::MAX as u64 + 8 + 12;

    /// Reads the header from the object's first bytes (at least the header; up to
    /// [`Self::HEADER_MAX`] always suffice) and unwraps its data key.
    pub async fn open(
        keys: &dyn KeyService,
        id: &ObjectId<'_>,
        prefix: &[u8],
    ) -> StoreResult<SealedParts> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("sealed object {id}: {what}"));
        if prefix.len() < 7 || &prefix[..4] != MAGIC {
            return Err(corrupt("not a tailor sealed object"));
        }
        if prefix[4] != VERSION {
            return Err(corrupt(&format!(
                "format version {} cannot be read in parts (version {VERSION} can; re-import \
                 the dataset to rewrite it)",
                prefix[4]
            )));
        }
        let wrapped_len = u16::from_le_bytes([prefix[5], prefix[6]]) as usize;
        let header_end = 7 + wrapped_len + 8;
        if prefix.len() < header_end + 12 {
            return Err(corrupt("truncated header"));
        }
        let key = keys
            .decrypt_data_key(&prefix[7..7 + wrapped_len], &group_context(id.group))
            .await?;
        let mut aad = prefix[..header_end].to_vec();
        aad.extend_from_slice(&id.aad_tail());
        let mut len = [0u8; 8];
        len.copy_from_slice(&prefix[7 + wrapped_len..header_end]);
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&prefix[header_end..header_end + 12]);
        Ok(SealedParts {
            cipher: Aes256Gcm::new_from_slice(&key)
                .map_err(|_| StoreError::Key("bad data key".into()))?,
            aad,
            nonce,
            body_at: (header_end + 12) as u64,
            len: u64::from_le_bytes(len),
            id: id.to_string(),
        })
    }

    /// The object's plaintext length.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunks holding plaintext bytes `range` (clipped to the object).
    pub fn chunks(&self, range: std::ops::Range<u64>) -> std::ops::Range<usize> {
        let c = CHUNK as u64;
        let end = range.end.min(self.len);
        let start = range.start.min(end);
        (start / c) as usize..end.div_ceil(c) as usize
    }

    /// Where chunk `i` starts in the plaintext.
    pub fn plain_at(&self, i: usize) -> u64 {
        (i as u64 * CHUNK as u64).min(self.len)
    }

    /// Where chunks `chunks` lie in the sealed object.
    pub fn sealed_range(&self, chunks: std::ops::Range<usize>) -> std::ops::Range<u64> {
        let at = |i: usize| {
            let plain = (i as u64 * CHUNK as u64).min(self.len);
            self.body_at + plain + 16 * i as u64
        };
        at(chunks.start)..at(chunks.end)
    }

    /// The plaintext of consecutive chunks from `first`, given their sealed bytes; fails on
    /// any change to them, as [`open`] does.
    pub fn open_chunks(&self, first: usize, sealed: &[u8]) -> StoreResult<Vec<u8>> {
        let failed = || {
            StoreError::Corrupt(format!(
                "sealed object {}: authentication failed in chunks from {first}",
                self.id
            ))
        };
        let pieces: Vec<&[u8]> = sealed.chunks(CHUNK + 16).collect();
        let plain: Vec<Vec<u8>> = pieces
            .par_iter()
            .enumerate()
            .map(|(k, c)| {
                let i = first + k;
                let want = (self.len - (i as u64 * CHUNK as u64).min(self.len)).min(CHUNK as u64);
                if c.len() as u64 != want + 16 {
                    return Err(failed());
                }
                let (text, tag) = c.split_at(c.len() - 16);
                let mut p = text.to_vec();
                self.cipher
                    .decrypt_in_place_detached(
                        Nonce::from_slice(&chunk_nonce(&self.nonce, i)),
                        &self.aad,
                        &mut p,
                        Tag::from_slice(tag),
                    )
                    .map_err(|_| failed())?;
                Ok(p)
            })
            .collect::<StoreResult<_>>()?;
        Ok(plain.concat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: ObjectId<'static> = ObjectId {
        group: "g",
        kind: "model",
        resource: "v",
        key: "k",
    };

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn parts_open_alone_and_only_as_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let keys = crate::store::fs::FsStores::open(dir.path()).unwrap().keys;
        let keys = &keys;
        let plain = bytes(3 * CHUNK + 1000);
        let sealed = seal(keys, &ID, &plain).await.unwrap();
        let head = &sealed[..(SealedParts::HEADER_MAX as usize).min(sealed.len())];
        let parts = SealedParts::open(keys, &ID, head).await.unwrap();
        assert_eq!(parts.len(), plain.len() as u64);
        for range in [
            0..10u64,
            CHUNK as u64 - 5..CHUNK as u64 + 5,
            2 * CHUNK as u64..plain.len() as u64,
        ] {
            let chunks = parts.chunks(range.clone());
            let at = parts.sealed_range(chunks.clone());
            let got = parts
                .open_chunks(chunks.start, &sealed[at.start as usize..at.end as usize])
                .unwrap();
            let from = chunks.start * CHUNK;
            assert_eq!(&got[..], &plain[from..from + got.len()]);
            assert!(from as u64 <= range.start && (from + got.len()) as u64 >= range.end);
        }
        // A changed byte, or a chunk given as another, fails.
        let at = parts.sealed_range(1..2);
        let mut bad = sealed[at.start as usize..at.end as usize].to_vec();
        bad[5] ^= 1;
        assert!(parts.open_chunks(1, &bad).is_err());
        let good = &sealed[at.start as usize..at.end as usize];
        assert!(parts.open_chunks(2, good).is_err());
        let other = ObjectId { key: "other", ..ID };
        let parts = SealedParts::open(keys, &other, head).await.unwrap();
        assert!(parts.open_chunks(1, good).is_err());
    }

    /// Where the chunks of a sealed object start.
    fn body_start(sealed: &[u8]) -> usize {
        7 + u16::from_le_bytes([sealed[5], sealed[6]]) as usize + 8 + 12
    }

    #[tokio::test]
    async fn every_size_round_trips_across_chunk_edges() {
        let dir = tempfile::tempdir().unwrap();
        let keys = crate::store::fs::FsStores::open(dir.path()).unwrap().keys;
        for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5] {
            let plain = bytes(n);
            let sealed = seal(&keys, &ID, &plain).await.unwrap();
            assert_eq!(sealed[4], VERSION);
            assert_eq!(
                sealed.len() - body_start(&sealed),
                n + 16 * n.div_ceil(CHUNK).max(1)
            );
            assert_eq!(open(&keys, &ID, &sealed).await.unwrap(), plain, "{n} bytes");
        }
    }

    #[tokio::test]
    async fn chunks_cannot_be_swapped_dropped_or_changed() {
        let dir = tempfile::tempdir().unwrap();
        let keys = crate::store::fs::FsStores::open(dir.path()).unwrap().keys;
        let sealed = seal(&keys, &ID, &bytes(3 * CHUNK)).await.unwrap();
        let at = body_start(&sealed);
        let c = CHUNK + 16;
        let mut swapped = sealed.clone();
        swapped[at..at + c].copy_from_slice(&sealed[at + c..at + 2 * c]);
        swapped[at + c..at + 2 * c].copy_from_slice(&sealed[at..at + c]);
        let dropped = sealed[..sealed.len() - c].to_vec();
        let mut flipped = sealed.clone();
        flipped[at + 2 * c + 100] ^= 1;
        let mut longer = sealed.clone();
        longer[7 + u16::from_le_bytes([sealed[5], sealed[6]]) as usize] ^= 1;
        for (what, bad) in [
            ("swapped", swapped),
            ("dropped", dropped),
            ("flipped", flipped),
            ("length changed", longer),
        ] {
            let err = open(&keys, &ID, &bad).await.unwrap_err().to_string();
            assert!(err.contains("authentication failed"), "{what}: {err}");
        }
        // Another object's identity does not open it either.
        let other = ObjectId { key: "k2", ..ID };
        assert!(open(&keys, &other, &sealed).await.is_err());
    }

    #[tokio::test]
    async fn objects_sealed_whole_by_version_2_still_open() {
        let dir = tempfile::tempdir().unwrap();
        let keys = crate::store::fs::FsStores::open(dir.path()).unwrap().keys;
        let plain = bytes(5000);
        let data_key = keys
            .generate_data_key(&group_context(ID.group))
            .await
            .unwrap();
        let mut v2 = MAGIC.to_vec();
        v2.push(VERSION_WHOLE);
        v2.extend_from_slice(&(data_key.ciphertext.len() as u16).to_le_bytes());
        v2.extend_from_slice(&data_key.ciphertext);
        let mut aad = v2.clone();
        aad.extend_from_slice(&ID.aad_tail());
        let nonce = [9u8; 12];
        let cipher = Aes256Gcm::new_from_slice(&data_key.plaintext).unwrap();
        let body = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .unwrap();
        v2.extend_from_slice(&nonce);
        v2.extend_from_slice(&body);
        assert_eq!(open(&keys, &ID, &v2).await.unwrap(), plain);
        v2[4] = 1;
        let err = open(&keys, &ID, &v2).await.unwrap_err().to_string();
        assert!(err.contains("version 1 is not supported"), "{err}");
    }
}

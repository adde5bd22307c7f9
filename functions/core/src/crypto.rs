//! Envelope encryption of stored objects (dataset files, serving snapshots, model artifacts),
//! each bound to what it is.
//!
//! Sealed layout (little-endian):
//! ```text
//! "TLSE" | version u8 = 2 | wrapped-key length u16 | wrapped data key | nonce (12) | AES-256-GCM ciphertext+tag
//! ```
//! The associated data is the header up to the nonce, the encryption context (the dataset
//! group, also bound into the data key by the key service) and the object's identity: its kind,
//! the resource it belongs to and the key it is stored under. So an object opens only as itself:
//! an ITEMS file copied over the USERS file, a SIMS model copied over another version's model, or
//! an older data version copied over the current one fails authentication, naming the object.
//! Version 1 bound the group only; such objects are refused rather than trusted.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::store::fs::{context_aad, random};
use crate::store::{EncryptionContext, KeyService, StoreError, StoreResult};

const MAGIC: &[u8; 4] = b"TLSE";
const VERSION: u8 = 2;

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
    let mut aad = out.clone();
    aad.extend_from_slice(&id.aad_tail());
    let nonce = random::<12>()?;
    let cipher = Aes256Gcm::new_from_slice(&data_key.plaintext)
        .map_err(|_| StoreError::Key("bad data key".into()))?;
    let body = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| StoreError::Key("encryption failed".into()))?;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decrypts what [`seal`] wrote as `id`; fails, naming the object, on any change to the bytes,
/// on an object sealed as anything else, or under another group's key.
pub async fn open(keys: &dyn KeyService, id: &ObjectId<'_>, sealed: &[u8]) -> StoreResult<Vec<u8>> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("sealed object {id}: {what}"));
    if sealed.len() < 7 || &sealed[..4] != MAGIC {
        return Err(corrupt("not a tailor sealed object"));
    }
    if sealed[4] != VERSION {
        return Err(corrupt(&format!(
            "format version {} is not supported (this build reads version {VERSION}; re-import \
             the dataset or retrain the solution to rewrite it)",
            sealed[4]
        )));
    }
    let wrapped_len = u16::from_le_bytes([sealed[5], sealed[6]]) as usize;
    let header_end = 7 + wrapped_len;
    if sealed.len() < header_end + 12 + 16 {
        return Err(corrupt("truncated"));
    }
    let key = keys
        .decrypt_data_key(&sealed[7..header_end], &group_context(id.group))
        .await
        .map_err(|e| match e {
            StoreError::Key(m) => StoreError::Key(format!("sealed object {id}: {m}")),
            e => e,
        })?;
    let mut aad = sealed[..header_end].to_vec();
    aad.extend_from_slice(&id.aad_tail());
    let cipher =
        Aes256Gcm::new_from_slice(&key).map_err(|_| StoreError::Key("bad data key".into()))?;
    cipher
        .decrypt(
            Nonce::from_slice(&sealed[header_end..header_end + 12]),
            Payload {
                msg: &sealed[header_end + 12..],
                aad: &aad,
            },
        )
        .map_err(|_| {
            corrupt(
                "authentication failed: its bytes were changed, or it is another object \
                 (copied from another key, kind or version)",
            )
        })
}

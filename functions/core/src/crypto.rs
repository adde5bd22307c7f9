//! Envelope encryption of stored objects (dataset files, model artifacts).
//!
//! Sealed layout (little-endian):
//! ```text
//! "TLSE" | version u8 = 1 | wrapped-key length u16 | wrapped data key | nonce (12) | AES-256-GCM ciphertext+tag
//! ```
//! The header up to the nonce is bound as associated data together with the encryption context,
//! so neither can be swapped without the tag failing.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::store::fs::{context_aad, random};
use crate::store::{EncryptionContext, KeyService, StoreError, StoreResult};

const MAGIC: &[u8; 4] = b"TLSE";
const VERSION: u8 = 1;

/// The encryption context for objects of a dataset group.
pub fn group_context(dataset_group_arn: &str) -> EncryptionContext {
    EncryptionContext::from([("datasetGroupArn".to_string(), dataset_group_arn.to_string())])
}

/// Encrypts `plaintext` under a fresh data key from `keys`.
pub async fn seal(
    keys: &dyn KeyService,
    context: &EncryptionContext,
    plaintext: &[u8],
) -> StoreResult<Vec<u8>> {
    let data_key = keys.generate_data_key(context).await?;
    let wrapped_len = u16::try_from(data_key.ciphertext.len())
        .map_err(|_| StoreError::Key("wrapped data key is too long".into()))?;
    let mut out = Vec::with_capacity(plaintext.len() + data_key.ciphertext.len() + 64);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&wrapped_len.to_le_bytes());
    out.extend_from_slice(&data_key.ciphertext);
    let mut aad = out.clone();
    aad.extend_from_slice(&context_aad(context));
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

/// Decrypts what [`seal`] wrote; fails on any change to the bytes or the context.
pub async fn open(
    keys: &dyn KeyService,
    context: &EncryptionContext,
    sealed: &[u8],
) -> StoreResult<Vec<u8>> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("sealed object: {what}"));
    if sealed.len() < 7 || &sealed[..4] != MAGIC {
        return Err(corrupt("not a tailor sealed object"));
    }
    if sealed[4] != VERSION {
        return Err(corrupt(&format!(
            "format version {} is not supported",
            sealed[4]
        )));
    }
    let wrapped_len = u16::from_le_bytes([sealed[5], sealed[6]]) as usize;
    let header_end = 7 + wrapped_len;
    if sealed.len() < header_end + 12 + 16 {
        return Err(corrupt("truncated"));
    }
    let key = keys
        .decrypt_data_key(&sealed[7..header_end], context)
        .await?;
    let mut aad = sealed[..header_end].to_vec();
    aad.extend_from_slice(&context_aad(context));
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
        .map_err(|_| corrupt("authentication failed (tampered, or wrong key or context)"))
}

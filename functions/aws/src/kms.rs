//! [`KeyService`] on KMS: GenerateDataKey (AES_256) and Decrypt, with the port's encryption
//! context passed as the KMS EncryptionContext.

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use tailor_core::store::{DataKey, EncryptionContext, KeyService, StoreError, StoreResult};

use crate::describe;

/// Data keys under one KMS key.
#[derive(Clone)]
pub struct KmsKeyService {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsKeyService {
    /// `key_id`: key id, ARN or alias. Decrypt names it too, so a data key wrapped by another
    /// KMS key is refused.
    pub fn new(config: &aws_config::SdkConfig, key_id: &str) -> Self {
        KmsKeyService {
            client: aws_sdk_kms::Client::new(config),
            key_id: key_id.to_string(),
        }
    }
}

fn context_map(context: &EncryptionContext) -> std::collections::HashMap<String, String> {
    context
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn plaintext_key(blob: Option<&Blob>, operation: &str) -> StoreResult<[u8; 32]> {
    let bytes = blob
        .ok_or_else(|| StoreError::Key(format!("{operation}: no plaintext in the response")))?
        .as_ref();
    bytes.try_into().map_err(|_| {
        StoreError::Key(format!(
            "{operation}: data key is {} bytes, expected 32",
            bytes.len()
        ))
    })
}

#[async_trait]
impl KeyService for KmsKeyService {
    async fn generate_data_key(&self, context: &EncryptionContext) -> StoreResult<DataKey> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context_map(context)))
            .send()
            .await
            .map_err(|e| StoreError::Key(describe("KMS GenerateDataKey", &e)))?;
        let plaintext = plaintext_key(out.plaintext(), "KMS GenerateDataKey")?;
        let ciphertext = out
            .ciphertext_blob()
            .ok_or_else(|| StoreError::Key("KMS GenerateDataKey: no ciphertext".into()))?
            .as_ref()
            .to_vec();
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
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(ciphertext))
            .set_encryption_context(Some(context_map(context)))
            .send()
            .await
            .map_err(|e| StoreError::Key(describe("KMS Decrypt", &e)))?;
        plaintext_key(out.plaintext(), "KMS Decrypt")
    }
}

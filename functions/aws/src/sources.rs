//! [`DataSources`] on S3: the `s3://bucket/key` data locations a user names in import jobs,
//! read with the door's credentials (or from an emulator at `AWS_ENDPOINT_URL`).

use async_trait::async_trait;
use tailor_core::store::{DataSources, StoreResult};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use crate::io_error;
use crate::s3::get_object;

/// Reads objects from any bucket the credentials reach, and writes jobs' output objects
/// SSE-KMS.
#[derive(Clone)]
pub struct S3DataSources {
    client: aws_sdk_s3::Client,
    /// The deployment's key: output objects are encrypted under it unless a job names one.
    kms_key_id: Option<String>,
}

impl S3DataSources {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        S3DataSources {
            client: crate::s3::client(config),
            kms_key_id: None,
        }
    }

    pub fn with_kms_key(mut self, kms_key_id: impl Into<String>) -> Self {
        self.kms_key_id = Some(kms_key_id.into());
        self
    }
}

#[async_trait]
impl DataSources for S3DataSources {
    async fn fetch(&self, bucket: &str, key: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        if !key.ends_with('/') {
            if let Some(bytes) = get_object(&self.client, bucket, key).await? {
                return Ok(vec![(key.to_string(), bytes)]);
            }
        }
        // A "folder": every object under it (not its sub-folders' marker objects).
        let prefix = if key.ends_with('/') {
            key.to_string()
        } else {
            format!("{key}/")
        };
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| io_error("S3 ListObjectsV2", &e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter(|k| !k.ends_with('/'))
                    .map(String::from),
            );
        }
        keys.sort();
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(bytes) = get_object(&self.client, bucket, &k).await? {
                out.push((k, bytes));
            }
        }
        Ok(out)
    }

    async fn deliver(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        kms_key: Option<&str>,
    ) -> StoreResult<()> {
        let mut put = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .body(ByteStream::from(bytes));
        if let Some(key_id) = kms_key.or(self.kms_key_id.as_deref()) {
            put = put.ssekms_key_id(key_id);
        }
        put.send().await.map_err(|e| io_error("S3 PutObject", &e))?;
        Ok(())
    }
}

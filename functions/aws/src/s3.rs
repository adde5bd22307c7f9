//! [`BlobStore`] on S3. Every object is written with SSE-KMS under the configured key.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use tailor_core::store::{BlobStore, StoreError, StoreResult};

use crate::io_error;

/// Blobs as S3 objects in one bucket, keyed by the port's key as-is.
#[derive(Clone)]
pub struct S3BlobStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    kms_key_id: String,
}

impl S3BlobStore {
    /// `kms_key_id` (id, ARN or alias) encrypts every object (`aws:kms`). With an endpoint
    /// override (an emulator), requests use path-style addressing.
    pub fn new(config: &aws_config::SdkConfig, bucket: &str, kms_key_id: &str) -> Self {
        S3BlobStore {
            client: client(config),
            bucket: bucket.to_string(),
            kms_key_id: kms_key_id.to_string(),
        }
    }

    /// The underlying client, for operations the port does not cover.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

fn check_key(key: &str) -> StoreResult<()> {
    if key.is_empty() || key.len() > 1024 {
        return Err(StoreError::BadKey(key.to_string()));
    }
    Ok(())
}

/// An S3 client; with an endpoint override (an emulator), requests use path-style addressing.
pub(crate) fn client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(config);
    if config.endpoint_url().is_some() {
        builder = builder.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// Bytes `range` (not empty) of the object, clipped to its end, or None when there is no such key.
async fn get_object_range(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    range: std::ops::Range<u64>,
) -> StoreResult<Option<Vec<u8>>> {
    let header = format!("bytes={}-{}", range.start, range.end - 1);
    let out = match client
        .get_object()
        .bucket(bucket)
        .key(key)
        .range(header)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        // Past the end: 416 InvalidRange. The object exists; its part there is empty.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
            return Ok(Some(Vec::new()))
        }
        Err(e) => return Err(io_error("S3 GetObject", &e)),
    };
    body_of(out).await.map(Some)
}

async fn body_of(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> StoreResult<Vec<u8>> {
    let body = out
        .body
        .collect()
        .await
        .map_err(|e| StoreError::Io(format!("S3 GetObject body: {e}")))?;
    Ok(body.into_bytes().to_vec())
}

/// The whole object, or None when the bucket has no such key.
pub(crate) async fn get_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> StoreResult<Option<Vec<u8>>> {
    let out = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(io_error("S3 GetObject", &e)),
    };
    body_of(out).await.map(Some)
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> StoreResult<()> {
        check_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&self.kms_key_id)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| io_error("S3 PutObject", &e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        check_key(key)?;
        get_object(&self.client, &self.bucket, key).await
    }

    async fn get_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> StoreResult<Option<Vec<u8>>> {
        check_key(key)?;
        if range.start >= range.end {
            // S3 has no empty range: ask whether the key exists.
            return Ok(get_object_range(&self.client, &self.bucket, key, 0..1)
                .await?
                .map(|_| Vec::new()));
        }
        get_object_range(&self.client, &self.bucket, key, range).await
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        check_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| io_error("S3 DeleteObject", &e))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> StoreResult<Vec<String>> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| io_error("S3 ListObjectsV2", &e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

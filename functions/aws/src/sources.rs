//! [`DataSources`] on S3: the `s3://bucket/key` data locations a user names in import jobs,
//! read with the door's credentials (or from an emulator at `AWS_ENDPOINT_URL`).

use async_trait::async_trait;
use tailor_core::store::{DataSources, StoreResult};

use crate::io_error;

/// Reads objects from any bucket the credentials reach.
#[derive(Clone)]
pub struct S3DataSources {
    client: aws_sdk_s3::Client,
}

impl S3DataSources {
    /// With an endpoint override (an emulator), requests use path-style addressing.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        let mut builder = aws_sdk_s3::config::Builder::from(config);
        if config.endpoint_url().is_some() {
            builder = builder.force_path_style(true);
        }
        S3DataSources {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
        }
    }

    async fn get(&self, bucket: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let out = match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(io_error("S3 GetObject", &e)),
        };
        let bytes =
            out.body.collect().await.map_err(|e| {
                tailor_core::store::StoreError::Io(format!("S3 GetObject body: {e}"))
            })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }
}

#[async_trait]
impl DataSources for S3DataSources {
    async fn fetch(&self, bucket: &str, key: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        if !key.ends_with('/') {
            if let Some(bytes) = self.get(bucket, key).await? {
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
            if let Some(bytes) = self.get(bucket, &k).await? {
                out.push((k, bytes));
            }
        }
        Ok(out)
    }
}

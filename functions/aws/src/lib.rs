//! AWS adapters for tailor's storage ports: [`S3BlobStore`], [`DynamoMetaStore`],
//! [`DynamoEventStore`] and [`KmsKeyService`].
//!
//! Each adapter is built from an [`aws_config::SdkConfig`] plus the names of its bucket, table or
//! key; no SDK type appears in the port signatures. Endpoint overrides come from the standard
//! `AWS_ENDPOINT_URL` variable (read by `aws-config`), which is how the integration tests reach an
//! emulator on 127.0.0.1:4566; S3 then uses path-style addressing.

use std::sync::Arc;

use tailor_core::store::StoreError;

pub mod console_proxy;
mod deployment;
mod dynamo_events;
mod dynamo_meta;
mod jobs;
mod kms;
mod s3;
mod sources;
pub mod testing;

pub use deployment::{campaign_refresh_from_env, decode_s3_event_key, Deployment};
pub use dynamo_events::DynamoEventStore;
pub use dynamo_meta::DynamoMetaStore;
pub use jobs::LambdaJobs;
pub use kms::KmsKeyService;
pub use s3::S3BlobStore;
pub use sources::S3DataSources;

/// Where the four adapters keep their data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceNames {
    /// S3 bucket for blobs (datasets, artifacts, batch files).
    pub bucket: String,
    /// DynamoDB table for resource metadata (see [`DynamoMetaStore`] for its schema).
    pub meta_table: String,
    /// DynamoDB table for streamed events (see [`DynamoEventStore`] for its schema).
    pub events_table: String,
    /// KMS key id, ARN or alias: SSE-KMS for every S3 object, and envelope data keys.
    pub kms_key_id: String,
}

/// Builds tailor's stores from the four AWS adapters.
pub struct Stores;

impl Stores {
    /// Loads the SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`)
    /// and builds the four adapters over `names`.
    pub async fn from_env(names: &ResourceNames) -> tailor_core::Stores {
        let config = sdk_config_from_env().await;
        Self::from_config(&config, names)
    }

    /// Builds the four adapters over `names` with an already loaded SDK configuration.
    pub fn from_config(
        config: &aws_config::SdkConfig,
        names: &ResourceNames,
    ) -> tailor_core::Stores {
        tailor_core::Stores::new(
            Arc::new(S3BlobStore::new(config, &names.bucket, &names.kms_key_id)),
            Arc::new(DynamoMetaStore::new(config, &names.meta_table)),
            Arc::new(DynamoEventStore::new(config, &names.events_table)),
            Arc::new(KmsKeyService::new(config, &names.kms_key_id)),
        )
    }
}

/// The SDK configuration from the environment, with the latest behaviour version and one
/// HTTPS client (rustls on ring) shared by every service client made from it.
pub async fn sdk_config_from_env() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

/// Describes an SDK error without its Debug output: the service's error code and message when
/// the service answered, the Display chain otherwise (timeouts, connection failures).
pub(crate) fn describe<E, R>(operation: &str, err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_s3::error::ProvideErrorMetadata;
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{operation}: {code}: {message}"),
        (Some(code), None) => format!("{operation}: {code}"),
        _ => format!(
            "{operation}: {}",
            aws_sdk_s3::error::DisplayErrorContext(err)
        ),
    }
}

pub(crate) fn io_error<E, R>(operation: &str, err: &aws_sdk_s3::error::SdkError<E, R>) -> StoreError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Io(describe(operation, err))
}

/// Logs for a Lambda function: `RUST_LOG` (default `info`), no colours or timestamps (CloudWatch
/// adds its own), to stderr so stdout stays free for EMF metric lines.
pub fn init_lambda_logs() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .without_time()
        .with_writer(std::io::stderr)
        .init();
}

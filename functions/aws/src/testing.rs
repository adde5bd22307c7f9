//! Creates the AWS resources the adapters need, for integration tests against an emulator (or a
//! scratch account). Production resources come from infrastructure code, not from here.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use tailor_core::store::{StoreError, StoreResult};

use crate::dynamo_events::TTL_ATTRIBUTE;
use crate::dynamo_meta::{BY_PARENT_INDEX, BY_TABLE_INDEX};
use crate::{io_error, ResourceNames};

/// Creates a bucket, the two tables (the meta table with its GSIs, the events table with TTL on
/// `expires_at`) and a symmetric KMS key, all named after `run_id` (lowercase letters, digits,
/// dashes). Returns their names; `kms_key_id` is the new key's id.
pub async fn create_resources_for_tests(
    config: &aws_config::SdkConfig,
    run_id: &str,
) -> StoreResult<ResourceNames> {
    let kms_key_id = create_kms_key(config, &format!("tailor test key {run_id}")).await?;
    let names = ResourceNames {
        bucket: format!("tailor-test-{run_id}"),
        meta_table: format!("tailor-test-{run_id}-meta"),
        events_table: format!("tailor-test-{run_id}-events"),
        kms_key_id,
    };

    let s3 = crate::S3BlobStore::new(config, &names.bucket, &names.kms_key_id);
    s3.client()
        .create_bucket()
        .bucket(&names.bucket)
        .send()
        .await
        .map_err(|e| io_error("S3 CreateBucket", &e))?;

    let ddb = aws_sdk_dynamodb::Client::new(config);
    let attr = |name: &str, ty: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ty)
            .build()
            .map_err(|e| StoreError::Io(format!("attribute definition: {e}")))
    };
    let key = |name: &str, ty: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(ty)
            .build()
            .map_err(|e| StoreError::Io(format!("key schema: {e}")))
    };

    let gsi = |name: &str, hash: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash)?)
            .key_schema(key("key", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(|e| StoreError::Io(format!("index definition: {e}")))
    };
    ddb.create_table()
        .table_name(&names.meta_table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S)?)
        .attribute_definitions(attr("tbl", ScalarAttributeType::S)?)
        .attribute_definitions(attr("key", ScalarAttributeType::S)?)
        .attribute_definitions(attr("parent", ScalarAttributeType::S)?)
        .key_schema(key("pk", KeyType::Hash)?)
        .global_secondary_indexes(gsi(BY_TABLE_INDEX, "tbl")?)
        .global_secondary_indexes(gsi(BY_PARENT_INDEX, "parent")?)
        .send()
        .await
        .map_err(|e| io_error("DynamoDB CreateTable", &e))?;

    ddb.create_table()
        .table_name(&names.events_table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S)?)
        .attribute_definitions(attr("sk", ScalarAttributeType::N)?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .send()
        .await
        .map_err(|e| io_error("DynamoDB CreateTable", &e))?;

    for table in [&names.meta_table, &names.events_table] {
        wait_active(&ddb, table).await?;
    }
    ddb.update_time_to_live()
        .table_name(&names.events_table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL_ATTRIBUTE)
                .build()
                .map_err(|e| StoreError::Io(format!("TTL specification: {e}")))?,
        )
        .send()
        .await
        .map_err(|e| io_error("DynamoDB UpdateTimeToLive", &e))?;
    Ok(names)
}

/// Creates a symmetric encryption KMS key and returns its id.
pub async fn create_kms_key(
    config: &aws_config::SdkConfig,
    description: &str,
) -> StoreResult<String> {
    let kms = aws_sdk_kms::Client::new(config);
    let out = kms
        .create_key()
        .description(description)
        .send()
        .await
        .map_err(|e| StoreError::Key(crate::describe("KMS CreateKey", &e)))?;
    out.key_metadata()
        .map(|m| m.key_id().to_string())
        .ok_or_else(|| StoreError::Key("KMS CreateKey returned no key id".into()))
}

async fn wait_active(ddb: &aws_sdk_dynamodb::Client, table: &str) -> StoreResult<()> {
    for _ in 0..120 {
        let out = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| io_error("DynamoDB DescribeTable", &e))?;
        let status = out.table().and_then(|t| t.table_status());
        if status == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Err(StoreError::Io(format!(
        "table {table} did not become ACTIVE"
    )))
}

//! The port conformance suites on the AWS adapters, against an AWS emulator.
//!
//! Needs `AWS_ENDPOINT_URL` (e.g. `http://127.0.0.1:4566` from `bash tests/emulator.sh start`),
//! `AWS_REGION`, `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`. Without `AWS_ENDPOINT_URL`
//! every test fails: these tests never run against a real account by accident, nor pass
//! silently.

use std::sync::Arc;

use aws_sdk_s3::types::ServerSideEncryption;
use tailor_aws::testing::{create_kms_key, create_resources_for_tests};
use tailor_aws::{DynamoEventStore, DynamoMetaStore, KmsKeyService, ResourceNames, S3BlobStore};
use tailor_core::crypto;
use tailor_core::store::conformance;
use tailor_core::store::{BlobStore, MetaStore};

struct Env {
    config: aws_config::SdkConfig,
    names: ResourceNames,
}

async fn env() -> Env {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        !endpoint.is_empty(),
        "AWS_ENDPOINT_URL is not set: these tests need an AWS emulator. Run \
         `bash tests/emulator.sh start` and set AWS_ENDPOINT_URL=http://127.0.0.1:4566 \
         AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test"
    );
    let config = tailor_aws::sdk_config_from_env().await;
    assert_eq!(
        config.endpoint_url(),
        Some(endpoint.as_str()),
        "the SDK did not pick up AWS_ENDPOINT_URL"
    );
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let names = create_resources_for_tests(&config, &run_id[..20])
        .await
        .unwrap_or_else(|e| panic!("creating test resources at {endpoint}: {e}"));
    Env { config, names }
}

#[tokio::test]
async fn s3_blob_store_conforms() {
    let e = env().await;
    let store = S3BlobStore::new(&e.config, &e.names.bucket, &e.names.kms_key_id);
    conformance::blob_store(&store).await;
}

#[tokio::test]
async fn dynamo_meta_store_conforms() {
    let e = env().await;
    let store = DynamoMetaStore::new(&e.config, &e.names.meta_table);
    conformance::meta_store(&store).await;
}

#[tokio::test]
async fn dynamo_meta_store_pages_conform() {
    let e = env().await;
    let store = DynamoMetaStore::new(&e.config, &e.names.meta_table);
    conformance::meta_store_pages(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamo_meta_store_conditional_writes_survive_a_race() {
    let e = env().await;
    let store = DynamoMetaStore::new(&e.config, &e.names.meta_table);
    conformance::meta_store_race(Arc::new(store)).await;
}

#[tokio::test]
async fn dynamo_meta_store_list_is_per_table() {
    let e = env().await;
    let store = DynamoMetaStore::new(&e.config, &e.names.meta_table);
    use tailor_core::store::Expect;
    store
        .put("a", "k2", None, b"x".to_vec(), Expect::Any)
        .await
        .unwrap();
    store
        .put("a", "k1", Some("p"), b"y".to_vec(), Expect::Any)
        .await
        .unwrap();
    store
        .put("ab", "k0", Some("p"), b"z".to_vec(), Expect::Any)
        .await
        .unwrap();
    let keys: Vec<String> = store
        .list("a", None)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["k1", "k2"]);
    // A parent is per table too: "ab"'s child of "p" is not "a"'s.
    let children = store.list("a", Some("p")).await.unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].0, "k1");
    assert_eq!(store.get("a", "k2").await.unwrap().unwrap().version, 1);
    assert_eq!(
        store
            .put("a", "k2", None, vec![], Expect::Any)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.get("a", "k2").await.unwrap().unwrap().value,
        Vec::<u8>::new()
    );
}

#[tokio::test]
async fn dynamo_event_store_conforms() {
    let e = env().await;
    let store = DynamoEventStore::new(&e.config, &e.names.events_table);
    conformance::event_store(&store).await;
}

#[tokio::test]
async fn kms_key_service_conforms() {
    let e = env().await;
    let keys = KmsKeyService::new(&e.config, &e.names.kms_key_id);
    conformance::key_service(&keys).await;
}

#[tokio::test]
async fn s3_objects_carry_sse_kms_with_the_configured_key() {
    let e = env().await;
    let store = S3BlobStore::new(&e.config, &e.names.bucket, &e.names.kms_key_id);
    store
        .put("sse/check.bin", b"payload".to_vec())
        .await
        .unwrap();
    let head = store
        .client()
        .head_object()
        .bucket(&e.names.bucket)
        .key("sse/check.bin")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms),
        "every object is written with SSE aws:kms"
    );
    let key_id = head.ssekms_key_id().expect("SSE-KMS key id on the object");
    assert!(
        key_id.contains(&e.names.kms_key_id),
        "object encrypted under {key_id}, expected {}",
        e.names.kms_key_id
    );
    assert_eq!(
        store.get("sse/check.bin").await.unwrap().as_deref(),
        Some(&b"payload"[..])
    );
    store.delete("sse/check.bin").await.unwrap();
}

#[tokio::test]
async fn sealed_data_needs_the_same_key_and_context() {
    let e = env().await;
    let keys = KmsKeyService::new(&e.config, &e.names.kms_key_id);
    let id = |group| crypto::ObjectId {
        group,
        kind: "model",
        resource: "arn:aws:personalize:us-east-1:000000000000:solution/s/1",
        key: "models/s/1.model.sealed",
    };
    let ctx = id("arn:aws:personalize:us-east-1:000000000000:dataset-group/a");
    let sealed = crypto::seal(&keys, &ctx, b"model artifact").await.unwrap();
    assert_eq!(
        crypto::open(&keys, &ctx, &sealed).await.unwrap(),
        b"model artifact"
    );

    let other_ctx = id("arn:aws:personalize:us-east-1:000000000000:dataset-group/b");
    assert!(
        crypto::open(&keys, &other_ctx, &sealed).await.is_err(),
        "a different encryption context must not decrypt"
    );

    let other_key = create_kms_key(&e.config, "tailor test other key")
        .await
        .unwrap();
    let wrong = KmsKeyService::new(&e.config, &other_key);
    assert!(
        crypto::open(&wrong, &ctx, &sealed).await.is_err(),
        "a service bound to a different KMS key must not decrypt"
    );
}

//! What the import and train Lambdas drive, on the embedded store: an upload imported once
//! however often its notification arrives, and the retraining steps a state machine runs.

use serde_json::json;
use tailor_core::domain::{ArnBuilder, ResourceType, Status, TrainingMode};
use tailor_core::recipes::next_items;
use tailor_core::sample::{self, schemas, SampleSize};
use tailor_core::schema::DatasetType;
use tailor_core::services::training::TrainingStep;
use tailor_core::services::uploads::UploadOutcome;
use tailor_core::services::CreateSolution;
use tailor_core::{ErrorKind, Stores, Tailor};

const KEY: &str = "imports/shop/INTERACTIONS/events.csv";

struct Env {
    _dir: tempfile::TempDir,
    t: Tailor,
    solution: String,
    campaign: String,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let t = Tailor::new(Stores::embedded(dir.path()).unwrap(), ArnBuilder::default());
    let g = t.create_dataset_group("shop", None, None).await.unwrap();
    let s = t
        .create_schema("interactions", schemas::ECOMMERCE_INTERACTIONS)
        .await
        .unwrap();
    t.create_dataset(
        "interactions",
        &s.schema_arn,
        &g.dataset_group_arn,
        DatasetType::Interactions,
    )
    .await
    .unwrap();
    let solution = t
        .create_solution(CreateSolution {
            name: "up".into(),
            dataset_group_arn: g.dataset_group_arn.clone(),
            recipe_arn: next_items::USER_PERSONALIZATION.arn(),
            ..Default::default()
        })
        .await
        .unwrap()
        .solution_arn;
    let campaign = t.arns.arn(ResourceType::Campaign, "shop");
    Env {
        _dir: dir,
        t,
        solution,
        campaign,
    }
}

fn interactions() -> Vec<u8> {
    let size = SampleSize {
        items: 200,
        users: 150,
        sessions_per_user: 5,
    };
    sample::generate(11, size).interactions
}

async fn upload(t: &Tailor, key: &str, tag: &str) -> UploadOutcome {
    t.import_upload(key, tag, &format!("s3://bucket/{key}"), &mut |_, _| {})
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_upload_imports_once() {
    let e = env().await;
    e.t.stores.blobs.put(KEY, interactions()).await.unwrap();
    let first = upload(&e.t, KEY, "\"etag-1\"").await;
    let UploadOutcome::Imported { job, rows } = first else {
        panic!("first delivery must import: {first:?}")
    };
    assert_eq!(job.status, Status::Active);
    assert!(rows > 1000, "{rows} rows");
    assert_eq!(job.data_source.data_location, format!("s3://bucket/{KEY}"));
    let again = upload(&e.t, KEY, "\"etag-1\"").await;
    let UploadOutcome::AlreadyHandled(same) = again else {
        panic!("second delivery must be skipped: {again:?}")
    };
    assert_eq!(same.dataset_import_job_arn, job.dataset_import_job_arn);
    assert_eq!(e.t.list_dataset_import_jobs(None).await.unwrap().len(), 1);
    // New content under the same key is a new upload.
    let changed = upload(&e.t, KEY, "\"etag-2\"").await;
    assert!(matches!(changed, UploadOutcome::Imported { .. }));
    assert_eq!(e.t.list_dataset_import_jobs(None).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_fail_their_job_or_name_the_key() {
    let e = env().await;
    let err =
        e.t.import_upload(
            "imports/nogroup/INTERACTIONS/a.csv",
            "t",
            "s3://b/k",
            &mut |_, _| {},
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResourceNotFound, "{err}");
    let err =
        e.t.import_upload("imports/shop/CLICKS/a.csv", "t", "s3://b/k", &mut |_, _| {})
            .await
            .unwrap_err();
    assert!(err.to_string().contains("CLICKS"), "{err}");
    let key = "imports/shop/INTERACTIONS/broken.csv";
    e.t.stores
        .blobs
        .put(key, b"USER_ID,ITEM_ID\n1,2\n".to_vec())
        .await
        .unwrap();
    let UploadOutcome::Imported { job, rows } = upload(&e.t, key, "x").await else {
        panic!("a bad file still records its job")
    };
    assert_eq!(job.status, Status::CreateFailed);
    assert!(job.failure_reason.unwrap().contains("TIMESTAMP"));
    assert_eq!(rows, 0);
}

async fn step(t: &Tailor, step: serde_json::Value) -> serde_json::Value {
    let step: TrainingStep = serde_json::from_value(step).unwrap();
    t.run_training_step(step).await.unwrap()
}

/// validate → train → evaluate → promote, twice, as the state machine runs it.
async fn cycle(e: &Env, mode: &str) -> (String, serde_json::Value) {
    let v = step(
        &e.t,
        json!({"action": "validate", "solutionArn": e.solution, "campaignArn": e.campaign, "trainingMode": mode}),
    )
    .await;
    let arn = v["solutionVersionArn"].as_str().unwrap().to_string();
    let trained = step(&e.t, json!({"action": "train", "solutionVersionArn": arn})).await;
    assert_eq!(trained["status"], "ACTIVE");
    let verdict = step(
        &e.t,
        json!({"action": "evaluate", "solutionVersionArn": arn, "campaignArn": e.campaign}),
    )
    .await;
    if verdict["promote"] == true {
        let promoted = step(
            &e.t,
            json!({"action": "promote", "solutionVersionArn": arn, "campaignArn": e.campaign}),
        )
        .await;
        assert_eq!(promoted["campaignArn"], e.campaign.as_str());
    }
    (arn, verdict)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_training_steps_create_then_update_the_campaign() {
    let e = env().await;
    // Nothing imported yet: validate refuses, and the failure leaves no version behind.
    let err =
        e.t.run_training_step(TrainingStep::Validate {
            solution_arn: e.solution.clone(),
            campaign_arn: e.campaign.clone(),
            training_mode: TrainingMode::Full,
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no ACTIVE import job"), "{err}");
    e.t.stores.blobs.put(KEY, interactions()).await.unwrap();
    upload(&e.t, KEY, "a").await;

    let (first, verdict) = cycle(&e, "FULL").await;
    assert_eq!(verdict["promote"], true, "{verdict}");
    assert!(verdict["metrics"]["normalized_discounted_cumulative_gain_at_10"].as_f64() > Some(0.0));
    let c = e.t.describe_campaign(&e.campaign).await.unwrap();
    assert_eq!(c.solution_version_arn, first);

    let (second, verdict) = cycle(&e, "UPDATE").await;
    assert_eq!(verdict["promote"], true, "{verdict}");
    let c = e.t.describe_campaign(&e.campaign).await.unwrap();
    assert_eq!(c.solution_version_arn, second);
    let verdict = step(
        &e.t,
        json!({"action": "evaluate", "solutionVersionArn": second, "campaignArn": e.campaign}),
    )
    .await;
    assert_eq!(verdict["promote"], false, "already serving it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_marks_its_version_and_keeps_the_campaign() {
    let e = env().await;
    e.t.stores.blobs.put(KEY, interactions()).await.unwrap();
    upload(&e.t, KEY, "a").await;
    let (serving, _) = cycle(&e, "FULL").await;

    let validate = json!({"action": "validate", "solutionArn": e.solution, "campaignArn": e.campaign, "trainingMode": "FULL"});
    let pending = step(&e.t, validate.clone()).await["solutionVersionArn"].clone();
    // A retried validate reuses the pending version instead of stacking another.
    assert_eq!(step(&e.t, validate).await["solutionVersionArn"], pending);
    let cause =
        json!({"errorType": "States.Timeout", "errorMessage": "Task timed out after 900 s"});
    let failed = step(
        &e.t,
        json!({"action": "fail", "solutionVersionArn": pending,
               "error": {"Error": "States.Timeout", "Cause": cause.to_string()}}),
    )
    .await;
    assert_eq!(failed["status"], "CREATE FAILED");
    let v =
        e.t.describe_solution_version(pending.as_str().unwrap())
            .await
            .unwrap();
    assert_eq!(v.status, Status::CreateFailed);
    assert_eq!(
        v.failure_reason.as_deref(),
        Some("Task timed out after 900 s")
    );
    let c = e.t.describe_campaign(&e.campaign).await.unwrap();
    assert_eq!(c.solution_version_arn, serving);
    // Failing a finished version changes nothing.
    let again = step(
        &e.t,
        json!({"action": "fail", "solutionVersionArn": serving, "error": {"Error": "X"}}),
    )
    .await;
    assert_eq!(again["status"], "ACTIVE");
}

/// CreateSolutionVersion on AWS starts the same state machine with the version it recorded:
/// Adopt takes it up, the steps train it, and an interrupted one is failed with a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_version_is_adopted_and_trained_by_the_steps() {
    let e = env().await;
    e.t.stores.blobs.put(KEY, interactions()).await.unwrap();
    upload(&e.t, KEY, "\"etag-1\"").await;
    let created =
        e.t.create_solution_version(&e.solution, TrainingMode::Full, None)
            .await
            .unwrap()
            .solution_version_arn;
    let adopted = step(
        &e.t,
        json!({"action": "adopt", "solutionVersionArn": created}),
    )
    .await;
    assert_eq!(adopted["solutionVersionArn"], created.as_str());
    assert_eq!(adopted["sharded"], false);
    let trained = step(
        &e.t,
        json!({"action": "train", "solutionVersionArn": created}),
    )
    .await;
    assert_eq!(trained["status"], "ACTIVE");
    // A finished version is not taken up again.
    let again: TrainingStep =
        serde_json::from_value(json!({"action": "adopt", "solutionVersionArn": created})).unwrap();
    let err = e.t.run_training_step(again).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResourceInUse, "{err}");

    // One whose train task timed out is failed by the machine's catch, with the reason.
    let second =
        e.t.create_solution_version(&e.solution, TrainingMode::Full, None)
            .await
            .unwrap()
            .solution_version_arn;
    step(
        &e.t,
        json!({"action": "adopt", "solutionVersionArn": second}),
    )
    .await;
    let failed = step(
        &e.t,
        json!({"action": "fail", "solutionVersionArn": second,
               "error": {"Error": "States.Timeout", "Cause": "Task timed out"}}),
    )
    .await;
    assert_eq!(failed["status"], "CREATE FAILED");
    let v = e.t.describe_solution_version(&second).await.unwrap();
    assert_eq!(v.failure_reason.as_deref(), Some("Task timed out"));
}

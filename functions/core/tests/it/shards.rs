//! The sharded training branch as the state machine runs it (validate → shardPrepare → shardScan
//! per range → shardPlan → shardCut per range → shardUsers per user shard → shardItems per item
//! shard → per iteration solveUsers over user shards then solveItems over item shards →
//! shardFinish), on the embedded store, against the single-process Train of the same data.

use serde_json::{json, Value};
use tailor_core::domain::{ResourceType, SolutionConfig, Status};
use tailor_core::recipes::next_items::{self, UserPersonalization};
use tailor_core::sample::SampleSize;
use tailor_core::schema::DatasetType;
use tailor_core::services::training::TrainingStep;
use tailor_core::services::CreateSolution;
use tailor_core::{ErrorKind, Tailor};

use crate::support;

async fn step(t: &Tailor, step: Value) -> tailor_core::Result<Value> {
    let step: TrainingStep = serde_json::from_value(step).unwrap();
    t.run_training_step(step).await
}

async fn solution(t: &Tailor, group: &str, name: &str, shards: &str) -> String {
    let hp = [
        ("factors", "8"),
        ("factor_weight", "0.5"),
        ("als_iterations", "4"),
        ("als_shards", shards),
    ];
    solution_with(t, group, name, &hp).await
}

async fn solution_with(t: &Tailor, group: &str, name: &str, hp: &[(&str, &str)]) -> String {
    t.create_solution(CreateSolution {
        name: name.into(),
        dataset_group_arn: group.into(),
        recipe_arn: next_items::USER_PERSONALIZATION.arn(),
        solution_config: SolutionConfig {
            algorithm_hyper_parameters: hp
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap()
    .solution_arn
}

/// The services on an embedded store at `dir` and a group holding a small generated sample's
/// interactions: the group's ARN.
async fn shop(dir: &std::path::Path) -> (Tailor, String) {
    let size = SampleSize {
        items: 300,
        users: 200,
        sessions_per_user: 5,
    };
    let (mut t, g, sample) = support::shop(dir, 3, size).await;
    support::import_sample(&t, &g, "", &sample, &[DatasetType::Interactions]).await;
    // Ranges of a few Avro blocks' worth, so the scan and cut Maps have several tasks and most
    // blocks cross a range's end.
    t.shard_range_bytes = 20_000;
    (t, g)
}

/// The two models' item factors agree within 1e-4 of their largest value.
fn assert_same_factors(a: &tailor_core::recipes::Model, b: &tailor_core::recipes::Model) {
    let (ya, yb) = (factors_of(a), factors_of(b));
    let scale = ya.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = ya
        .iter()
        .zip(&yb)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        ya.len() == yb.len() && diff <= 1e-4 * scale,
        "diff {diff} of {scale}"
    );
}

fn factors_of(m: &tailor_core::recipes::Model) -> Vec<f32> {
    let up = m.learned.as_any().downcast_ref::<UserPersonalization>();
    up.and_then(|u| u.0.factors.as_ref())
        .expect("a model with factors")
        .y
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sharded_branch_trains_the_single_process_model() {
    let dir = tempfile::tempdir().unwrap();
    let (t, g) = shop(dir.path()).await;
    let sharded = solution(&t, &g, "sharded", "3").await;
    let single = solution(&t, &g, "single", "1").await;
    let campaign = |n: &str| t.arns.arn(ResourceType::Campaign, n);

    let validate = |s: &str, c: String| json!({"action": "validate", "solutionArn": s, "campaignArn": c, "trainingMode": "FULL"});
    let v = step(&t, validate(&single, campaign("single")))
        .await
        .unwrap();
    assert_eq!(v["sharded"], false);
    let single_arn = v["solutionVersionArn"].as_str().unwrap().to_string();
    let trained = step(
        &t,
        json!({"action": "train", "solutionVersionArn": single_arn}),
    )
    .await
    .unwrap();
    assert_eq!(trained["status"], "ACTIVE");

    let v = step(&t, validate(&sharded, campaign("sharded")))
        .await
        .unwrap();
    assert_eq!(v["sharded"], true);
    let arn = v["solutionVersionArn"].as_str().unwrap().to_string();
    // Before shardPrepare, a scan has no manifest to read.
    let early = json!({"action": "shardScan", "solutionVersionArn": arn, "range": 0});
    assert!(step(&t, early).await.is_err());
    let plan = prepare(&t, &arn).await;
    assert!(plan["ranges"].as_u64().unwrap() > 2, "{plan}");
    assert_eq!(plan["userShards"], json!([0, 1, 2]));
    assert_eq!(plan["itemShards"], json!([0, 1, 2]));
    // The evaluation part's 4 sweeps, then 2 on all the data (recipes::chain).
    assert_eq!(plan["iterations"], 6);
    let v = t.describe_solution_version(&arn).await.unwrap();
    assert_eq!(v.status, Status::CreateInProgress);
    // The shard objects are sealed (no readable artifact magic at rest).
    let objects = t.stores.blobs.list("training/").await.unwrap();
    let rows: Vec<&String> = objects.iter().filter(|k| k.contains("/rows/")).collect();
    // Each phase's 3 + 3 row shards.
    assert_eq!(rows.len(), 2 * 6, "{rows:?}");
    for k in &objects {
        let raw = t.stores.blobs.get(k).await.unwrap().unwrap();
        assert_eq!(&raw[..4], b"TLSE", "{k}");
    }
    let outside = json!({"action": "shardUsers", "solutionVersionArn": arn, "shard": 3});
    assert_eq!(
        step(&t, outside).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    // An item shard of iteration 1 before the user shards of iteration 1: refused, by name.
    let early =
        json!({"action": "solveItems", "solutionVersionArn": arn, "shard": 0, "iteration": 1});
    let err = step(&t, early).await.unwrap_err();
    assert!(err.to_string().contains("users/1/0"), "{err}");
    for it in 1..=6 {
        for (action, shards) in [("solveUsers", 3), ("solveItems", 3)] {
            for s in 0..shards {
                let done = step(
                    &t,
                    json!({"action": action, "solutionVersionArn": arn, "shard": s, "iteration": it}),
                )
                .await
                .unwrap();
                assert_eq!(done["shard"], s);
            }
        }
    }
    let beyond =
        json!({"action": "solveUsers", "solutionVersionArn": arn, "shard": 0, "iteration": 7});
    assert_eq!(
        step(&t, beyond).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let trained = step(
        &t,
        json!({"action": "shardFinish", "solutionVersionArn": arn}),
    )
    .await
    .unwrap();
    assert_eq!(trained["status"], "ACTIVE");
    assert!(t.stores.blobs.list("training/").await.unwrap().is_empty());

    let (a, b) = (
        t.load_model(&single_arn).await.unwrap(),
        t.load_model(&arn).await.unwrap(),
    );
    assert_eq!(a.hyperparameters(), b.hyperparameters());
    assert_same_factors(&a, &b);
    // Same data, same evaluation: the same offline metrics.
    let (ma, mb) = (
        t.get_solution_metrics(&single_arn).await.unwrap().metrics,
        t.get_solution_metrics(&arn).await.unwrap().metrics,
    );
    assert!(!ma.is_empty());
    assert_eq!(ma, mb);
}

/// The steps before the sweeps, as the state machine orders them: the plan's answer, with the
/// number of ranges.
async fn prepare(t: &Tailor, arn: &str) -> Value {
    let arn_of = |action: &str| json!({"action": action, "solutionVersionArn": arn});
    let ranges = step(t, arn_of("shardPrepare")).await.unwrap()["ranges"].clone();
    let ranges = ranges.as_array().unwrap();
    for r in ranges {
        let mut s = arn_of("shardScan");
        s["range"] = r.clone();
        step(t, s).await.unwrap();
    }
    let mut plan = step(t, arn_of("shardPlan")).await.unwrap();
    for r in ranges {
        let mut s = arn_of("shardCut");
        s["range"] = r.clone();
        step(t, s).await.unwrap();
    }
    for (action, shards) in [("shardUsers", "userShards"), ("shardItems", "itemShards")] {
        for s in plan[shards].as_array().unwrap().clone() {
            let mut st = arn_of(action);
            st["shard"] = s;
            step(t, st).await.unwrap();
        }
    }
    plan["ranges"] = json!(ranges.len());
    plan
}

/// Every step of the sharded branch for the version `arn`, as the state machine orders them.
async fn run_sharded(t: &Tailor, arn: &str) -> Value {
    let plan = prepare(t, arn).await;
    for it in 1..=plan["iterations"].as_u64().unwrap() {
        for (action, shards) in [
            ("solveUsers", &plan["userShards"]),
            ("solveItems", &plan["itemShards"]),
        ] {
            for s in shards.as_array().unwrap() {
                step(
                    t,
                    json!({"action": action, "solutionVersionArn": arn, "shard": s, "iteration": it}),
                )
                .await
                .unwrap();
            }
        }
    }
    step(
        t,
        json!({"action": "shardFinish", "solutionVersionArn": arn}),
    )
    .await
    .unwrap();
    plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_training_tunes_its_weights_as_the_single_process_does() {
    let dir = tempfile::tempdir().unwrap();
    let (t, g) = shop(dir.path()).await;
    // No factor_weight or popularity_weight given: both are chosen on a validation split.
    let hp = |shards| {
        [
            ("factors", "8"),
            ("als_iterations", "6"),
            ("als_shards", shards),
        ]
    };
    let mut arns = Vec::new();
    for (name, shards) in [("single", "1"), ("sharded", "2")] {
        let sol = solution_with(&t, &g, name, &hp(shards)).await;
        let v = step(
            &t,
            json!({"action": "validate", "solutionArn": sol, "campaignArn": t.arns.arn(ResourceType::Campaign, name), "trainingMode": "FULL"}),
        )
        .await
        .unwrap();
        assert_eq!(v["sharded"], shards != "1");
        let arn = v["solutionVersionArn"].as_str().unwrap().to_string();
        if shards == "1" {
            step(&t, json!({"action": "train", "solutionVersionArn": arn}))
                .await
                .unwrap();
        } else {
            // 4 trial sweeps, 2 on the evaluation part, then 2 on all the data.
            assert_eq!(run_sharded(&t, &arn).await["iterations"], 8);
        }
        arns.push(arn);
    }
    let (a, b) = (
        t.load_model(&arns[0]).await.unwrap(),
        t.load_model(&arns[1]).await.unwrap(),
    );
    assert_eq!(a.hyperparameters(), b.hyperparameters());
    let (pa, pb) = (
        &a.learned
            .as_any()
            .downcast_ref::<UserPersonalization>()
            .unwrap()
            .0,
        &b.learned
            .as_any()
            .downcast_ref::<UserPersonalization>()
            .unwrap()
            .0,
    );
    assert_eq!(pa.params, pb.params);
    // The sample's sessions reward factors: the weight chosen keeps them, in both.
    assert!(pa.params.factor_weight > 0.0, "{:?}", pa.params);
    assert_same_factors(&a, &b);
    assert!(t.stores.blobs.list("training/").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_events_are_a_second_file_and_a_sampled_finish_keeps_the_factors() {
    let dir = tempfile::tempdir().unwrap();
    let (mut t, g) = shop(dir.path()).await;
    // PutEvents of new users on new and known items, compacted into the events file.
    let tracking_id = t
        .create_event_tracker("tracker", &g)
        .await
        .unwrap()
        .tracking_id;
    let rt = tailor_core::serving::Runtime::new(t.clone());
    for u in 0..30 {
        let event_list = (0..6)
            .map(|k| tailor_core::api::events::Event {
                event_id: Some(format!("e{u}-{k}")),
                event_type: "click".into(),
                item_id: Some(if k % 2 == 0 {
                    format!("streamed-{}", (u + k) % 7)
                } else {
                    format!("i{}", u * 3 + k)
                }),
                sent_at: Some(2_000_000_000.0 + (u * 10 + k) as f64),
                ..Default::default()
            })
            .collect();
        rt.put_events(&tailor_core::api::events::PutEventsRequest {
            tracking_id: tracking_id.clone(),
            user_id: Some(format!("streamed-user-{u}")),
            session_id: format!("s{u}"),
            event_list,
        })
        .await
        .unwrap();
    }
    t.compact(&g).await.unwrap();
    // A finish sample of about a third of the users.
    let events: usize = {
        let data = t
            .load_dataset(&t.arns.dataset_arn(
                &t.describe_dataset_group(&g).await.unwrap().name,
                DatasetType::Interactions,
            ))
            .await
            .unwrap()
            .unwrap();
        data.rows()
    };
    t.shard_sample_events = (events / 3) as u64;
    let mut arns = Vec::new();
    for (name, shards) in [("single", "1"), ("sharded", "2")] {
        let sol = solution(&t, &g, name, shards).await;
        let v = step(
            &t,
            json!({"action": "validate", "solutionArn": sol, "campaignArn": t.arns.arn(ResourceType::Campaign, name), "trainingMode": "FULL"}),
        )
        .await
        .unwrap();
        let arn = v["solutionVersionArn"].as_str().unwrap().to_string();
        if shards == "1" {
            step(&t, json!({"action": "train", "solutionVersionArn": arn}))
                .await
                .unwrap();
        } else {
            let plan = run_sharded(&t, &arn).await;
            // The bulk file's ranges and the events file's.
            assert!(plan["ranges"].as_u64().unwrap() > 2, "{plan}");
        }
        arns.push(arn);
    }
    let (a, b) = (
        t.load_model(&arns[0]).await.unwrap(),
        t.load_model(&arns[1]).await.unwrap(),
    );
    // The streamed users and items train in both; the factors come from every shard.
    assert_eq!(a.items, b.items);
    assert!(a.items.get("streamed-3").is_some());
    assert_same_factors(&a, &b);
    // Popularity is counted over all the users, not the sample.
    assert_eq!(a.popularity, b.popularity);
    // The next-items part and the metrics come from the sample: measured, and not the same.
    let (ma, mb) = (
        t.get_solution_metrics(&arns[0]).await.unwrap().metrics,
        t.get_solution_metrics(&arns[1]).await.unwrap().metrics,
    );
    assert_eq!(ma.keys().collect::<Vec<_>>(), mb.keys().collect::<Vec<_>>());
    assert_ne!(ma, mb);
    let (pa, pb) = (
        &a.learned
            .as_any()
            .downcast_ref::<UserPersonalization>()
            .unwrap()
            .0,
        &b.learned
            .as_any()
            .downcast_ref::<UserPersonalization>()
            .unwrap()
            .0,
    );
    assert_ne!(pa.b, pb.b);
    assert!(t.stores.blobs.list("training/").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_training_runs_the_sharded_steps_here_and_a_failed_step_fails_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let (t, g) = shop(dir.path()).await;
    let mut models = Vec::new();
    for (name, shards) in [("single", "1"), ("sharded", "3")] {
        let sol = solution(&t, &g, name, shards).await;
        let v = t
            .create_solution_version(&sol, tailor_core::domain::TrainingMode::Full, None)
            .await
            .unwrap();
        let done = t
            .train_solution_version(&v.solution_version_arn, &mut |_, _| {})
            .await
            .unwrap();
        assert_eq!(done.status, Status::Active, "{:?}", done.failure_reason);
        models.push(t.load_model(&v.solution_version_arn).await.unwrap());
    }
    assert_same_factors(&models[0], &models[1]);
    assert!(t.stores.blobs.list("training/").await.unwrap().is_empty());

    // The interactions file damaged: the scan that reads it fails, and so does the version.
    let key = t
        .stores
        .blobs
        .list("datasets/")
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.contains("INTERACTIONS") || k.contains("interactions"))
        .expect("an interactions data file");
    let mut bytes = t.stores.blobs.get(&key).await.unwrap().unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    t.stores.blobs.put(&key, bytes).await.unwrap();
    let sol = solution(&t, &g, "damaged", "2").await;
    let v = t
        .create_solution_version(&sol, tailor_core::domain::TrainingMode::Full, None)
        .await
        .unwrap();
    let done = t
        .train_solution_version(&v.solution_version_arn, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(done.status, Status::CreateFailed);
    let reason = done.failure_reason.unwrap_or_default();
    assert!(reason.contains("authentication failed"), "{reason}");
    assert!(t.stores.blobs.list("training/").await.unwrap().is_empty());
}

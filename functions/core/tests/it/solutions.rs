//! Solutions and solution versions through the services on the embedded store.

use tailor_core::data::csv::write_row;
use tailor_core::domain::{ArnBuilder, ImportMode, SolutionConfig, Status, TrainingMode};
use tailor_core::recipes::{next_items, popularity, sims, Recipe};
use tailor_core::sample::SplitMix;
use tailor_core::schema::DatasetType;
use tailor_core::services::CreateSolution;
use tailor_core::{Error, Stores, Tailor};

const INTERACTIONS: &str = tailor_core::sample::schemas::MOVIELENS_INTERACTIONS;

/// Two taste groups, 30 users each, 20 events per user: enough for Personalize's minimum.
fn csv(users: usize, extra: &[(&str, &str, i64)]) -> Vec<u8> {
    let mut rng = SplitMix::new(3);
    let mut out = Vec::new();
    write_row(
        &mut out,
        [
            "USER_ID",
            "ITEM_ID",
            "TIMESTAMP",
            "EVENT_TYPE",
            "EVENT_VALUE",
        ],
    );
    for g in ["a", "b"] {
        for u in 0..users {
            for k in 0..20 {
                let item = format!("{g}{}", (rng.unit().powi(2) * 30.0) as usize);
                write_row(
                    &mut out,
                    [
                        &format!("{g}-user{u}"),
                        item.as_str(),
                        &(1_000_000 + k * 60 + u as i64).to_string(),
                        "click",
                        "",
                    ],
                );
            }
        }
    }
    for (u, i, t) in extra {
        write_row(&mut out, [*u, *i, &t.to_string(), "click", ""]);
    }
    out
}

async fn setup(users: usize) -> (tempfile::TempDir, Tailor, String) {
    let dir = tempfile::tempdir().unwrap();
    let t = Tailor::new(Stores::embedded(dir.path()).unwrap(), ArnBuilder::default());
    let g = t
        .create_dataset_group("g", None, None)
        .await
        .unwrap()
        .dataset_group_arn;
    let s = t.create_schema("s", INTERACTIONS).await.unwrap().schema_arn;
    t.create_dataset("d", &s, &g, DatasetType::Interactions)
        .await
        .unwrap();
    import(&t, "first", ImportMode::Full, &csv(users, &[])).await;
    (dir, t, g)
}

async fn import(t: &Tailor, name: &str, mode: ImportMode, bytes: &[u8]) {
    let ds = t.arns.dataset_arn("g", DatasetType::Interactions);
    let job = t
        .create_dataset_import_job(name, &ds, "file://x.csv", mode, Default::default())
        .await
        .unwrap();
    let out = t
        .run_dataset_import_job(&job.dataset_import_job_arn, bytes, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        out.job.status,
        Status::Active,
        "{:?}",
        out.job.failure_reason
    );
}

fn solution(name: &str, group: &str, recipe: Recipe) -> CreateSolution {
    CreateSolution {
        name: name.into(),
        dataset_group_arn: group.into(),
        recipe_arn: recipe.arn(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_version_trains_stores_metrics_and_answers() {
    let (_dir, t, g) = setup(30).await;
    let s = t
        .create_solution(solution("up", &g, next_items::USER_PERSONALIZATION))
        .await
        .unwrap();
    let v = t
        .create_solution_version(&s.solution_arn, TrainingMode::Full, None)
        .await
        .unwrap();
    assert_eq!(v.status, Status::CreatePending);
    assert!(v
        .solution_version_arn
        .starts_with(&format!("{}/", s.solution_arn)));
    let mut stages = Vec::new();
    let done = t
        .run_solution_version(&v.solution_version_arn, &mut |stage, _| {
            stages.push(stage.to_string())
        })
        .await
        .unwrap();
    assert_eq!(done.status, Status::Active, "{:?}", done.failure_reason);
    assert!(stages.iter().any(|s| s == "training"));
    assert!(done.training_hours.is_some_and(|h| h > 0.0));
    assert_eq!(
        done.tuned_hpo_params.unwrap().algorithm_hyper_parameters["bptt"],
        "50"
    );
    let metrics = t
        .get_solution_metrics(&v.solution_version_arn)
        .await
        .unwrap();
    for key in [
        "normalized_discounted_cumulative_gain_at_10",
        "precision_at_10",
        "mean_reciprocal_rank_at_25",
        "coverage",
    ] {
        assert!(metrics.metrics.contains_key(key), "{key} missing");
    }
    assert!(metrics.metrics["normalized_discounted_cumulative_gain_at_10"] > 0.05);
    let json = serde_json::to_value(&metrics).unwrap();
    assert!(json["solutionVersionArn"].is_string() && json["metrics"].is_object());

    let runtime = tailor_core::serving::Runtime::new(t.clone());
    let state = runtime
        .solution_version(&v.solution_version_arn)
        .await
        .unwrap();
    let history = state.group.data.read().unwrap().histories["a-user3"].len();
    assert_eq!(history, 20);
    let req = tailor_core::api::runtime::GetRecommendationsRequest {
        campaign_arn: Some(state.campaign.campaign_arn.clone()),
        user_id: Some("a-user3".into()),
        num_results: Some(5),
        ..Default::default()
    };
    let recs = runtime
        .recommend_with(&state, &req)
        .await
        .unwrap()
        .item_list;
    assert!(
        recs.iter()
            .all(|r| r.item_id.starts_with('a') && r.score.is_some()),
        "{recs:?}"
    );
    assert!(
        t.run_solution_version(&v.solution_version_arn, &mut |_, _| {})
            .await
            .is_err(),
        "a version trains once"
    );
}

#[tokio::test]
async fn the_artifact_is_encrypted_at_rest() {
    let (dir, t, g) = setup(30).await;
    let s = t
        .create_solution(solution("pop", &g, popularity::POPULARITY_COUNT))
        .await
        .unwrap();
    let v = t
        .create_solution_version(&s.solution_arn, TrainingMode::Full, None)
        .await
        .unwrap();
    t.run_solution_version(&v.solution_version_arn, &mut |_, _| {})
        .await
        .unwrap();
    let keys = t.stores.blobs.list("models/").await.unwrap();
    assert_eq!(keys.len(), 1);
    let raw = t.stores.blobs.get(&keys[0]).await.unwrap().unwrap();
    assert!(
        raw.starts_with(b"TLSE") && !raw.windows(4).any(|w| w == b"TLRM"),
        "the model is sealed"
    );
    // Another master key cannot read it.
    std::fs::write(dir.path().join("keys/master.key"), [1u8; 32]).unwrap();
    let other = Tailor::new(Stores::embedded(dir.path()).unwrap(), ArnBuilder::default());
    assert!(other.load_model(&v.solution_version_arn).await.is_err());
}

#[tokio::test]
async fn update_takes_in_new_items_and_keeps_the_metrics_of_its_full_version() {
    let (_dir, t, g) = setup(30).await;
    let s = t
        .create_solution(solution("up", &g, next_items::USER_PERSONALIZATION))
        .await
        .unwrap();
    assert!(
        matches!(
            t.create_solution_version(&s.solution_arn, TrainingMode::Update, None)
                .await,
            Err(Error::InvalidInput(_))
        ),
        "UPDATE needs a FULL version"
    );
    let full = t
        .create_solution_version(&s.solution_arn, TrainingMode::Full, None)
        .await
        .unwrap();
    t.run_solution_version(&full.solution_version_arn, &mut |_, _| {})
        .await
        .unwrap();
    let fresh: Vec<(String, &str, i64)> = (0..10)
        .map(|u| (format!("a-user{u}"), "brand-new", 2_000_000 + u))
        .collect();
    let fresh_refs: Vec<(&str, &str, i64)> = fresh
        .iter()
        .map(|(u, i, ts)| (u.as_str(), *i, *ts))
        .collect();
    let mut body = Vec::new();
    write_row(
        &mut body,
        [
            "USER_ID",
            "ITEM_ID",
            "TIMESTAMP",
            "EVENT_TYPE",
            "EVENT_VALUE",
        ],
    );
    for (u, i, ts) in &fresh_refs {
        write_row(&mut body, [*u, *i, &ts.to_string(), "click", ""]);
    }
    import(&t, "more", ImportMode::Incremental, &body).await;
    let upd = t
        .create_solution_version(&s.solution_arn, TrainingMode::Update, None)
        .await
        .unwrap();
    let done = t
        .run_solution_version(&upd.solution_version_arn, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(done.status, Status::Active);
    assert_eq!(done.training_mode, TrainingMode::Update);
    let old = t.load_model(&full.solution_version_arn).await.unwrap();
    let new = t.load_model(&upd.solution_version_arn).await.unwrap();
    assert!(old.items.get("brand-new").is_none());
    assert!(new.items.get("brand-new").is_some());
    assert_eq!(
        t.get_solution_metrics(&upd.solution_version_arn)
            .await
            .unwrap()
            .metrics,
        t.get_solution_metrics(&full.solution_version_arn)
            .await
            .unwrap()
            .metrics
    );
    assert_eq!(
        t.latest_active_version(&s.solution_arn)
            .await
            .unwrap()
            .unwrap()
            .solution_version_arn,
        upd.solution_version_arn
    );
    // SIMS has no UPDATE.
    let sims = t
        .create_solution(solution("sims", &g, sims::SIMS))
        .await
        .unwrap();
    assert!(matches!(
        t.create_solution_version(&sims.solution_arn, TrainingMode::Update, None)
            .await,
        Err(Error::InvalidInput(_))
    ));
}

#[tokio::test]
async fn bad_configuration_fails_at_create_solution() {
    let (_dir, t, g) = setup(30).await;
    let mut req = solution("bad", &g, sims::SIMS);
    req.solution_config = SolutionConfig {
        algorithm_hyper_parameters: [("popularity_discount_factor".to_string(), "2".to_string())]
            .into(),
        ..Default::default()
    };
    let err = t.create_solution(req).await.unwrap_err();
    assert_eq!(err.kind().name(), "InvalidInputException");
    assert!(
        err.to_string().contains("popularity_discount_factor"),
        "{err}"
    );
    let mut req = solution("bad2", &g, next_items::USER_PERSONALIZATION);
    req.recipe_arn = "arn:aws:personalize:::recipe/aws-hrnn".into();
    assert!(t
        .create_solution(req)
        .await
        .unwrap_err()
        .to_string()
        .contains("unknown recipe"));
    let mut req = solution("bad3", &g, next_items::USER_PERSONALIZATION);
    req.solution_config.event_value_threshold = Some("high".into());
    assert!(t.create_solution(req).await.is_err());
    // optimizationObjective: a known sensitivity, on a recipe that takes one.
    let objective = |level: &str| {
        let mut c = SolutionConfig::default();
        c.other.insert(
            "optimizationObjective".into(),
            serde_json::json!({"itemAttribute": "PRICE", "objectiveSensitivity": level}),
        );
        c
    };
    let mut req = solution("bad4", &g, next_items::USER_PERSONALIZATION);
    req.solution_config = objective("EXTREME");
    let err = t.create_solution(req).await.unwrap_err();
    assert!(err.to_string().contains("objectiveSensitivity"), "{err}");
    let mut req = solution("bad5", &g, sims::SIMS);
    req.solution_config = objective("HIGH");
    let err = t.create_solution(req).await.unwrap_err();
    assert!(err.to_string().contains("optimizationObjective"), "{err}");
    let mut req = solution("good", &g, next_items::USER_PERSONALIZATION);
    req.solution_config = objective("HIGH");
    t.create_solution(req).await.unwrap();
}

#[tokio::test]
async fn too_little_data_fails_the_version_with_a_reason() {
    let (_dir, t, g) = setup(2).await; // 80 events from 4 users
    let s = t
        .create_solution(solution("up", &g, next_items::USER_PERSONALIZATION))
        .await
        .unwrap();
    let v = t
        .create_solution_version(&s.solution_arn, TrainingMode::Full, None)
        .await
        .unwrap();
    let done = t
        .run_solution_version(&v.solution_version_arn, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(done.status, Status::CreateFailed);
    let reason = done.failure_reason.unwrap();
    assert!(
        reason.contains("1000") && reason.contains("80 interactions"),
        "{reason}"
    );
    assert!(t.load_model(&v.solution_version_arn).await.is_err());
}

#[tokio::test]
async fn a_stopped_pending_version_never_trains() {
    let (_dir, t, g) = setup(30).await;
    let s = t
        .create_solution(solution("pop", &g, popularity::POPULARITY_COUNT))
        .await
        .unwrap();
    let v = t
        .create_solution_version(&s.solution_arn, TrainingMode::Full, None)
        .await
        .unwrap();
    let arn = v.solution_version_arn;
    let stopped = t.stop_solution_version_creation(&arn).await.unwrap();
    assert_eq!(stopped.status, Status::CreateStopped);
    let e = t
        .run_solution_version(&arn, &mut |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(e.kind().name(), "ResourceInUseException", "{e}");
    assert_eq!(
        t.describe_solution_version(&arn).await.unwrap().status,
        Status::CreateStopped
    );
    let e = t.stop_solution_version_creation(&arn).await.unwrap_err();
    assert_eq!(e.kind().name(), "ResourceInUseException", "{e}");
}

/// Stopped while it trains (from another thread, at the first progress report): the fit runs
/// out, its model is discarded, and the version ends CREATE STOPPED, not ACTIVE.
#[tokio::test]
async fn a_version_stopped_while_training_ends_stopped() {
    let (_dir, t, g) = setup(30).await;
    let s = t
        .create_solution(solution("up", &g, next_items::USER_PERSONALIZATION))
        .await
        .unwrap();
    let arn = t
        .create_solution_version(&s.solution_arn, TrainingMode::Full, None)
        .await
        .unwrap()
        .solution_version_arn;
    let mut stopped = None;
    let done = t
        .run_solution_version(&arn, &mut |_, _| {
            if stopped.is_none() {
                let (t, arn) = (t.clone(), arn.clone());
                let status = std::thread::spawn(move || {
                    let rt = tokio::runtime::Runtime::new().unwrap();
                    rt.block_on(t.stop_solution_version_creation(&arn))
                        .unwrap()
                        .status
                })
                .join()
                .unwrap();
                stopped = Some(status);
            }
        })
        .await
        .unwrap();
    assert_eq!(stopped, Some(Status::CreateStopping));
    assert_eq!(done.status, Status::CreateStopped);
    assert_eq!(
        t.describe_solution_version(&arn).await.unwrap().status,
        Status::CreateStopped
    );
    let e = t
        .create_campaign("c", &arn, None, Default::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind().name(), "ResourceInUseException", "{e}");
}

/// A version whose process died (a crash, a Ctrl-C) while it was pending or training is
/// failed, with a reason, by the next reader: never left in progress forever.
#[tokio::test]
async fn a_version_whose_worker_died_is_failed_by_the_next_reader() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let dead = tailor_core::domain::WorkerProcess::of(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    let Some(dead) = dead else {
        return; // no /proc here: nothing can tell a process is gone
    };
    let (_dir, t, g) = setup(30).await;
    let s = t
        .create_solution(solution("pop", &g, popularity::POPULARITY_COUNT))
        .await
        .unwrap();
    for status in [Status::CreatePending, Status::CreateInProgress] {
        let v = t
            .create_solution_version(&s.solution_arn, TrainingMode::Full, None)
            .await
            .unwrap();
        let arn = v.solution_version_arn.clone();
        let (_, version) = t
            .stores
            .meta
            .get("solution-versions", &arn)
            .await
            .unwrap()
            .map(|r| ((), r.version))
            .unwrap();
        let left = tailor_core::domain::SolutionVersion {
            status,
            worker: Some(dead.clone()),
            ..v
        };
        t.stores
            .meta
            .put(
                "solution-versions",
                &arn,
                Some(&s.solution_arn),
                serde_json::to_vec(&left).unwrap(),
                tailor_core::store::Expect::Version(version),
            )
            .await
            .unwrap();
        let listed = t
            .list_solution_versions(Some(&s.solution_arn))
            .await
            .unwrap();
        let seen = listed
            .iter()
            .find(|x| x.solution_version_arn == arn)
            .unwrap();
        assert_eq!(seen.status, Status::CreateFailed, "{status}");
        assert!(seen
            .failure_reason
            .as_ref()
            .unwrap()
            .contains("create a new solution version"));
        assert_eq!(
            t.describe_solution_version(&arn).await.unwrap().status,
            Status::CreateFailed
        );
    }
    // This process's own versions stay as they are.
    let mine = t
        .create_solution_version(&s.solution_arn, TrainingMode::Full, None)
        .await
        .unwrap();
    assert_eq!(
        t.describe_solution_version(&mine.solution_version_arn)
            .await
            .unwrap()
            .status,
        Status::CreatePending
    );
}

#[tokio::test]
async fn hpo_tunes_on_validation_and_records_the_chosen_values() {
    let (_dir, t, g) = setup(30).await;
    let hpo = |ranges: serde_json::Value| {
        let mut c = SolutionConfig::default();
        c.other.insert(
            "hpoConfig".into(),
            serde_json::json!({
                "hpoResourceConfig": {"maxNumberOfTrainingJobs": "4", "maxParallelTrainingJobs": "2"},
                "algorithmHyperParameterRanges": ranges,
            }),
        );
        c
    };
    // Names and values are checked at CreateSolution.
    let mut req = solution("bad", &g, next_items::USER_PERSONALIZATION);
    req.perform_hpo = true;
    req.solution_config = hpo(serde_json::json!({
        "integerHyperParameterRanges": [{"name": "depth", "minValue": 1, "maxValue": 2}]}));
    let err = t.create_solution(req).await.unwrap_err();
    assert!(err.to_string().contains("depth"), "{err}");
    let mut req = solution("bad2", &g, next_items::USER_PERSONALIZATION);
    req.perform_hpo = true;
    req.solution_config = hpo(serde_json::json!({
        "integerHyperParameterRanges": [{"name": "bptt", "minValue": 10, "maxValue": 100000}]}));
    let err = t.create_solution(req).await.unwrap_err();
    assert!(err.to_string().contains("bptt"), "{err}");
    // The solution's own max_items = 2 learns next to nothing (factors and popularity off): a
    // trial within the range must win on validation and be recorded.
    let mut req = solution("tuned", &g, next_items::USER_PERSONALIZATION);
    req.perform_hpo = true;
    req.solution_config = hpo(serde_json::json!({
        "integerHyperParameterRanges": [{"name": "max_items", "minValue": 50, "maxValue": 500}],
        "categoricalHyperParameterRanges": [{"name": "recency_mask", "values": ["true", "false"]}]}));
    for (k, v) in [
        ("max_items", "2"),
        ("factors", "0"),
        ("popularity_weight", "0"),
    ] {
        req.solution_config
            .algorithm_hyper_parameters
            .insert(k.into(), v.into());
    }
    let s = t.create_solution(req).await.unwrap();
    assert!(
        t.describe_solution(&s.solution_arn)
            .await
            .unwrap()
            .perform_hpo
    );
    let v = t
        .create_solution_version(&s.solution_arn, TrainingMode::Full, None)
        .await
        .unwrap();
    let mut stages = Vec::new();
    let v = t
        .run_solution_version(&v.solution_version_arn, &mut |stage, _| {
            stages.push(stage.to_string())
        })
        .await
        .unwrap();
    assert_eq!(v.status, Status::Active, "{:?}", v.failure_reason);
    assert!(stages.iter().any(|s| s == "tuning hyperparameters"));
    assert!(v.perform_hpo);
    let tuned = v.tuned_hpo_params.unwrap().algorithm_hyper_parameters;
    let max_items: usize = tuned["max_items"].parse().unwrap();
    assert!(
        (50..=500).contains(&max_items),
        "tuned max_items {max_items}"
    );
}

/// performAutoTraining: the first automatic training an hour after creation (skipped by a
/// version made by hand in that hour), then one every autoTrainingConfig period; versions
/// say AUTOMATIC; a bad period is refused.
#[tokio::test]
async fn automatic_training_follows_its_schedule() {
    let (_dir, t, g) = setup(30).await;
    let config = |expr: &str| SolutionConfig {
        other: serde_json::json!({"autoTrainingConfig": {"schedulingExpression": expr}})
            .as_object()
            .unwrap()
            .clone(),
        ..Default::default()
    };
    let create = |name: &str, expr: &str| CreateSolution {
        name: name.into(),
        dataset_group_arn: g.clone(),
        recipe_arn: popularity::POPULARITY_COUNT.arn(),
        event_type: None,
        solution_config: config(expr),
        perform_hpo: false,
        perform_auto_training: true,
        perform_incremental_update: false,
    };
    for bad in [
        "rate(31 days)",
        "rate(0 days)",
        "rate(2 hours)",
        "cron(0 0 * * ? *)",
    ] {
        let e = t.create_solution(create("bad", bad)).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidInput(ref m) if m.contains("rate(N days)")),
            "{e}"
        );
    }
    let auto = t
        .create_solution(create("auto", "rate(2 days)"))
        .await
        .unwrap();
    let manual = t
        .create_solution(create("manual", "rate(30 days)"))
        .await
        .unwrap();
    let born = auto.creation_date_time;
    let by_hand = t
        .create_solution_version(&manual.solution_arn, TrainingMode::Full, None)
        .await
        .unwrap();
    t.run_solution_version(&by_hand.solution_version_arn, &mut |_, _| {})
        .await
        .unwrap();

    assert!(
        t.auto_train(born + 1800.0).await.unwrap().is_empty(),
        "not within the hour"
    );
    let first = t.auto_train(born + 3601.0).await.unwrap();
    assert_eq!(
        first.len(),
        1,
        "only the solution without a version: {first:?}"
    );
    let v = t.describe_solution_version(&first[0]).await.unwrap();
    assert_eq!(
        (v.solution_arn.as_str(), v.training_type.as_str()),
        (auto.solution_arn.as_str(), "AUTOMATIC")
    );
    assert_eq!(v.training_mode, TrainingMode::Full);
    // The training runs in the background (LocalJobs).
    let mut status = v.status;
    for _ in 0..600 {
        status = t.describe_solution_version(&first[0]).await.unwrap().status;
        if status == Status::Active || status == Status::CreateFailed {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, Status::Active);
    let made = v.creation_date_time;
    assert!(
        t.auto_train(made + 86_400.0).await.unwrap().is_empty(),
        "one day of two"
    );
    let next = t.auto_train(made + 2.0 * 86_400.0 + 1.0).await.unwrap();
    assert_eq!(next.len(), 1, "{next:?}");
    assert!(
        next[0].starts_with(&auto.solution_arn),
        "each solution keeps its own period"
    );
}

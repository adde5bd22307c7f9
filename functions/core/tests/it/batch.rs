//! Batch inference over JSON Lines: Personalize's output shapes, answers equal to the online
//! ones, and per-line errors that leave the other lines answered.

use serde_json::Value;
use tailor_core::api::runtime::GetRecommendationsRequest;
use tailor_core::recipes::next_items;
use tailor_core::sample::SampleSize;
use tailor_core::schema::DatasetType;
use tailor_core::serving::batch::{BatchCounts, BatchSettings};
use tailor_core::serving::Runtime;

use crate::support;

#[tokio::test]
async fn batch_lines_answer_as_get_recommendations_and_bad_lines_get_errors() {
    let dir = tempfile::tempdir().unwrap();
    let size = SampleSize {
        items: 300,
        users: 200,
        sessions_per_user: 6,
    };
    let (t, g, data) = support::shop(dir.path(), 5, size).await;
    let kinds = [DatasetType::Interactions, DatasetType::Items];
    support::import_sample(&t, &g, "", &data, &kinds).await;
    let version = support::train(&t, &g, "up", next_items::USER_PERSONALIZATION).await;
    // A campaign with the default configuration serves the version as a batch job does.
    let campaign = t
        .create_campaign("c", &version, None, Default::default())
        .await
        .unwrap()
        .campaign_arn;
    let rt = Runtime::new(t.clone());

    let input = "{\"userId\":\"U0001\"}\n\
                 \n\
                 not json\n\
                 {\"userId\":\"U0002\",\"filterValues\":5}\n\
                 [1]\n\
                 {\"userId\":\"U0003\"}\n";
    let settings = BatchSettings {
        num_results: Some(10),
        ..Default::default()
    };
    let mut out = Vec::new();
    let counts = rt
        .batch_inference(&version, &settings, input, &mut out)
        .await
        .unwrap();
    assert_eq!(
        counts,
        BatchCounts {
            lines: 5,
            failed: 3
        }
    );
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "one output line per non-blank input line");
    // Batch answers reach no one who could name their recommendation id in an event: nothing
    // is remembered of them (on AWS that would be a DynamoDB write per line); a campaign's
    // answers are remembered.
    let group = rt.campaign(&campaign).await.unwrap().group.clone();
    let remembered = || group.data.read().unwrap().shown.lock().unwrap().len();
    assert_eq!(remembered(), 0);

    for (line, user) in [(&lines[0], "U0001"), (&lines[4], "U0003")] {
        assert_eq!(line["input"], serde_json::json!({ "userId": user }));
        assert!(line["error"].is_null(), "{line}");
        let online = rt
            .get_recommendations(&GetRecommendationsRequest {
                campaign_arn: Some(campaign.clone()),
                user_id: Some(user.into()),
                num_results: Some(10),
                ..Default::default()
            })
            .await
            .unwrap();
        let ids: Vec<&str> = online
            .item_list
            .iter()
            .map(|i| i.item_id.as_str())
            .collect();
        let batch: Vec<&str> = line["output"]["recommendedItems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            batch, ids,
            "the batch answer is the online answer for {user}"
        );
        let scores = line["output"]["scores"].as_array().unwrap();
        assert_eq!(scores.len(), ids.len());
        for (s, item) in scores.iter().zip(&online.item_list) {
            assert!((s.as_f64().unwrap() - item.score.unwrap()).abs() < 1e-9);
        }
    }
    assert_eq!(remembered(), 2, "the two online answers");
    let error = |i: usize| lines[i]["error"].as_str().unwrap().to_string();
    assert!(error(1).starts_with("line 3: not JSON"), "{}", error(1));
    assert_eq!(lines[1]["input"], "not json");
    assert!(
        error(2).starts_with("line 4:") && error(2).contains("filterValues"),
        "{}",
        error(2)
    );
    assert!(
        error(3).starts_with("line 5: not a JSON object"),
        "{}",
        error(3)
    );
    for line in &lines[1..4] {
        assert!(line["output"].is_null());
    }
}

/// RELATED_ITEMS lines (`{"itemId"}`) answer without scores, as Personalize's do; and
/// PERSONALIZED_RANKING lines (`{"userId", "itemList"}`) rank exactly the listed items, with
/// scores, as GetPersonalizedRanking does; a ranking line without its list is an error.
#[tokio::test]
async fn related_items_and_ranking_lines_have_personalizes_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let size = SampleSize {
        items: 200,
        users: 150,
        sessions_per_user: 5,
    };
    let (t, g, data) = support::shop(dir.path(), 9, size).await;
    support::import_sample(&t, &g, "", &data, &[DatasetType::Interactions]).await;
    let rt = Runtime::new(t.clone());
    let settings = BatchSettings {
        num_results: Some(5),
        ..Default::default()
    };

    let sims = support::train(&t, &g, "sims", tailor_core::recipes::sims::SIMS).await;
    let campaign = t
        .create_campaign("related", &sims, None, Default::default())
        .await
        .unwrap()
        .campaign_arn;
    let mut out = Vec::new();
    rt.batch_inference(&sims, &settings, "{\"itemId\":\"P00001\"}\n", &mut out)
        .await
        .unwrap();
    let line: Value = serde_json::from_slice(&out).unwrap();
    assert!(line["error"].is_null(), "{line}");
    assert!(
        line["output"].get("scores").is_none(),
        "related items carry no scores"
    );
    let online = rt
        .get_recommendations(&GetRecommendationsRequest {
            campaign_arn: Some(campaign),
            item_id: Some("P00001".into()),
            num_results: Some(5),
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<Value> = online
        .item_list
        .iter()
        .map(|i| i.item_id.clone().into())
        .collect();
    assert_eq!(line["output"]["recommendedItems"], Value::Array(ids));

    let ranking = support::train(&t, &g, "rank", next_items::PERSONALIZED_RANKING).await;
    let input = "{\"userId\":\"U0001\",\"itemList\":[\"P00003\",\"P00001\",\"P00002\"]}\n\
                 {\"userId\":\"U0001\"}\n\
                 {\"itemList\":[\"P00001\"]}\n"
        .to_string()
        // Too many items: more than GetPersonalizedRanking's inputList takes.
        + &format!(
            "{{\"userId\":\"U0001\",\"itemList\":{}}}\n",
            serde_json::to_string(&vec!["P00001"; 501]).unwrap()
        )
        // A user the data never saw: answered as GetPersonalizedRanking answers one (as
        // Personalize does), not an error.
        + "{\"userId\":\"nobody-ever\",\"itemList\":[\"P00003\",\"P00001\",\"P00002\"]}\n";
    let mut out = Vec::new();
    let counts = rt
        .batch_inference(&ranking, &settings, &input, &mut out)
        .await
        .unwrap();
    assert_eq!(
        counts,
        BatchCounts {
            lines: 5,
            failed: 3
        }
    );
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut ranked: Vec<&str> = lines[0]["output"]["recommendedItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(lines[0]["output"]["scores"].as_array().unwrap().len(), 3);
    ranked.sort();
    assert_eq!(
        ranked,
        ["P00001", "P00002", "P00003"],
        "exactly the listed items"
    );
    assert!(lines[1]["error"].as_str().unwrap().contains("itemList"));
    assert!(
        lines[3]["error"].as_str().unwrap().contains("500"),
        "{}",
        lines[3]
    );
    let stranger = &lines[4];
    assert!(stranger["error"].is_null(), "{stranger}");
    let served = rt
        .solution_version_with(&ranking, Default::default())
        .await
        .unwrap();
    let online = rt
        .rank_with(
            &served,
            &tailor_core::api::runtime::GetPersonalizedRankingRequest {
                campaign_arn: served.campaign.campaign_arn.clone(),
                user_id: "nobody-ever".into(),
                input_list: vec!["P00003".into(), "P00001".into(), "P00002".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let online_ids: Vec<Value> = online
        .personalized_ranking
        .iter()
        .map(|i| i.item_id.clone().into())
        .collect();
    assert_eq!(
        stranger["output"]["recommendedItems"],
        Value::Array(online_ids)
    );
    let no_user = lines[2]["error"].as_str().unwrap();
    assert!(
        no_user.starts_with("line 3:") && no_user.contains("userId"),
        "{no_user}"
    );

    // POPULAR_ITEMS lines are `{"userId"}` answered without scores, as Personalize's example.
    let popular = support::train(
        &t,
        &g,
        "pop",
        tailor_core::recipes::popularity::POPULARITY_COUNT,
    )
    .await;
    let mut out = Vec::new();
    rt.batch_inference(&popular, &settings, "{\"userId\":\"U0001\"}\n", &mut out)
        .await
        .unwrap();
    let line: Value = serde_json::from_slice(&out).unwrap();
    let mut keys: Vec<&str> = line["output"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["recommendedItems"], "{line}");
    assert_eq!(
        line["output"]["recommendedItems"].as_array().unwrap().len(),
        5
    );
    assert!(line["error"].is_null());
}

/// Waits for a job started in the background to leave its pending states.
async fn settled(
    t: &tailor_core::Tailor,
    op: &str,
    field: &str,
    arn_field: &str,
    arn: &str,
) -> Value {
    for _ in 0..600 {
        let body = serde_json::json!({ arn_field: arn }).to_string();
        let v = tailor_core::api::control::dispatch(t, op, body.as_bytes())
            .await
            .unwrap()
            .unwrap();
        let status = v[field]["status"].as_str().unwrap().to_string();
        if ![
            "CREATE PENDING",
            "CREATE IN_PROGRESS",
            "PENDING",
            "IN PROGRESS",
            "IN_PROGRESS",
        ]
        .contains(&status.as_str())
        {
            return v[field].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{arn} did not finish");
}

async fn control(t: &tailor_core::Tailor, op: &str, body: Value) -> tailor_core::Result<Value> {
    tailor_core::api::control::dispatch(t, op, body.to_string().as_bytes())
        .await
        .unwrap()
}

/// CreateBatchInferenceJob through the control plane: every input file under the input path
/// becomes `<name>.out` under the output path, lines in input order; the record counts lines
/// in and failed, and lists under its solution version. Bad lines of every kind get errors.
#[tokio::test]
async fn a_batch_inference_job_writes_each_input_file_out_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let size = SampleSize {
        items: 300,
        users: 120,
        sessions_per_user: 5,
    };
    let (t, g, data) = support::shop(dir.path(), 7, size).await;
    let kinds = [DatasetType::Interactions, DatasetType::Items];
    support::import_sample(&t, &g, "", &data, &kinds).await;
    let version = support::train(&t, &g, "up", next_items::USER_PERSONALIZATION).await;
    let filter = t
        .create_filter(
            "by-cat",
            &g,
            "INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CAT)",
        )
        .await
        .unwrap()
        .filter_arn;
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let users: Vec<String> = (1..=40)
        .map(|u| {
            format!(
                "{{\"userId\":\"U{u:04}\",\"filterValues\":{{\"CAT\":\"\\\"electronics\\\"\"}}}}"
            )
        })
        .collect();
    std::fs::write(input.join("a.json"), users[..25].join("\n")).unwrap();
    let bad = [
        "{\"userId\":\"U0001\"}",
        "{\"userId\":\"U0002\",\"filterValues\":{\"CAT\":\"electronics\"}}",
        "{oops",
    ];
    std::fs::write(
        input.join("b.json"),
        format!("{}\n{}\n", users[25..].join("\n"), bad.join("\n")),
    )
    .unwrap();
    let output = dir.path().join("out");
    let arn = control(
        &t,
        "CreateBatchInferenceJob",
        serde_json::json!({
            "jobName": "nightly",
            "solutionVersionArn": version,
            "filterArn": filter,
            "numResults": 5,
            "jobInput": {"s3DataSource": {"path": input.to_str().unwrap()}},
            "jobOutput": {"s3DataDestination": {"path": output.to_str().unwrap()}},
            "roleArn": "arn:aws:iam::000000000000:role/batch",
            "batchInferenceJobConfig": {"itemExplorationConfig": {"explorationWeight": "0"}},
        }),
    )
    .await
    .unwrap()["batchInferenceJobArn"]
        .as_str()
        .unwrap()
        .to_string();
    let job = settled(
        &t,
        "DescribeBatchInferenceJob",
        "batchInferenceJob",
        "batchInferenceJobArn",
        &arn,
    )
    .await;
    assert_eq!(job["status"], "ACTIVE", "{job}");
    assert_eq!(job["recordCounts"]["inputRecords"], 43);
    assert_eq!(job["recordCounts"]["failedRecords"], 3);
    assert_eq!(job["numResults"], 5);

    let rt = Runtime::new(t.clone());
    let read = |name: &str| -> Vec<Value> {
        std::fs::read_to_string(output.join(name))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (a, b) = (read("a.json.out"), read("b.json.out"));
    assert_eq!((a.len(), b.len()), (25, 18));
    let served = rt
        .solution_version_with(
            &version,
            tailor_core::domain::CampaignConfig {
                item_exploration_config: [("explorationWeight".to_string(), "0".to_string())]
                    .into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for (i, line) in a.iter().chain(&b[..15]).enumerate() {
        let user = format!("U{:04}", i + 1);
        assert_eq!(line["input"]["userId"], user.as_str(), "input order");
        let online = rt
            .recommend_with(
                &served,
                &GetRecommendationsRequest {
                    campaign_arn: Some(served.campaign.campaign_arn.clone()),
                    user_id: Some(user.clone()),
                    num_results: Some(5),
                    filter_arn: Some(filter.clone()),
                    filter_values: [("CAT".to_string(), "\"electronics\"".to_string())].into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let ids: Vec<Value> = online
            .item_list
            .iter()
            .map(|i| i.item_id.clone().into())
            .collect();
        assert_eq!(
            line["output"]["recommendedItems"],
            Value::Array(ids),
            "{user}"
        );
    }
    let errors: Vec<&str> = b[15..]
        .iter()
        .map(|l| l["error"].as_str().unwrap())
        .collect();
    assert!(
        errors[0].starts_with("line 16:") && errors[0].contains("CAT"),
        "missing value: {}",
        errors[0]
    );
    assert!(
        errors[1].starts_with("line 17:"),
        "unquoted value: {}",
        errors[1]
    );
    assert!(errors[2].starts_with("line 18: not JSON"), "{}", errors[2]);

    let listed = control(
        &t,
        "ListBatchInferenceJobs",
        serde_json::json!({"solutionVersionArn": version}),
    )
    .await
    .unwrap();
    assert_eq!(
        listed["batchInferenceJobs"][0]["batchInferenceJobArn"],
        arn.as_str()
    );
    assert_eq!(listed["batchInferenceJobs"][0]["status"], "ACTIVE");

    // Refused before anything is recorded.
    let refused = |body: Value| {
        let t = t.clone();
        async move {
            control(&t, "CreateBatchInferenceJob", body)
                .await
                .unwrap_err()
        }
    };
    let base = serde_json::json!({
        "jobName": "again", "solutionVersionArn": version,
        "jobInput": {"s3DataSource": {"path": input.to_str().unwrap()}},
        "jobOutput": {"s3DataDestination": {"path": output.to_str().unwrap()}},
        "roleArn": "r",
    });
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, says) in [
        (
            with("batchInferenceJobMode", "THEME_GENERATION".into()),
            "THEME_GENERATION",
        ),
        (with("numResults", 501.into()), "numResults"),
        (
            with(
                "jobInput",
                serde_json::json!({"s3DataSource": {"path": "/no/such/input"}}),
            ),
            "no such file",
        ),
        (
            with(
                "batchInferenceJobConfig",
                serde_json::json!({"itemExplorationConfig": {"explorationWeight": "2"}}),
            ),
            "explorationWeight",
        ),
    ] {
        let e = refused(body).await;
        assert_eq!(e.kind().name(), "InvalidInputException");
        assert!(e.to_string().contains(says), "{e}");
    }
    assert!(control(
        &t,
        "DescribeBatchInferenceJob",
        serde_json::json!({"batchInferenceJobArn": format!("{arn}x")})
    )
    .await
    .is_err());
}

/// A planted audience: 20 users who only ever touch items P0000-P0009 (category "planted"),
/// among 180 who touch the rest. Both segmentation recipes put the planted users first, and a
/// user filter keeps only the users it lets in.
#[tokio::test]
async fn segments_put_the_planted_audience_first() {
    use tailor_core::recipes::Recipe;
    let dir = tempfile::tempdir().unwrap();
    let t = tailor_core::Tailor::new(
        tailor_core::Stores::embedded(dir.path()).unwrap(),
        tailor_core::domain::ArnBuilder::default(),
    );
    let g = t
        .create_dataset_group("aud", None, None)
        .await
        .unwrap()
        .dataset_group_arn;
    let mut rng = 12345u64;
    let mut next = |n: u64| {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) % n
    };
    let mut interactions = String::from("USER_ID,ITEM_ID,TIMESTAMP\n");
    let mut users = String::from("USER_ID,TIER\n");
    for u in 0..200u64 {
        let planted = u < 20;
        users.push_str(&format!(
            "A{u:03},{}\n",
            if u % 2 == 0 { "gold" } else { "basic" }
        ));
        for k in 0..12u64 {
            let item = if planted { next(10) } else { 10 + next(190) };
            interactions.push_str(&format!("A{u:03},P{item:04},{}\n", 1_000_000 + u * 100 + k));
        }
    }
    let mut items = String::from("ITEM_ID,GENRES\n");
    for i in 0..200 {
        items.push_str(&format!(
            "P{i:04},{}\n",
            if i < 10 { "planted|x" } else { "other" }
        ));
    }
    let schemas = [
        (
            DatasetType::Interactions,
            r#"{"type":"record","name":"Interactions","namespace":"com.amazonaws.personalize.schema","fields":[{"name":"USER_ID","type":"string"},{"name":"ITEM_ID","type":"string"},{"name":"TIMESTAMP","type":"long"}],"version":"1.0"}"#,
            interactions,
        ),
        (
            DatasetType::Items,
            r#"{"type":"record","name":"Items","namespace":"com.amazonaws.personalize.schema","fields":[{"name":"ITEM_ID","type":"string"},{"name":"GENRES","type":"string","categorical":true}],"version":"1.0"}"#,
            items,
        ),
        (
            DatasetType::Users,
            r#"{"type":"record","name":"Users","namespace":"com.amazonaws.personalize.schema","fields":[{"name":"USER_ID","type":"string"},{"name":"TIER","type":"string","categorical":true}],"version":"1.0"}"#,
            users,
        ),
    ];
    for (kind, schema, csv) in schemas {
        let name = kind.as_str().to_lowercase();
        let s = t.create_schema(&name, schema).await.unwrap().schema_arn;
        let ds = t
            .create_dataset(&name, &s, &g, kind)
            .await
            .unwrap()
            .dataset_arn;
        support::import(&t, &ds, &name, csv.as_bytes()).await;
    }
    let gold = t
        .create_filter("gold", &g, "INCLUDE UserID WHERE Users.TIER IN (\"gold\")")
        .await
        .unwrap()
        .filter_arn;
    let rt = Runtime::new(t.clone());
    let planted: std::collections::HashSet<String> = (0..20).map(|u| format!("A{u:03}")).collect();
    for (recipe, line) in [
        (next_items::ITEM_AFFINITY, "{\"itemId\":\"P0003\"}"),
        (
            next_items::ITEM_ATTRIBUTE_AFFINITY,
            "{\"itemAttributes\":\"ITEMS.GENRES = \\\"planted\\\"\"}",
        ),
    ] {
        let version = support::train(&t, &g, Recipe::name(recipe), recipe).await;
        for (filter, want) in [(None, 20usize), (Some(gold.clone()), 10)] {
            let settings = BatchSettings {
                num_results: Some(want),
                filter_arn: filter.clone(),
                ..Default::default()
            };
            let mut out = Vec::new();
            let input =
                format!("{line}\n{{\"itemId\":\"nope\",\"itemAttributes\":\"GENRES > 1\"}}\n");
            let counts = rt
                .batch_segments(&version, &settings, &input, &mut out)
                .await
                .unwrap();
            assert_eq!(
                counts,
                BatchCounts {
                    lines: 2,
                    failed: 1
                },
                "{}",
                String::from_utf8_lossy(&out)
            );
            let lines: Vec<Value> = String::from_utf8(out)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let got: Vec<&str> = lines[0]["output"]["recommendedUsers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(got.len(), want, "{}: {got:?}", recipe.name());
            assert!(
                got.iter().all(|u| planted.contains(*u)),
                "{} {filter:?}: {got:?}",
                recipe.name()
            );
            if filter.is_some() {
                assert!(
                    got.iter().all(|u| u[1..].parse::<u32>().unwrap() % 2 == 0),
                    "gold only: {got:?}"
                );
            }
            assert!(
                lines[1]["error"].as_str().unwrap().starts_with("line 2:"),
                "{}",
                lines[1]
            );
            // Personalize's shapes: item affinity nests the input, attribute affinity keeps its
            // fields beside the output; no error field on a line without one.
            let mut keys: Vec<&str> = lines[0]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort();
            if recipe == next_items::ITEM_AFFINITY {
                assert_eq!(keys, ["input", "output"]);
                assert_eq!(lines[0]["input"], serde_json::json!({"itemId": "P0003"}));
            } else {
                assert_eq!(keys, ["itemAttributes", "output"]);
            }
        }
        // No campaign, no item recommendations: a segmentation version serves segments only.
        let e = t
            .create_campaign("seg", &version, None, Default::default())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("USER_SEGMENTATION"), "{e}");
        // User filters on Interactions are refused for segments (Personalize allows none),
        // rather than silently matching no one.
        let buyers = t
            .create_filter(
                &format!("buyers-{}", Recipe::name(recipe)),
                &g,
                "EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN (\"purchase\")",
            )
            .await
            .unwrap();
        let mut req = tailor_core::services::batch_jobs::CreateBatchJob::new(
            format!("seg-buyers-{}", Recipe::name(recipe)),
            &version,
            dir.path().to_str().unwrap(),
            dir.path().join("out").to_str().unwrap(),
        );
        req.filter_arn = Some(buyers.filter_arn);
        let e = t.create_batch_segment_job(req).await.unwrap_err();
        assert!(e.to_string().contains("Interactions"), "{e}");
    }
}

/// The state machine's path (plan, one function per shard, join) writes what one run in one
/// process writes; a shard that never answered leaves an error on each of its lines, and the
/// other lines stay answered.
#[tokio::test]
async fn shards_joined_equal_one_run_and_a_lost_shard_fails_only_its_lines() {
    use tailor_core::services::batch_jobs::{run_batch_job, CreateBatchJob};
    use tailor_core::services::batch_shards::{self, Shard};
    let dir = tempfile::tempdir().unwrap();
    let size = SampleSize {
        items: 200,
        users: 60,
        sessions_per_user: 4,
    };
    let (t, g, data) = support::shop(dir.path(), 11, size).await;
    support::import_sample(&t, &g, "", &data, &[DatasetType::Interactions]).await;
    let version = support::train(&t, &g, "up", next_items::USER_PERSONALIZATION).await;
    let input = dir.path().join("users.json");
    let mut lines: Vec<String> = (1..=25)
        .map(|u| format!("{{\"userId\":\"U{u:04}\"}}"))
        .collect();
    lines.insert(12, "{bad".into());
    std::fs::write(&input, lines.join("\n")).unwrap();
    let rt = Runtime::new(t.clone());
    let job = |name: &str| CreateBatchJob {
        num_results: Some(5),
        ..CreateBatchJob::new(
            name,
            &version,
            input.to_str().unwrap(),
            dir.path().join(name).to_str().unwrap(),
        )
    };
    let read =
        |name: &str| std::fs::read_to_string(dir.path().join(name).join("users.json.out")).unwrap();

    let whole = t
        .create_batch_inference_job(job("whole"))
        .await
        .unwrap()
        .batch_inference_job_arn;
    run_batch_job(&rt, &whole, 0).await.unwrap();

    let sharded = t
        .create_batch_inference_job(job("sharded"))
        .await
        .unwrap()
        .batch_inference_job_arn;
    let plan = batch_shards::plan_batch_job(&t, &sharded, 10)
        .await
        .unwrap();
    assert_eq!((plan.small, plan.shards), (false, 3));
    let manifest: Vec<Shard> = serde_json::from_slice(
        &t.stores
            .blobs
            .get(&plan.manifest_key)
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest
            .iter()
            .map(|s| (s.first, s.lines))
            .collect::<Vec<_>>(),
        [(0, 10), (10, 10), (20, 6)]
    );
    assert_eq!(
        t.describe_batch_inference_job(&sharded)
            .await
            .unwrap()
            .status
            .as_str(),
        "CREATE IN_PROGRESS"
    );
    // Shards answer in any order, one thread each.
    for shard in manifest.iter().rev() {
        batch_shards::run_batch_shard(&rt, &sharded, shard)
            .await
            .unwrap();
    }
    let counts = batch_shards::join_batch_job(&t, &sharded).await.unwrap();
    assert_eq!(
        counts,
        BatchCounts {
            lines: 26,
            failed: 1
        }
    );
    assert_eq!(
        read("sharded"),
        read("whole"),
        "joined shards are the one run's output"
    );
    let done = t.describe_batch_inference_job(&sharded).await.unwrap();
    assert_eq!(done.status.as_str(), "ACTIVE");
    assert_eq!(done.record_counts.unwrap().input_records, 26);

    let lost = t
        .create_batch_inference_job(job("lost"))
        .await
        .unwrap()
        .batch_inference_job_arn;
    let plan = batch_shards::plan_batch_job(&t, &lost, 10).await.unwrap();
    let manifest: Vec<Shard> = serde_json::from_slice(
        &t.stores
            .blobs
            .get(&plan.manifest_key)
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    for shard in [&manifest[0], &manifest[2]] {
        batch_shards::run_batch_shard(&rt, &lost, shard)
            .await
            .unwrap();
    }
    let counts = batch_shards::join_batch_job(&t, &lost).await.unwrap();
    assert_eq!(
        counts,
        BatchCounts {
            lines: 26,
            failed: 10
        }
    );
    let (got, want): (Vec<Value>, Vec<Value>) = (
        read("lost")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        read("whole")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    );
    assert_eq!(got.len(), 26);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        if (10..20).contains(&i) {
            assert_eq!(g["input"], w["input"]);
            let e = g["error"].as_str().unwrap();
            assert!(
                e.starts_with(&format!("line {}:", i + 1)) && e.contains("shard"),
                "{e}"
            );
        } else {
            assert_eq!(g, w, "line {}", i + 1);
        }
    }
}

/// A job whose process died while running it is failed by the next Describe or List, with a
/// reason; one whose process lives, or that the state machine runs (no process), is not.
#[tokio::test]
async fn a_batch_job_whose_process_died_is_failed_by_the_next_reader() {
    use tailor_core::services::batch_jobs::CreateBatchJob;
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
    let alive = tailor_core::domain::WorkerProcess::of(std::process::id()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let size = SampleSize {
        items: 200,
        users: 60,
        sessions_per_user: 4,
    };
    let (t, g, data) = support::shop(dir.path(), 11, size).await;
    support::import_sample(&t, &g, "", &data, &[DatasetType::Interactions]).await;
    let version = support::train(&t, &g, "up", next_items::USER_PERSONALIZATION).await;
    let input = dir.path().join("in.json");
    std::fs::write(&input, "{\"userId\":\"U0001\"}\n").unwrap();
    for (name, worker, gone) in [
        ("dead", Some(dead), true),
        ("alive", Some(alive), false),
        ("mapped", None, false),
    ] {
        let job = t
            .create_batch_inference_job(CreateBatchJob::new(
                name,
                &version,
                input.to_str().unwrap(),
                dir.path().join("out").to_str().unwrap(),
            ))
            .await
            .unwrap();
        let arn = job.batch_inference_job_arn.clone();
        let running = tailor_core::domain::BatchInferenceJob {
            status: tailor_core::domain::Status::CreateInProgress,
            worker,
            ..job
        };
        t.stores
            .meta
            .put(
                "batch-inference-jobs",
                &arn,
                Some(&version),
                serde_json::to_vec(&running).unwrap(),
                tailor_core::store::Expect::Any,
            )
            .await
            .unwrap();
        let listed = control(
            &t,
            "ListBatchInferenceJobs",
            serde_json::json!({"solutionVersionArn": version}),
        )
        .await
        .unwrap();
        let summary = listed["batchInferenceJobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["batchInferenceJobArn"] == arn.as_str())
            .unwrap()
            .clone();
        let described = control(
            &t,
            "DescribeBatchInferenceJob",
            serde_json::json!({"batchInferenceJobArn": arn}),
        )
        .await
        .unwrap()["batchInferenceJob"]
            .clone();
        assert!(
            described.get("worker").is_none(),
            "bookkeeping stays inside: {described}"
        );
        for seen in [&summary, &described] {
            if gone {
                assert_eq!(seen["status"], "CREATE FAILED", "{seen}");
                assert!(
                    seen["failureReason"].as_str().unwrap().contains("stopped"),
                    "{seen}"
                );
            } else {
                // Batch jobs spell it Personalize's way on the wire.
                assert_eq!(seen["status"], "IN PROGRESS", "{name}: {seen}");
            }
        }
    }
}

/// Scoring histories together (what a segment job does) gives each user exactly the scores
/// scoring it alone gives.
#[tokio::test]
async fn histories_scored_together_score_as_alone() {
    let dir = tempfile::tempdir().unwrap();
    let size = SampleSize {
        items: 700,
        users: 80,
        sessions_per_user: 4,
    };
    let (t, g, data) = support::shop(dir.path(), 5, size).await;
    support::import_sample(&t, &g, "", &data, &[DatasetType::Interactions]).await;
    let version = support::train(&t, &g, "aff", next_items::ITEM_AFFINITY).await;
    let model = t.load_model(&version).await.unwrap();
    let hp = model.learned.hyperparameters();
    assert!(
        hp["factor_weight"].as_f64().unwrap_or(0.0) > 0.0,
        "the factor scan is exercised: {hp}"
    );
    let n = model.items.len() as u32;
    let histories: Vec<Vec<u32>> = (0..37u32)
        .map(|u| (0..(u % 9)).map(|k| (u * 31 + k * 17) % n).collect())
        .collect();
    let refs: Vec<&[u32]> = histories.iter().map(Vec::as_slice).collect();
    let mut together = vec![Vec::new(); refs.len()];
    model
        .learned
        .score_histories(&model.popularity, &refs, &mut together);
    let mut factors_seen = false;
    for (h, got) in refs.iter().zip(&together) {
        let mut alone = Vec::new();
        model
            .learned
            .score_history(&model.popularity, h, &mut alone);
        assert_eq!(got, &alone, "history {h:?}");
        factors_seen |= !h.is_empty();
    }
    assert!(factors_seen);
}

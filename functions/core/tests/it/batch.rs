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
        filter_arn: None,
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
        filter_arn: None,
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
                 {\"userId\":\"U0001\"}\n";
    let mut out = Vec::new();
    let counts = rt
        .batch_inference(&ranking, &settings, input, &mut out)
        .await
        .unwrap();
    assert_eq!(
        counts,
        BatchCounts {
            lines: 2,
            failed: 1
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
}

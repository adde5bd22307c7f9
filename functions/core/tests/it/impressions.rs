//! Impressions: shown items explore less. What an answer showed is implied by a later event's
//! `recommendationId` (and stored with the event), or sent explicitly in `impression`.

use std::collections::BTreeSet;

use tailor_core::api::events::{Event, Item, PutEventsRequest, PutItemsRequest};
use tailor_core::api::runtime::GetRecommendationsRequest;
use tailor_core::domain::{ArnBuilder, CampaignConfig};
use tailor_core::recipes::next_items::USER_PERSONALIZATION;
use tailor_core::sample::SampleSize;
use tailor_core::schema::DatasetType;
use tailor_core::serving::Runtime;
use tailor_core::{Stores, Tailor};

use crate::support;

struct Env {
    _dir: tempfile::TempDir,
    rt: Runtime,
    group: String,
    campaign: String,
    tracking_id: String,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let size = SampleSize {
        items: 300,
        users: 200,
        sessions_per_user: 6,
    };
    let (t, group, data) = support::shop(dir.path(), 5, size).await;
    let kinds = [DatasetType::Interactions, DatasetType::Items];
    let datasets = support::import_sample(&t, &group, "", &data, &kinds).await;
    let version = support::train(&t, &group, "up", USER_PERSONALIZATION).await;
    let config = CampaignConfig {
        item_exploration_config: [("explorationWeight".to_string(), "1".to_string())].into(),
        ..Default::default()
    };
    let campaign = t
        .create_campaign("c", &version, None, config)
        .await
        .unwrap()
        .campaign_arn;
    let tracking_id = t
        .create_event_tracker("tracker", &group)
        .await
        .unwrap()
        .tracking_id;
    let rt = Runtime::new(Tailor::new(
        Stores::embedded(dir.path()).unwrap(),
        ArnBuilder::default(),
    ));
    // Items launched after training, with no interactions: exploration shows them first.
    let new_items = (1..=6)
        .map(|k| Item {
            item_id: format!("NEW{k}"),
            properties: Some(
                r#"{"categoryL1": "Books", "price": 9.99, "creationTimestamp": 1775000000}"#.into(),
            ),
        })
        .collect();
    rt.put_items(&PutItemsRequest {
        dataset_arn: datasets[1].clone(),
        items: new_items,
    })
    .await
    .unwrap();
    Env {
        _dir: dir,
        rt,
        group,
        campaign,
        tracking_id,
    }
}

/// The answer's recommendation id and its items with reason Exploration.
async fn explored(e: &Env, user: &str) -> (String, BTreeSet<String>) {
    let r =
        e.rt.get_recommendations(&GetRecommendationsRequest {
            campaign_arn: Some(e.campaign.clone()),
            user_id: Some(user.into()),
            num_results: Some(10),
            ..Default::default()
        })
        .await
        .unwrap();
    let explored = r
        .item_list
        .iter()
        .filter(|p| p.reason.iter().any(|r| r == "Exploration"))
        .map(|p| p.item_id.clone())
        .collect();
    (r.recommendation_id, explored)
}

fn view(item: &str, k: usize, recommendation: Option<&str>, shown: &[&str]) -> Event {
    Event {
        event_id: Some(format!("e-{item}-{k}")),
        event_type: "View".into(),
        item_id: Some(item.into()),
        sent_at: Some(1_767_225_600.0 + k as f64),
        recommendation_id: recommendation.map(String::from),
        impression: shown.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// PutEvents in calls of at most 10 events.
async fn put(e: &Env, user: &str, events: Vec<Event>) {
    for part in events.chunks(10) {
        e.rt.put_events(&PutEventsRequest {
            tracking_id: e.tracking_id.clone(),
            session_id: format!("s-{user}"),
            user_id: Some(user.into()),
            event_list: part.to_vec(),
        })
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn items_a_recommendation_showed_explore_less() {
    let e = env().await;
    let (rid, before) = explored(&e, "U0001").await;
    assert!(before.len() >= 3, "{before:?}");
    // Another user's views each name the answer: its items were shown to them 12 times.
    let events = (0..12)
        .map(|k| view("P00001", k, Some(&rid), &[]))
        .collect();
    put(&e, "U0002", events).await;
    // Stored with the impressions the id implies, as if sent explicitly.
    let stored =
        e.rt.tailor
            .stores
            .events
            .recent(&e.group, "U0002", 1)
            .await
            .unwrap();
    let implied: BTreeSet<String> = stored[0].impression.iter().cloned().collect();
    assert!(before.is_subset(&implied), "{implied:?} vs {before:?}");

    let (_, after) = explored(&e, "U0001").await;
    let kept = before.intersection(&after).count();
    assert!(kept < before.len(), "{before:?} then {after:?}");
}

#[tokio::test]
async fn explicit_impressions_win_and_count() {
    let e = env().await;
    let (rid, before) = explored(&e, "U0003").await;
    let shown: Vec<&str> = before.iter().map(String::as_str).collect();
    // Explicit impressions win over what the id implies: here the same items, sent as a list
    // on events that name an unknown recommendation.
    let events = (0..12)
        .map(|k| view("P00002", k, Some("RID-unknown"), &shown))
        .collect();
    put(&e, "U0004", events).await;
    let (_, after) = explored(&e, "U0003").await;
    assert!(
        before.intersection(&after).count() < before.len(),
        "{before:?} then {after:?} ({rid})"
    );
}

/// As on AWS: one process answers, another takes the events (shared stores). The events
/// process finds what the answer showed in the store, and the answering process, reading the
/// events back, explores the shown items less.
#[tokio::test]
async fn an_answer_given_elsewhere_implies_its_impressions() {
    use tailor_core::serving::Sharing;
    let e = env().await;
    let shared = || {
        Runtime::with_sharing(
            Tailor::new(
                Stores::embedded(e._dir.path()).unwrap(),
                ArnBuilder::default(),
            ),
            Sharing::Shared {
                campaign_refresh: std::time::Duration::from_secs(60),
            },
        )
    };
    let (recommend, events) = (shared(), shared());
    let ask = GetRecommendationsRequest {
        campaign_arn: Some(e.campaign.clone()),
        user_id: Some("U0005".into()),
        num_results: Some(10),
        ..Default::default()
    };
    let first = recommend.get_recommendations(&ask).await.unwrap();
    let before: BTreeSet<String> = first
        .item_list
        .iter()
        .filter(|p| p.reason.iter().any(|r| r == "Exploration"))
        .map(|p| p.item_id.clone())
        .collect();
    assert!(!before.is_empty());
    for part in 0..2 {
        let list = (0..6)
            .map(|k| view("P00003", part * 6 + k, Some(&first.recommendation_id), &[]))
            .collect();
        events
            .put_events(&PutEventsRequest {
                tracking_id: e.tracking_id.clone(),
                session_id: "s-6".into(),
                user_id: Some("U0006".into()),
                event_list: list,
            })
            .await
            .unwrap();
    }
    let stored = events
        .tailor
        .stores
        .events
        .recent(&e.group, "U0006", 1)
        .await
        .unwrap();
    let implied: BTreeSet<String> = stored[0].impression.iter().cloned().collect();
    assert!(before.is_subset(&implied), "{implied:?} vs {before:?}");
    let again = recommend.get_recommendations(&ask).await.unwrap();
    let after: BTreeSet<String> = again
        .item_list
        .iter()
        .filter(|p| p.reason.iter().any(|r| r == "Exploration"))
        .map(|p| p.item_id.clone())
        .collect();
    assert!(
        before.intersection(&after).count() < before.len(),
        "{before:?} then {after:?}"
    );
}

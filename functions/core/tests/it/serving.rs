//! The serving runtime in-process on the embedded store: real-time fold-in, anonymous sessions,
//! Put* visibility and persistence, dedup, promotions, filters.

use std::collections::BTreeMap;

use tailor_core::api::events::{Event, Item, PutEventsRequest, PutItemsRequest};
use tailor_core::api::runtime::{GetRecommendationsRequest, Promotion};
use tailor_core::domain::{ArnBuilder, CampaignConfig, TrainingMode};
use tailor_core::recipes::next_items;
use tailor_core::sample::SampleSize;
use tailor_core::schema::DatasetType;
use tailor_core::serving::Runtime;
use tailor_core::{Error, Stores, Tailor};

use crate::support;

struct Env {
    dir: tempfile::TempDir,
    campaign: String,
    tracking_id: String,
    /// `EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")`: Personalize keeps seen items
    /// unless a filter like this drops them.
    unseen: String,
}

fn open(dir: &std::path::Path) -> Tailor {
    Tailor::new(Stores::embedded(dir).unwrap(), ArnBuilder::default())
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let size = SampleSize {
        items: 300,
        users: 200,
        sessions_per_user: 6,
    };
    let (t, g, data) = support::shop(dir.path(), 5, size).await;
    let kinds = [
        DatasetType::Interactions,
        DatasetType::Items,
        DatasetType::Users,
    ];
    support::import_sample(&t, &g, "", &data, &kinds).await;
    let version = support::train(&t, &g, "up", next_items::USER_PERSONALIZATION).await;
    // Exploration off so answers depend on the model alone.
    let config = CampaignConfig {
        item_exploration_config: [("explorationWeight".to_string(), "0".to_string())].into(),
        ..Default::default()
    };
    let campaign = t
        .create_campaign("c", &version, None, config)
        .await
        .unwrap()
        .campaign_arn;
    let tracking_id = t
        .create_event_tracker("tracker", &g)
        .await
        .unwrap()
        .tracking_id;
    let unseen = t
        .create_filter(
            "unseen",
            &g,
            r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")"#,
        )
        .await
        .unwrap()
        .filter_arn;
    Env {
        dir,
        campaign,
        tracking_id,
        unseen,
    }
}

/// `req` with the filter that drops what the user interacted with.
fn unseen(e: &Env, mut req: GetRecommendationsRequest) -> GetRecommendationsRequest {
    req.filter_arn = Some(e.unseen.clone());
    req
}

fn ask(e: &Env, user: &str, n: usize) -> GetRecommendationsRequest {
    GetRecommendationsRequest {
        campaign_arn: Some(e.campaign.clone()),
        user_id: Some(user.into()),
        num_results: Some(n),
        ..Default::default()
    }
}

fn events(
    e: &Env,
    user: Option<&str>,
    session: &str,
    items: &[&str],
    id_prefix: Option<&str>,
) -> PutEventsRequest {
    PutEventsRequest {
        tracking_id: e.tracking_id.clone(),
        user_id: user.map(Into::into),
        session_id: session.into(),
        event_list: items
            .iter()
            .enumerate()
            .map(|(k, i)| Event {
                event_id: id_prefix.map(|p| format!("{p}-{k}")),
                event_type: "View".into(),
                item_id: Some(i.to_string()),
                sent_at: Some(1_767_225_600.0 + k as f64),
                ..Default::default()
            })
            .collect(),
    }
}

fn ids(r: &tailor_core::api::runtime::GetRecommendationsResponse) -> Vec<String> {
    r.item_list.iter().map(|i| i.item_id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_changes_the_very_next_answer() {
    let e = env().await;
    let rt = Runtime::new(open(e.dir.path()));
    let cold = rt
        .get_recommendations(&ask(&e, "visitor", 10))
        .await
        .unwrap();
    assert!(cold.recommendation_id.starts_with("RID-"));
    rt.put_events(&events(
        &e,
        Some("visitor"),
        "s1",
        &["P00004", "P00014", "P00024"],
        None,
    ))
    .await
    .unwrap();
    let warm = rt
        .get_recommendations(&ask(&e, "visitor", 10))
        .await
        .unwrap();
    assert_ne!(ids(&cold), ids(&warm));
    let filtered = rt
        .get_recommendations(&unseen(&e, ask(&e, "visitor", 10)))
        .await
        .unwrap();
    for seen in ["P00004", "P00014", "P00024"] {
        assert!(
            !ids(&filtered).contains(&seen.to_string()),
            "{seen} was seen"
        );
    }
    assert!(warm.item_list.iter().all(|i| i.score.is_some()));
    // Durable: a fresh runtime over the same store replays the events.
    let again = Runtime::new(open(e.dir.path()));
    let replayed = again
        .get_recommendations(&ask(&e, "visitor", 10))
        .await
        .unwrap();
    assert_eq!(ids(&replayed), ids(&warm));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_sessions_answer_and_then_join_the_user() {
    let e = env().await;
    let rt = Runtime::new(open(e.dir.path()));
    rt.put_events(&events(&e, None, "anon-1", &["P00007", "P00017"], None))
        .await
        .unwrap();
    let by_session = rt
        .get_recommendations(&unseen(&e, ask(&e, "anon-1", 10)))
        .await
        .unwrap();
    assert!(!ids(&by_session).contains(&"P00007".to_string()));
    // The visitor signs in: the session's history joins the user's.
    rt.put_events(&events(&e, Some("member-9"), "anon-1", &["P00027"], None))
        .await
        .unwrap();
    let by_user = rt
        .get_recommendations(&unseen(&e, ask(&e, "member-9", 10)))
        .await
        .unwrap();
    for seen in ["P00007", "P00017", "P00027"] {
        assert!(!ids(&by_user).contains(&seen.to_string()), "{seen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_event_id_counts_once() {
    let e = env().await;
    let rt = Runtime::new(open(e.dir.path()));
    let req = events(&e, Some("dedup"), "s", &["P00001", "P00002"], Some("fixed"));
    rt.put_events(&req).await.unwrap();
    rt.put_events(&req).await.unwrap();
    let g = rt
        .group("arn:aws:personalize:us-east-1:000000000000:dataset-group/shop")
        .await
        .unwrap();
    assert_eq!(g.data.read().unwrap().histories["dedup"].len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_items_is_visible_to_filters_at_once_and_persists() {
    let e = env().await;
    let t = open(e.dir.path());
    let g = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop";
    let f = t
        .create_filter(
            "only-gadgets",
            g,
            r#"INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("Gadgets")"#,
        )
        .await
        .unwrap()
        .filter_arn;
    let rt = Runtime::new(t);
    let mut req = ask(&e, "U0001", 5);
    req.filter_arn = Some(f);
    assert!(
        rt.get_recommendations(&req)
            .await
            .unwrap()
            .item_list
            .is_empty(),
        "no item is a gadget yet"
    );
    let put = PutItemsRequest {
        dataset_arn: "arn:aws:personalize:us-east-1:000000000000:dataset/shop/ITEMS".into(),
        items: vec![Item {
            item_id: "P00003".into(),
            properties: Some(r#"{"categoryL1": "Gadgets", "price": 12.5}"#.into()),
        }],
    };
    let bad = PutItemsRequest {
        items: vec![Item {
            item_id: "P00003".into(),
            properties: Some(r#"{"colour": "red"}"#.into()),
        }],
        ..put.clone()
    };
    assert!(
        matches!(rt.put_items(&bad).await, Err(Error::InvalidInput(m)) if m.contains("colour"))
    );
    rt.put_items(&put).await.unwrap();
    assert_eq!(
        ids(&rt.get_recommendations(&req).await.unwrap()),
        ["P00003"]
    );
    let fresh = Runtime::new(open(e.dir.path()));
    assert_eq!(
        ids(&fresh.get_recommendations(&req).await.unwrap()),
        ["P00003"],
        "PutItems persisted"
    );
}

/// The campaign's filter index follows PutItems whether a few items changed since it was built
/// (re-checked one by one) or many (rebuilt), and a filter over a second field extends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_follow_put_items_few_or_many() {
    use std::collections::BTreeSet;
    let e = env().await;
    let t = open(e.dir.path());
    let g = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop";
    let gadgets = t
        .create_filter(
            "gadgets",
            g,
            r#"INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("Gadgets")"#,
        )
        .await
        .unwrap()
        .filter_arn;
    let cheap = t
        .create_filter("cheap", g, "INCLUDE ItemID WHERE Items.PRICE < 2")
        .await
        .unwrap()
        .filter_arn;
    let rt = Runtime::new(t);
    let answer = |filter: &str| {
        let mut req = ask(&e, "U0001", 500);
        req.filter_arn = Some(filter.to_string());
        let rt = &rt;
        async move {
            let got = rt.get_recommendations(&req).await.unwrap();
            ids(&got).into_iter().collect::<BTreeSet<_>>()
        }
    };
    let put = |ids: Vec<String>, properties: &'static str| {
        let rt = &rt;
        async move {
            for chunk in ids.chunks(10) {
                let req = PutItemsRequest {
                    dataset_arn: "arn:aws:personalize:us-east-1:000000000000:dataset/shop/ITEMS"
                        .into(),
                    items: chunk
                        .iter()
                        .map(|id| Item {
                            item_id: id.clone(),
                            properties: Some(properties.into()),
                        })
                        .collect(),
                };
                rt.put_items(&req).await.unwrap();
            }
        }
    };
    let id = |i: usize| format!("P{i:05}");
    assert!(answer(&gadgets).await.is_empty(), "the index is built here");

    put(
        (0..100).map(id).collect(),
        r#"{"categoryL1": "Gadgets", "price": 1}"#,
    )
    .await;
    let expected: BTreeSet<String> = (0..100).map(id).collect();
    assert_eq!(
        answer(&gadgets).await,
        expected,
        "100 changed items re-checked"
    );
    assert_eq!(answer(&cheap).await, expected, "a second field indexed");

    put(
        (100..290).map(id).collect(),
        r#"{"categoryL1": "Gadgets", "price": 3}"#,
    )
    .await;
    put(
        (0..5).map(id).collect(),
        r#"{"categoryL1": "Books", "price": 1}"#,
    )
    .await;
    let expected: BTreeSet<String> = (5..290).map(id).collect();
    assert_eq!(answer(&gadgets).await, expected, "290 changes: rebuilt");
    let expected: BTreeSet<String> = (0..100).map(id).collect();
    assert_eq!(
        answer(&cheap).await,
        expected,
        "the rebuilt index kept PRICE"
    );
}

/// An item PutItems makes new is explored on the very next answer: the campaign's cached
/// exploration candidates do not outlive the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_made_new_is_explored_at_once() {
    let e = env().await;
    let t = open(e.dir.path());
    let version = t
        .describe_campaign(&e.campaign)
        .await
        .unwrap()
        .solution_version_arn;
    let config = CampaignConfig {
        item_exploration_config: [("explorationWeight".to_string(), "1".to_string())].into(),
        ..Default::default()
    };
    let exploring = t
        .create_campaign("exploring", &version, None, config)
        .await
        .unwrap()
        .campaign_arn;
    let rt = Runtime::new(t);
    let mut req = ask(&e, "U0001", 500);
    req.campaign_arn = Some(exploring);
    let reason = |got: &tailor_core::api::runtime::GetRecommendationsResponse, id: &str| {
        got.item_list
            .iter()
            .find(|i| i.item_id == id)
            .map(|i| i.reason.clone())
    };
    let first = rt.get_recommendations(&req).await.unwrap();
    // An item the answer has that exploration left alone (an old one).
    let old = first
        .item_list
        .iter()
        .find(|i| i.reason.is_empty())
        .expect("some item is the model's own choice")
        .item_id
        .clone();
    let latest = rt
        .group("arn:aws:personalize:us-east-1:000000000000:dataset-group/shop")
        .await
        .unwrap()
        .data
        .read()
        .unwrap()
        .latest_ts;
    let put = PutItemsRequest {
        dataset_arn: "arn:aws:personalize:us-east-1:000000000000:dataset/shop/ITEMS".into(),
        items: vec![Item {
            item_id: old.clone(),
            properties: Some(format!(
                r#"{{"categoryL1": "Books", "creationTimestamp": {latest}}}"#
            )),
        }],
    };
    rt.put_items(&put).await.unwrap();
    let next = rt.get_recommendations(&req).await.unwrap();
    assert_eq!(
        reason(&next, &old),
        Some(vec!["Exploration".to_string()]),
        "{old} is new now"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotions_take_their_share_in_their_own_order() {
    let e = env().await;
    let t = open(e.dir.path());
    let g = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop";
    let f = t
        .create_filter(
            "books",
            g,
            r#"INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CAT)"#,
        )
        .await
        .unwrap()
        .filter_arn;
    let rt = Runtime::new(t);
    let mut req = ask(&e, "U0002", 10);
    req.promotions = vec![Promotion {
        name: Some("books-week".into()),
        percent_promoted_items: Some(25),
        filter_arn: Some(f),
        filter_values: BTreeMap::from([("CAT".to_string(), "\"Books\"".to_string())]),
    }];
    let r = rt.get_recommendations(&req).await.unwrap();
    assert_eq!(r.item_list.len(), 10);
    let promoted: Vec<_> = r
        .item_list
        .iter()
        .filter(|i| i.promotion_name.is_some())
        .collect();
    assert_eq!(promoted.len(), 3, "ceil(10 × 25%)");
    assert!(promoted.iter().all(
        |i| i.promotion_name.as_deref() == Some("books-week") && i.reason == ["Promoted item"]
    ));
    // Sample items cycle through ten categories; Books are P00001, P00011, ...
    assert!(
        promoted
            .iter()
            .all(|i| i.item_id[1..].parse::<u32>().unwrap() % 10 == 1),
        "{promoted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_checked_before_anything_runs() {
    let e = env().await;
    let rt = Runtime::new(open(e.dir.path()));
    let mut too_many = ask(&e, "U0001", 501);
    assert!(matches!(
        rt.get_recommendations(&too_many).await,
        Err(Error::InvalidInput(_))
    ));
    too_many.num_results = Some(500);
    assert_eq!(
        rt.get_recommendations(&too_many)
            .await
            .unwrap()
            .item_list
            .len(),
        300,
        "seen items are not dropped"
    );
    assert_eq!(
        rt.get_recommendations(&unseen(&e, too_many.clone()))
            .await
            .unwrap()
            .item_list
            .len(),
        300 - rt_history_len(&rt, "U0001").await
    );
    let mut no_user = ask(&e, "x", 5);
    no_user.user_id = None;
    assert!(
        matches!(rt.get_recommendations(&no_user).await, Err(Error::InvalidInput(m)) if m.contains("userId"))
    );
    let mut unknown = ask(&e, "x", 5);
    unknown.campaign_arn = Some("arn:aws:personalize:us-east-1:000000000000:campaign/nope".into());
    assert_eq!(
        rt.get_recommendations(&unknown)
            .await
            .unwrap_err()
            .kind()
            .http_status(),
        404
    );
    let mut bad_tracker = events(&e, Some("u"), "s", &["P00001"], None);
    bad_tracker.tracking_id = "not-a-tracker".into();
    assert!(matches!(
        rt.put_events(&bad_tracker).await,
        Err(Error::InvalidInput(_))
    ));
    let mut excluded = ask(&e, "U0003", 5);
    let first = ids(&rt.get_recommendations(&excluded).await.unwrap());
    excluded
        .context
        .insert("EXCLUDE_ITEM_IDS".into(), first[..2].join(","));
    let second = ids(&rt.get_recommendations(&excluded).await.unwrap());
    assert!(!second.contains(&first[0]) && !second.contains(&first[1]));
}

async fn rt_history_len(rt: &Runtime, user: &str) -> usize {
    let g = rt
        .group("arn:aws:personalize:us-east-1:000000000000:dataset-group/shop")
        .await
        .unwrap();
    let data = g.data.read().unwrap();
    let mut items: Vec<u32> = data.histories[user].iter().map(|s| s.item).collect();
    items.sort_unstable();
    items.dedup();
    items.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_item_put_now_can_be_recommended_now() {
    let e = env().await;
    let t = open(e.dir.path());
    let g = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop";
    let f = t
        .create_filter(
            "gadgets",
            g,
            r#"INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("Gadgets")"#,
        )
        .await
        .unwrap()
        .filter_arn;
    let rt = Runtime::new(t);
    let mut req = ask(&e, "U0004", 5);
    req.filter_arn = Some(f);
    assert!(rt
        .get_recommendations(&req)
        .await
        .unwrap()
        .item_list
        .is_empty());
    let put = PutItemsRequest {
        dataset_arn: "arn:aws:personalize:us-east-1:000000000000:dataset/shop/ITEMS".into(),
        items: vec![Item {
            item_id: "BRAND-NEW".into(),
            properties: Some(r#"{"categoryL1": "Gadgets", "title": "Gizmo"}"#.into()),
        }],
    };
    rt.put_items(&put).await.unwrap();
    let got = rt.get_recommendations(&req).await.unwrap();
    assert_eq!(
        ids(&got),
        ["BRAND-NEW"],
        "the model's catalogue took the item in without retraining"
    );
    assert!(got.item_list[0]
        .score
        .is_some_and(|s| (0.0..=1.0).contains(&s)));
}

/// Two Lambda execution environments over one store: one takes PutEvents, the other answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_runtimes_see_each_others_events_and_new_versions() {
    use std::time::Duration;
    use tailor_core::serving::Sharing;
    let e = env().await;
    let shared = |refresh| {
        Runtime::with_sharing(
            open(e.dir.path()),
            Sharing::Shared {
                campaign_refresh: refresh,
            },
        )
    };
    let writer = shared(Duration::ZERO);
    let reader = shared(Duration::ZERO);
    let slow = shared(Duration::from_secs(3600));
    let cold = reader
        .get_recommendations(&ask(&e, "visitor", 10))
        .await
        .unwrap();
    slow.get_recommendations(&ask(&e, "visitor", 10))
        .await
        .unwrap();
    let seen = ids(&cold)[..3].to_vec();
    let seen: Vec<&str> = seen.iter().map(String::as_str).collect();
    writer
        .put_events(&events(&e, Some("visitor"), "s9", &seen, None))
        .await
        .unwrap();
    let warm = reader
        .get_recommendations(&ask(&e, "visitor", 10))
        .await
        .unwrap();
    assert_ne!(ids(&cold), ids(&warm));
    let filtered = reader
        .get_recommendations(&unseen(&e, ask(&e, "visitor", 10)))
        .await
        .unwrap();
    for s in &seen {
        assert!(!ids(&filtered).contains(&s.to_string()), "{s} was seen");
    }
    // Retrain and repoint the campaign: the reader reloads, a long refresh interval does not yet.
    let t = open(e.dir.path());
    let old = t.describe_campaign(&e.campaign).await.unwrap();
    let solution = t
        .describe_solution_version(&old.solution_version_arn)
        .await
        .unwrap()
        .solution_arn;
    let v = t
        .create_solution_version(&solution, TrainingMode::Full, None)
        .await
        .unwrap();
    t.run_solution_version(&v.solution_version_arn, &mut |_, _| {})
        .await
        .unwrap();
    t.update_campaign(&e.campaign, Some(&v.solution_version_arn), None, None)
        .await
        .unwrap();
    let now = reader.campaign(&e.campaign).await.unwrap();
    assert_eq!(now.campaign.solution_version_arn, v.solution_version_arn);
    let later = slow.campaign(&e.campaign).await.unwrap();
    assert_eq!(
        later.campaign.solution_version_arn,
        old.solution_version_arn
    );
    // The reloaded campaign still knows the events streamed before.
    let after = reader
        .get_recommendations(&unseen(&e, ask(&e, "visitor", 10)))
        .await
        .unwrap();
    for s in &seen {
        assert!(!ids(&after).contains(&s.to_string()), "{s} was seen");
    }
}

/// PutItems through one execution environment reaches another within its refresh interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_runtimes_see_items_put_elsewhere_after_a_refresh() {
    use std::time::Duration;
    use tailor_core::serving::Sharing;
    let e = env().await;
    let t = open(e.dir.path());
    let g = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop";
    let f = t
        .create_filter(
            "only-gadgets",
            g,
            r#"INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("Gadgets")"#,
        )
        .await
        .unwrap()
        .filter_arn;
    let shared = |refresh| {
        Runtime::with_sharing(
            open(e.dir.path()),
            Sharing::Shared {
                campaign_refresh: refresh,
            },
        )
    };
    let writer = shared(Duration::ZERO);
    let reader = shared(Duration::ZERO);
    let mut req = ask(&e, "U0001", 5);
    req.filter_arn = Some(f);
    assert!(reader
        .get_recommendations(&req)
        .await
        .unwrap()
        .item_list
        .is_empty());
    writer
        .put_items(&PutItemsRequest {
            dataset_arn: "arn:aws:personalize:us-east-1:000000000000:dataset/shop/ITEMS".into(),
            items: vec![
                Item {
                    item_id: "P00003".into(),
                    properties: Some(r#"{"categoryL1": "Gadgets", "price": 12.5}"#.into()),
                },
                Item {
                    item_id: "BRAND-NEW".into(),
                    properties: Some(r#"{"categoryL1": "Gadgets", "price": 3.0}"#.into()),
                },
            ],
        })
        .await
        .unwrap();
    let ids = ids(&reader.get_recommendations(&req).await.unwrap());
    assert!(ids.contains(&"P00003".to_string()), "{ids:?}");
    assert!(
        ids.contains(&"BRAND-NEW".to_string()),
        "a new item joins the catalogue: {ids:?}"
    );
}

/// An item put between trainings is scored from its attributes (the model's content map): for
/// a user, a new item like the ones they buy ranks above a new item from what they do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_put_after_training_is_ranked_by_its_content() {
    use std::collections::HashMap;
    use tailor_core::api::runtime::GetPersonalizedRankingRequest;
    let e = env().await;
    let data = tailor_core::sample::generate(
        5,
        SampleSize {
            items: 300,
            users: 200,
            sessions_per_user: 6,
        },
    );
    let mut items = csv::Reader::from_reader(data.items.as_deref().unwrap());
    let rows: HashMap<String, csv::StringRecord> = items
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r)
        })
        .collect();
    let mut bought: HashMap<String, HashMap<String, usize>> = HashMap::new();
    for r in csv::Reader::from_reader(data.interactions.as_slice()).records() {
        let r = r.unwrap();
        *bought
            .entry(r[0].to_string())
            .or_default()
            .entry(rows[&r[1]][2].to_string())
            .or_default() += 1;
    }
    let rt = Runtime::new(open(e.dir.path()));
    let like = |id: &str, r: &csv::StringRecord| Item {
        item_id: id.into(),
        properties: Some(
            serde_json::json!({
                "title": &r[1], "categoryL1": &r[2], "categoryL2": &r[3],
                "description": &r[4], "price": r[5].parse::<f64>().unwrap(),
            })
            .to_string(),
        ),
    };
    let mut users: Vec<&String> = bought.keys().collect();
    users.sort();
    for user in users.into_iter().take(20) {
        let counts = &bought[user];
        let most = counts.iter().max_by_key(|(c, n)| (**n, *c)).unwrap().0;
        let other = rows
            .values()
            .map(|r| r[2].to_string())
            .filter(|c| !counts.contains_key(c))
            .min();
        let Some(other) = other else { continue };
        let pick = |cat: &str| {
            let mut ids: Vec<&String> = rows.keys().filter(|id| &rows[*id][2] == cat).collect();
            ids.sort();
            rows[ids[0]].clone()
        };
        let (mine, theirs) = (format!("N{user}-mine"), format!("N{user}-other"));
        rt.put_items(&PutItemsRequest {
            dataset_arn: "arn:aws:personalize:us-east-1:000000000000:dataset/shop/ITEMS".into(),
            items: vec![like(&mine, &pick(most)), like(&theirs, &pick(&other))],
        })
        .await
        .unwrap();
        let ranked = rt
            .get_personalized_ranking(&GetPersonalizedRankingRequest {
                campaign_arn: e.campaign.clone(),
                user_id: user.clone(),
                input_list: vec![theirs.clone(), mine.clone()],
                ..Default::default()
            })
            .await
            .unwrap();
        let order: Vec<&str> = ranked
            .personalized_ranking
            .iter()
            .map(|i| i.item_id.as_str())
            .collect();
        assert_eq!(
            order,
            [mine.as_str(), theirs.as_str()],
            "{user} buys {most} most, never {other}"
        );
    }
}

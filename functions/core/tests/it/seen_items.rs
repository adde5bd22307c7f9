//! Items a user interacted with stay candidates, as in Personalize: serving drops them only when
//! a filter says so (`EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (...)`). Related items
//! leave out the query item; a personalised ranking returns its whole input list.

use std::collections::BTreeSet;

use tailor_core::api::events::{Event, PutEventsRequest};
use tailor_core::api::runtime::{GetPersonalizedRankingRequest, GetRecommendationsRequest};
use tailor_core::domain::CampaignConfig;
use tailor_core::recipes::{next_items, sims, Recipe};
use tailor_core::sample::SampleSize;
use tailor_core::schema::DatasetType;
use tailor_core::serving::Runtime;

use crate::support;

const ITEMS: usize = 300;
const GROUP: &str = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop";

struct Env {
    _dir: tempfile::TempDir,
    rt: Runtime,
    up: String,
    sims: String,
    tracking_id: String,
}

async fn env(recipes: &[Recipe]) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let size = SampleSize {
        items: ITEMS,
        users: 150,
        sessions_per_user: 5,
    };
    let (t, g, data) = support::shop(dir.path(), 11, size).await;
    support::import_sample(
        &t,
        &g,
        "",
        &data,
        &[DatasetType::Interactions, DatasetType::Items],
    )
    .await;
    let mut campaigns = Vec::new();
    for &recipe in recipes {
        let name = recipe.name().replace("aws-", "");
        let version = support::train(&t, &g, &name, recipe).await;
        // Exploration off so answers depend on the model alone.
        let config = CampaignConfig {
            item_exploration_config: [("explorationWeight".to_string(), "0".to_string())].into(),
            ..Default::default()
        };
        let c = t
            .create_campaign(&name, &version, None, config)
            .await
            .unwrap();
        campaigns.push(c.campaign_arn);
    }
    let tracking_id = t
        .create_event_tracker("tracker", &g)
        .await
        .unwrap()
        .tracking_id;
    let campaign = |i: usize| campaigns.get(i).cloned().unwrap_or_default();
    Env {
        up: campaign(0),
        sims: campaign(1),
        rt: Runtime::new(t),
        _dir: dir,
        tracking_id,
    }
}

impl Env {
    async fn filter(&self, name: &str, expression: &str) -> String {
        self.rt
            .tailor
            .create_filter(name, GROUP, expression)
            .await
            .unwrap()
            .filter_arn
    }

    async fn put(&self, user: &str, event_type: &str, items: &[&str]) {
        let event_list = items
            .iter()
            .enumerate()
            .map(|(k, i)| Event {
                event_type: event_type.into(),
                item_id: Some(i.to_string()),
                sent_at: Some(1_767_225_600.0 + k as f64),
                ..Default::default()
            })
            .collect();
        self.rt
            .put_events(&PutEventsRequest {
                tracking_id: self.tracking_id.clone(),
                user_id: Some(user.into()),
                session_id: format!("s-{user}"),
                event_list,
            })
            .await
            .unwrap();
    }

    async fn recommend(&self, req: GetRecommendationsRequest) -> Vec<String> {
        let r = self.rt.get_recommendations(&req).await.unwrap();
        r.item_list.into_iter().map(|i| i.item_id).collect()
    }

    async fn for_user(&self, user: &str, n: usize, filter: Option<&str>) -> Vec<String> {
        self.recommend(GetRecommendationsRequest {
            campaign_arn: Some(self.up.clone()),
            user_id: Some(user.into()),
            num_results: Some(n),
            filter_arn: filter.map(Into::into),
            ..Default::default()
        })
        .await
    }

    /// The distinct items of a user's history as serving holds it.
    async fn history(&self, user: &str) -> BTreeSet<String> {
        let g = self.rt.group(GROUP).await.unwrap();
        let data = g.data.read().unwrap();
        data.histories[user]
            .iter()
            .map(|s| data.items.name(s.item).to_string())
            .collect()
    }
}

fn set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_personalization_keeps_seen_items_unless_a_filter_drops_them() {
    let e = env(&[next_items::USER_PERSONALIZATION]).await;
    let viewed = ["P00004", "P00014", "P00024"];
    e.put("visitor", "View", &viewed).await;

    // The issue's case: INCLUDE on the user's own events must find them.
    let include = e
        .filter(
            "viewed",
            r#"INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("View")"#,
        )
        .await;
    let got = e.for_user("visitor", 10, Some(&include)).await;
    assert_eq!(
        set(&got),
        set(&viewed.map(String::from)),
        "INCLUDE ... EVENT_TYPE IN (\"View\") returns the viewed items"
    );

    // Unfiltered, at numResults over the catalogue, a known user gets every item: history too.
    let history = e.history("U0001").await;
    assert!(!history.is_empty());
    let all = e.for_user("U0001", 500, None).await;
    assert_eq!(all.len(), ITEMS, "nothing is dropped without a filter");
    assert!(history.is_subset(&set(&all)));

    // Personalize's way to drop them: an EXCLUDE filter on the interactions.
    let exclude = e
        .filter(
            "unseen",
            r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")"#,
        )
        .await;
    let unseen = e.for_user("U0001", 500, Some(&exclude)).await;
    assert_eq!(unseen.len(), ITEMS - history.len());
    assert!(history.is_disjoint(&set(&unseen)));
    // The filter drops the seen items and keeps the rest in the unfiltered order.
    let kept: Vec<String> = all.into_iter().filter(|i| !history.contains(i)).collect();
    assert_eq!(unseen, kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn related_items_leave_out_the_query_item_only_and_ranking_drops_nothing() {
    let e = env(&[next_items::USER_PERSONALIZATION, sims::SIMS]).await;
    let user = "U0002";
    let history: Vec<String> = e.history(user).await.into_iter().collect();
    let query = history[0].clone();
    let related = e
        .recommend(GetRecommendationsRequest {
            campaign_arn: Some(e.sims.clone()),
            item_id: Some(query.clone()),
            user_id: Some(user.into()),
            num_results: Some(500),
            ..Default::default()
        })
        .await;
    assert_eq!(related.len(), ITEMS - 1);
    assert!(
        !related.contains(&query),
        "SIMS never returns the query item"
    );
    assert!(
        history[1..].iter().all(|i| related.contains(i)),
        "the user's other items stay"
    );

    let input: Vec<String> = history
        .iter()
        .take(4)
        .cloned()
        .chain(["P00150".to_string(), "not-an-item".to_string()])
        .collect();
    let ranked =
        e.rt.get_personalized_ranking(&GetPersonalizedRankingRequest {
            campaign_arn: e.up.clone(),
            input_list: input.clone(),
            user_id: user.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let got: Vec<String> = ranked
        .personalized_ranking
        .iter()
        .map(|i| i.item_id.clone())
        .collect();
    assert_eq!(set(&got), set(&input), "every input item comes back");
    assert_eq!(got.last().map(String::as_str), Some("not-an-item"));
}

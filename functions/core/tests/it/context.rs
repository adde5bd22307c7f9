//! The context stage on the generated shop: DEVICE and MEMBERSHIP change what users pick when
//! the sample plants the effect, and carry nothing when it does not.

use std::collections::BTreeMap;

use tailor_core::engine::{self, Query};
use tailor_core::evaluation::context::{evaluate_known_users, evaluate_new_users, sample_data};
use tailor_core::recipes::next_items::USER_PERSONALIZATION;
use tailor_core::recipes::{Hyperparameters, Model};
use tailor_core::sample::{generate_with, Planted, SampleSize};

fn size() -> SampleSize {
    SampleSize {
        items: 600,
        users: 500,
        sessions_per_user: 8,
    }
}

#[test]
fn planted_context_wins_for_known_users() {
    let data = sample_data(&generate_with(5, size(), Planted::default())).unwrap();
    let f = evaluate_known_users(USER_PERSONALIZATION, &Hyperparameters::new(), &data).unwrap();
    println!("{f:?}");
    assert!(f.groups > 300, "{f:?}");
    let device = f.fields.iter().position(|n| n == "DEVICE").unwrap();
    assert!(f.warm[device] > 0.0, "{f:?}");
    assert!(
        f.ndcg_with > f.ndcg_without * 1.1,
        "context should lift NDCG@10 by 10%: {f:?}"
    );
}

#[test]
fn planted_metadata_and_context_beat_popularity_for_new_users() {
    let data = sample_data(&generate_with(6, size(), Planted::default())).unwrap();
    let f =
        evaluate_new_users(USER_PERSONALIZATION, &Hyperparameters::new(), &data, 0.1, 3).unwrap();
    println!("{f:?}");
    assert!(f.groups > 40, "{f:?}");
    assert!(f.cold.iter().any(|&w| w > 0.0), "{f:?}");
    assert!(
        f.ndcg_with > f.ndcg_without * 1.1,
        "context and metadata should beat popularity: {f:?}"
    );
}

#[test]
fn context_that_carries_nothing_changes_nothing() {
    let data = sample_data(&generate_with(5, size(), Planted::NONE)).unwrap();
    let known = evaluate_known_users(USER_PERSONALIZATION, &Hyperparameters::new(), &data).unwrap();
    println!("{known:?}");
    assert!(
        known.ndcg_with >= known.ndcg_without * 0.99,
        "a useless context must not cost: {known:?}"
    );
    let new =
        evaluate_new_users(USER_PERSONALIZATION, &Hyperparameters::new(), &data, 0.1, 3).unwrap();
    println!("{new:?}");
    assert!(new.ndcg_with >= new.ndcg_without * 0.99, "{new:?}");
}

/// The stage survives the artifact, and a request's context moves items that suit it up.
#[test]
fn the_stage_round_trips_and_reacts_to_the_request() {
    let data = sample_data(&generate_with(7, size(), Planted::default())).unwrap();
    let split = tailor_core::evaluation::quality_split(&data);
    let hp = Hyperparameters::new();
    let base = Model::fit(USER_PERSONALIZATION, &split.train, &hp, &mut |_| {}).unwrap();
    let mut model = Model::fit(USER_PERSONALIZATION, &data, &hp, &mut |_| {}).unwrap();
    model.context =
        tailor_core::recipes::context::learn(&base, &split.train, &data).map(std::sync::Arc::new);
    assert!(model.context.is_some());
    let back = Model::from_bytes(&model.to_bytes()).unwrap();
    assert_eq!(back.context, model.context);

    // Items suit devices by their rank within their category: P(rank) with rank % 3.
    let suits = |id: &str, device: &str| {
        let n: usize = id[1..].parse().unwrap();
        let rank = (n - 1) / 10;
        ["mobile", "desktop", "tablet"][rank % 3] == device
    };
    let history: Vec<u32> = data.histories[0].iter().map(|e| e.item).collect();
    let mut share = BTreeMap::new();
    for device in ["mobile", "desktop", "tablet"] {
        let context = BTreeMap::from([("DEVICE".to_string(), device.to_string())]);
        let q = Query {
            context: Some(&context),
            ..Query::for_history(&history, 10)
        };
        let picks = engine::recommend(&back, &q);
        let suited = picks
            .iter()
            .filter(|p| suits(back.items.name(p.item.unwrap()), device))
            .count();
        share.insert(device, suited);
    }
    println!("{share:?}");
    // A third of the catalogue suits each device; with the stage most of the top 10 does.
    assert!(share.values().all(|&n| n >= 6), "{share:?}");
}

/// Through the services and the runtime: training reads DEVICE and the Users dataset, the
/// campaign's answer follows the request's `context`, and a user with no events gets one that
/// follows their MEMBERSHIP.
#[tokio::test]
async fn a_campaign_answers_by_the_requests_context() {
    use tailor_core::api::runtime::GetRecommendationsRequest;
    use tailor_core::domain::CampaignConfig;
    use tailor_core::schema::DatasetType;
    use tailor_core::serving::Runtime;

    let dir = tempfile::tempdir().unwrap();
    let (t, g, data) = crate::support::shop(dir.path(), 7, size()).await;
    let kinds = [
        DatasetType::Interactions,
        DatasetType::Items,
        DatasetType::Users,
    ];
    crate::support::import_sample(&t, &g, "", &data, &kinds).await;
    let version = crate::support::train(&t, &g, "up", USER_PERSONALIZATION).await;
    let model = t.load_model(&version).await.unwrap();
    let stage = model.context.as_deref().expect("the shop's context stage");
    assert!(stage.warm.iter().any(|&w| w > 0.0), "{:?}", stage.warm);
    let config = CampaignConfig {
        item_exploration_config: [("explorationWeight".to_string(), "0".to_string())].into(),
        ..Default::default()
    };
    let campaign = t
        .create_campaign("c", &version, None, config)
        .await
        .unwrap()
        .campaign_arn;
    let rt = Runtime::new(tailor_core::Tailor::new(
        tailor_core::Stores::embedded(dir.path()).unwrap(),
        tailor_core::domain::ArnBuilder::default(),
    ));
    let ask = |user: &str, device: Option<&str>| GetRecommendationsRequest {
        campaign_arn: Some(campaign.clone()),
        user_id: Some(user.into()),
        num_results: Some(10),
        context: device
            .map(|d| BTreeMap::from([("DEVICE".to_string(), d.to_string())]))
            .unwrap_or_default(),
        ..Default::default()
    };
    let suits = |id: &str, device: &str| {
        let n: usize = id[1..].parse().unwrap();
        ["mobile", "desktop", "tablet"][((n - 1) / 10) % 3] == device
    };
    let (mut with, mut without) = (0, 0);
    for user in ["U0001", "U0002", "U0003", "U0004", "U0005"] {
        for device in ["mobile", "desktop", "tablet"] {
            let count = |r: &tailor_core::api::runtime::GetRecommendationsResponse| {
                r.item_list
                    .iter()
                    .filter(|p| suits(&p.item_id, device))
                    .count()
            };
            with += count(
                &rt.get_recommendations(&ask(user, Some(device)))
                    .await
                    .unwrap(),
            );
            without += count(&rt.get_recommendations(&ask(user, None)).await.unwrap());
        }
    }
    // 15 answers of 10: a third of them suit the device by chance.
    assert!(with >= 90 && with > without + 30, "{with} vs {without}");

    // New users with no events, put with PutUsers: premium members lean to category 6.
    assert!(stage.cold.iter().any(|&w| w > 0.0), "{:?}", stage.cold);
    let users = t
        .list_datasets(Some(&g))
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.dataset_type == DatasetType::Users)
        .unwrap()
        .dataset_arn;
    let put = |id: &str, membership: &str| tailor_core::api::events::User {
        user_id: id.into(),
        properties: Some(format!(r#"{{"membership": "{membership}"}}"#)),
    };
    rt.put_users(&tailor_core::api::events::PutUsersRequest {
        dataset_arn: users,
        users: vec![put("new-premium", "premium"), put("new-free", "free")],
    })
    .await
    .unwrap();
    let category_6 = |user: &str| {
        let rt = &rt;
        let req = ask(user, None);
        async move {
            rt.get_recommendations(&req)
                .await
                .unwrap()
                .item_list
                .iter()
                .filter(|p| (p.item_id[1..].parse::<usize>().unwrap() - 1) % 10 == 6)
                .count()
        }
    };
    let (premium, free) = (
        category_6("new-premium").await,
        category_6("new-free").await,
    );
    assert!(premium >= free + 3, "premium {premium} vs free {free}");
}

//! Events reach training: PutEvents / PutItems / PutUsers compacted into new dataset versions,
//! idempotently, with every acknowledged event exactly once; cold readers load the snapshot
//! plus the log's tail.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tailor_core::api::events::{Event, Item, PutEventsRequest, PutItemsRequest};
use tailor_core::data::Table;
use tailor_core::domain::{ArnBuilder, TrainingMode};
use tailor_core::recipes::next_items;
use tailor_core::sample::SampleSize;
use tailor_core::schema::DatasetType;
use tailor_core::serving::Runtime;
use tailor_core::store::{Expect, ListQuery, MetaStore, Page, StoreError, StoreResult, Versioned};
use tailor_core::{Stores, Tailor};

use crate::support;

struct Env {
    _dir: tempfile::TempDir,
    t: Tailor,
    group: String,
    tracking_id: String,
    interactions: String,
    items: String,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let size = SampleSize {
        items: 200,
        users: 120,
        sessions_per_user: 4,
    };
    let (t, group, data) = support::shop(dir.path(), 5, size).await;
    let arns = support::import_sample(
        &t,
        &group,
        "",
        &data,
        &[DatasetType::Interactions, DatasetType::Items],
    )
    .await;
    let tracking_id = t
        .create_event_tracker("tracker", &group)
        .await
        .unwrap()
        .tracking_id;
    Env {
        _dir: dir,
        t,
        group,
        tracking_id,
        interactions: arns[0].clone(),
        items: arns[1].clone(),
    }
}

/// `n` clicks by each of `users` (ids never in the bulk import) on `items`, through PutEvents.
async fn put_clicks(rt: &Runtime, tracking_id: &str, users: &[String], items: &[String]) -> usize {
    let mut sent = 0;
    for (u, user) in users.iter().enumerate() {
        let event_list = items
            .iter()
            .enumerate()
            .map(|(k, item)| Event {
                event_id: Some(format!("{user}-{k}")),
                event_type: "click".into(),
                item_id: Some(item.clone()),
                sent_at: Some(2_000_000_000.0 + (u * 100 + k) as f64),
                ..Default::default()
            })
            .collect::<Vec<_>>();
        sent += event_list.len();
        rt.put_events(&PutEventsRequest {
            tracking_id: tracking_id.into(),
            user_id: Some(user.clone()),
            session_id: format!("s-{user}"),
            event_list,
        })
        .await
        .unwrap();
    }
    sent
}

fn user_rows(table: &Table, user: &str) -> usize {
    let (dict, codes) = table.codes("USER_ID").unwrap();
    dict.get(user)
        .map_or(0, |c| codes.iter().filter(|&&x| x == c).count())
}

async fn train(t: &Tailor, solution: &str) -> tailor_core::recipes::Model {
    let v = t
        .create_solution_version(solution, TrainingMode::Full, None)
        .await
        .unwrap();
    t.run_solution_version(&v.solution_version_arn, &mut |_, _| {})
        .await
        .unwrap();
    t.load_model(&v.solution_version_arn).await.unwrap()
}

#[tokio::test]
async fn putevents_only_users_shape_the_next_full_training() {
    let e = env().await;
    let solution =
        e.t.create_solution(tailor_core::services::CreateSolution {
            name: "up".into(),
            dataset_group_arn: e.group.clone(),
            recipe_arn: next_items::USER_PERSONALIZATION.arn(),
            ..Default::default()
        })
        .await
        .unwrap()
        .solution_arn;
    let before = train(&e.t, &solution).await;
    // The catalogue's three least popular items, clicked by 40 users no import ever had.
    let mut by_popularity: Vec<u32> = (0..before.items.len() as u32).collect();
    by_popularity
        .sort_by(|a, b| before.popularity[*a as usize].total_cmp(&before.popularity[*b as usize]));
    let rare: Vec<String> = by_popularity[..3]
        .iter()
        .map(|&i| before.items.name(i).to_string())
        .collect();
    let users: Vec<String> = (0..40).map(|u| format!("stream-only-{u}")).collect();
    let rt = Runtime::new(e.t.clone());
    put_clicks(&rt, &e.tracking_id, &users, &rare).await;

    let after = train(&e.t, &solution).await;
    let pop =
        |m: &tailor_core::recipes::Model, id: &str| m.popularity[m.items.get(id).unwrap() as usize];
    for id in &rare {
        assert!(
            pop(&after, id) > pop(&before, id),
            "{id}: popularity {} before, {} after",
            pop(&before, id),
            pop(&after, id)
        );
    }
    // The rare items now lead to each other: the events shaped the learned part too.
    let mut scores = Vec::new();
    let code = |m: &tailor_core::recipes::Model, id: &str| m.items.get(id).unwrap();
    before.score_history(&[code(&before, &rare[0])], &mut scores);
    let was = scores[code(&before, &rare[1]) as usize];
    after.score_history(&[code(&after, &rare[0])], &mut scores);
    let now = scores[code(&after, &rare[1]) as usize];
    assert!(
        now > was,
        "score of {} after {}: {was} → {now}",
        rare[1],
        rare[0]
    );
    // And they are in the interactions dataset training read.
    let table = e.t.load_dataset(&e.interactions).await.unwrap().unwrap();
    assert_eq!(user_rows(&table, "stream-only-7"), 3);
}

#[tokio::test]
async fn compacting_twice_changes_nothing_the_second_time() {
    let e = env().await;
    let bulk = e.t.load_dataset(&e.interactions).await.unwrap().unwrap();
    let rt = Runtime::new(e.t.clone());
    let users: Vec<String> = (0..10).map(|u| format!("s{u}")).collect();
    let items: Vec<String> = bulk
        .codes("ITEM_ID")
        .unwrap()
        .0
        .iter()
        .take(5)
        .map(String::from)
        .collect();
    let sent = put_clicks(&rt, &e.tracking_id, &users, &items).await;

    let first = e.t.compact(&e.group).await.unwrap();
    assert_eq!(first.events as usize, sent);
    assert_eq!(first.events_left_out, 0);
    let once = e.t.load_dataset(&e.interactions).await.unwrap().unwrap();
    assert_eq!(once.rows(), bulk.rows() + sent);

    let second = e.t.compact(&e.group).await.unwrap();
    assert_eq!(second.events, 0);
    assert_eq!(second.events_through, first.events_through);
    let twice = e.t.load_dataset(&e.interactions).await.unwrap().unwrap();
    assert_eq!(twice, once);

    // Events after the first compaction are added, and only they.
    let more: Vec<String> = vec!["late-user".into()];
    put_clicks(&rt, &e.tracking_id, &more, &items).await;
    let third = e.t.compact(&e.group).await.unwrap();
    assert_eq!(third.events as usize, items.len());
    let all = e.t.load_dataset(&e.interactions).await.unwrap().unwrap();
    assert_eq!(all.rows(), bulk.rows() + sent + items.len());
}

/// The data pointer's write fails while `fail` is set: a compaction killed after writing its
/// files and before making them visible.
struct PointerWriteFails {
    inner: Arc<dyn MetaStore>,
    fail: AtomicBool,
}

#[async_trait]
impl MetaStore for PointerWriteFails {
    async fn get(&self, table: &str, key: &str) -> StoreResult<Option<Versioned>> {
        self.inner.get(table, key).await
    }
    async fn put(
        &self,
        table: &str,
        key: &str,
        parent: Option<&str>,
        value: Vec<u8>,
        expect: Expect,
    ) -> StoreResult<u64> {
        if table == "dataset-data" && self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Io("killed".into()));
        }
        self.inner.put(table, key, parent, value, expect).await
    }
    async fn delete(&self, table: &str, key: &str, expect: Expect) -> StoreResult<()> {
        self.inner.delete(table, key, expect).await
    }
    async fn list_page(&self, table: &str, query: ListQuery<'_>) -> StoreResult<Page> {
        self.inner.list_page(table, query).await
    }
}

#[tokio::test]
async fn a_compaction_killed_midway_and_run_again_has_every_event_exactly_once() {
    let e = env().await;
    let bulk = e.t.load_dataset(&e.interactions).await.unwrap().unwrap();
    let rt = Runtime::new(e.t.clone());
    let users: Vec<String> = (0..6).map(|u| format!("k{u}")).collect();
    let items: Vec<String> = bulk
        .codes("ITEM_ID")
        .unwrap()
        .0
        .iter()
        .take(4)
        .map(String::from)
        .collect();
    let sent = put_clicks(&rt, &e.tracking_id, &users, &items).await;
    // A retried PutEvents (same eventIds) is acknowledged again but stored once.
    put_clicks(&rt, &e.tracking_id, &users[..2], &items).await;

    let failing = Arc::new(PointerWriteFails {
        inner: e.t.stores.meta.clone(),
        fail: AtomicBool::new(true),
    });
    let killed = Tailor::new(
        Stores {
            meta: failing.clone(),
            ..e.t.stores.clone()
        },
        ArnBuilder::default(),
    );
    assert!(killed.compact(&e.group).await.is_err());
    let untouched = e.t.load_dataset(&e.interactions).await.unwrap().unwrap();
    assert_eq!(
        untouched, bulk,
        "a killed compaction leaves the dataset as it was"
    );

    failing.fail.store(false, Ordering::SeqCst);
    let done = killed.compact(&e.group).await.unwrap();
    assert_eq!(done.events as usize, sent);
    let table = e.t.load_dataset(&e.interactions).await.unwrap().unwrap();
    assert_eq!(table.rows(), bulk.rows() + sent);
    for u in &users {
        assert_eq!(user_rows(&table, u), items.len(), "{u}");
    }
}

#[tokio::test]
async fn a_cold_runtime_reads_the_snapshot_and_the_tail_alike() {
    let e = env().await;
    let rt = Runtime::new(e.t.clone());
    let bulk = e.t.load_dataset(&e.interactions).await.unwrap().unwrap();
    let items: Vec<String> = bulk
        .codes("ITEM_ID")
        .unwrap()
        .0
        .iter()
        .take(6)
        .map(String::from)
        .collect();
    put_clicks(&rt, &e.tracking_id, &["cold-a".to_string()], &items[..3]).await;
    e.t.compact(&e.group).await.unwrap();
    put_clicks(&rt, &e.tracking_id, &["cold-b".to_string()], &items[3..]).await;

    let cold = Runtime::new(e.t.clone());
    let g = cold.group(&e.group).await.unwrap();
    let data = g.data.read().unwrap();
    let history = |u: &str| -> Vec<String> {
        data.histories[u]
            .iter()
            .map(|s| data.items.name(s.item).to_string())
            .collect()
    };
    assert_eq!(history("cold-a"), items[..3], "from the snapshot");
    assert_eq!(history("cold-b"), items[3..], "from the log's tail");
}

#[tokio::test]
async fn put_items_are_merged_into_the_items_dataset() {
    let e = env().await;
    let rt = Runtime::new(e.t.clone());
    rt.put_items(&PutItemsRequest {
        dataset_arn: e.items.clone(),
        items: vec![
            Item {
                item_id: "put-only-item".into(),
                properties: Some(
                    r#"{"title": "Put", "categoryL1": "Books", "price": 3.5, "inStock": true, "creationTimestamp": 1700000000}"#
                        .into(),
                ),
            },
            // Without the schema's required CREATION_TIMESTAMP: no dataset row can hold it, so
            // it stays a put record (and keeps serving) instead of being lost.
            Item {
                item_id: "partial-item".into(),
                properties: Some(r#"{"title": "Partial"}"#.into()),
            },
        ],
    })
    .await
    .unwrap();
    let done = e.t.compact(&e.group).await.unwrap();
    assert_eq!(done.items, 1);
    let items = e.t.load_dataset(&e.items).await.unwrap().unwrap();
    let (dict, _) = items.codes("ITEM_ID").unwrap();
    assert!(dict.get("put-only-item").is_some());
    let name = e.group.rsplit('/').next().unwrap();
    let left: BTreeMap<String, Versioned> =
        e.t.stores
            .meta
            .list(&tailor_core::services::put_records_table(name), None)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let left: Vec<&String> = left.keys().collect();
    assert_eq!(left.len(), 1, "merged records are removed: {left:?}");
    assert!(left[0].ends_with("|partial-item"), "{left:?}");
    // A cold runtime sees the item from the dataset.
    let cold = Runtime::new(e.t.clone());
    let g = cold.group(&e.group).await.unwrap();
    let data = g.data.read().unwrap();
    assert!(data.items.get("put-only-item").is_some());
    assert!(data.items.get("partial-item").is_some());
}

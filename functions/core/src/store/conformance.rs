//! One conformance suite per port. Every adapter runs these (the embedded ones in this crate's
//! tests, the AWS ones against an emulator), so they behave the same wherever tailor runs.
//! Each function panics with a message naming the broken promise.

use super::*;

/// Unique-per-run key prefix, so suites can share a bucket or table.
fn prefix() -> String {
    format!("conformance-{}", uuid::Uuid::new_v4().simple())
}

pub async fn blob_store(store: &dyn BlobStore) {
    let p = prefix();
    let key = format!("{p}/a/one.bin");
    assert_eq!(
        store.get(&key).await.unwrap(),
        None,
        "missing key reads as None"
    );
    store.put(&key, b"first".to_vec()).await.unwrap();
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
    store.put(&key, b"second".to_vec()).await.unwrap();
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"second"[..]),
        "put replaces"
    );
    store
        .put(&format!("{p}/a/two.bin"), vec![0u8; 70_000])
        .await
        .unwrap();
    let two = format!("{p}/a/two.bin");
    store
        .put(&two, (0..70_000u32).map(|i| (i % 251) as u8).collect())
        .await
        .unwrap();
    for (range, want) in [
        (0..5, 0..5u32),
        (69_990..70_010, 69_990..70_000),
        (100..100, 0..0),
    ] {
        let got = store.get_range(&two, range.clone()).await.unwrap();
        let want: Vec<u8> = want.map(|i| (i % 251) as u8).collect();
        assert_eq!(
            got,
            Some(want),
            "get_range {range:?} is those bytes, clipped"
        );
    }
    assert_eq!(
        store.get_range(&two, 80_000..80_010).await.unwrap(),
        Some(Vec::new()),
        "a range past the end is empty"
    );
    assert_eq!(
        store.get_range(&format!("{p}/nope"), 0..5).await.unwrap(),
        None,
        "get_range of a missing key is None"
    );
    store
        .put(&format!("{p}/b/three:arn/x"), vec![1, 2, 3])
        .await
        .unwrap();
    let listed = store.list(&format!("{p}/a/")).await.unwrap();
    assert_eq!(
        listed,
        vec![format!("{p}/a/one.bin"), format!("{p}/a/two.bin")],
        "list by prefix, sorted"
    );
    assert_eq!(
        store
            .get(&format!("{p}/a/two.bin"))
            .await
            .unwrap()
            .map(|b| b.len()),
        Some(70_000)
    );
    assert_eq!(
        store.get(&format!("{p}/b/three:arn/x")).await.unwrap(),
        Some(vec![1, 2, 3])
    );
    store.delete(&key).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None, "delete removes");
    store.delete(&key).await.unwrap();
    for k in store.list(&p).await.unwrap() {
        store.delete(&k).await.unwrap();
    }
    assert!(store.list(&p).await.unwrap().is_empty());
}

pub async fn meta_store(store: &dyn MetaStore) {
    let table = "conformance";
    let key = format!("{}:arn/with/slashes", prefix());
    assert_eq!(store.get(table, &key).await.unwrap(), None);
    let v1 = store
        .put(table, &key, None, b"one".to_vec(), Expect::Absent)
        .await
        .unwrap();
    assert_eq!(v1, 1, "first version is 1");
    assert!(
        matches!(
            store
                .put(table, &key, None, b"x".to_vec(), Expect::Absent)
                .await,
            Err(StoreError::ConditionFailed)
        ),
        "Absent fails when the record exists"
    );
    let v2 = store
        .put(table, &key, None, b"two".to_vec(), Expect::Version(1))
        .await
        .unwrap();
    assert_eq!(v2, 2);
    assert!(
        matches!(
            store
                .put(table, &key, None, b"stale".to_vec(), Expect::Version(1))
                .await,
            Err(StoreError::ConditionFailed)
        ),
        "a stale version loses"
    );
    let got = store.get(table, &key).await.unwrap().unwrap();
    assert_eq!(
        got,
        Versioned {
            value: b"two".to_vec(),
            version: 2
        },
        "the losing write left no trace"
    );
    let v3 = store
        .put(table, &key, None, b"three".to_vec(), Expect::Any)
        .await
        .unwrap();
    assert_eq!(v3, 3);
    let other = format!("{key}-other");
    store
        .put(table, &other, None, b"o".to_vec(), Expect::Any)
        .await
        .unwrap();
    let listed: Vec<String> = store
        .list(table, None)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with(&key))
        .collect();
    assert_eq!(listed, vec![key.clone(), other.clone()]);
    assert!(matches!(
        store.delete(table, &key, Expect::Version(2)).await,
        Err(StoreError::ConditionFailed)
    ));
    store.delete(table, &key, Expect::Version(3)).await.unwrap();
    store.delete(table, &other, Expect::Any).await.unwrap();
    assert_eq!(store.get(table, &key).await.unwrap(), None);
}

fn keys(page: &Page) -> Vec<&str> {
    page.records.iter().map(|(k, _)| k.as_str()).collect()
}

/// Paged listing, whole-table and per parent: pages in key order, each at most `limit` long,
/// covering the records once; a record re-filed under another parent moves; a deleted one
/// leaves its parent's list.
pub async fn meta_store_pages(store: &dyn MetaStore) {
    // A table of this run's own, so the whole-table listing sees only these records.
    let table = format!("{}-pages", prefix());
    let (p1, p2) = ("arn:group/one", "arn:group/one/two");
    let children: Vec<String> = (0..5).map(|i| format!("arn:child/{i}")).collect();
    for (i, key) in children.iter().enumerate() {
        let parent = if i < 4 { p1 } else { p2 };
        store
            .put(&table, key, Some(parent), vec![i as u8], Expect::Absent)
            .await
            .unwrap();
    }
    store
        .put(&table, "arn:orphan", None, b"o".to_vec(), Expect::Absent)
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_page(
                &table,
                ListQuery {
                    parent: Some(p1),
                    after: after.as_deref(),
                    limit: 3,
                },
            )
            .await
            .unwrap();
        assert!(
            page.records.len() <= 3,
            "a page holds at most limit records"
        );
        seen.extend(keys(&page).into_iter().map(String::from));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        &children[..4],
        "one parent's children, once each, in key order"
    );
    let value = &store.list(&table, Some(p1)).await.unwrap()[1].1;
    assert_eq!(value.value, vec![1u8], "listed records carry their values");

    let whole = store
        .list_page(
            &table,
            ListQuery {
                parent: None,
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    let mut every: Vec<&str> = children.iter().map(String::as_str).collect();
    every.push("arn:orphan");
    assert_eq!(keys(&whole), every, "the whole table, parented or not");
    assert_eq!(whole.next, None, "nothing remains after the last page");
    let tail = store
        .list_page(
            &table,
            ListQuery {
                parent: None,
                after: Some("arn:child/2"),
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        keys(&tail),
        ["arn:child/3", "arn:child/4"],
        "after is exclusive"
    );
    assert!(tail.next.is_some(), "a full page says more remain");

    // Re-filed (an update naming another parent), with Expect::Version and with Expect::Any.
    store
        .put(
            &table,
            &children[0],
            Some(p2),
            b"moved".to_vec(),
            Expect::Version(1),
        )
        .await
        .unwrap();
    store
        .put(
            &table,
            &children[1],
            Some(p2),
            b"moved".to_vec(),
            Expect::Any,
        )
        .await
        .unwrap();
    store
        .delete(&table, &children[2], Expect::Any)
        .await
        .unwrap();
    async fn children_of(store: &dyn MetaStore, table: &str, parent: &str) -> Vec<String> {
        let all = store.list(table, Some(parent)).await.unwrap();
        all.into_iter().map(|(k, _)| k).collect()
    }
    let under = |p| children_of(store, &table, p);
    assert_eq!(
        under(p1).await,
        [children[3].clone()],
        "moved and deleted records left"
    );
    assert_eq!(
        under(p2).await,
        [
            children[0].clone(),
            children[1].clone(),
            children[4].clone()
        ],
        "moved records arrived"
    );
    assert!(
        under("arn:group/none").await.is_empty(),
        "an unknown parent has no children"
    );
    for key in children.iter().chain([&"arn:orphan".to_string()]) {
        store.delete(&table, key, Expect::Any).await.unwrap();
    }
    assert!(store.list(&table, None).await.unwrap().is_empty());
}

/// Many concurrent writers racing on one record: every successful write got a distinct version,
/// and the record ends at the number of successes.
pub async fn meta_store_race(store: std::sync::Arc<dyn MetaStore>) {
    let key = prefix();
    store
        .put("conformance", &key, None, b"0".to_vec(), Expect::Absent)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let mut wins = 0;
            for _ in 0..10 {
                loop {
                    let cur = store.get("conformance", &key).await.unwrap().unwrap();
                    let n: u64 = String::from_utf8(cur.value).unwrap().parse().unwrap();
                    match store
                        .put(
                            "conformance",
                            &key,
                            None,
                            (n + 1).to_string().into_bytes(),
                            Expect::Version(cur.version),
                        )
                        .await
                    {
                        Ok(_) => {
                            wins += 1;
                            break;
                        }
                        Err(StoreError::ConditionFailed) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            wins
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let end = store.get("conformance", &key).await.unwrap().unwrap();
    assert_eq!(total, 80);
    assert_eq!(
        String::from_utf8(end.value).unwrap(),
        "80",
        "no increment was lost"
    );
    store
        .delete("conformance", &key, Expect::Any)
        .await
        .unwrap();
}

fn event(id: &str, session: &str, user: Option<&str>, item: &str, t: f64) -> StoredEvent {
    StoredEvent {
        event_id: id.into(),
        session_id: session.into(),
        user_id: user.map(Into::into),
        item_id: Some(item.into()),
        event_type: "click".into(),
        event_value: None,
        sent_at: t,
        properties: None,
        recommendation_id: None,
        impression: vec![],
    }
}

pub async fn event_store(store: &dyn EventStore) {
    let g = prefix();
    let batch = [
        event("e1", "s1", None, "i1", 1.0),
        event("e2", "s1", Some("u1"), "i2", 2.0),
        event("e3", "s2", Some("u1"), "i3", 3.0),
    ];
    assert_eq!(store.append(&g, &batch).await.unwrap(), 3);
    assert_eq!(
        store.append(&g, &batch[1..2]).await.unwrap(),
        0,
        "a repeated eventId is skipped"
    );
    let dup_in_batch = [
        event("e4", "s1", None, "i4", 4.0),
        event("e4", "s1", None, "i4", 4.0),
    ];
    assert_eq!(store.append(&g, &dup_in_batch).await.unwrap(), 1);
    let by_user: Vec<String> = store
        .recent(&g, "u1", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(by_user, ["e2", "e3"], "recent by user id, oldest first");
    let by_session: Vec<String> = store
        .recent(&g, "s1", 2)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(
        by_session,
        ["e2", "e4"],
        "recent by session id keeps the newest `limit`"
    );
    assert!(store.recent(&g, "nobody", 5).await.unwrap().is_empty());
    let log = store.since(&g, 0, 100).await.unwrap();
    assert_eq!(
        log.iter()
            .map(|(_, e)| e.event_id.as_str())
            .collect::<Vec<_>>(),
        ["e1", "e2", "e3", "e4"]
    );
    let after = store.since(&g, log[1].0, 100).await.unwrap();
    assert_eq!(
        after
            .iter()
            .map(|(_, e)| e.event_id.as_str())
            .collect::<Vec<_>>(),
        ["e3", "e4"]
    );

    // Deleting u1: its events and those of the sessions it used (s1, s2) lose their data and
    // keep their places; u2's stay whole.
    store
        .append(&g, &[event("e5", "s3", Some("u2"), "i5", 5.0)])
        .await
        .unwrap();
    let users: std::collections::HashSet<String> = ["u1".to_string()].into();
    assert_eq!(store.redact(&g, &users).await.unwrap(), 4);
    assert_eq!(
        store.redact(&g, &users).await.unwrap(),
        0,
        "already redacted"
    );
    let log = store.since(&g, 0, 100).await.unwrap();
    assert_eq!(log.len(), 5, "sequence numbers stay");
    assert!(log[..4].iter().all(|(_, e)| e.is_redacted()), "{log:?}");
    assert_eq!(log[4].1, event("e5", "s3", Some("u2"), "i5", 5.0));
    assert!(store.recent(&g, "u1", 10).await.unwrap().is_empty());
    assert!(store.recent(&g, "s1", 10).await.unwrap().is_empty());
    assert_eq!(store.recent(&g, "u2", 10).await.unwrap().len(), 1);
    assert_eq!(
        store.append(&g, &batch[..1]).await.unwrap(),
        0,
        "a redacted event's id is still known"
    );

    // The log's tail, oldest first, with the sequence numbers `since` gives.
    let tail = store.latest(&g, 2).await.unwrap();
    assert_eq!(tail, store.since(&g, 3, 10).await.unwrap());
    assert_eq!(store.latest(&g, 100).await.unwrap().len(), 5);
    assert!(store
        .latest(&format!("{g}-none"), 3)
        .await
        .unwrap()
        .is_empty());

    // What an answer showed, by recommendation id.
    assert_eq!(store.shown(&g, "RID-1").await.unwrap(), None);
    let shown = vec!["i1".to_string(), "i 2".to_string()];
    store.put_shown(&g, "RID-1", &shown).await.unwrap();
    assert_eq!(store.shown(&g, "RID-1").await.unwrap(), Some(shown));
    assert_eq!(store.shown(&g, "RID-2").await.unwrap(), None);
}

pub async fn key_service(keys: &dyn KeyService) {
    let ctx =
        crate::crypto::group_context("arn:aws:personalize:us-east-1:000000000000:dataset-group/g");
    let dk = keys.generate_data_key(&ctx).await.unwrap();
    assert_ne!(
        dk.ciphertext.as_slice(),
        dk.plaintext.as_slice(),
        "the stored key is wrapped"
    );
    assert_eq!(
        keys.decrypt_data_key(&dk.ciphertext, &ctx).await.unwrap(),
        dk.plaintext
    );
    let other =
        crate::crypto::group_context("arn:aws:personalize:us-east-1:000000000000:dataset-group/h");
    assert!(
        keys.decrypt_data_key(&dk.ciphertext, &other).await.is_err(),
        "context is bound"
    );
    let id = |group| crate::crypto::ObjectId {
        group,
        kind: "dataset/INTERACTIONS",
        resource: "arn:aws:personalize:us-east-1:000000000000:dataset/g/INTERACTIONS",
        key: "datasets/g/INTERACTIONS/00000001.avro.sealed",
    };
    let g = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g";
    let h = "arn:aws:personalize:us-east-1:000000000000:dataset-group/h";
    let sealed = crate::crypto::seal(keys, &id(g), b"secret rows")
        .await
        .unwrap();
    assert!(
        !sealed.windows(11).any(|w| w == b"secret rows"),
        "no plaintext in the sealed bytes"
    );
    assert_eq!(
        crate::crypto::open(keys, &id(g), &sealed).await.unwrap(),
        b"secret rows"
    );
    let mut tampered = sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(
        crate::crypto::open(keys, &id(g), &tampered).await.is_err(),
        "tampering is detected"
    );
    assert!(crate::crypto::open(keys, &id(h), &sealed).await.is_err());
    let elsewhere = crate::crypto::ObjectId {
        key: "datasets/g/INTERACTIONS/00000002.avro.sealed",
        ..id(g)
    };
    assert!(
        crate::crypto::open(keys, &elsewhere, &sealed)
            .await
            .is_err(),
        "an object is bound to its key"
    );
}

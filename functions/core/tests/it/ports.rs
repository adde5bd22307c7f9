//! The port conformance suites on the embedded adapters.

use std::sync::Arc;

use tailor_core::store::conformance;
use tailor_core::store::fs::FsStores;

fn stores() -> (tempfile::TempDir, FsStores) {
    let dir = tempfile::tempdir().unwrap();
    let stores = FsStores::open(dir.path()).unwrap();
    (dir, stores)
}

#[tokio::test]
async fn fs_blob_store_conforms() {
    let (_dir, s) = stores();
    conformance::blob_store(&s.blobs).await;
}

#[tokio::test]
async fn fs_meta_store_conforms() {
    let (_dir, s) = stores();
    conformance::meta_store(&s.meta).await;
}

#[tokio::test]
async fn fs_meta_store_pages_conform() {
    let (_dir, s) = stores();
    conformance::meta_store_pages(&s.meta).await;
}

/// The services see the store through the checksumming wrapper: it pages the same way.
#[tokio::test]
async fn checked_meta_store_conforms() {
    let (_dir, s) = stores();
    let checked = tailor_core::store::checked::CheckedMeta::new(Arc::new(s.meta));
    conformance::meta_store(&checked).await;
    conformance::meta_store_pages(&checked).await;
}

/// A crash between writing a child's marker and its record (or between removing the record and
/// its marker) leaves a marker alone: listing skips it, and the next put of the key repairs it.
#[tokio::test]
async fn fs_meta_store_skips_a_marker_left_by_a_crash() {
    use tailor_core::store::{Expect, ListQuery, MetaStore};
    let (dir, s) = stores();
    for k in ["k/1", "k/2", "k/3"] {
        s.meta
            .put("t", k, Some("p"), k.as_bytes().to_vec(), Expect::Absent)
            .await
            .unwrap();
    }
    // The record of k/2 goes; its marker stays.
    std::fs::remove_file(dir.path().join("meta/t/k/2")).unwrap();
    let page = s
        .meta
        .list_page(
            "t",
            ListQuery {
                parent: Some("p"),
                after: None,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.records.len(), 1);
    let all: Vec<String> = s
        .meta
        .list("t", Some("p"))
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(all, ["k/1", "k/3"]);
    // A marker under a parent the record no longer names is skipped too.
    s.meta
        .put("t", "k/3", None, b"x".to_vec(), Expect::Any)
        .await
        .unwrap();
    assert_eq!(s.meta.list("t", Some("p")).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fs_meta_store_conditional_writes_survive_a_race() {
    let (_dir, s) = stores();
    conformance::meta_store_race(Arc::new(s.meta)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fs_meta_store_race_across_handles() {
    // Separate adapters on one directory behave like separate processes: only the OS lock
    // serialises them.
    let dir = tempfile::tempdir().unwrap();
    let a = FsStores::open(dir.path()).unwrap();
    let b = FsStores::open(dir.path()).unwrap();
    let key = "shared";
    use tailor_core::store::{Expect, MetaStore, StoreError};
    a.meta
        .put("t", key, None, b"0".to_vec(), Expect::Absent)
        .await
        .unwrap();
    let metas: Vec<Arc<dyn MetaStore>> = vec![Arc::new(a.meta), Arc::new(b.meta)];
    let mut tasks = Vec::new();
    for k in 0..6 {
        let m = metas[k % 2].clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                loop {
                    let cur = m.get("t", key).await.unwrap().unwrap();
                    let n: u64 = String::from_utf8(cur.value).unwrap().parse().unwrap();
                    let next = (n + 1).to_string().into_bytes();
                    match m
                        .put("t", key, None, next, Expect::Version(cur.version))
                        .await
                    {
                        Ok(_) => break,
                        Err(StoreError::ConditionFailed) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let end = metas[0].get("t", key).await.unwrap().unwrap();
    assert_eq!(end.value, b"60");
    assert_eq!(end.version, 61);
}

#[tokio::test]
async fn fs_event_store_conforms() {
    let (_dir, s) = stores();
    conformance::event_store(&s.events).await;
}

#[tokio::test]
async fn fs_event_store_sees_other_handles_appends() {
    let dir = tempfile::tempdir().unwrap();
    let a = FsStores::open(dir.path()).unwrap();
    let b = FsStores::open(dir.path()).unwrap();
    use tailor_core::store::EventStore;
    let e = |id: &str| crate::support::click(id, "s", "u", "i");
    assert_eq!(a.events.append("g", &[e("1")]).await.unwrap(), 1);
    assert_eq!(
        b.events.append("g", &[e("1"), e("2")]).await.unwrap(),
        1,
        "dedup across handles"
    );
    let seen: Vec<String> = a
        .events
        .recent("g", "u", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(seen, ["1", "2"]);
}

#[tokio::test]
async fn fs_key_service_conforms() {
    let (_dir, s) = stores();
    conformance::key_service(&s.keys).await;
}

#[tokio::test]
async fn fs_key_service_master_key_is_private_and_stable() {
    let (dir, s) = stores();
    use tailor_core::crypto;
    let ctx = crypto::ObjectId {
        group: "g",
        kind: "model",
        resource: "v",
        key: "k",
    };
    let sealed = crypto::seal(&s.keys, &ctx, b"x").await.unwrap();
    let again = FsStores::open(dir.path()).unwrap();
    assert_eq!(
        crypto::open(&again.keys, &ctx, &sealed).await.unwrap(),
        b"x"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("keys/master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "master key readable by others: {mode:o}");
    }
    // A different master key cannot open it.
    std::fs::write(dir.path().join("keys/master.key"), [7u8; 32]).unwrap();
    assert!(crypto::open(&again.keys, &ctx, &sealed).await.is_err());
}

#[tokio::test]
async fn blob_keys_cannot_escape_the_root() {
    let (_dir, s) = stores();
    use tailor_core::store::BlobStore;
    for bad in ["../x", "a/../../x", "/etc/passwd", "a//b", ""] {
        assert!(s.blobs.put(bad, vec![1]).await.is_err(), "{bad:?} accepted");
    }
}

//! The embedded event log under crashes and damage: a log cut at any byte of its last records
//! (what a kill, a full disk or a file-size limit leaves mid-append), garbage after the end,
//! damage in the middle, a log copied from another group, and a pre-format JSON-lines log.

use std::path::{Path, PathBuf};

use tailor_core::store::fs::FsStores;
use tailor_core::store::{EventStore, StoreError, StoredEvent};

fn event(id: usize) -> StoredEvent {
    StoredEvent {
        event_id: format!("e{id}"),
        session_id: format!("s{}", id % 3),
        user_id: Some(format!("u{}", id % 4)),
        item_id: Some(format!("item-{id}")),
        event_type: "click".into(),
        event_value: Some(id as f32),
        sent_at: 1_700_000_000.0 + id as f64,
        // Records of different sizes, so cut offsets fall everywhere in a record.
        properties: Some(format!("{{\"note\":\"{}\"}}", "x".repeat(id * 7 % 50))),
        recommendation_id: None,
        impression: vec![],
    }
}

fn log_path(root: &Path, group: &str) -> PathBuf {
    root.join("events").join(group).join("events.log")
}

async fn ids(s: &FsStores, group: &str) -> Vec<(u64, String)> {
    s.events
        .since(group, 0, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|(seq, e)| (seq, e.event_id))
        .collect()
}

fn expected(n: usize) -> Vec<(u64, String)> {
    (0..n).map(|i| (i as u64 + 1, format!("e{i}"))).collect()
}

/// A log of `n` events appended one per PutEvents, and the file offset after each record.
async fn written_log(n: usize) -> (tempfile::TempDir, Vec<u8>, Vec<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let s = FsStores::open(dir.path()).unwrap();
    let mut ends = Vec::new();
    for i in 0..n {
        assert_eq!(s.events.append("g", &[event(i)]).await.unwrap(), 1);
        ends.push(std::fs::metadata(log_path(dir.path(), "g")).unwrap().len());
    }
    let bytes = std::fs::read(log_path(dir.path(), "g")).unwrap();
    (dir, bytes, ends)
}

/// After the log is left as `bytes`, a fresh process finds exactly the first `acked` events
/// with their sequence numbers, appends the next one, and a third process sees it once.
async fn recovers(root: &Path, bytes: &[u8], acked: usize, what: &str) {
    std::fs::write(log_path(root, "g"), bytes).unwrap();
    let s = FsStores::open(root).unwrap();
    assert_eq!(
        ids(&s, "g").await,
        expected(acked),
        "{what}: events after reopen"
    );
    assert_eq!(
        s.events.append("g", &[event(acked)]).await.unwrap(),
        1,
        "{what}: next append"
    );
    let again = FsStores::open(root).unwrap();
    assert_eq!(
        ids(&again, "g").await,
        expected(acked + 1),
        "{what}: after the next append"
    );
    // An event acknowledged before is still a duplicate, not stored twice.
    if acked > 0 {
        assert_eq!(again.events.append("g", &[event(0)]).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn a_log_cut_at_any_byte_of_its_last_records_keeps_every_whole_record() {
    let n = 6;
    let (dir, bytes, ends) = written_log(n).await;
    let from = ends[n - 4] as usize - 3; // into the third-from-last record's end, and on
    let mut cuts = 0;
    for cut in from..=bytes.len() {
        let acked = ends.iter().filter(|&&end| end as usize <= cut).count();
        recovers(dir.path(), &bytes[..cut], acked, &format!("cut at {cut}")).await;
        cuts += 1;
    }
    assert!(cuts > 100, "only {cuts} cut points");
    // Cut inside the file header: the log starts again.
    for cut in 0..8 {
        recovers(
            dir.path(),
            &bytes[..cut],
            0,
            &format!("header cut at {cut}"),
        )
        .await;
    }
}

#[tokio::test]
async fn garbage_after_the_last_record_is_cut_off() {
    let n = 4;
    let (dir, bytes, _) = written_log(n).await;
    let mut full_length_bad_crc = bytes[8..].to_vec(); // the records again, damaged
    let len = full_length_bad_crc.len();
    full_length_bad_crc[len - 1] ^= 0x55;
    let tails: [(&str, Vec<u8>); 5] = [
        ("a partial JSON line", b"{\"eventId\":\"lost".to_vec()),
        ("zeros a crash left", vec![0u8; 300]),
        (
            "random bytes",
            (0..97u32).map(|i| (i * 73 + 11) as u8).collect(),
        ),
        ("a whole record failing its checksum", {
            let first_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
            let mut r = bytes[8..16 + first_len].to_vec();
            r[20] ^= 1;
            r
        }),
        ("a full-length record with zeros after it", {
            let first_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
            let mut r = bytes[8..16 + first_len].to_vec();
            r[12] ^= 1;
            r.extend_from_slice(&[0u8; 64]);
            r
        }),
    ];
    for (what, tail) in tails {
        let mut damaged = bytes.clone();
        damaged.extend_from_slice(&tail);
        recovers(dir.path(), &damaged, n, what).await;
    }
}

#[tokio::test]
async fn damage_in_the_middle_is_refused_naming_file_and_offset() {
    let (dir, bytes, ends) = written_log(5).await;
    let s = FsStores::open(dir.path()).unwrap();
    s.events.append("other", &[event(0)]).await.unwrap();
    let mut damaged = bytes.clone();
    let second = ends[0] as usize;
    damaged[second + 10] ^= 0x20; // inside the second record's payload
    std::fs::write(log_path(dir.path(), "g"), &damaged).unwrap();

    let fresh = FsStores::open(dir.path()).unwrap();
    let err = fresh.events.since("g", 0, 10).await.unwrap_err();
    let StoreError::Corrupt(msg) = &err else {
        panic!("not Corrupt: {err}")
    };
    assert!(msg.contains("events.log"), "{msg}");
    assert!(msg.contains(&format!("at byte {second}")), "{msg}");
    // Refused, not repaired: the bytes are as they were, and appends fail too.
    assert!(fresh.events.append("g", &[event(9)]).await.is_err());
    assert_eq!(std::fs::read(log_path(dir.path(), "g")).unwrap(), damaged);
    // Another group's log is unaffected.
    assert_eq!(ids(&fresh, "other").await, expected(1));
}

#[tokio::test]
async fn a_log_copied_from_another_group_is_refused() {
    let (dir, bytes, _) = written_log(3).await;
    let s = FsStores::open(dir.path()).unwrap();
    s.events.append("h", &[event(0)]).await.unwrap();
    std::fs::write(log_path(dir.path(), "h"), &bytes).unwrap();
    let fresh = FsStores::open(dir.path()).unwrap();
    assert!(matches!(
        fresh.events.since("h", 0, 10).await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn a_json_lines_log_is_converted_keeping_acknowledged_events() {
    let dir = tempfile::tempdir().unwrap();
    FsStores::open(dir.path()).unwrap();
    let group_dir = dir.path().join("events").join("g");
    std::fs::create_dir_all(&group_dir).unwrap();
    let line = |i| serde_json::to_string(&event(i)).unwrap();
    // e0, e1 whole; then the old failure: a torn line with e2 (acknowledged) glued to it; e3
    // whole; and a final line cut mid-write (never acknowledged).
    let torn = &line(9)[..25];
    let legacy = format!(
        "{}\n{}\n{torn}{}\n{}\n{}",
        line(0),
        line(1),
        line(2),
        line(3),
        &line(4)[..30]
    );
    std::fs::write(group_dir.join("log.jsonl"), legacy).unwrap();

    let s = FsStores::open(dir.path()).unwrap();
    assert_eq!(ids(&s, "g").await, expected(4));
    assert!(!group_dir.join("log.jsonl").exists());
    assert!(group_dir.join("events.log").exists());
    assert_eq!(s.events.append("g", &[event(4)]).await.unwrap(), 1);
    assert_eq!(
        ids(&FsStores::open(dir.path()).unwrap(), "g").await,
        expected(5)
    );
}

#[tokio::test]
async fn a_json_lines_log_with_a_bad_line_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    FsStores::open(dir.path()).unwrap();
    let group_dir = dir.path().join("events").join("g");
    std::fs::create_dir_all(&group_dir).unwrap();
    let legacy = format!(
        "{}\nnot an event\n{}\n",
        serde_json::to_string(&event(0)).unwrap(),
        serde_json::to_string(&event(1)).unwrap()
    );
    std::fs::write(group_dir.join("log.jsonl"), &legacy).unwrap();
    let s = FsStores::open(dir.path()).unwrap();
    let err = s.events.since("g", 0, 10).await.unwrap_err().to_string();
    assert!(err.contains("log.jsonl: line 2"), "{err}");
    assert_eq!(
        std::fs::read_to_string(group_dir.join("log.jsonl")).unwrap(),
        legacy
    );
}

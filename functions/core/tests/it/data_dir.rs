//! The local data directory: a master key made only for a new directory and never replaced,
//! and everything in it private to its owner.

use std::path::Path;

use tailor_core::recipes::popularity;
use tailor_core::sample::SampleSize;
use tailor_core::schema::DatasetType;
use tailor_core::store::fs::FsStores;
use tailor_core::store::StoreError;
use tailor_core::Stores;

use crate::support;

/// A data directory with sealed data in it: the sample imported, a model trained, an event.
async fn used_directory(root: &Path) {
    let size = SampleSize {
        items: 60,
        users: 40,
        sessions_per_user: 3,
    };
    let (t, g, data) = support::shop(root, 3, size).await;
    support::import_sample(&t, &g, "shop-", &data, &[DatasetType::Interactions]).await;
    support::train(&t, &g, "shop-pop", popularity::POPULARITY_COUNT).await;
    let event = support::click("e1", "s1", "u1", "i1");
    t.stores.events.append(&g, &[event]).await.unwrap();
}

#[tokio::test]
async fn a_new_directory_gets_a_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("not/yet/there");
    FsStores::open(&root).unwrap();
    assert_eq!(
        std::fs::read(root.join("keys/master.key")).unwrap().len(),
        32
    );
    // A directory with other files in it, but none of tailor's, is new too.
    let root = dir.path().join("with-a-log");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("demo.out"), "output").unwrap();
    FsStores::open(&root).unwrap();
    assert_eq!(
        std::fs::read(root.join("keys/master.key")).unwrap().len(),
        32
    );
    // An existing key is kept as it is.
    let key = std::fs::read(root.join("keys/master.key")).unwrap();
    FsStores::open(&root).unwrap();
    assert_eq!(std::fs::read(root.join("keys/master.key")).unwrap(), key);
}

#[tokio::test]
async fn a_deleted_master_key_is_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    used_directory(dir.path()).await;
    let key = dir.path().join("keys/master.key");
    std::fs::remove_file(&key).unwrap();

    let err = match FsStores::open(dir.path()) {
        Err(e) => e,
        Ok(_) => panic!("a directory holding data opened without its key"),
    };
    assert!(matches!(err, StoreError::Key(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&key.display().to_string()), "{msg}");
    assert!(msg.contains("missing"), "{msg}");
    assert!(!key.exists(), "a new key was made over sealed data");
    assert!(Stores::embedded(dir.path()).is_err());
}

#[cfg(unix)]
#[tokio::test]
async fn everything_in_the_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    used_directory(&root).await;

    let mut checked = 0;
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "directory {} is {mode:o}", d.display());
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode & 0o077, 0, "file {} is {mode:o}", path.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "only {checked} files checked");
}

/// Strips what records with parents add to the directory: the parent in each record's header
/// line and the marker index. What is left is a directory as tailor wrote it before.
fn forget_parents(meta: &Path) {
    for entry in std::fs::read_dir(meta).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == ".children" {
            std::fs::remove_dir_all(&path).unwrap();
        } else if name.starts_with('.') {
            continue;
        } else if path.is_dir() {
            forget_parents(&path);
        } else {
            let bytes = std::fs::read(&path).unwrap();
            let nl = bytes.iter().position(|&b| b == b'\n').unwrap();
            let header = std::str::from_utf8(&bytes[..nl]).unwrap();
            let version = header.split(' ').next().unwrap();
            let mut old = format!("{version}\n").into_bytes();
            old.extend_from_slice(&bytes[nl + 1..]);
            std::fs::write(&path, old).unwrap();
        }
    }
}

#[tokio::test]
async fn records_written_before_parents_are_filed_under_them_on_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    used_directory(dir.path()).await;
    forget_parents(&dir.path().join("meta"));
    let t = tailor_core::Tailor::new(
        Stores::embedded(dir.path()).unwrap(),
        tailor_core::domain::ArnBuilder::default(),
    );
    let group = t.list_dataset_groups().await.unwrap()[0]
        .dataset_group_arn
        .clone();
    assert!(t.list_datasets(Some(&group)).await.unwrap().is_empty());
    assert_eq!(t.list_datasets(None).await.unwrap().len(), 1);

    t.upgrade_records().await.unwrap();
    assert_eq!(t.list_datasets(Some(&group)).await.unwrap().len(), 1);
    let solutions = t.list_solutions(Some(&group)).await.unwrap();
    assert_eq!(solutions.len(), 1);
    let versions = t
        .list_solution_versions(Some(&solutions[0].solution_arn))
        .await
        .unwrap();
    assert_eq!(versions.len(), 1);
    // Once done, never again: a record left unfiled now stays so (the marker says done).
    forget_parents(&dir.path().join("meta"));
    t.upgrade_records().await.unwrap();
    assert!(t.list_datasets(Some(&group)).await.unwrap().is_empty());
}

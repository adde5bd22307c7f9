//! Stored objects are bound to what they are: a swapped, rolled-back, bit-flipped or edited
//! object is refused, naming it, and only the resources that depend on it stop serving.

use std::path::{Path, PathBuf};

use tailor_core::api::runtime::GetRecommendationsRequest;
use tailor_core::domain::{ArnBuilder, CampaignConfig};
use tailor_core::recipes::{next_items, sims};
use tailor_core::sample::{self, SampleSize};
use tailor_core::schema::DatasetType;
use tailor_core::serving::Runtime;
use tailor_core::{Stores, Tailor};

use crate::support;

fn open(dir: &Path) -> Tailor {
    Tailor::new(Stores::embedded(dir).unwrap(), ArnBuilder::default())
}

/// A group with interactions, items and users, a user-personalization and a SIMS version, and
/// a campaign `<group>-c` on the first.
async fn group(t: &Tailor, name: &str, seed: u64) -> String {
    let g = t
        .create_dataset_group(name, None, None)
        .await
        .unwrap()
        .dataset_group_arn;
    let data = sample::generate(
        seed,
        SampleSize {
            items: 120,
            users: 80,
            sessions_per_user: 4,
        },
    );
    let prefix = format!("{name}-");
    let kinds = [
        DatasetType::Interactions,
        DatasetType::Items,
        DatasetType::Users,
    ];
    let datasets = support::import_sample(t, &g, &prefix, &data, &kinds).await;
    // A second FULL import of interactions, so an older data version exists to roll back to.
    support::import(
        t,
        &datasets[0],
        &format!("{prefix}again"),
        &data.interactions,
    )
    .await;
    let up = support::train(
        t,
        &g,
        &format!("{name}-up"),
        next_items::USER_PERSONALIZATION,
    )
    .await;
    support::train(t, &g, &format!("{name}-sims"), sims::SIMS).await;
    t.create_campaign(&format!("{name}-c"), &up, None, CampaignConfig::default())
        .await
        .unwrap()
        .campaign_arn
}

struct Env {
    dir: tempfile::TempDir,
    shop: String,
    other: String,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path());
    let shop = group(&t, "shop", 3).await;
    let other = group(&t, "other", 4).await;
    Env { dir, shop, other }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The one stored file whose path contains every part, in order of the parts given.
fn file(root: &Path, parts: &[&str]) -> PathBuf {
    let mut all = Vec::new();
    files(root, &mut all);
    let mut found: Vec<PathBuf> = all
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            // Temp files, locks and the parent index's markers are not records.
            let hidden = p
                .strip_prefix(root)
                .unwrap()
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
            parts.iter().all(|part| s.contains(part)) && !hidden
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no file with {parts:?} under {root:?}");
    found.pop().unwrap()
}

fn ask(campaign: &str) -> GetRecommendationsRequest {
    GetRecommendationsRequest {
        campaign_arn: Some(campaign.into()),
        user_id: Some("U0001".into()),
        num_results: Some(5),
        ..Default::default()
    }
}

/// After the damage: a fresh server still starts, the other group's campaign serves, and the
/// damaged one fails with an error containing `names`.
async fn only_the_damaged_campaign_fails(e: &Env, names: &str) {
    let rt = Runtime::new(open(e.dir.path()));
    assert_eq!(rt.warm().await.unwrap(), 1, "the undamaged campaign loads");
    let ok = rt.get_recommendations(&ask(&e.other)).await.unwrap();
    assert_eq!(ok.item_list.len(), 5);
    let err = rt.get_recommendations(&ask(&e.shop)).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(names), "'{text}' does not name '{names}'");
    assert_eq!(err.kind(), tailor_core::ErrorKind::Internal);
    assert!(
        err.client_message().contains("damaged"),
        "{}",
        err.client_message()
    );
}

fn blobs(e: &Env) -> PathBuf {
    e.dir.path().join("blobs")
}

#[tokio::test]
async fn an_items_file_copied_over_the_users_file_is_refused() {
    let e = env().await;
    let items = file(&blobs(&e), &["datasets/shop/ITEMS/"]);
    let users = file(&blobs(&e), &["datasets/shop/USERS/"]);
    std::fs::copy(&items, &users).unwrap();
    let name = users.file_name().unwrap().to_string_lossy().into_owned();
    only_the_damaged_campaign_fails(&e, &name).await;
}

#[tokio::test]
async fn another_versions_model_copied_over_a_model_is_refused() {
    let e = env().await;
    let sims = file(&blobs(&e), &["models/shop-sims/"]);
    let up = file(&blobs(&e), &["models/shop-up/"]);
    std::fs::copy(&sims, &up).unwrap();
    only_the_damaged_campaign_fails(&e, "models/shop-up/").await;
}

#[tokio::test]
async fn a_flipped_bit_in_a_model_is_refused() {
    let e = env().await;
    let up = file(&blobs(&e), &["models/shop-up/"]);
    let mut bytes = std::fs::read(&up).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&up, bytes).unwrap();
    only_the_damaged_campaign_fails(&e, "models/shop-up/").await;
}

#[tokio::test]
async fn an_older_data_version_rolled_back_over_the_current_one_is_refused() {
    let e = env().await;
    let dir = blobs(&e).join("datasets/shop/INTERACTIONS");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".avro.sealed"))
        .collect();
    versions.sort();
    assert_eq!(
        versions.len(),
        2,
        "the previous version is kept: {versions:?}"
    );
    std::fs::copy(&versions[0], &versions[1]).unwrap();
    let t = open(e.dir.path());
    let ds = t.arns.dataset_arn("shop", DatasetType::Interactions);
    let err = t.load_dataset(&ds).await.unwrap_err().to_string();
    let name = versions[1]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(err.contains(&name), "{err}");
    // The serving snapshot of the current version is intact, so serving goes on, correctly.
    let rt = Runtime::new(t);
    assert_eq!(rt.warm().await.unwrap(), 2);
}

#[tokio::test]
async fn a_rolled_back_serving_snapshot_is_refused_and_the_data_file_serves() {
    let e = env().await;
    let before = Runtime::new(open(e.dir.path()))
        .get_recommendations(&ask(&e.shop))
        .await
        .unwrap();
    let dir = blobs(&e).join("datasets/shop/INTERACTIONS");
    let mut snaps: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".serving"))
        .collect();
    snaps.sort();
    assert_eq!(snaps.len(), 2);
    // The other group's snapshot is the same kind of object under another group's key.
    let theirs = file(&blobs(&e), &["datasets/other/INTERACTIONS/", ".serving"]);
    std::fs::copy(theirs, &snaps[1]).unwrap();
    let after = Runtime::new(open(e.dir.path()))
        .get_recommendations(&ask(&e.shop))
        .await
        .unwrap();
    let ids = |r: &tailor_core::api::runtime::GetRecommendationsResponse| {
        r.item_list
            .iter()
            .map(|i| i.item_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&before), ids(&after));
}

#[tokio::test]
async fn an_edited_campaign_record_is_refused() {
    let e = env().await;
    let record = file(&e.dir.path().join("meta/campaigns"), &["shop-c"]);
    let text = std::fs::read(&record).unwrap();
    let edited: Vec<u8> = String::from_utf8_lossy(&text)
        .replace("shop-up", "shop-sims")
        .into_bytes();
    assert_ne!(edited, text);
    std::fs::write(&record, edited).unwrap();
    only_the_damaged_campaign_fails(&e, "campaigns/").await;
}

#[tokio::test]
async fn a_truncated_campaign_record_is_refused() {
    let e = env().await;
    let record = file(&e.dir.path().join("meta/campaigns"), &["shop-c"]);
    let text = std::fs::read(&record).unwrap();
    std::fs::write(&record, &text[..text.len() / 2]).unwrap();
    only_the_damaged_campaign_fails(&e, "campaigns/").await;
}

#[tokio::test]
async fn one_campaigns_record_copied_over_anothers_is_refused() {
    let e = env().await;
    let theirs = file(&e.dir.path().join("meta/campaigns"), &["other-c"]);
    let ours = file(&e.dir.path().join("meta/campaigns"), &["shop-c"]);
    std::fs::copy(theirs, ours).unwrap();
    only_the_damaged_campaign_fails(&e, "campaigns/").await;
}

#[tokio::test]
async fn an_edited_put_record_is_left_out_loudly() {
    use tailor_core::api::events::{Item, PutItemsRequest};
    let e = env().await;
    let t = open(e.dir.path());
    let items = t.arns.dataset_arn("shop", DatasetType::Items);
    let rt = Runtime::new(t);
    rt.put_items(&PutItemsRequest {
        dataset_arn: items,
        items: vec![Item {
            item_id: "NEW1".into(),
            properties: Some(r#"{"categoryL1": "Music"}"#.into()),
        }],
    })
    .await
    .unwrap();
    let record = file(&e.dir.path().join("meta/put-records.shop"), &["NEW1"]);
    let text = String::from_utf8_lossy(&std::fs::read(&record).unwrap()).replace("Music", "Books");
    std::fs::write(&record, text).unwrap();
    let t = open(e.dir.path());
    let key = format!("{}|NEW1", t.arns.dataset_arn("shop", DatasetType::Items));
    let err = t
        .stores
        .meta
        .get(&tailor_core::services::put_records_table("shop"), &key)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("damaged") && err.contains("NEW1"), "{err}");
    // Not served as written, and not a reason to stop serving.
    let rt = Runtime::new(t);
    assert_eq!(rt.warm().await.unwrap(), 2);
}

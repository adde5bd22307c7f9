//! Data deletion jobs: the users of a CSV leave the datasets, the event log and the next model,
//! and nothing of anyone else changes: the model trained after the deletion answers every other
//! user exactly as a model trained on data that never had the deleted users.

use std::collections::HashSet;

use tailor_core::api::events::PutEventsRequest;
use tailor_core::api::runtime::GetRecommendationsRequest;
use tailor_core::domain::DeletionStatus;
use tailor_core::recipes::next_items;
use tailor_core::sample::SampleSize;
use tailor_core::schema::DatasetType;
use tailor_core::serving::Runtime;
use tailor_core::Tailor;

use crate::support;

const GONE: [&str; 3] = ["U0002", "U0005", "U0011"];

fn without_gone(csv: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(csv.to_vec()).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let user = line.split(',').next().unwrap_or_default();
        if i == 0 || !GONE.contains(&user) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.into_bytes()
}

/// A group with the sample's interactions and users, and streamed events by two of the users
/// to delete and by two who stay. `keep_gone = false` builds it as if the deleted users had
/// never been there.
async fn group(dir: &std::path::Path, keep_gone: bool) -> (Tailor, String) {
    let size = SampleSize {
        items: 200,
        users: 60,
        sessions_per_user: 5,
    };
    let (t, g, mut data) = support::shop(dir, 3, size).await;
    if !keep_gone {
        data.interactions = without_gone(&data.interactions);
        data.users = data.users.as_deref().map(without_gone);
    }
    let kinds = [DatasetType::Interactions, DatasetType::Users];
    support::import_sample(&t, &g, "", &data, &kinds).await;
    let tracker = t.create_event_tracker("tr", &g).await.unwrap();
    let rt = Runtime::new(t.clone());
    for (n, user) in ["U0002", "U0003", "U0011", "U0004"].iter().enumerate() {
        if !keep_gone && GONE.contains(user) {
            continue;
        }
        let req: PutEventsRequest = serde_json::from_value(serde_json::json!({
            "trackingId": tracker.tracking_id,
            "userId": user,
            "sessionId": format!("s-{user}"),
            "eventList": [{"eventId": format!("e{n}"), "eventType": "click", "itemId": "P00007", "sentAt": 2_000_000_000}],
        }))
        .unwrap();
        rt.put_events(&req).await.unwrap();
    }
    (t, g)
}

async fn answers(t: &Tailor, version: &str, users: &[String]) -> Vec<Vec<String>> {
    let rt = Runtime::new(t.clone());
    let c = rt.solution_version(version).await.unwrap();
    let mut out = Vec::new();
    for u in users {
        let r = rt
            .recommend_with(
                &c,
                &GetRecommendationsRequest {
                    campaign_arn: Some(c.campaign.campaign_arn.clone()),
                    user_id: Some(u.clone()),
                    num_results: Some(10),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        out.push(r.item_list.into_iter().map(|i| i.item_id).collect());
    }
    out
}

#[tokio::test]
async fn deleted_users_leave_datasets_events_and_the_next_model_and_no_one_else_changes() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (t, g) = group(a.path(), true).await;
    let (clean, clean_g) = group(b.path(), false).await;

    let csv = a.path().join("forget.csv");
    std::fs::write(&csv, format!("USER_ID\n{}\nU9999\n", GONE.join("\n"))).unwrap();
    let job = t
        .create_data_deletion_job("forget", &g, csv.to_str().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(job.status, DeletionStatus::Pending);
    let n = t
        .run_data_deletion_job(&job.data_deletion_job_arn, None)
        .await
        .unwrap();
    assert_eq!(n, 3, "U9999 had no data");
    let done = t
        .describe_data_deletion_job(&job.data_deletion_job_arn)
        .await
        .unwrap();
    assert_eq!(
        (done.status, done.num_deleted),
        (DeletionStatus::Completed, Some(3))
    );

    // The event log keeps its places but nothing of theirs.
    let log = t.stores.events.since(&g, 0, 100).await.unwrap();
    assert_eq!(log.len(), 4);
    for (_, e) in &log {
        let theirs = e.user_id.as_deref().is_some_and(|u| GONE.contains(&u));
        assert!(!theirs, "{e:?}");
    }
    assert_eq!(log.iter().filter(|(_, e)| e.is_redacted()).count(), 2);
    assert!(t
        .stores
        .events
        .recent(&g, "U0002", 10)
        .await
        .unwrap()
        .is_empty());

    // Training data: no row of theirs in any dataset.
    clean.compact(&clean_g).await.unwrap();
    let v = support::train(&t, &g, "up", next_items::USER_PERSONALIZATION).await;
    let clean_v = support::train(&clean, &clean_g, "up", next_items::USER_PERSONALIZATION).await;
    let version = t.describe_solution_version(&v).await.unwrap();
    let data = t.training_data(&version).await.unwrap();
    let users: HashSet<String> = data.users.iter().map(|u| u.to_string()).collect();
    for u in GONE {
        assert!(!users.contains(u), "{u} is still in the training data");
    }

    let others: Vec<String> = (1..=60)
        .map(|u| format!("U{u:04}"))
        .filter(|u| !GONE.contains(&u.as_str()))
        .collect();
    assert_eq!(
        answers(&t, &v, &others).await,
        answers(&clean, &clean_v, &others).await,
        "every other user's answers are those of a model that never saw the deleted users"
    );
    let gone: Vec<String> = GONE.iter().map(|u| u.to_string()).collect();
    let stranger = answers(&t, &v, &["nobody-at-all".to_string()]).await;
    for answer in answers(&t, &v, &gone).await {
        assert_eq!(
            answer, stranger[0],
            "a deleted user is a stranger to the new model"
        );
    }

    // A second run of the same job is refused; a CSV without USER_ID fails the job, naming it.
    assert!(t
        .run_data_deletion_job(&job.data_deletion_job_arn, None)
        .await
        .is_err());
    std::fs::write(&csv, "ITEM_ID\nP00001\n").unwrap();
    let bad = t
        .create_data_deletion_job("bad", &g, csv.to_str().unwrap(), None)
        .await
        .unwrap();
    assert!(t
        .run_data_deletion_job(&bad.data_deletion_job_arn, None)
        .await
        .is_err());
    let bad = t
        .describe_data_deletion_job(&bad.data_deletion_job_arn)
        .await
        .unwrap();
    assert_eq!(bad.status, DeletionStatus::Failed);
    assert!(bad.failure_reason.unwrap().contains("USER_ID"));
}

/// A deletion job left IN_PROGRESS by a process that died, or by a runner past its deadline (a
/// Lambda that timed out), is failed with a reason by the next Describe or List; one whose
/// process lives and whose deadline is ahead is not.
#[tokio::test]
async fn a_deletion_job_whose_runner_stopped_is_failed_by_the_next_reader() {
    use tailor_core::domain::{now_epoch, DataDeletionJob, WorkerProcess};
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let dead = WorkerProcess::of(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    let alive = WorkerProcess::of(std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let (t, g) = group(dir.path(), true).await;
    let csv = dir.path().join("users.csv");
    std::fs::write(&csv, "USER_ID\nU0002\n").unwrap();
    let now = now_epoch();
    let mut cases = vec![
        ("timed-out", None, Some(now - 3_600.0), true),
        ("ahead", alive.clone(), Some(now + 3_600.0), false),
        ("local-alive", alive, None, false),
    ];
    if let Some(dead) = dead {
        cases.push(("dead", Some(dead), None, true)); // (only where /proc tells)
    }
    for (name, worker, deadline, abandoned) in cases {
        let job = t
            .create_data_deletion_job(name, &g, csv.to_str().unwrap(), None)
            .await
            .unwrap();
        let arn = job.data_deletion_job_arn.clone();
        let running = DataDeletionJob {
            status: DeletionStatus::InProgress,
            worker,
            deadline,
            ..job
        };
        t.stores
            .meta
            .put(
                "data-deletion-jobs",
                &arn,
                Some(&g),
                serde_json::to_vec(&running).unwrap(),
                tailor_core::store::Expect::Any,
            )
            .await
            .unwrap();
        let listed = tailor_core::api::control::dispatch(
            &t,
            "ListDataDeletionJobs",
            serde_json::json!({ "datasetGroupArn": g })
                .to_string()
                .as_bytes(),
        )
        .await
        .unwrap()
        .unwrap();
        let summary = listed["dataDeletionJobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["dataDeletionJobArn"] == arn.as_str())
            .unwrap()
            .clone();
        let described = tailor_core::api::control::dispatch(
            &t,
            "DescribeDataDeletionJob",
            serde_json::json!({ "dataDeletionJobArn": arn })
                .to_string()
                .as_bytes(),
        )
        .await
        .unwrap()
        .unwrap()["dataDeletionJob"]
            .clone();
        assert!(
            described.get("worker").is_none() && described.get("deadline").is_none(),
            "bookkeeping stays inside: {described}"
        );
        for seen in [&summary, &described] {
            if abandoned {
                assert_eq!(seen["status"], "FAILED", "{name}: {seen}");
                assert!(
                    seen["failureReason"].as_str().unwrap().contains("stopped"),
                    "{seen}"
                );
            } else {
                assert_eq!(seen["status"], "IN_PROGRESS", "{name}: {seen}");
            }
        }
    }
}

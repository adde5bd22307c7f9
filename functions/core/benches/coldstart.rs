//! Cold start of a serving runtime on embedded stores, the in-process counterpart of the
//! recommend function's cold start (`tests/e2e`, `TAILOR_COLDSTART_EVENTS`): a fresh `Runtime`
//! answers its first GetRecommendations (campaign, model, serving snapshot, and the event log's
//! tail since the last compaction), with 100,000 PutEvents in that tail, then after `compact`.
//! Release build, generated sample (10,000 items, 3,000 users).
//!
//! `cargo bench -p tailor-core --bench coldstart`

mod common;

use std::time::{Duration, Instant};

use tailor_core::api::events::{Event, PutEventsRequest};
use tailor_core::api::runtime::GetRecommendationsRequest;
use tailor_core::serving::{Runtime, Sharing};

const EVENTS: usize = 100_000;
const RUNS: usize = 5;

/// The trained group and its campaign; returns (group, campaign, trackingId).
async fn setup(dir: &std::path::Path) -> (String, String, String) {
    let (t, g, campaign) = common::shop_campaign(dir, "cold").await;
    let tracking = t
        .create_event_tracker("tracker", &g)
        .await
        .unwrap()
        .tracking_id;
    (g, campaign, tracking)
}

/// First answers of `RUNS` fresh runtimes, as Lambda execution environments would give them.
async fn cold_starts(dir: &std::path::Path, campaign: &str) -> Vec<f64> {
    let mut ms = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let rt = Runtime::with_sharing(
            common::open(dir),
            Sharing::Shared {
                campaign_refresh: Duration::from_secs(60),
            },
        );
        let req = GetRecommendationsRequest {
            campaign_arn: Some(campaign.to_string()),
            user_id: Some("U0001".into()),
            num_results: Some(25),
            ..Default::default()
        };
        let out = rt.get_recommendations(&req).await.unwrap();
        assert_eq!(out.item_list.len(), 25);
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    ms
}

fn report(what: &str, ms: &[f64]) {
    println!(
        "cold start, {what}: median {:.1} ms (min {:.1}, max {:.1}) over {} fresh runtimes",
        ms[ms.len() / 2],
        ms[0],
        ms[ms.len() - 1],
        ms.len()
    );
}

fn main() {
    // TAILOR_LOG=tailor_core=info shows where a cold start's time goes (the loads' laps).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TAILOR_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let (group, campaign, tracking) = setup(dir.path()).await;
        common::open(dir.path()).compact(&group).await.unwrap();
        // The model artifact alone (read, unseal, parse, derive the scan copies and the
        // retrieval index), as a fresh process does it.
        let version = common::open(dir.path())
            .describe_campaign(&campaign)
            .await
            .unwrap()
            .solution_version_arn;
        let mut ms = Vec::new();
        for _ in 0..RUNS {
            let t = common::open(dir.path());
            let started = Instant::now();
            std::hint::black_box(t.load_model(&version).await.unwrap());
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(|a, b| a.total_cmp(b));
        report(
            &format!("model artifact load alone ({} items)", common::items()),
            &ms,
        );
        report(
            "just after a compaction",
            &cold_starts(dir.path(), &campaign).await,
        );

        let writer = Runtime::new(common::open(dir.path()));
        let started = Instant::now();
        for call in 0..EVENTS / 10 {
            let user = if call % 2 == 0 {
                format!("U{:04}", call / 2 % 3_000 + 1)
            } else {
                format!("events-only-{}", call % 1_000)
            };
            let req = PutEventsRequest {
                tracking_id: tracking.clone(),
                user_id: Some(user.clone()),
                session_id: format!("s-{user}"),
                event_list: (0..10)
                    .map(|i| Event {
                        event_id: Some(format!("cold-{call}-{i}")),
                        event_type: "click".into(),
                        item_id: Some(format!("P{:05}", (call * 10 + i) * 7919 % 10_000)),
                        sent_at: Some(1.9e9 + (call * 10 + i) as f64),
                        ..Default::default()
                    })
                    .collect(),
            };
            writer.put_events(&req).await.unwrap();
        }
        println!(
            "put {EVENTS} events in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        drop(writer);
        report(
            &format!("{EVENTS} PutEvents since the last compaction"),
            &cold_starts(dir.path(), &campaign).await,
        );

        let started = Instant::now();
        let done = common::open(dir.path()).compact(&group).await.unwrap();
        println!(
            "compaction: {} events in {:.1} s",
            done.events,
            started.elapsed().as_secs_f64()
        );
        report(
            "after compacting them",
            &cold_starts(dir.path(), &campaign).await,
        );
    });
}

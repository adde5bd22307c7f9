//! GetRecommendations through the real answer path (the runtime the server and the Lambdas
//! call: campaign, group history, compiled filter, exploration, the engine), in-process, over a
//! 10,000-item catalogue (the generated sample at that size) on embedded stores; then
//! `recommend_batch` for 1,000 users at once.
//!
//! `cargo bench -p tailor-core --bench recommend` prints p50/p99 of single requests with and
//! without an `Items.CATEGORY_L1 IN ($G)` filter (exploration on, the campaign default), the
//! batch's users/s, then criterion's estimates.

mod common;

use std::time::Instant;

use criterion::Criterion;
use tailor_core::api::runtime::GetRecommendationsRequest;
use tailor_core::engine::{self, Query};
use tailor_core::serving::Runtime;

struct Setup {
    runtime: Runtime,
    campaign: String,
    filter: String,
    users: Vec<String>,
}

async fn setup(dir: &std::path::Path) -> Setup {
    let (t, g, campaign) = common::shop_campaign(dir, "bench").await;
    let filter = t
        .create_filter(
            "by-category",
            &g,
            "INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($G)",
        )
        .await
        .unwrap()
        .filter_arn;
    let runtime = Runtime::new(t);
    runtime.warm().await.unwrap();
    let users = {
        let state = runtime.campaign(&campaign).await.unwrap();
        let g = state.group.data.read().unwrap();
        let mut users: Vec<String> = g.histories.keys().cloned().collect();
        users.sort();
        users
    };
    Setup {
        runtime,
        campaign,
        filter,
        users,
    }
}

fn request(s: &Setup, user: &str, filtered: bool) -> GetRecommendationsRequest {
    let mut req = GetRecommendationsRequest {
        campaign_arn: Some(s.campaign.clone()),
        user_id: Some(user.to_string()),
        num_results: Some(25),
        ..Default::default()
    };
    if filtered {
        req.filter_arn = Some(s.filter.clone());
        req.filter_values
            .insert("G".into(), "\"Electronics\"".into());
    }
    req
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = rt.block_on(setup(dir.path()));
    assert!(s.users.len() >= 1_000, "{} users", s.users.len());

    for filtered in [false, true] {
        let rounds = (500_000_000 / common::items()).clamp(2_000, 50_000);
        let mut times = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let req = request(&s, &s.users[round % s.users.len()], filtered);
            let t = Instant::now();
            let out = rt.block_on(s.runtime.get_recommendations(&req)).unwrap();
            times.push(t.elapsed().as_nanos() as f64 / 1e3);

            assert_eq!(out.item_list.len(), 25);
            std::hint::black_box(out);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let q = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
        println!(
            "GetRecommendations, {}-item catalogue, exploration on, {}: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs over {} requests",
            common::items(),
            if filtered { "Items.CATEGORY_L1 IN ($G) filter" } else { "no filter" },
            q(0.5),
            q(0.99),
            q(1.0),
            times.len()
        );
    }

    // recommend_batch: 1,000 users' queries against the campaign's model at once.
    let state = rt.block_on(s.runtime.campaign(&s.campaign)).unwrap();
    let histories: Vec<Vec<u32>> = {
        let g = state.group.data.read().unwrap();
        s.users[..1_000]
            .iter()
            .map(|u| state.model_codes(&g.histories[u]))
            .collect()
    };
    let queries: Vec<Query> = histories
        .iter()
        .map(|h| Query::for_history(h, 25))
        .collect();
    let mut rates = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let out = engine::recommend_batch(&state.model, &queries);
        rates.push(queries.len() as f64 / t.elapsed().as_secs_f64());
        std::hint::black_box(out);
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    println!(
        "recommend_batch, 1,000 users, numResults 25: median {:.0} users/s (min {:.0}, max {:.0}) over 10 batches on {} threads",
        rates[rates.len() / 2],
        rates[0],
        rates[rates.len() - 1],
        rayon::current_num_threads()
    );

    // recall@10 of the answer (through the retrieval index past 65,536 items) against exact
    // scoring of the items the answer may hold (the history's reach).
    let (mut found, mut wanted) = (0usize, 0usize);
    let n = state.model.items.len();
    for h in histories.iter().take(300) {
        let q = Query::for_history(h, 10);
        let got = engine::recommend(&state.model, &q);
        let exact = engine::stages::dense(&state.model, &q);
        let passes = engine::stages::filter(n, None, &engine::stages::exclude(n, &q));
        let passes = engine::stages::reachable(&state.model, &q, passes, 10);
        let want = engine::top_k(&exact.values, 10, |i| passes.contains(i));
        wanted += want.len();
        found += want
            .iter()
            .filter(|w| got.iter().any(|g| g.item == Some(w.item)))
            .count();
    }
    println!(
        "recall@10 of the answer against exact scoring, {}-item catalogue: {:.4} over 300 users",
        common::items(),
        found as f64 / wanted.max(1) as f64
    );

    // The reach stage alone (the items a history's components reach, joined to what passes).
    let components = state.model.learned.components();
    let mut times: Vec<f64> = Vec::new();
    let mut gated = 0;
    for h in histories.iter().take(2000) {
        let q = Query::for_history(h, 25);
        let passes = engine::stages::filter(n, None, &engine::stages::exclude(n, &q));
        let full = passes.len();
        let started = Instant::now();
        let passes = engine::stages::reachable(&state.model, &q, passes, 25);
        times.push(started.elapsed().as_secs_f64() * 1e6);
        gated += usize::from(passes.len() < full);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "reach stage, {}-item catalogue, {} components: p50 {:.1} µs, p99 {:.1} µs over {} requests, {gated} of them narrowed",
        common::items(),
        components.map_or(1, |c| c.count()),
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        times.len()
    );

    let mut c = Criterion::default().configure_from_args().sample_size(50);
    for filtered in [false, true] {
        let mut i = 0;
        let name = if filtered {
            "get_recommendations_10k_filter_exploration"
        } else {
            "get_recommendations_10k_exploration"
        };
        c.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                let req = request(&s, &s.users[i % s.users.len()], filtered);
                rt.block_on(s.runtime.get_recommendations(&req)).unwrap()
            })
        });
    }
    c.bench_function("recommend_batch_1000_users", |b| {
        b.iter(|| engine::recommend_batch(&state.model, &queries))
    });
    c.final_summary();
}

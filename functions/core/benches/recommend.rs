//! GetRecommendations for known users from a loaded user-personalization model over a
//! 10,000-item catalogue (the generated sample at that size), in-process.
//!
//! `cargo bench -p tailor-core --bench recommend` prints p50/p99 of single requests, then
//! criterion's estimate of the mean.

use std::time::Instant;

use criterion::Criterion;
use tailor_core::engine::{self, Options};
use tailor_core::evaluation::read_csv;
use tailor_core::recipes::{EventConfig, Hyperparameters, Model, Recipe, TrainingData};
use tailor_core::sample::{self, SampleSize};
use tailor_core::schema::DatasetType;

fn main() {
    let size = SampleSize {
        items: 10_000,
        users: 3_000,
        sessions_per_user: 9,
    };
    let sample = sample::generate(7, size);
    let table = read_csv(DatasetType::Interactions, &sample.interactions).unwrap();
    let items = read_csv(DatasetType::Items, sample.items.as_deref().unwrap()).unwrap();
    let data = TrainingData::from_tables(&table, Some(&items), &EventConfig::default()).unwrap();
    let model = Model::fit(
        Recipe::UserPersonalization,
        &data,
        &Hyperparameters::new(),
        &mut |_| {},
    )
    .unwrap();
    let model = Model::from_bytes(&model.to_bytes()).unwrap(); // as served: loaded from its artifact
    assert_eq!(model.items.len(), 10_000);
    let histories: Vec<Vec<u32>> = data
        .histories
        .iter()
        .filter(|h| !h.is_empty())
        .map(|h| h.iter().map(|e| e.item).collect())
        .collect();
    let opts = Options {
        k: 25,
        exclude_history: true,
    };

    let mut times = Vec::with_capacity(50_000);
    for round in 0..50_000 {
        let h = &histories[round % histories.len()];
        let t = Instant::now();
        let out = engine::recommend(&model, h, &[], opts);
        times.push(t.elapsed().as_nanos() as f64 / 1e3);
        std::hint::black_box(out);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    println!(
        "recommend, 10k-item catalogue, {} users, numResults 25: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs over {} requests",
        histories.len(),
        q(0.5),
        q(0.99),
        q(1.0),
        times.len()
    );

    let mut c = Criterion::default().configure_from_args().sample_size(50);
    let mut i = 0;
    c.bench_function("recommend_10k_catalogue", |b| {
        b.iter(|| {
            i += 1;
            engine::recommend(&model, &histories[i % histories.len()], &[], opts)
        })
    });
    c.final_summary();
}

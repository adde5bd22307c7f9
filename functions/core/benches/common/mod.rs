//! The set-up the serving benches share: the generated shop sample at 10,000 items and 3,000
//! users, imported on embedded stores, a User-Personalization version trained on it and a
//! campaign with the default configuration. `TAILOR_BENCH_ITEMS=N` uses the shop generated at
//! scale instead (`tailor sample --items N`, with N/3 users and 10 events per item), and
//! `TAILOR_BENCH_HP` sets the version's hyperparameters.

use tailor_core::domain::{ArnBuilder, CampaignConfig, ImportMode, TrainingMode};
use tailor_core::recipes::next_items;
use tailor_core::sample::{self, schemas, SampleSize};
use tailor_core::schema::DatasetType;
use tailor_core::services::CreateSolution;
use tailor_core::{Stores, Tailor};

/// The catalogue size the benches run at.
pub fn items() -> usize {
    std::env::var("TAILOR_BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// `TAILOR_BENCH_HP="factors=64 als_iterations=10"`: hyperparameters for the trained version.
fn hyperparameters() -> std::collections::BTreeMap<String, String> {
    std::env::var("TAILOR_BENCH_HP")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn scale_shop(items: usize) -> sample::SampleData {
    let spec = sample::scale::ScaleSpec::new(items / 3, items, items as u64 * 10, 7);
    let (mut interactions, mut items_csv) = (Vec::new(), Vec::new());
    sample::scale::generate(
        &spec,
        &mut interactions,
        &mut items_csv,
        std::io::sink(),
        &mut |_| {},
    )
    .unwrap();
    sample::SampleData {
        interactions,
        items: Some(items_csv),
        users: None,
    }
}

pub fn open(dir: &std::path::Path) -> Tailor {
    Tailor::new(Stores::embedded(dir).unwrap(), ArnBuilder::default())
}

/// The trained group in `dir`: (tailor, group ARN, campaign ARN).
pub async fn shop_campaign(dir: &std::path::Path, group: &str) -> (Tailor, String, String) {
    let size = SampleSize {
        items: 10_000,
        users: 3_000,
        sessions_per_user: 9,
    };
    let data = match items() {
        10_000 => sample::generate(7, size),
        n => scale_shop(n),
    };
    let t = open(dir);
    let g = t
        .create_dataset_group(group, None, None)
        .await
        .unwrap()
        .dataset_group_arn;
    for (kind, schema, csv) in [
        (
            DatasetType::Interactions,
            schemas::ECOMMERCE_INTERACTIONS,
            data.interactions.clone(),
        ),
        (
            DatasetType::Items,
            schemas::ECOMMERCE_ITEMS,
            data.items.clone().unwrap(),
        ),
    ] {
        let name = kind.as_str().to_lowercase();
        let s = t.create_schema(&name, schema).await.unwrap().schema_arn;
        let ds = t.create_dataset(&name, &s, &g, kind).await.unwrap();
        let job = t
            .create_dataset_import_job(
                &name,
                &ds.dataset_arn,
                "sample",
                ImportMode::Full,
                Default::default(),
            )
            .await
            .unwrap();
        t.run_dataset_import_job(&job.dataset_import_job_arn, &csv, &mut |_, _| {})
            .await
            .unwrap();
    }
    let sol = t
        .create_solution(CreateSolution {
            name: "up".into(),
            dataset_group_arn: g.clone(),
            recipe_arn: next_items::USER_PERSONALIZATION.arn(),
            solution_config: tailor_core::domain::SolutionConfig {
                algorithm_hyper_parameters: hyperparameters(),
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
    let v = t
        .create_solution_version(&sol.solution_arn, TrainingMode::Full, None)
        .await
        .unwrap();
    t.run_solution_version(&v.solution_version_arn, &mut |_, _| {})
        .await
        .unwrap();
    let campaign = t
        .create_campaign(
            "up",
            &v.solution_version_arn,
            None,
            CampaignConfig::default(),
        )
        .await
        .unwrap()
        .campaign_arn;
    (t, g, campaign)
}

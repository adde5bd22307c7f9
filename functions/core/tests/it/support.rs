//! Set-up the integration tests share: the generated sample imported into a group, a recipe
//! trained on it.

use std::path::Path;

use tailor_core::domain::{ArnBuilder, ImportMode, TrainingMode};
use tailor_core::recipes::Recipe;
use tailor_core::sample::{self, schemas, SampleData, SampleSize};
use tailor_core::schema::DatasetType;
use tailor_core::services::CreateSolution;
use tailor_core::store::StoredEvent;
use tailor_core::{Stores, Tailor};

/// The services on an embedded store at `dir`, a dataset group `shop`, and the generated sample
/// for `seed` and `size` (not yet imported).
pub async fn shop(dir: &Path, seed: u64, size: SampleSize) -> (Tailor, String, SampleData) {
    let t = Tailor::new(Stores::embedded(dir).unwrap(), ArnBuilder::default());
    let g = t
        .create_dataset_group("shop", None, None)
        .await
        .unwrap()
        .dataset_group_arn;
    (t, g, sample::generate(seed, size))
}

/// A PutEvents-style click of `item` by `user` in session `session`.
pub fn click(id: &str, session: &str, user: &str, item: &str) -> StoredEvent {
    StoredEvent {
        event_id: id.into(),
        session_id: session.into(),
        user_id: Some(user.into()),
        item_id: Some(item.into()),
        event_type: "click".into(),
        event_value: None,
        sent_at: 1.0,
        properties: None,
        recommendation_id: None,
        impression: vec![],
    }
}

/// Creates a schema and dataset named `<prefix><type>` for each of `kinds` (interactions, items,
/// users) in `group`, and FULL-imports the sample's CSV into it. Returns the dataset ARNs.
pub async fn import_sample(
    t: &Tailor,
    group: &str,
    prefix: &str,
    data: &SampleData,
    kinds: &[DatasetType],
) -> Vec<String> {
    let mut arns = Vec::new();
    for &kind in kinds {
        let (schema, bytes) = match kind {
            DatasetType::Interactions => {
                (schemas::ECOMMERCE_INTERACTIONS, data.interactions.clone())
            }
            DatasetType::Items => (schemas::ECOMMERCE_ITEMS, data.items.clone().unwrap()),
            DatasetType::Users => (schemas::ECOMMERCE_USERS, data.users.clone().unwrap()),
        };
        let name = format!("{prefix}{}", kind.as_str().to_lowercase());
        let s = t.create_schema(&name, schema).await.unwrap().schema_arn;
        let ds = t
            .create_dataset(&name, &s, group, kind)
            .await
            .unwrap()
            .dataset_arn;
        import(t, &ds, &name, &bytes).await;
        arns.push(ds);
    }
    arns
}

/// FULL-imports `csv` into `dataset` as job `job`.
pub async fn import(t: &Tailor, dataset: &str, job: &str, csv: &[u8]) {
    let job = t
        .create_dataset_import_job(job, dataset, "sample", ImportMode::Full, Default::default())
        .await
        .unwrap();
    t.run_dataset_import_job(&job.dataset_import_job_arn, csv, &mut |_, _| {})
        .await
        .unwrap();
}

/// Creates solution `name` with `recipe` on `group` and trains a FULL version; its ARN.
pub async fn train(t: &Tailor, group: &str, name: &str, recipe: Recipe) -> String {
    let sol = t
        .create_solution(CreateSolution {
            name: name.into(),
            dataset_group_arn: group.into(),
            recipe_arn: recipe.arn(),
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
    v.solution_version_arn
}

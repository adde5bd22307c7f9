//! Set-up the integration tests share: the generated sample imported into a group, a recipe
//! trained on it.

use tailor_core::domain::{ImportMode, TrainingMode};
use tailor_core::recipes::Recipe;
use tailor_core::sample::{schemas, SampleData};
use tailor_core::schema::DatasetType;
use tailor_core::services::CreateSolution;
use tailor_core::Tailor;

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
        .create_dataset_import_job(job, dataset, "sample", ImportMode::Full, None)
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

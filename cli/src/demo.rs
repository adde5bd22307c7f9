//! `tailor demo`: the one command that shows the product on a fresh machine.

use std::path::PathBuf;
use std::process::ExitCode;

use tailor_core::domain::{ImportMode, ResourceType, Status};
use tailor_core::sample::{self, schemas};
use tailor_core::schema::DatasetType;
use tailor_core::{Error, Result, Tailor};

use tailor_core::domain::TrainingMode;
use tailor_core::recipes::Recipe;
use tailor_core::services::CreateSolution;

use crate::commands::{describe_group, import_bytes, print_summaries, say};
use crate::solutions::{self, train};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Use a MovieLens directory (ratings.csv, movies.csv) instead of the generated sample,
    /// e.g. ../shared/data/movielens-small.
    #[arg(long)]
    movielens: Option<PathBuf>,
    /// Seed of the generated sample.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

struct DemoData {
    group: &'static str,
    /// Whom to recommend for, and a title to find related items for.
    user: &'static str,
    title: &'static str,
    files: Vec<(DatasetType, &'static str, Vec<u8>, String)>,
}

fn load(args: &DemoArgs) -> Result<DemoData> {
    if let Some(dir) = &args.movielens {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| {
                Error::InvalidInput(format!("cannot read {}: {e}", dir.join(name).display()))
            })
        };
        let loc = |name: &str| format!("file://{}", dir.join(name).display());
        return Ok(DemoData {
            group: "movielens",
            user: "1",
            title: "Toy Story",
            files: vec![
                (
                    DatasetType::Interactions,
                    schemas::MOVIELENS_INTERACTIONS,
                    sample::movielens_ratings(&read("ratings.csv")?)?,
                    loc("ratings.csv"),
                ),
                (
                    DatasetType::Items,
                    schemas::MOVIELENS_ITEMS,
                    sample::movielens_movies(&read("movies.csv")?)?,
                    loc("movies.csv"),
                ),
            ],
        });
    }
    let data = sample::generate(args.seed, Default::default());
    let mut files = vec![(
        DatasetType::Interactions,
        schemas::ECOMMERCE_INTERACTIONS,
        data.interactions,
        "sample:interactions".to_string(),
    )];
    if let Some(items) = data.items {
        files.push((
            DatasetType::Items,
            schemas::ECOMMERCE_ITEMS,
            items,
            "sample:items".into(),
        ));
    }
    if let Some(users) = data.users {
        files.push((
            DatasetType::Users,
            schemas::ECOMMERCE_USERS,
            users,
            "sample:users".into(),
        ));
    }
    Ok(DemoData {
        group: "demo",
        user: "U0001",
        title: "Tent",
        files,
    })
}

/// Creates what is missing (group, schemas, datasets), then FULL-imports every file.
pub async fn run(tailor: &Tailor, args: DemoArgs) -> Result<ExitCode> {
    let data = load(&args)?;
    let group_arn = tailor.arns.arn(ResourceType::DatasetGroup, data.group);
    ignore_exists(tailor.create_dataset_group(data.group, None, None).await)?;
    for (kind, schema_json, bytes, location) in &data.files {
        let lower = kind.as_str().to_lowercase();
        let schema_name = format!("{}-{lower}", data.group);
        ignore_exists(tailor.create_schema(&schema_name, schema_json).await)?;
        let schema_arn = tailor.arns.arn(ResourceType::Schema, &schema_name);
        ignore_exists(
            tailor
                .create_dataset(&schema_name, &schema_arn, &group_arn, *kind)
                .await,
        )?;
        let job = import_bytes(
            tailor,
            &group_arn,
            *kind,
            location,
            bytes,
            ImportMode::Full,
            None,
        )
        .await?;
        if job.status != Status::Active {
            return Ok(ExitCode::FAILURE);
        }
    }
    say(&format!("dataset group {group_arn}\n"));
    print_summaries(&describe_group(tailor, &group_arn).await?);

    for (suffix, recipe) in [
        ("personalization", Recipe::UserPersonalization),
        ("sims", Recipe::Sims),
    ] {
        let name = format!("{}-{suffix}", data.group);
        let request = CreateSolution {
            name: name.clone(),
            dataset_group_arn: group_arn.clone(),
            recipe_arn: recipe.arn(),
            ..Default::default()
        };
        ignore_exists(tailor.create_solution(request).await)?;
        say(&format!("\nsolution {name} ({})\n", recipe.name()));
        let arn = tailor.arns.arn(ResourceType::Solution, &name);
        if train(tailor, &arn, TrainingMode::Full).await?.status != Status::Active {
            return Ok(ExitCode::FAILURE);
        }
    }
    let up = format!("{}-personalization", data.group);
    say(&format!("\nrecommendations for user {}:\n", data.user));
    solutions::Recommend::new(&up, data.user, 10)
        .run(tailor)
        .await?;
    say(&format!(
        "\nrelated to the first title containing '{}':\n",
        data.title
    ));
    solutions::Similar::by_title(&format!("{}-sims", data.group), data.title, 10)
        .run(tailor)
        .await?;
    Ok(ExitCode::SUCCESS)
}

fn ignore_exists<T>(r: Result<T>) -> Result<()> {
    match r {
        Ok(_) | Err(Error::AlreadyExists(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

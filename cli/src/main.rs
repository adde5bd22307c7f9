//! `tailor`: Amazon Personalize's resources and recipes on this machine, on embedded storage.

mod campaigns;
mod commands;
mod demo;
mod progress;
mod recipes;
mod server;
mod solutions;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tailor_core::domain::ArnBuilder;
use tailor_core::{Stores, Tailor};

/// Settings shared by every command, from flags or `TAILOR_*` environment variables.
#[derive(Debug, clap::Args)]
struct Settings {
    /// Where local mode keeps its data.
    #[arg(
        long,
        env = "TAILOR_DATA_DIR",
        default_value = ".tailor",
        global = true
    )]
    data_dir: PathBuf,
    /// Region written into ARNs.
    #[arg(
        long,
        env = "TAILOR_REGION",
        default_value = "us-east-1",
        global = true
    )]
    region: String,
    /// Account id written into ARNs.
    #[arg(
        long,
        env = "TAILOR_ACCOUNT_ID",
        default_value = "000000000000",
        global = true
    )]
    account_id: String,
    /// Work on a deployed stack's S3 bucket, DynamoDB tables and KMS key (named by
    /// TAILOR_BUCKET, TAILOR_META_TABLE, TAILOR_EVENTS_TABLE, TAILOR_KMS_KEY_ID,
    /// TAILOR_ACCOUNT_ID and AWS_REGION, as the Lambdas read them) instead of the data dir.
    #[cfg(feature = "aws")]
    #[arg(long, env = "TAILOR_AWS", global = true)]
    aws: bool,
}

#[derive(Debug, Parser)]
#[command(
    name = "tailor",
    version,
    about = "Amazon Personalize, self-hosted: local mode"
)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import a sample (generated, or MovieLens with --movielens) and describe it.
    Demo(demo::DemoArgs),
    /// Create a dataset group.
    CreateDatasetGroup(commands::CreateDatasetGroup),
    /// Register a dataset schema (Avro JSON) after checking Personalize's rules.
    CreateSchema(commands::CreateSchema),
    /// Create a dataset of a dataset group.
    CreateDataset(commands::CreateDataset),
    /// Import a CSV file into a dataset (FULL or INCREMENTAL).
    Import(commands::Import),
    /// Describe a dataset group's datasets: rows, users, items, time range, event types.
    Describe(commands::Describe),
    /// Write the generated sample's CSV files to a directory.
    Sample(commands::Sample),
    /// Create a solution: a recipe plus hyperparameters.
    CreateSolution(solutions::CreateSolutionArgs),
    /// Train a solution version (FULL, or UPDATE for user-personalization) and show its metrics.
    Train(solutions::Train),
    /// Recommend items for a user.
    Recommend(solutions::Recommend),
    /// Items related to an item (by id or title).
    Similar(solutions::Similar),
    /// Re-rank a list of items for a user.
    Rank(solutions::Rank),
    /// A solution version's offline metrics (GetSolutionMetrics).
    Metrics(solutions::Metrics),
    /// Create a campaign serving a solution version.
    CreateCampaign(campaigns::CreateCampaign),
    /// Create the dataset group's event tracker (its trackingId is what PutEvents takes).
    CreateEventTracker(campaigns::CreateEventTracker),
    /// Create a filter from an expression in Personalize's grammar.
    CreateFilter(campaigns::CreateFilter),
    /// Serve the runtime and events APIs (GetRecommendations, PutEvents, ...) on 127.0.0.1.
    Serve(server::Serve),
    /// Compact PutEvents / PutItems / PutUsers records into the group's datasets (training
    /// does this first too).
    Compact(commands::Compact),
    /// Evaluate recipes offline on an interactions file (QUALITY.md split) or a train/test pair.
    Evaluate(recipes::Evaluate),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TAILOR_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}: {}", e.kind().name(), e);
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> tailor_core::Result<ExitCode> {
    let tailor = open(&cli.settings).await?;
    match cli.command {
        Command::Demo(a) => demo::run(&tailor, a).await,
        Command::CreateDatasetGroup(a) => a.run(&tailor).await,
        Command::CreateSchema(a) => a.run(&tailor).await,
        Command::CreateDataset(a) => a.run(&tailor).await,
        Command::Import(a) => a.run(&tailor).await,
        Command::Describe(a) => a.run(&tailor).await,
        Command::Sample(a) => a.run().await,
        Command::Evaluate(a) => a.run().await,
        Command::Serve(a) => a.run(&tailor).await,
        Command::Compact(a) => a.run(&tailor).await,
        Command::CreateCampaign(a) => a.run(&tailor).await,
        Command::CreateEventTracker(a) => a.run(&tailor).await,
        Command::CreateFilter(a) => a.run(&tailor).await,
        Command::CreateSolution(a) => a.run(&tailor).await,
        Command::Train(a) => a.run(&tailor).await,
        Command::Recommend(a) => a.run(&tailor).await,
        Command::Similar(a) => a.run(&tailor).await,
        Command::Rank(a) => a.run(&tailor).await,
        Command::Metrics(a) => a.run(&tailor).await,
    }
}

async fn open(s: &Settings) -> tailor_core::Result<Tailor> {
    #[cfg(feature = "aws")]
    if s.aws {
        let deployment =
            tailor_aws::Deployment::from_env().map_err(tailor_core::Error::InvalidInput)?;
        return Ok(deployment.tailor().await);
    }
    let stores = Stores::embedded(&s.data_dir)?;
    Ok(Tailor::new(
        stores,
        ArnBuilder::new(&s.region, &s.account_id),
    ))
}

//! `tailor`: Amazon Personalize's resources and recipes on this machine, on embedded storage.

mod batch;
mod campaigns;
mod commands;
mod demo;
mod lookups;
mod progress;
mod recipes;
mod server;
mod solutions;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lookups::Kind;
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
    /// Quotas changed from Personalize's defaults, e.g. `dataset-groups=20,solutions-per-group=30`
    /// (dataset-groups, schemas, solutions-per-group, campaigns-per-group, filters-per-group,
    /// pending-import-jobs, pending-solution-versions).
    #[arg(long, env = "TAILOR_QUOTAS", default_value = "", global = true)]
    quotas: tailor_core::services::quotas::Quotas,
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
    /// The product end to end on this machine: import a sample (generated, or MovieLens with
    /// --movielens), train user-personalization and SIMS, create campaigns, an event tracker and
    /// a filter, show an event changing the next answer, then serve the APIs and print commands
    /// to try (--no-serve stops before serving).
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
    /// Batch inference: a JSON Lines file of {"userId"} / {"itemId"} / {"userId","itemList"}
    /// answered line by line into <file>.out (CreateBatchInferenceJob, run here).
    BatchInference(batch::BatchJobArgs),
    /// Batch segments: {"itemId"} or {"itemAttributes"} lines answered with the users most
    /// drawn to them (CreateBatchSegmentJob on aws-item-affinity / -attribute-affinity).
    BatchSegment(batch::BatchJobArgs),
    /// Delete users' data (a CSV of USER_IDs) from a dataset group (CreateDataDeletionJob).
    DeleteUsers(batch::DeleteUsers),
    /// Offline metrics (GetSolutionMetrics) of a solution's newest ACTIVE version, or of a
    /// given version.
    Metrics(solutions::Metrics),
    /// Create a campaign serving a solution version.
    CreateCampaign(campaigns::CreateCampaign),
    /// Create the dataset group's event tracker (its trackingId is what PutEvents takes).
    CreateEventTracker(campaigns::CreateEventTracker),
    /// Create a filter from an expression in Personalize's grammar.
    CreateFilter(campaigns::CreateFilter),
    /// Serve the runtime and events APIs (GetRecommendations, PutEvents, ...) on 127.0.0.1.
    Serve(server::Serve),
    /// The console for a deployed stack, on 127.0.0.1: its API calls go to the stack's HTTP
    /// API signed (SigV4) with your AWS credentials, which never reach the browser.
    #[cfg(feature = "aws")]
    Console(ConsoleArgs),
    /// Compact PutEvents / PutItems / PutUsers records into the group's datasets (training
    /// does this first too).
    Compact(commands::Compact),
    /// Run one step of the training state machine here and print its answer: the train
    /// function's action, as its JSON event (e.g. '{"action": "shardScan",
    /// "solutionVersionArn": "...", "range": 0}'). One process per step, as one Lambda
    /// invocation per task: what tests/scale/sharded.sh measures.
    TrainingStep(commands::TrainingStepArgs),
    /// Evaluate recipes offline on an interactions file (the newest 20% of each user's events
    /// held out) or a train/test pair.
    Evaluate(recipes::Evaluate),
    /// List dataset groups.
    ListDatasetGroups(lookups::ListAll),
    /// Describe a dataset group (its record; `describe` summarises its data).
    DescribeDatasetGroup(lookups::One),
    /// Delete a dataset group with no datasets, solutions or event tracker left (its filters go
    /// with it).
    DeleteDatasetGroup(lookups::One),
    /// List schemas.
    ListSchemas(lookups::ListAll),
    /// Describe a schema.
    DescribeSchema(lookups::One),
    /// Delete a schema no dataset uses.
    DeleteSchema(lookups::One),
    /// List datasets.
    ListDatasets(lookups::ListInGroup),
    /// Describe a dataset (GROUP/TYPE or ARN).
    DescribeDataset(lookups::One),
    /// Delete a dataset, its data and its import jobs.
    DeleteDataset(lookups::One),
    /// List dataset import jobs, oldest first.
    ListDatasetImportJobs(lookups::ListInGroup),
    /// Describe a dataset import job.
    DescribeDatasetImportJob(lookups::One),
    /// Delete a finished import job's record (its data stays in the dataset).
    DeleteDatasetImportJob(lookups::One),
    /// List solutions.
    ListSolutions(lookups::ListInGroup),
    /// Describe a solution.
    DescribeSolution(lookups::One),
    /// Delete a solution no campaign serves, with its versions and models.
    DeleteSolution(lookups::One),
    /// List solution versions, oldest first.
    ListSolutionVersions(lookups::ListOfSolution),
    /// Describe a solution version (SOLUTION/ID or ARN).
    DescribeSolutionVersion(lookups::One),
    /// Delete a solution version no campaign serves, with its model.
    DeleteSolutionVersion(lookups::One),
    /// List campaigns.
    ListCampaigns(lookups::ListOfSolution),
    /// Describe a campaign.
    DescribeCampaign(lookups::One),
    /// Delete a campaign.
    DeleteCampaign(lookups::One),
    /// List filters.
    ListFilters(lookups::ListInGroup),
    /// Describe a filter.
    DescribeFilter(lookups::One),
    /// Delete a filter.
    DeleteFilter(lookups::One),
    /// List event trackers.
    ListEventTrackers(lookups::ListInGroup),
    /// Describe an event tracker (its trackingId is what PutEvents takes).
    DescribeEventTracker(lookups::One),
    /// Delete an event tracker (the events it recorded stay).
    DeleteEventTracker(lookups::One),
}

fn main() -> ExitCode {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TAILOR_LOG")
                .unwrap_or_else(|_| format!("warn,{}=info", tailor_http::access::TARGET).into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal: in a log file they are noise.
        .with_ansi(std::io::stderr().is_terminal())
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

/// `tailor console`'s arguments.
#[cfg(feature = "aws")]
#[derive(Debug, clap::Args)]
struct ConsoleArgs {
    /// The stack's HTTP API URL (the `ApiUrl` output), e.g.
    /// https://abc123.execute-api.us-east-1.amazonaws.com
    #[arg(long)]
    endpoint: String,
    /// Port on 127.0.0.1 to serve the console on.
    #[arg(long, default_value_t = 8788)]
    port: u16,
}

#[cfg(feature = "aws")]
async fn console(a: &ConsoleArgs) -> tailor_core::Result<ExitCode> {
    tailor_aws::console_proxy::serve(&a.endpoint, a.port, |addr| {
        commands::say(&format!(
            "the console for {}: http://{addr}/console (Ctrl-C stops)\n",
            a.endpoint
        ))
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

async fn run(cli: Cli) -> tailor_core::Result<ExitCode> {
    // The console proxy opens no store: it only forwards to the stack.
    #[cfg(feature = "aws")]
    if let Command::Console(a) = &cli.command {
        return console(a).await;
    }
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
        #[cfg(feature = "aws")]
        Command::Console(a) => console(&a).await,
        Command::Compact(a) => a.run(&tailor).await,
        Command::TrainingStep(a) => a.run(&tailor).await,
        Command::CreateCampaign(a) => a.run(&tailor).await,
        Command::CreateEventTracker(a) => a.run(&tailor).await,
        Command::CreateFilter(a) => a.run(&tailor).await,
        Command::CreateSolution(a) => a.run(&tailor).await,
        Command::Train(a) => a.run(&tailor).await,
        Command::Recommend(a) => a.run(&tailor).await,
        Command::Similar(a) => a.run(&tailor).await,
        Command::Rank(a) => a.run(&tailor).await,
        Command::BatchInference(a) => a.run(&tailor, false).await,
        Command::BatchSegment(a) => a.run(&tailor, true).await,
        Command::DeleteUsers(a) => a.run(&tailor).await,
        Command::Metrics(a) => a.run(&tailor).await,
        Command::ListDatasetGroups(a) => a.run(&tailor, Kind::DatasetGroup).await,
        Command::DescribeDatasetGroup(a) => a.describe(&tailor, Kind::DatasetGroup).await,
        Command::DeleteDatasetGroup(a) => a.delete(&tailor, Kind::DatasetGroup).await,
        Command::ListSchemas(a) => a.run(&tailor, Kind::Schema).await,
        Command::DescribeSchema(a) => a.describe(&tailor, Kind::Schema).await,
        Command::DeleteSchema(a) => a.delete(&tailor, Kind::Schema).await,
        Command::ListDatasets(a) => a.run(&tailor, Kind::Dataset).await,
        Command::DescribeDataset(a) => a.describe(&tailor, Kind::Dataset).await,
        Command::DeleteDataset(a) => a.delete(&tailor, Kind::Dataset).await,
        Command::ListDatasetImportJobs(a) => a.run(&tailor, Kind::ImportJob).await,
        Command::DescribeDatasetImportJob(a) => a.describe(&tailor, Kind::ImportJob).await,
        Command::DeleteDatasetImportJob(a) => a.delete(&tailor, Kind::ImportJob).await,
        Command::ListSolutions(a) => a.run(&tailor, Kind::Solution).await,
        Command::DescribeSolution(a) => a.describe(&tailor, Kind::Solution).await,
        Command::DeleteSolution(a) => a.delete(&tailor, Kind::Solution).await,
        Command::ListSolutionVersions(a) => a.run(&tailor, Kind::SolutionVersion).await,
        Command::DescribeSolutionVersion(a) => a.describe(&tailor, Kind::SolutionVersion).await,
        Command::DeleteSolutionVersion(a) => a.delete(&tailor, Kind::SolutionVersion).await,
        Command::ListCampaigns(a) => a.run(&tailor, Kind::Campaign).await,
        Command::DescribeCampaign(a) => a.describe(&tailor, Kind::Campaign).await,
        Command::DeleteCampaign(a) => a.delete(&tailor, Kind::Campaign).await,
        Command::ListFilters(a) => a.run(&tailor, Kind::Filter).await,
        Command::DescribeFilter(a) => a.describe(&tailor, Kind::Filter).await,
        Command::DeleteFilter(a) => a.delete(&tailor, Kind::Filter).await,
        Command::ListEventTrackers(a) => a.run(&tailor, Kind::EventTracker).await,
        Command::DescribeEventTracker(a) => a.describe(&tailor, Kind::EventTracker).await,
        Command::DeleteEventTracker(a) => a.delete(&tailor, Kind::EventTracker).await,
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
    let tailor = Tailor::new(stores, ArnBuilder::new(&s.region, &s.account_id))
        .with_quotas(s.quotas.clone());
    // s3:// import locations, from S3 (or an emulator at AWS_ENDPOINT_URL) with the
    // environment's credentials; the SDK resolves them only when a location is read.
    #[cfg(feature = "aws")]
    let tailor = tailor.with_sources(std::sync::Arc::new(tailor_aws::S3DataSources::new(
        &tailor_aws::sdk_config_from_env().await,
    )));
    // A directory written by an earlier tailor gets its records filed under their parents.
    tailor.upgrade_records().await?;
    Ok(tailor)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every flag and argument of every command says what it is for in `--help`.
    #[test]
    fn every_flag_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (no about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "tailor", &mut missing);
        assert!(
            missing.is_empty(),
            "without help text:\n{}",
            missing.join("\n")
        );
    }
}

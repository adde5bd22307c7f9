//! The resource commands: thin wrappers over the core services.

use std::path::PathBuf;
use std::process::ExitCode;

use tailor_core::data::summary::{summarize, Summary};
use tailor_core::domain::{DatasetImportJob, ImportMode, ResourceType, Status};
use tailor_core::schema::DatasetType;
use tailor_core::{Error, Result, Tailor};

use crate::progress;

/// A name, or an ARN as is.
pub fn group_arn(tailor: &Tailor, name_or_arn: &str) -> String {
    if name_or_arn.starts_with("arn:") {
        name_or_arn.to_string()
    } else {
        tailor.arns.arn(ResourceType::DatasetGroup, name_or_arn)
    }
}

fn print_json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => say(&format!("{s}\n")),
        Err(e) => eprintln!("error: {e}"),
    }
}

#[derive(Debug, clap::Args)]
pub struct CreateDatasetGroup {
    /// Name of the dataset group (letters, digits, - and _).
    #[arg(long)]
    name: String,
}

impl CreateDatasetGroup {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        let group = tailor.create_dataset_group(&self.name, None, None).await?;
        print_json(&group);
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, clap::Args)]
pub struct CreateSchema {
    /// Name of the schema.
    #[arg(long)]
    name: String,
    /// Avro schema JSON file.
    #[arg(long)]
    file: PathBuf,
}

impl CreateSchema {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        let json = read_text(&self.file)?;
        // The stored schema is what DescribeSchema returns: without an editor's BOM.
        let json = tailor_core::schema::strip_bom(&json);
        let record = tailor.create_schema(&self.name, json).await?;
        print_json(&record);
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, clap::Args)]
pub struct CreateDataset {
    /// Name of the dataset.
    #[arg(long)]
    name: String,
    /// Dataset group name or ARN.
    #[arg(long)]
    dataset_group: String,
    /// Schema name or ARN.
    #[arg(long)]
    schema: String,
    /// Interactions, Items or Users.
    #[arg(long = "type")]
    dataset_type: DatasetType,
}

impl CreateDataset {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        let schema_arn = if self.schema.starts_with("arn:") {
            self.schema.clone()
        } else {
            tailor.arns.arn(ResourceType::Schema, &self.schema)
        };
        let group = group_arn(tailor, &self.dataset_group);
        let dataset = tailor
            .create_dataset(&self.name, &schema_arn, &group, self.dataset_type)
            .await?;
        print_json(&dataset);
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Mode {
    Full,
    Incremental,
}

#[derive(Debug, clap::Args)]
pub struct Import {
    /// Dataset group name or ARN.
    #[arg(long)]
    dataset_group: String,
    /// Interactions, Items or Users.
    #[arg(long = "type")]
    dataset_type: DatasetType,
    /// Personalize CSV file.
    #[arg(long)]
    file: PathBuf,
    /// FULL replaces the bulk data; INCREMENTAL adds to it (needs a FULL import first).
    #[arg(long, value_enum, default_value = "full")]
    mode: Mode,
    /// Import job name (default: generated).
    #[arg(long)]
    job_name: Option<String>,
}

impl Import {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        // Opened, not read whole: the import streams it, so its size does not bound memory.
        let cannot = |e: std::io::Error| {
            Error::InvalidInput(format!("cannot read {}: {e}", self.file.display()))
        };
        let mut file = std::fs::File::open(&self.file).map_err(cannot)?;
        let size = file.metadata().map_err(cannot)?.len();
        let mode = match self.mode {
            Mode::Full => ImportMode::Full,
            Mode::Incremental => ImportMode::Incremental,
        };
        let location = format!("file://{}", self.file.display());
        let group = group_arn(tailor, &self.dataset_group);
        let source = Source {
            location: &location,
            input: &mut file,
            size,
        };
        let job = import(
            tailor,
            &group,
            self.dataset_type,
            source,
            mode,
            self.job_name,
        )
        .await?;
        Ok(if job.status == Status::Active {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

/// Where an import's CSV comes from: its location (for the job record), a reader, its size.
pub struct Source<'a> {
    pub location: &'a str,
    pub input: &'a mut (dyn std::io::Read + Send),
    /// For the progress bar; 0 if unknown.
    pub size: u64,
}

/// [`import`] of CSV held in memory.
pub async fn import_bytes(
    tailor: &Tailor,
    group_arn: &str,
    dataset_type: DatasetType,
    location: &str,
    mut bytes: &[u8],
    mode: ImportMode,
    job_name: Option<String>,
) -> Result<DatasetImportJob> {
    let size = bytes.len() as u64;
    let source = Source {
        location,
        input: &mut bytes,
        size,
    };
    import(tailor, group_arn, dataset_type, source, mode, job_name).await
}

/// Creates and runs an import job with a progress bar, then prints its outcome.
pub async fn import(
    tailor: &Tailor,
    group_arn: &str,
    dataset_type: DatasetType,
    source: Source<'_>,
    mode: ImportMode,
    job_name: Option<String>,
) -> Result<DatasetImportJob> {
    let location = source.location;
    let group = tailor.describe_dataset_group(group_arn).await?;
    let dataset_arn = tailor.arns.dataset_arn(&group.name, dataset_type);
    // Unique even for imports started in the same instant by different processes.
    let job_name = job_name.unwrap_or_else(|| {
        let lower = dataset_type.as_str().to_lowercase();
        format!("{lower}-{}", uuid::Uuid::new_v4().simple())
    });
    let job = tailor
        .create_dataset_import_job(&job_name, &dataset_arn, location, mode, Default::default())
        .await?;
    let bar = progress::bytes(
        &format!("importing {}", dataset_type.as_str().to_lowercase()),
        source.size,
    );
    let started = std::time::Instant::now();
    let outcome = tailor
        .run_dataset_import_job_from(
            &job.dataset_import_job_arn,
            source.input,
            source.size,
            &mut |done, _| bar.set_position(done),
        )
        .await;
    bar.finish_and_clear();
    let outcome = outcome?;
    match outcome.job.status {
        Status::Active => eprintln!(
            "{}: ACTIVE, {} rows in {} after {:.2} s",
            outcome.job.job_name,
            outcome.rows,
            dataset_type,
            started.elapsed().as_secs_f64()
        ),
        status => match &outcome.errors {
            Some(errs) => {
                eprintln!("{}: {status}", outcome.job.job_name);
                eprintln!(
                    "  {} error(s) in {location}; nothing was imported:",
                    errs.total
                );
                for e in &errs.errors {
                    eprintln!("  - {e}");
                }
                if errs.total > errs.errors.len() {
                    eprintln!("  ... and {} more", errs.total - errs.errors.len());
                }
            }
            // One line: the reason is the whole story.
            None => eprintln!(
                "{}: {status}: {}",
                outcome.job.job_name,
                outcome
                    .job
                    .failure_reason
                    .as_deref()
                    .unwrap_or("unknown failure")
            ),
        },
    }
    Ok(outcome.job)
}

#[derive(Debug, clap::Args)]
pub struct Describe {
    /// Dataset group name or ARN.
    #[arg(long)]
    dataset_group: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl Describe {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        let group = group_arn(tailor, &self.dataset_group);
        let summaries = describe_group(tailor, &group).await?;
        if self.json {
            print_json(&summaries);
        } else {
            print_summaries(&summaries);
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Summaries of every imported dataset of a group.
pub async fn describe_group(tailor: &Tailor, group_arn: &str) -> Result<Vec<Summary>> {
    tailor.describe_dataset_group(group_arn).await?;
    let mut out = Vec::new();
    for dataset in tailor.list_datasets(Some(group_arn)).await? {
        if let Some(table) = tailor.load_dataset(&dataset.dataset_arn).await? {
            out.push(summarize(&table));
        }
    }
    Ok(out)
}

pub fn print_summaries(summaries: &[Summary]) {
    use std::fmt::Write;
    let mut o = String::new();
    for s in summaries {
        let _ = writeln!(o, "{} dataset", s.dataset_type);
        let _ = writeln!(o, "  rows          {}", s.rows);
        if let Some(u) = s.users {
            let _ = writeln!(o, "  users         {u}");
        }
        if let Some(i) = s.items {
            let _ = writeln!(o, "  items         {i}");
        }
        if let Some((from, to)) = s.time_range {
            let days = (to - from) as f64 / 86_400.0;
            let _ = writeln!(
                o,
                "  time range    {} .. {} ({days:.1} days)",
                iso(from),
                iso(to)
            );
        }
        if !s.event_types.is_empty() {
            let parts: Vec<String> = s
                .event_types
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect();
            let _ = writeln!(o, "  event types   {}", parts.join(", "));
        }
        let _ = writeln!(o, "  columns       {}", s.columns.join(", "));
    }
    say(&o);
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
pub fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// `YYYY-MM-DD` of an epoch second (UTC), without a date crate.
pub fn iso(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{:02}-{:02}", if m <= 2 { y + 1 } else { y }, m, d)
}

#[derive(Debug, clap::Args)]
pub struct Sample {
    /// Directory to write interactions.csv, items.csv and users.csv into.
    #[arg(long)]
    out: PathBuf,
    /// Random seed: the same seed writes the same files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Users of a generated shop at scale (with --items and --events; without them, the small
    /// demo sample is written).
    #[arg(long, requires_all = ["items", "events"])]
    users: Option<usize>,
    /// Items of the shop at scale.
    #[arg(long, requires_all = ["users", "events"])]
    items: Option<usize>,
    /// Interactions of the shop at scale, in all (at least one per user).
    #[arg(long, requires_all = ["users", "items"])]
    events: Option<u64>,
    /// Taste clusters (default: one per 200 items, 8 to 5,000).
    #[arg(long, requires = "users")]
    clusters: Option<usize>,
}

impl Sample {
    pub async fn run(self) -> Result<ExitCode> {
        std::fs::create_dir_all(&self.out).map_err(|e| Error::InvalidInput(e.to_string()))?;
        if let (Some(users), Some(items), Some(events)) = (self.users, self.items, self.events) {
            return self.scale(users, items, events);
        }
        let data = tailor_core::sample::generate(self.seed, Default::default());
        let write = |name: &str, bytes: &[u8]| {
            std::fs::write(self.out.join(name), bytes)
                .map_err(|e| Error::InvalidInput(format!("cannot write {name}: {e}")))
        };
        write("interactions.csv", &data.interactions)?;
        if let Some(items) = &data.items {
            write("items.csv", items)?;
        }
        if let Some(users) = &data.users {
            write("users.csv", users)?;
        }
        say(&format!("wrote the sample to {}\n", self.out.display()));
        Ok(ExitCode::SUCCESS)
    }

    fn scale(&self, users: usize, items: usize, events: u64) -> Result<ExitCode> {
        use tailor_core::sample::scale::{generate, ScaleSpec};
        let spec = ScaleSpec {
            clusters: self.clusters,
            ..ScaleSpec::new(users, items, events, self.seed)
        };
        let create = |name: &str| {
            std::fs::File::create(self.out.join(name))
                .map(std::io::BufWriter::new)
                .map_err(|e| Error::InvalidInput(format!("cannot write {name}: {e}")))
        };
        let bar = progress::fraction("generating interactions");
        let planted = generate(
            &spec,
            create("interactions.csv")?,
            create("items.csv")?,
            create("users.csv")?,
            &mut |f| bar.set_position((f * 100.0) as u64),
        )
        .map_err(|e| Error::InvalidInput(e.to_string()))?;
        bar.finish_and_clear();
        say(&format!(
            "wrote {users} users, {items} items in {} taste clusters and {events} interactions to {}\n",
            planted.n_clusters,
            self.out.display()
        ));
        Ok(ExitCode::SUCCESS)
    }
}

fn read_text(path: &PathBuf) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::InvalidInput(format!("cannot read {}: {e}", path.display())))
}

#[derive(Debug, clap::Args)]
pub struct Compact {
    /// Dataset group name or ARN.
    #[arg(long)]
    dataset_group: String,
}

impl Compact {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        let arn = group_arn(tailor, &self.dataset_group);
        // Progress on stderr: stdout is the JSON answer, for scripts.
        eprintln!("compacting the events and put records of {arn}");
        let done = tailor.compact(&arn).await?;
        print_json(&done);
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, clap::Args)]
pub struct TrainingStepArgs {
    /// The step as the state machine sends it to the train function.
    json: String,
}

impl TrainingStepArgs {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        let step: tailor_core::services::training::TrainingStep = serde_json::from_str(&self.json)
            .map_err(|e| Error::InvalidInput(format!("training step: {e}")))?;
        let answer = tailor.run_training_step(step).await?;
        print_json(&answer);
        Ok(ExitCode::SUCCESS)
    }
}

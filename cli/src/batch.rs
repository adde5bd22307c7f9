//! batch-inference / batch-segment / delete-users: create the job as CreateBatchInferenceJob,
//! CreateBatchSegmentJob or CreateDataDeletionJob would, and run it here, on every core, with
//! a progress spinner; the job's record (list-/describe- through the API) has the outcome.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tailor_core::services::batch_jobs::{run_batch_job, CreateBatchJob};
use tailor_core::serving::Runtime;
use tailor_core::{Error, Result, Tailor};

use crate::commands::{group_arn, say};

#[derive(Debug, clap::Args)]
pub struct BatchJobArgs {
    /// Solution name or ARN (its newest ACTIVE version), or a solution version ARN.
    #[arg(long)]
    solution: String,
    /// JSON Lines input: a file or a directory of files (or s3://bucket/key).
    #[arg(long)]
    input: String,
    /// Output directory (or s3://bucket/prefix/): `<input file name>.out` per input file.
    #[arg(long)]
    output: String,
    /// Items (batch-inference) or users (batch-segment) per line.
    #[arg(long, default_value_t = 25)]
    num_results: u32,
    /// Filter name or ARN (item filters for inference, user filters for segments).
    #[arg(long)]
    filter: Option<String>,
    /// The job's name (default: batch-<time>).
    #[arg(long)]
    job_name: Option<String>,
    /// Threads to answer on (0 = every core; 1 = what one Lambda shard does).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

fn job_name(given: &Option<String>, kind: &str) -> String {
    given.clone().unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        format!("{kind}-{t}")
    })
}

fn spinner(label: String) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(label);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

impl BatchJobArgs {
    async fn create(&self, tailor: &Tailor, segment: bool) -> Result<String> {
        let version = crate::solutions::resolve_version(tailor, &self.solution).await?;
        let filter_arn = self.filter.as_ref().map(|f| {
            if f.starts_with("arn:") {
                f.clone()
            } else {
                tailor
                    .arns
                    .arn(tailor_core::domain::ResourceType::Filter, f)
            }
        });
        let req = CreateBatchJob {
            filter_arn,
            num_results: Some(self.num_results),
            ..CreateBatchJob::new(
                job_name(&self.job_name, if segment { "segment" } else { "batch" }),
                version,
                &self.input,
                &self.output,
            )
        };
        Ok(if segment {
            tailor
                .create_batch_segment_job(req)
                .await?
                .batch_segment_job_arn
        } else {
            tailor
                .create_batch_inference_job(req)
                .await?
                .batch_inference_job_arn
        })
    }

    pub async fn run(self, tailor: &Tailor, segment: bool) -> Result<ExitCode> {
        let arn = self.create(tailor, segment).await?;
        let bar = spinner(format!("answering {} ...", self.input));
        let started = std::time::Instant::now();
        let outcome = run_batch_job(&Runtime::new(tailor.clone()), &arn, self.threads).await;
        bar.finish_and_clear();
        let counts = outcome?;
        say(&format!(
            "{arn}: ACTIVE, {} lines ({} with an error) in {:.2} s -> {}\n",
            counts.lines,
            counts.failed,
            started.elapsed().as_secs_f64(),
            self.output
        ));
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, clap::Args)]
pub struct DeleteUsers {
    /// Dataset group name or ARN.
    #[arg(long)]
    dataset_group: String,
    /// A CSV whose USER_ID column names the users to delete (or s3://bucket/key).
    #[arg(long)]
    input: PathBuf,
    /// The job's name (default: deletion-<time>).
    #[arg(long)]
    job_name: Option<String>,
}

impl DeleteUsers {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        let group = group_arn(tailor, &self.dataset_group);
        let location = self.input.to_string_lossy().into_owned();
        if !location.starts_with("s3://") && !self.input.is_file() {
            return Err(Error::InvalidInput(format!(
                "--input {location}: no such file"
            )));
        }
        let job = tailor
            .create_data_deletion_job(
                &job_name(&self.job_name, "deletion"),
                &group,
                &location,
                None,
            )
            .await?;
        let bar = spinner(format!("deleting the users of {location} ..."));
        let outcome = tailor
            .run_data_deletion_job(&job.data_deletion_job_arn, None)
            .await;
        bar.finish_and_clear();
        let n = outcome?;
        say(&format!(
            "{}: COMPLETED, {n} users' data deleted; train again so no model keeps them\n",
            job.data_deletion_job_arn
        ));
        Ok(ExitCode::SUCCESS)
    }
}

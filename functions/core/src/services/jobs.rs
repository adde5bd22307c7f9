//! Running the control plane's long jobs (dataset import jobs, solution versions) after their
//! Create answered: the [`JobRunner`] port. Locally ([`LocalJobs`]) a job runs on a thread of
//! the process that created it; on AWS the control function hands it to the import or training
//! function (`tailor_aws::LambdaJobs`). Either way the job's record carries its outcome.

use std::future::Future;
use std::io::Read;
use std::sync::Arc;

use async_trait::async_trait;

use super::Tailor;
use crate::error::{Error, Result};
use crate::store::DataSources;

/// Starts jobs that are recorded CREATE PENDING; returns once they are handed over, not done.
#[async_trait]
pub trait JobRunner: Send + Sync {
    async fn start_import(&self, tailor: &Tailor, job_arn: &str) -> Result<()>;
    async fn start_training(&self, tailor: &Tailor, solution_version_arn: &str) -> Result<()>;
    /// A batch inference or batch segment job.
    async fn start_batch(&self, tailor: &Tailor, job_arn: &str) -> Result<()>;
    /// A data deletion job.
    async fn start_deletion(&self, tailor: &Tailor, job_arn: &str) -> Result<()>;
}

/// Runs each job on a thread of its own with its own runtime, off the server's workers (imports
/// and training are CPU-bound).
pub struct LocalJobs;

#[async_trait]
impl JobRunner for LocalJobs {
    async fn start_import(&self, tailor: &Tailor, job_arn: &str) -> Result<()> {
        let job = tailor.describe_dataset_import_job(job_arn).await?;
        // An s3:// location is read here, on the caller's runtime, where the SDK client's
        // connections live; a file is opened on the job's thread.
        let location = job.data_source.data_location.clone();
        let fetched = location
            .starts_with("s3://")
            .then(|| tokio::spawn(read_s3(tailor.sources.clone(), location.clone())));
        let arn = job_arn.to_string();
        in_background(tailor, arn.clone(), move |tailor| async move {
            let (mut input, size) = match fetched {
                Some(task) => bytes_input(
                    task.await
                        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string()))),
                ),
                None => file_input(&location),
            };
            tailor
                .run_dataset_import_job_from(&arn, &mut input, size, &mut |_, _| {})
                .await
                .map(|_| ())
        })
    }

    async fn start_training(&self, tailor: &Tailor, solution_version_arn: &str) -> Result<()> {
        let arn = solution_version_arn.to_string();
        in_background(tailor, arn.clone(), move |tailor| async move {
            tailor
                .train_solution_version(&arn, &mut |_, _| {})
                .await
                .map(|_| ())
        })
    }

    async fn start_batch(&self, tailor: &Tailor, job_arn: &str) -> Result<()> {
        let arn = job_arn.to_string();
        in_background(tailor, arn.clone(), move |tailor| async move {
            let runtime = crate::serving::Runtime::new(tailor);
            super::batch_jobs::run_batch_job(&runtime, &arn, 0)
                .await
                .map(|_| ())
        })
    }

    async fn start_deletion(&self, tailor: &Tailor, job_arn: &str) -> Result<()> {
        let arn = job_arn.to_string();
        in_background(tailor, arn.clone(), move |tailor| async move {
            tailor.run_data_deletion_job(&arn, None).await.map(|_| ())
        })
    }
}

/// Runs `job` on a new thread, logging a failure: the request that started it has answered.
fn in_background<F, Fut>(tailor: &Tailor, what: String, job: F) -> Result<()>
where
    F: FnOnce(Tailor) -> Fut + Send + 'static,
    Fut: Future<Output = Result<()>>,
{
    let tailor = tailor.clone();
    std::thread::Builder::new()
        .name("tailor-job".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let outcome = match rt {
                Ok(rt) => rt.block_on(job(tailor)),
                Err(e) => Err(Error::Internal(format!("no runtime for the job: {e}"))),
            };
            if let Err(e) = outcome {
                tracing::error!(job = %what, error = %e, "background job failed");
            }
        })
        .map(|_| ())
        .map_err(|e| Error::Internal(format!("could not start a background job: {e}")))
}

/// A reader that fails at once: the source could not be read, and the job records that as its
/// failure like any other read error.
struct Unreadable(Option<std::io::Error>);

impl Read for Unreadable {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| std::io::Error::other("unreadable")))
    }
}

type Input = (Box<dyn Read + Send>, u64);

fn bytes_input(bytes: std::io::Result<Vec<u8>>) -> Input {
    match bytes {
        Ok(bytes) => {
            let size = bytes.len() as u64;
            (Box::new(std::io::Cursor::new(bytes)), size)
        }
        Err(e) => (Box::new(Unreadable(Some(e))), 0),
    }
}

fn file_input(location: &str) -> Input {
    let path = location.strip_prefix("file://").unwrap_or(location);
    match std::fs::File::open(path) {
        Ok(f) => {
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            (Box::new(std::io::BufReader::new(f)), size)
        }
        Err(e) => (Box::new(Unreadable(Some(e))), 0),
    }
}

/// The bucket and key (or prefix) of an `s3://bucket/key` location; None for anything else,
/// an empty bucket or an empty key included.
pub(crate) fn s3_location(raw: &str) -> Option<(&str, &str)> {
    let (bucket, key) = raw.strip_prefix("s3://")?.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

/// `s3://bucket/key` (an object, or every object under a prefix) as one CSV.
pub(crate) async fn read_s3(
    sources: Option<Arc<dyn DataSources>>,
    location: String,
) -> std::io::Result<Vec<u8>> {
    let (bucket, key) = s3_location(&location)
        .ok_or_else(|| std::io::Error::other(format!("{location} is not s3://bucket/key")))?;
    let sources = sources.ok_or_else(|| std::io::Error::other("no S3 access"))?;
    match sources.fetch(bucket, key).await {
        Ok(objects) if objects.is_empty() => {
            Err(std::io::Error::other(format!("no object at {location}")))
        }
        Ok(objects) => Ok(concatenated(objects)),
        Err(e) => Err(std::io::Error::other(format!("reading {location}: {e}"))),
    }
}

/// Several CSV objects (a prefix's) as one: each after the first loses its header line when it
/// repeats the first's, so the import reads one table.
fn concatenated(objects: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut header: Option<Vec<u8>> = None;
    for (_, bytes) in objects {
        let first_line = bytes
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| i + 1);
        let body = match &header {
            None => {
                header = Some(bytes[..first_line].to_vec());
                &bytes[..]
            }
            Some(h) if bytes[..first_line].trim_ascii_end() == h.trim_ascii_end() => {
                &bytes[first_line..]
            }
            Some(_) => &bytes[..],
        };
        if !out.is_empty() && !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.extend_from_slice(body);
    }
    out
}

impl Tailor {
    /// Runs a pending import job from its `s3://` data location, here and now: what the import
    /// function does when the control function hands it a job.
    pub async fn run_dataset_import_job_from_source(&self, job_arn: &str) -> Result<()> {
        let job = self.describe_dataset_import_job(job_arn).await?;
        let location = job.data_source.data_location;
        let (mut input, size) = if location.starts_with("s3://") {
            bytes_input(read_s3(self.sources.clone(), location).await)
        } else {
            file_input(&location)
        };
        self.run_dataset_import_job_from(job_arn, &mut input, size, &mut |_, _| {})
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_locations_name_a_bucket_and_a_key() {
        assert_eq!(s3_location("s3://b/k/x.csv"), Some(("b", "k/x.csv")));
        assert_eq!(s3_location("s3://b/in/"), Some(("b", "in/")));
        for bad in ["s3://b", "s3://b/", "s3:///k", "file:///k", "b/k"] {
            assert_eq!(s3_location(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_prefix_of_csvs_reads_as_one_table() {
        let objects = vec![
            ("a.csv".into(), b"USER_ID,ITEM_ID\nu1,i1\n".to_vec()),
            ("b.csv".into(), b"USER_ID,ITEM_ID\r\nu2,i2".to_vec()),
            ("c.csv".into(), b"u3,i3\n".to_vec()),
        ];
        assert_eq!(
            String::from_utf8(concatenated(objects)).unwrap(),
            "USER_ID,ITEM_ID\nu1,i1\nu2,i2\nu3,i3\n"
        );
    }
}

//! Imports started by a file landing in the blob store (an S3 upload under `imports/`), where
//! the same notification may arrive twice.
//!
//! Key layout: `imports/<datasetGroupName>/<DATASET_TYPE>/<file>` imports FULL, and
//! `imports/<datasetGroupName>/<DATASET_TYPE>/incremental/<file>` imports INCREMENTAL.

use super::Tailor;
use crate::domain::{DatasetImportJob, ImportMode, Status};
use crate::error::{Error, Result};
use crate::schema::DatasetType;

/// The prefix uploads must sit under.
pub const IMPORTS_PREFIX: &str = "imports/";

/// What an uploaded key asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTarget {
    pub dataset_group_name: String,
    pub dataset_type: DatasetType,
    pub import_mode: ImportMode,
}

impl UploadTarget {
    /// Reads the dataset and import mode from an upload's key.
    pub fn from_key(key: &str) -> Result<UploadTarget> {
        let bad = |why: &str| {
            Error::InvalidInput(format!(
                "upload key '{key}' {why}: expected {IMPORTS_PREFIX}<datasetGroupName>/<INTERACTIONS|ITEMS|USERS>/[incremental/]<file>.csv"
            ))
        };
        let rest = key
            .strip_prefix(IMPORTS_PREFIX)
            .ok_or_else(|| bad("is not under imports/"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let (group, kind, mode) = match parts.as_slice() {
            [g, k, f] if !f.is_empty() => (*g, *k, ImportMode::Full),
            [g, k, m, f] if m.eq_ignore_ascii_case("incremental") && !f.is_empty() => {
                (*g, *k, ImportMode::Incremental)
            }
            _ => return Err(bad("has the wrong shape")),
        };
        if group.is_empty() {
            return Err(bad("names no dataset group"));
        }
        let dataset_type = kind
            .to_ascii_uppercase()
            .parse::<DatasetType>()
            .map_err(|_| bad(&format!("names an unknown dataset type '{kind}'")))?;
        Ok(UploadTarget {
            dataset_group_name: group.to_string(),
            dataset_type,
            import_mode: mode,
        })
    }
}

/// The import job name of one upload: the same object (key and content tag) always gets the
/// same name, so a redelivered notification finds the job it already made.
pub fn upload_job_name(key: &str, tag: &str) -> String {
    let mut a = crc32fast::Hasher::new();
    a.update(key.as_bytes());
    a.update(&[0]);
    a.update(tag.as_bytes());
    let mut b = crc32fast::Hasher::new_with_initial(0x7461_696c);
    b.update(tag.as_bytes());
    b.update(&[0]);
    b.update(key.as_bytes());
    format!("upload-{:08x}{:08x}", a.finalize(), b.finalize())
}

/// What handling an upload did.
#[derive(Debug)]
pub enum UploadOutcome {
    /// The job ran now (it may have ended CREATE FAILED on bad data).
    Imported { job: DatasetImportJob, rows: u64 },
    /// An earlier delivery of the same upload made the job; nothing was done.
    AlreadyHandled(DatasetImportJob),
}

impl Tailor {
    /// Imports the object at `key` (which `data_location`, e.g. `s3://bucket/key`, names for
    /// the job record) once per `tag` (the object's ETag or version): a second delivery of the
    /// same notification returns [`UploadOutcome::AlreadyHandled`].
    pub async fn import_upload(
        &self,
        key: &str,
        tag: &str,
        data_location: &str,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<UploadOutcome> {
        let target = UploadTarget::from_key(key)?;
        let dataset_arn = self
            .arns
            .dataset_arn(&target.dataset_group_name, target.dataset_type);
        let name = upload_job_name(key, tag);
        let job = match self
            .create_dataset_import_job(
                &name,
                &dataset_arn,
                data_location,
                target.import_mode,
                Default::default(),
            )
            .await
        {
            Ok(job) => job,
            Err(Error::AlreadyExists(_)) => {
                let arn = self
                    .arns
                    .arn(crate::domain::ResourceType::DatasetImportJob, &name);
                let job = self.describe_dataset_import_job(&arn).await?;
                // A delivery that died between recording the job and running it left it
                // pending: run it now rather than never.
                if job.status != Status::CreatePending {
                    return Ok(UploadOutcome::AlreadyHandled(job));
                }
                job
            }
            Err(e) => return Err(e),
        };
        let bytes = self
            .stores
            .blobs
            .get(key)
            .await?
            .ok_or_else(|| Error::NotFound(format!("uploaded object {key} is gone")))?;
        match self
            .run_dataset_import_job(&job.dataset_import_job_arn, &bytes, progress)
            .await
        {
            Ok(outcome) => Ok(UploadOutcome::Imported {
                job: outcome.job,
                rows: outcome.rows,
            }),
            // Two deliveries raced past the pending check: the other one runs the job.
            Err(Error::InUse(_)) => Ok(UploadOutcome::AlreadyHandled(
                self.describe_dataset_import_job(&job.dataset_import_job_arn)
                    .await?,
            )),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_dataset_and_mode() {
        let t = UploadTarget::from_key("imports/movielens/INTERACTIONS/ratings.csv").unwrap();
        assert_eq!(t.dataset_group_name, "movielens");
        assert_eq!(t.dataset_type, DatasetType::Interactions);
        assert_eq!(t.import_mode, ImportMode::Full);
        let t = UploadTarget::from_key("imports/shop/items/incremental/new.csv").unwrap();
        assert_eq!(t.dataset_type, DatasetType::Items);
        assert_eq!(t.import_mode, ImportMode::Incremental);
    }

    #[test]
    fn bad_keys_say_what_was_expected() {
        for key in [
            "datasets/x/INTERACTIONS/a.csv",
            "imports/movielens/ratings.csv",
            "imports/movielens/CLICKS/a.csv",
            "imports//INTERACTIONS/a.csv",
            "imports/g/ITEMS/full/a.csv",
            "imports/g/ITEMS/",
        ] {
            let e = UploadTarget::from_key(key).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{key}");
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn job_names_are_stable_per_object_and_valid() {
        let a = upload_job_name("imports/g/ITEMS/a.csv", "\"etag1\"");
        assert_eq!(a, upload_job_name("imports/g/ITEMS/a.csv", "\"etag1\""));
        assert_ne!(a, upload_job_name("imports/g/ITEMS/a.csv", "\"etag2\""));
        assert_ne!(a, upload_job_name("imports/g/ITEMS/b.csv", "\"etag1\""));
        crate::domain::validate_name("jobName", &a).unwrap();
    }
}

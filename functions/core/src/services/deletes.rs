//! Deleting resources, with Personalize's rules: a resource something else still uses is
//! ResourceInUse (naming what uses it), and one being created cannot be deleted. Deleting a
//! dataset or a solution deletes what only exists through it (import jobs and data files;
//! versions, metrics and models).
//!
//! Personalize has no DeleteDatasetImportJob or DeleteSolutionVersion; tailor offers both for
//! cleaning up a data directory, under the same rules.

use super::catalog::tables;
use super::Tailor;
use crate::domain::*;
use crate::error::{Error, Result};
use crate::schema::DatasetType;
use crate::store::Expect;

fn in_progress(status: Status) -> bool {
    matches!(
        status,
        Status::CreatePending | Status::CreateInProgress | Status::CreateStopping
    )
}

/// "a, b and 2 more": what is in use, short enough for one message.
fn some_of(arns: &[String]) -> String {
    match arns.len() {
        0..=2 => arns.join(", "),
        n => format!("{}, {} and {} more", arns[0], arns[1], n - 2),
    }
}

impl Tailor {
    /// A resource's record, and its tags with it.
    async fn remove(&self, table: &str, key: &str) -> Result<()> {
        self.stores.meta.delete(table, key, Expect::Any).await?;
        Ok(self
            .stores
            .meta
            .delete(tables::TAGS, key, Expect::Any)
            .await?)
    }

    /// Needs the group's datasets, solutions, event tracker and campaigns gone first, as in
    /// Personalize; its filters go with it.
    pub async fn delete_dataset_group(&self, arn: &str) -> Result<()> {
        self.describe_dataset_group(arn).await?;
        let mut users: Vec<String> = self
            .list_datasets(Some(arn))
            .await?
            .into_iter()
            .map(|d| d.dataset_arn)
            .collect();
        users.extend(
            self.list_solutions(Some(arn))
                .await?
                .into_iter()
                .map(|s| s.solution_arn),
        );
        users.extend(
            self.list_event_trackers(Some(arn))
                .await?
                .into_iter()
                .map(|t| t.event_tracker_arn),
        );
        if !users.is_empty() {
            return Err(Error::InUse(format!(
                "dataset group {arn} still has {}; delete them first",
                some_of(&users)
            )));
        }
        for f in self.list_filters(Some(arn)).await? {
            self.remove(tables::FILTERS, &f.filter_arn).await?;
        }
        self.remove(tables::DATASET_GROUPS, arn).await
    }

    /// A schema no dataset uses.
    pub async fn delete_schema(&self, arn: &str) -> Result<()> {
        self.describe_schema(arn).await?;
        let users: Vec<String> = self
            .list_datasets(None)
            .await?
            .into_iter()
            .filter(|d| d.schema_arn == arn)
            .map(|d| d.dataset_arn)
            .collect();
        if !users.is_empty() {
            return Err(Error::InUse(format!(
                "schema {arn} is used by {}",
                some_of(&users)
            )));
        }
        self.remove(tables::SCHEMAS, arn).await
    }

    /// A dataset with no import or training in progress on it; its data files, import jobs
    /// and PutItems / PutUsers records go with it.
    pub async fn delete_dataset(&self, arn: &str) -> Result<()> {
        let dataset = self.describe_dataset(arn).await?;
        let jobs = self.list_dataset_import_jobs(Some(arn)).await?;
        if let Some(j) = jobs.iter().find(|j| in_progress(j.status)) {
            return Err(Error::InUse(format!(
                "import job {} on dataset {arn} is {}",
                j.dataset_import_job_arn, j.status
            )));
        }
        let training: Vec<String> = self
            .list_solution_versions(None)
            .await?
            .into_iter()
            .filter(|v| v.dataset_group_arn == dataset.dataset_group_arn && in_progress(v.status))
            .map(|v| v.solution_version_arn)
            .collect();
        if !training.is_empty() {
            return Err(Error::InUse(format!(
                "solution version {} is training on dataset {arn}'s group",
                some_of(&training)
            )));
        }
        let group = self
            .describe_dataset_group(&dataset.dataset_group_arn)
            .await?;
        if let Some((pointer, _)) = self
            .get_record::<DatasetData>(tables::DATASET_DATA, arn)
            .await?
        {
            let keys = [
                Some(pointer.blob_key),
                pointer.events_key,
                pointer.serving_key,
            ];
            for key in keys.into_iter().flatten() {
                self.stores.blobs.delete(&key).await?;
            }
        }
        // Older data versions kept for readers in flight, under the dataset's prefixes.
        for prefix in data_prefixes(&group.name, dataset.dataset_type) {
            for key in self.stores.blobs.list(&prefix).await? {
                self.stores.blobs.delete(&key).await?;
            }
        }
        self.remove(tables::DATASET_DATA, arn).await?;
        self.remove(tables::DATASET_STATS, arn).await?;
        // PutItems / PutUsers records live in the group's table (they once were looked for in
        // the bare prefix, and outlived their dataset).
        let put_records = super::put_records_table(&group.name);
        for (key, _) in self.stores.meta.list(&put_records, Some(arn)).await? {
            self.remove(&put_records, &key).await?;
        }
        for j in jobs {
            self.remove(tables::IMPORT_JOBS, &j.dataset_import_job_arn)
                .await?;
        }
        self.remove(tables::DATASETS, arn).await
    }

    /// A finished import job's record; the data it imported stays in its dataset.
    pub async fn delete_dataset_import_job(&self, arn: &str) -> Result<()> {
        let job = self.describe_dataset_import_job(arn).await?;
        if in_progress(job.status) {
            return Err(Error::InUse(format!("import job {arn} is {}", job.status)));
        }
        self.remove(tables::IMPORT_JOBS, arn).await
    }

    /// A solution no campaign serves and none of whose versions is training; its versions,
    /// their metrics and models go with it.
    pub async fn delete_solution(&self, arn: &str) -> Result<()> {
        self.describe_solution(arn).await?;
        let versions = self.list_solution_versions(Some(arn)).await?;
        for v in &versions {
            self.check_version_unused(v).await?;
        }
        for v in versions {
            self.remove_version(&v.solution_version_arn).await?;
        }
        self.remove(tables::SOLUTIONS, arn).await
    }

    /// A version no campaign serves that is not training.
    pub async fn delete_solution_version(&self, arn: &str) -> Result<()> {
        let version = self.describe_solution_version(arn).await?;
        self.check_version_unused(&version).await?;
        self.remove_version(arn).await
    }

    async fn check_version_unused(&self, v: &SolutionVersion) -> Result<()> {
        if in_progress(v.status) {
            return Err(Error::InUse(format!(
                "solution version {} is {}",
                v.solution_version_arn, v.status
            )));
        }
        let campaigns: Vec<String> = self
            .list_campaigns(v.solution_version_arn.rsplit_once('/').map(|(s, _)| s))
            .await?
            .into_iter()
            .filter(|c| c.solution_version_arn == v.solution_version_arn)
            .map(|c| c.campaign_arn)
            .collect();
        if !campaigns.is_empty() {
            return Err(Error::InUse(format!(
                "solution version {} is served by campaign {}; delete the campaign first",
                v.solution_version_arn,
                some_of(&campaigns)
            )));
        }
        Ok(())
    }

    async fn remove_version(&self, arn: &str) -> Result<()> {
        if let Some((model, _)) = self
            .get_record::<ModelLocation>(tables::MODELS, arn)
            .await?
        {
            self.stores.blobs.delete(&model.blob_key).await?;
        }
        self.delete_shards(arn).await?;
        self.remove(tables::MODELS, arn).await?;
        self.remove(tables::SOLUTION_METRICS, arn).await?;
        self.remove(tables::SOLUTION_VERSIONS, arn).await
    }

    pub async fn delete_campaign(&self, arn: &str) -> Result<()> {
        self.describe_campaign(arn).await?;
        self.remove(tables::CAMPAIGNS, arn).await
    }

    /// The tracker's trackingId stops being accepted; events it recorded stay in the group.
    pub async fn delete_event_tracker(&self, arn: &str) -> Result<()> {
        self.describe_event_tracker(arn).await?;
        self.remove(tables::EVENT_TRACKERS, arn).await
    }

    pub async fn delete_filter(&self, arn: &str) -> Result<()> {
        self.describe_filter(arn).await?;
        self.remove(tables::FILTERS, arn).await
    }
}

/// Where a dataset's data files live: the bulk data, and compacted events beside it.
fn data_prefixes(group_name: &str, dataset_type: DatasetType) -> [String; 2] {
    [
        format!("datasets/{group_name}/{dataset_type}/"),
        format!("datasets/{group_name}/{dataset_type}-events/"),
    ]
}

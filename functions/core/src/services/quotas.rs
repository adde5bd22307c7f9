//! Personalize's service quotas, enforced with LimitExceededException. Personalize's are
//! adjustable on request; tailor's are adjustable by configuration (`TAILOR_QUOTAS`, for
//! example `dataset-groups=20,campaigns-per-group=8`), the defaults being Personalize's.

use std::str::FromStr;

use super::Tailor;
use crate::domain::*;
use crate::error::{Error, Result};

/// One quota: its configuration name, its default (Personalize's), what it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub name: &'static str,
    pub default: usize,
    pub counts: &'static str,
}

pub const DATASET_GROUPS: Quota = Quota {
    name: "dataset-groups",
    default: 5,
    counts: "active dataset groups per region",
};
pub const SCHEMAS: Quota = Quota {
    name: "schemas",
    default: 500,
    counts: "schemas per region",
};
pub const SOLUTIONS_PER_GROUP: Quota = Quota {
    name: "solutions-per-group",
    default: 10,
    counts: "active solutions per dataset group",
};
pub const CAMPAIGNS_PER_GROUP: Quota = Quota {
    name: "campaigns-per-group",
    default: 5,
    counts: "active campaigns per dataset group",
};
pub const FILTERS_PER_GROUP: Quota = Quota {
    name: "filters-per-group",
    default: 10,
    counts: "filters per dataset group",
};
pub const PENDING_IMPORT_JOBS: Quota = Quota {
    name: "pending-import-jobs",
    default: 5,
    counts: "dataset import jobs pending or in progress per region",
};
pub const PENDING_SOLUTION_VERSIONS: Quota = Quota {
    name: "pending-solution-versions",
    default: 20,
    counts: "solution versions pending or in progress per region",
};

pub const PENDING_BATCH_INFERENCE_JOBS: Quota = Quota {
    name: "pending-batch-inference-jobs",
    default: 5,
    counts: "batch inference jobs pending or in progress per region",
};
pub const PENDING_BATCH_SEGMENT_JOBS: Quota = Quota {
    name: "pending-batch-segment-jobs",
    default: 5,
    counts: "batch segment jobs pending or in progress per region",
};

const ALL: [Quota; 9] = [
    DATASET_GROUPS,
    SCHEMAS,
    SOLUTIONS_PER_GROUP,
    CAMPAIGNS_PER_GROUP,
    FILTERS_PER_GROUP,
    PENDING_IMPORT_JOBS,
    PENDING_SOLUTION_VERSIONS,
    PENDING_BATCH_INFERENCE_JOBS,
    PENDING_BATCH_SEGMENT_JOBS,
];

/// The quotas in force: Personalize's defaults, less or more where configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quotas {
    values: [usize; ALL.len()],
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            values: ALL.map(|q| q.default),
        }
    }
}

impl Quotas {
    pub fn get(&self, quota: Quota) -> usize {
        ALL.iter()
            .position(|q| *q == quota)
            .map_or(quota.default, |i| self.values[i])
    }

    /// Fails with LimitExceeded when `count` more would pass `quota`.
    pub fn check(&self, quota: Quota, existing: usize) -> Result<()> {
        let limit = self.get(quota);
        if existing >= limit {
            return Err(Error::LimitExceeded(format!(
                "the quota of {limit} {} is reached (raise it with TAILOR_QUOTAS={}=N)",
                quota.counts, quota.name
            )));
        }
        Ok(())
    }
}

/// `name=N,name=N`: the quotas to change from their defaults.
impl FromStr for Quotas {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Quotas, String> {
        let mut quotas = Quotas::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("quota '{part}' is not name=N"))?;
            let i = ALL
                .iter()
                .position(|q| q.name == name.trim())
                .ok_or_else(|| {
                    let names: Vec<&str> = ALL.iter().map(|q| q.name).collect();
                    format!(
                        "no quota is named '{name}' (there are {})",
                        names.join(", ")
                    )
                })?;
            quotas.values[i] = value
                .trim()
                .parse()
                .map_err(|_| format!("quota {name}={value} is not a whole number"))?;
        }
        Ok(quotas)
    }
}

fn live(status: Status) -> bool {
    !matches!(
        status,
        Status::CreateFailed | Status::CreateStopped | Status::DeletePending
    )
}

fn pending(status: Status) -> bool {
    matches!(
        status,
        Status::CreatePending | Status::CreateInProgress | Status::CreateStopping
    )
}

impl Tailor {
    pub(crate) async fn check_dataset_group_quota(&self) -> Result<()> {
        let groups = self.list_dataset_groups().await?;
        let n = groups.iter().filter(|g| live(g.status)).count();
        self.quotas.check(DATASET_GROUPS, n)
    }

    pub(crate) async fn check_schema_quota(&self) -> Result<()> {
        self.quotas.check(SCHEMAS, self.list_schemas().await?.len())
    }

    pub(crate) async fn check_solution_quota(&self, group: &str) -> Result<()> {
        let solutions = self.list_solutions(Some(group)).await?;
        let n = solutions.iter().filter(|s| live(s.status)).count();
        self.quotas.check(SOLUTIONS_PER_GROUP, n)
    }

    pub(crate) async fn check_campaign_quota(&self, group: &str) -> Result<()> {
        let mut n = 0;
        for solution in self.list_solutions(Some(group)).await? {
            let campaigns = self.list_campaigns(Some(&solution.solution_arn)).await?;
            n += campaigns.iter().filter(|c| live(c.status)).count();
        }
        self.quotas.check(CAMPAIGNS_PER_GROUP, n)
    }

    pub(crate) async fn check_filter_quota(&self, group: &str) -> Result<()> {
        let n = self.list_filters(Some(group)).await?.len();
        self.quotas.check(FILTERS_PER_GROUP, n)
    }

    pub(crate) async fn check_pending_import_quota(&self) -> Result<()> {
        let jobs = self.list_dataset_import_jobs(None).await?;
        let n = jobs.iter().filter(|j| pending(j.status)).count();
        self.quotas.check(PENDING_IMPORT_JOBS, n)
    }

    pub(crate) async fn check_pending_batch_quota<T: super::catalog::Resource>(
        &self,
        quota: Quota,
        status: fn(&T) -> Status,
    ) -> Result<()> {
        let jobs: Vec<T> = self.list_records(None).await?;
        let n = jobs.iter().filter(|j| pending(status(j))).count();
        self.quotas.check(quota, n)
    }

    pub(crate) async fn check_pending_version_quota(&self) -> Result<()> {
        let versions = self.list_solution_versions(None).await?;
        let n = versions.iter().filter(|v| pending(v.status)).count();
        self.quotas.check(PENDING_SOLUTION_VERSIONS, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_and_check() {
        let q: Quotas = "dataset-groups=20, campaigns-per-group=1".parse().unwrap();
        assert_eq!(q.get(DATASET_GROUPS), 20);
        assert_eq!(q.get(CAMPAIGNS_PER_GROUP), 1);
        assert_eq!(q.get(FILTERS_PER_GROUP), 10, "the rest keep Personalize's");
        assert!(q.check(CAMPAIGNS_PER_GROUP, 0).is_ok());
        let e = q.check(CAMPAIGNS_PER_GROUP, 1).unwrap_err();
        assert_eq!(e.kind().name(), "LimitExceededException");
        assert!(e.to_string().contains("campaigns-per-group"), "{e}");
        for bad in [
            "groups=3",
            "dataset-groups",
            "dataset-groups=x",
            "schemas=-1",
        ] {
            assert!(bad.parse::<Quotas>().is_err(), "{bad}");
        }
        assert_eq!("".parse::<Quotas>().unwrap(), Quotas::default());
    }
}

//! list-* / describe-* / delete-* for every resource: thin wrappers over the core services'
//! List, Describe and Delete, with a table for people and `--json` for scripts.

use std::process::ExitCode;

use serde_json::Value;
use tailor_core::domain::ResourceType;
use tailor_core::schema::DatasetType;
use tailor_core::{Error, Result, Tailor};

use crate::commands::{group_arn, say};

/// The resources the look-ups cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    DatasetGroup,
    Schema,
    Dataset,
    ImportJob,
    Solution,
    SolutionVersion,
    Campaign,
    Filter,
    EventTracker,
}

impl Kind {
    /// The record's ARN field, as on the wire.
    fn arn_field(self) -> &'static str {
        match self {
            Kind::DatasetGroup => "datasetGroupArn",
            Kind::Schema => "schemaArn",
            Kind::Dataset => "datasetArn",
            Kind::ImportJob => "datasetImportJobArn",
            Kind::Solution => "solutionArn",
            Kind::SolutionVersion => "solutionVersionArn",
            Kind::Campaign => "campaignArn",
            Kind::Filter => "filterArn",
            Kind::EventTracker => "eventTrackerArn",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::DatasetGroup => "dataset group",
            Kind::Schema => "schema",
            Kind::Dataset => "dataset",
            Kind::ImportJob => "import job",
            Kind::Solution => "solution",
            Kind::SolutionVersion => "solution version",
            Kind::Campaign => "campaign",
            Kind::Filter => "filter",
            Kind::EventTracker => "event tracker",
        }
    }

    /// The ARN of a name (a dataset is `GROUP/TYPE`, a version `SOLUTION/ID`), or an ARN as is.
    fn arn(self, tailor: &Tailor, name_or_arn: &str) -> Result<String> {
        if name_or_arn.starts_with("arn:") {
            return Ok(name_or_arn.to_string());
        }
        let kind = match self {
            Kind::DatasetGroup => ResourceType::DatasetGroup,
            Kind::Schema => ResourceType::Schema,
            Kind::Dataset => {
                let (group, ty) = name_or_arn.split_once('/').ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "dataset '{name_or_arn}': give GROUP/TYPE (e.g. demo/INTERACTIONS) or its ARN"
                    ))
                })?;
                let ty: DatasetType = ty.parse().map_err(Error::InvalidInput)?;
                return Ok(tailor.arns.dataset_arn(group, ty));
            }
            Kind::ImportJob => ResourceType::DatasetImportJob,
            Kind::Solution => ResourceType::Solution,
            Kind::SolutionVersion => {
                if !name_or_arn.contains('/') {
                    return Err(Error::InvalidInput(format!(
                        "solution version '{name_or_arn}': give SOLUTION/ID or its ARN \
                         (`tailor list-solution-versions --solution NAME` lists them)"
                    )));
                }
                ResourceType::Solution
            }
            Kind::Campaign => ResourceType::Campaign,
            Kind::Filter => ResourceType::Filter,
            Kind::EventTracker => ResourceType::EventTracker,
        };
        Ok(tailor.arns.arn(kind, name_or_arn))
    }
}

fn to_value<T: serde::Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::Internal(e.to_string()))
}

fn to_values<T: serde::Serialize>(v: Vec<T>) -> Result<Vec<Value>> {
    v.into_iter().map(to_value).collect()
}

fn print_json(v: &Value) {
    say(&format!(
        "{}\n",
        serde_json::to_string_pretty(v).unwrap_or_default()
    ));
}

/// Print JSON instead of a table.
#[derive(Debug, clap::Args)]
pub struct Json {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// list-dataset-groups, list-schemas.
#[derive(Debug, clap::Args)]
pub struct ListAll {
    #[command(flatten)]
    out: Json,
}

/// list-datasets, list-dataset-import-jobs, list-solutions, list-filters, list-event-trackers.
#[derive(Debug, clap::Args)]
pub struct ListInGroup {
    /// Only those of this dataset group (name or ARN).
    #[arg(long)]
    dataset_group: Option<String>,
    #[command(flatten)]
    out: Json,
}

/// list-solution-versions, list-campaigns.
#[derive(Debug, clap::Args)]
pub struct ListOfSolution {
    /// Only those of this solution (name or ARN).
    #[arg(long)]
    solution: Option<String>,
    #[command(flatten)]
    out: Json,
}

/// describe-* and delete-*: one resource.
#[derive(Debug, clap::Args)]
pub struct One {
    /// Name or ARN (a dataset: GROUP/TYPE; a solution version: SOLUTION/ID).
    name: String,
    #[command(flatten)]
    out: Json,
}

impl ListAll {
    pub async fn run(self, tailor: &Tailor, kind: Kind) -> Result<ExitCode> {
        let rows = match kind {
            Kind::DatasetGroup => to_values(tailor.list_dataset_groups().await?)?,
            Kind::Schema => to_values(tailor.list_schemas().await?)?,
            _ => {
                return Err(Error::Internal(format!(
                    "no plain list of {}s",
                    kind.noun()
                )))
            }
        };
        show_list(kind, rows, self.out.json)
    }
}

impl ListInGroup {
    pub async fn run(self, tailor: &Tailor, kind: Kind) -> Result<ExitCode> {
        let group = self.dataset_group.as_deref().map(|g| group_arn(tailor, g));
        let group = group.as_deref();
        if let Some(g) = group {
            // An unknown group is an error, not an empty list: a typo should say so.
            tailor.describe_dataset_group(g).await?;
        }
        let rows = match kind {
            Kind::Dataset => to_values(tailor.list_datasets(group).await?)?,
            Kind::Solution => to_values(tailor.list_solutions(group).await?)?,
            Kind::Filter => to_values(tailor.list_filters(group).await?)?,
            Kind::EventTracker => to_values(tailor.list_event_trackers(group).await?)?,
            Kind::ImportJob => {
                let datasets: Vec<String> = tailor
                    .list_datasets(group)
                    .await?
                    .into_iter()
                    .map(|d| d.dataset_arn)
                    .collect();
                let mut all = tailor.list_dataset_import_jobs(None).await?;
                all.retain(|j| group.is_none() || datasets.contains(&j.dataset_arn));
                all.sort_by(|a, b| a.creation_date_time.total_cmp(&b.creation_date_time));
                to_values(all)?
            }
            _ => {
                return Err(Error::Internal(format!(
                    "no list of {}s by group",
                    kind.noun()
                )))
            }
        };
        show_list(kind, rows, self.out.json)
    }
}

impl ListOfSolution {
    pub async fn run(self, tailor: &Tailor, kind: Kind) -> Result<ExitCode> {
        let solution = match &self.solution {
            Some(s) => {
                let arn = Kind::Solution.arn(tailor, s)?;
                tailor.describe_solution(&arn).await?;
                Some(arn)
            }
            None => None,
        };
        let rows = match kind {
            Kind::SolutionVersion => {
                to_values(tailor.list_solution_versions(solution.as_deref()).await?)?
            }
            Kind::Campaign => to_values(tailor.list_campaigns(solution.as_deref()).await?)?,
            _ => {
                return Err(Error::Internal(format!(
                    "no list of {}s by solution",
                    kind.noun()
                )))
            }
        };
        show_list(kind, rows, self.out.json)
    }
}

impl One {
    pub async fn describe(self, tailor: &Tailor, kind: Kind) -> Result<ExitCode> {
        let arn = kind.arn(tailor, &self.name)?;
        // The control plane's own Describe: the same shape boto3 gets (latestSolutionVersion,
        // no internal bookkeeping), not a second rendering of the record.
        let field = kind.arn_field().trim_end_matches("Arn");
        let operation = format!("Describe{}{}", field[..1].to_uppercase(), &field[1..]);
        let body = serde_json::json!({ kind.arn_field(): arn }).to_string();
        let mut answer = tailor_core::api::control::dispatch(tailor, &operation, body.as_bytes())
            .await
            .ok_or_else(|| tailor_core::Error::Internal(format!("no operation {operation}")))??;
        let record = answer[field].take();
        if self.out.json {
            print_json(&record);
        } else {
            say(&fields(&record));
        }
        Ok(ExitCode::SUCCESS)
    }

    pub async fn delete(self, tailor: &Tailor, kind: Kind) -> Result<ExitCode> {
        let arn = kind.arn(tailor, &self.name)?;
        match kind {
            Kind::DatasetGroup => tailor.delete_dataset_group(&arn).await?,
            Kind::Schema => tailor.delete_schema(&arn).await?,
            Kind::Dataset => tailor.delete_dataset(&arn).await?,
            Kind::ImportJob => tailor.delete_dataset_import_job(&arn).await?,
            Kind::Solution => tailor.delete_solution(&arn).await?,
            Kind::SolutionVersion => tailor.delete_solution_version(&arn).await?,
            Kind::Campaign => tailor.delete_campaign(&arn).await?,
            Kind::Filter => tailor.delete_filter(&arn).await?,
            Kind::EventTracker => tailor.delete_event_tracker(&arn).await?,
        }
        if self.out.json {
            print_json(&serde_json::json!({ kind.arn_field(): arn, "deleted": true }));
        } else {
            say(&format!("deleted {} {arn}\n", kind.noun()));
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One `field  value` line per top-level field, nested values as compact JSON.
fn fields(record: &Value) -> String {
    let Some(map) = record.as_object() else {
        return format!("{record}\n");
    };
    let width = map.keys().map(|k| k.len()).max().unwrap_or(0);
    map.iter()
        .map(|(k, v)| format!("{k:<width$}  {}\n", text_of(v)))
        .collect()
}

/// Name, status, creation time and ARN, one resource a line.
fn show_list(kind: Kind, rows: Vec<Value>, json: bool) -> Result<ExitCode> {
    if json {
        print_json(&Value::Array(rows));
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        say(&format!("no {}s\n", kind.noun()));
        return Ok(ExitCode::SUCCESS);
    }
    let cell = |r: &Value, k: &str| r.get(k).map(text_of).unwrap_or_else(|| "-".into());
    let table: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            let arn = cell(r, kind.arn_field());
            // A solution version is usually unnamed; its id is what SOLUTION/ID takes.
            let name = match (r.get("name"), r.get("jobName")) {
                (Some(Value::String(n)), _) | (_, Some(Value::String(n))) => n.clone(),
                _ if kind == Kind::SolutionVersion => arn
                    .rsplit_once(":solution/")
                    .map_or_else(|| "-".into(), |(_, path)| path.to_string()),
                _ => "-".into(),
            };
            let created = r
                .get("creationDateTime")
                .and_then(Value::as_f64)
                .map_or_else(|| "-".into(), |t| crate::commands::iso(t as i64));
            [name, cell(r, "status"), created, arn]
        })
        .collect();
    let w = |i: usize| {
        table
            .iter()
            .map(|r| r[i].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (w(0).max(4), w(1).max(6), w(2).max(7));
    let mut o = format!(
        "{:<w0$}  {:<w1$}  {:<w2$}  ARN\n",
        "NAME", "STATUS", "CREATED"
    );
    for [name, status, created, arn] in &table {
        o.push_str(&format!(
            "{name:<w0$}  {status:<w1$}  {created:<w2$}  {arn}\n"
        ));
    }
    say(&o);
    Ok(ExitCode::SUCCESS)
}

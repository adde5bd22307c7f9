//! Solutions, training and answers from a trained model.

use std::process::ExitCode;

use tailor_core::api::runtime::{
    GetPersonalizedRankingRequest, GetRecommendationsRequest, PredictedItem,
};
use tailor_core::data::{Table, Values};
use tailor_core::domain::{ResourceType, SolutionConfig, SolutionVersion, Status, TrainingMode};
use tailor_core::evaluation::Report;
use tailor_core::schema::DatasetType;
use tailor_core::services::CreateSolution;
use tailor_core::serving::{CampaignState, Runtime};
use tailor_core::{Error, Result, Tailor};

use crate::commands::{group_arn, say};
use crate::recipes::{parse_hp, table};

fn solution_arn(tailor: &Tailor, name_or_arn: &str) -> String {
    if name_or_arn.starts_with("arn:") {
        name_or_arn.to_string()
    } else {
        tailor.arns.arn(ResourceType::Solution, name_or_arn)
    }
}

#[derive(Debug, clap::Args)]
pub struct CreateSolutionArgs {
    /// Name of the solution.
    #[arg(long)]
    name: String,
    /// Dataset group name or ARN.
    #[arg(long)]
    dataset_group: String,
    /// Recipe name or ARN, e.g. aws-user-personalization.
    #[arg(long)]
    recipe: String,
    /// Hyperparameter `key=value` (repeatable).
    #[arg(long)]
    hp: Vec<String>,
    /// Train only on this event type.
    #[arg(long)]
    event_type: Option<String>,
    /// A JSON file holding solutionConfig's hpoConfig: every training of the solution tunes
    /// the ranges it gives (performHPO).
    #[arg(long)]
    hpo_config: Option<std::path::PathBuf>,
    /// solutionConfig.optimizationObjective: a numeric Items column to favour...
    #[arg(long)]
    objective_attribute: Option<String>,
    /// ...at this objectiveSensitivity (OFF, LOW, MEDIUM, HIGH).
    #[arg(long, requires = "objective_attribute")]
    objective_sensitivity: Option<String>,
    /// performAutoTraining every this many days (1-30): `tailor serve` then trains a FULL
    /// version when one is due (the first an hour after creation).
    #[arg(long)]
    auto_training_days: Option<u32>,
}

impl CreateSolutionArgs {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        let solution = tailor.create_solution(self.request(tailor)?).await?;
        say(&format!(
            "{}\n",
            serde_json::to_string_pretty(&solution).unwrap_or_default()
        ));
        Ok(ExitCode::SUCCESS)
    }

    fn request(&self, tailor: &Tailor) -> Result<CreateSolution> {
        let hp = parse_hp(&self.hp)?;
        let mut solution_config = SolutionConfig {
            algorithm_hyper_parameters: hp.0,
            ..Default::default()
        };
        if let Some(path) = &self.hpo_config {
            let bytes = std::fs::read(path)
                .map_err(|e| Error::InvalidInput(format!("cannot read {}: {e}", path.display())))?;
            let config: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| Error::InvalidInput(format!("{}: not JSON: {e}", path.display())))?;
            solution_config.other.insert("hpoConfig".into(), config);
        }
        if let Some(attribute) = &self.objective_attribute {
            let mut o = serde_json::json!({ "itemAttribute": attribute });
            if let Some(level) = &self.objective_sensitivity {
                o["objectiveSensitivity"] = serde_json::json!(level);
            }
            solution_config
                .other
                .insert("optimizationObjective".into(), o);
        }
        if let Some(days) = self.auto_training_days {
            solution_config.other.insert(
                "autoTrainingConfig".into(),
                serde_json::json!({ "schedulingExpression": format!("rate({days} days)") }),
            );
        }
        Ok(CreateSolution {
            name: self.name.clone(),
            dataset_group_arn: group_arn(tailor, &self.dataset_group),
            recipe_arn: self.recipe.clone(),
            event_type: self.event_type.clone(),
            solution_config,
            perform_hpo: self.hpo_config.is_some(),
            perform_auto_training: self.auto_training_days.is_some(),
            perform_incremental_update: false,
        })
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Mode {
    Full,
    Update,
}

#[derive(Debug, clap::Args)]
pub struct Train {
    /// Solution name or ARN.
    #[arg(long)]
    solution: String,
    /// FULL trains from scratch; UPDATE takes in new items, users and events without a refit
    /// (user-personalization).
    #[arg(long, value_enum, default_value = "full")]
    mode: Mode,
}

impl Train {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        let mode = match self.mode {
            Mode::Full => TrainingMode::Full,
            Mode::Update => TrainingMode::Update,
        };
        let version = train(tailor, &solution_arn(tailor, &self.solution), mode).await?;
        Ok(if version.status == Status::Active {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

/// Creates and trains a version with a progress bar; prints its status and metrics.
pub async fn train(
    tailor: &Tailor,
    solution_arn: &str,
    mode: TrainingMode,
) -> Result<SolutionVersion> {
    let version = tailor
        .create_solution_version(solution_arn, mode, None)
        .await?;
    let bar = crate::progress::fraction("training");
    let started = std::time::Instant::now();
    let done = tailor
        .train_solution_version(&version.solution_version_arn, &mut |stage, f| {
            bar.set_message(stage.to_string());
            bar.set_position((f * 100.0) as u64);
        })
        .await;
    bar.finish_and_clear();
    let done = done?;
    eprintln!(
        "{}: {} after {:.2} s",
        done.solution_version_arn,
        done.status,
        started.elapsed().as_secs_f64()
    );
    match done.status {
        Status::Active => {
            let metrics = tailor
                .get_solution_metrics(&done.solution_version_arn)
                .await?;
            let report = Report {
                recipe: done
                    .recipe_arn
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                metrics: metrics.metrics,
                curves: Default::default(),
                fit_seconds: started.elapsed().as_secs_f64(),
                users_evaluated: 0,
                catalogue: 0,
            };
            let text = table(std::slice::from_ref(&report));
            say(&format!(
                "offline metrics (the newest 20% of each user's events in this dataset group held out):\n{}",
                text.lines().take(2).collect::<Vec<_>>().join("\n") + "\n"
            ));
        }
        _ => eprintln!(
            "  {}",
            done.failure_reason.as_deref().unwrap_or("unknown failure")
        ),
    }
    Ok(done)
}

/// What a query runs against: a campaign, or a solution's newest ACTIVE version served as a
/// campaign with the default configuration. Either way the answer comes from the same runtime
/// the server and the Lambdas answer with.
struct Target {
    runtime: Runtime,
    state: std::sync::Arc<CampaignState>,
    group: String,
}

/// A solution version ARN as given, or a solution's (name or ARN) newest ACTIVE version.
pub async fn resolve_version(tailor: &Tailor, solution: &str) -> Result<String> {
    if solution.matches('/').count() >= 2 {
        return Ok(solution.to_string());
    }
    let arn = solution_arn(tailor, solution);
    Ok(tailor
        .latest_active_version(&arn)
        .await?
        .ok_or_else(|| Error::InvalidInput(format!("solution {solution} has no ACTIVE version; run `tailor train --solution {solution}`")))?
        .solution_version_arn)
}

async fn target(tailor: &Tailor, solution: &str, campaign: Option<&str>) -> Result<Target> {
    let runtime = Runtime::new(tailor.clone());
    let state = match campaign {
        Some(c) => {
            let arn = if c.starts_with("arn:") {
                c.to_string()
            } else {
                tailor.arns.arn(ResourceType::Campaign, c)
            };
            runtime.campaign(&arn).await?
        }
        None => {
            let version = resolve_version(tailor, solution).await?;
            runtime.solution_version(&version).await?
        }
    };
    let group = state.group.arn.clone();
    Ok(Target {
        runtime,
        state,
        group,
    })
}

/// Titles by item id, when the group's items dataset has a TITLE column.
async fn titles(tailor: &Tailor, group: &str) -> Option<Table> {
    let g = tailor.describe_dataset_group(group).await.ok()?;
    let table = match tailor
        .load_dataset(&tailor.arns.dataset_arn(&g.name, DatasetType::Items))
        .await
    {
        Ok(t) => t?,
        // Titles only decorate the answer: say the items data is unreadable, answer without.
        Err(tailor_core::Error::NotFound(_)) => return None,
        Err(e) => {
            tracing::error!(error = %e, "items dataset unreadable: answering without titles");
            return None;
        }
    };
    table.column("TITLE").is_some().then_some(table)
}

fn title_of(items: Option<&Table>, id: &str) -> String {
    let Some(t) = items else { return String::new() };
    let (Some((dict, codes)), Some(Values::Str(titles))) = (t.codes("ITEM_ID"), t.column("TITLE"))
    else {
        return String::new();
    };
    dict.get(id)
        .and_then(|c| codes.iter().position(|&x| x == c))
        .and_then(|row| titles[row].as_deref())
        .unwrap_or_default()
        .to_string()
}

fn print_items(items: &[PredictedItem], titles: Option<&Table>) {
    let mut o = String::new();
    for (rank, p) in items.iter().enumerate() {
        let score = p
            .score
            .map(|s| format!("{s:.4}"))
            .unwrap_or_else(|| "-".into());
        o.push_str(&format!(
            "{:>3}. {:<12} {:>8}  {}\n",
            rank + 1,
            p.item_id,
            score,
            title_of(titles, &p.item_id)
        ));
    }
    say(&o);
}

#[derive(Debug, clap::Args)]
pub struct Recommend {
    /// Solution name or ARN (its newest ACTIVE version), or a solution version ARN.
    #[arg(long, required_unless_present = "campaign")]
    solution: Option<String>,
    /// Or a campaign name or ARN: exactly what GetRecommendations answers.
    #[arg(long)]
    campaign: Option<String>,
    /// The user (or session id) to recommend for.
    #[arg(long)]
    user_id: String,
    /// How many items.
    #[arg(long, default_value_t = 10)]
    num_results: usize,
    /// Print the GetRecommendations response as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl Recommend {
    pub fn new(solution: &str, user_id: &str, num_results: usize) -> Self {
        Recommend {
            solution: Some(solution.into()),
            campaign: None,
            user_id: user_id.into(),
            num_results,
            json: false,
        }
    }

    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        let solution = self.solution.as_deref().unwrap_or_default();
        let t = target(tailor, solution, self.campaign.as_deref()).await?;
        let req = GetRecommendationsRequest {
            campaign_arn: Some(t.state.campaign.campaign_arn.clone()),
            user_id: Some(self.user_id),
            num_results: Some(self.num_results),
            ..Default::default()
        };
        let recs = t.runtime.recommend_with(&t.state, &req).await?;
        if self.json {
            say(&format!(
                "{}\n",
                serde_json::to_string(&recs).map_err(|e| Error::Internal(e.to_string()))?
            ));
        } else {
            print_items(&recs.item_list, titles(tailor, &t.group).await.as_ref());
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, clap::Args)]
pub struct Similar {
    /// Solution name or ARN (its newest ACTIVE version), or a solution version ARN.
    #[arg(long)]
    solution: String,
    /// The item to find related items for.
    #[arg(long, required_unless_present = "title")]
    item_id: Option<String>,
    /// Or the first item whose TITLE contains this text (case-insensitive).
    #[arg(long)]
    title: Option<String>,
    /// How many items.
    #[arg(long, default_value_t = 10)]
    num_results: usize,
}

/// The id of the first item whose title contains `needle`, ignoring case.
fn find_title(items: Option<&Table>, needle: &str) -> Option<String> {
    let t = items?;
    let (Some((dict, codes)), Some(Values::Str(titles))) = (t.codes("ITEM_ID"), t.column("TITLE"))
    else {
        return None;
    };
    let needle = needle.to_lowercase();
    titles
        .iter()
        .position(|title| {
            title
                .as_deref()
                .is_some_and(|s| s.to_lowercase().contains(&needle))
        })
        .map(|row| dict.name(codes[row]).to_string())
}

impl Similar {
    pub fn by_title(solution: &str, title: &str, num_results: usize) -> Self {
        Similar {
            solution: solution.into(),
            item_id: None,
            title: Some(title.into()),
            num_results,
        }
    }

    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        let t = target(tailor, &self.solution, None).await?;
        let items = titles(tailor, &t.group).await;
        let id = match (&self.item_id, &self.title) {
            (Some(id), _) => id.clone(),
            (None, Some(_)) if items.is_none() => {
                let group = tailor.describe_dataset_group(&t.group).await?.name;
                return Err(Error::InvalidInput(format!(
                    "--title needs item titles, and dataset group {group} has no Items dataset \
                     with a TITLE column; give --item-id instead"
                )));
            }
            (None, Some(text)) => find_title(items.as_ref(), text)
                .ok_or_else(|| Error::NotFound(format!("no item title contains '{text}'")))?,
            (None, None) => return Err(Error::InvalidInput("give --item-id or --title".into())),
        };
        say(&format!(
            "related to {id} {}\n",
            title_of(items.as_ref(), &id)
        ));
        let req = GetRecommendationsRequest {
            campaign_arn: Some(t.state.campaign.campaign_arn.clone()),
            item_id: Some(id),
            num_results: Some(self.num_results),
            ..Default::default()
        };
        let recs = t.runtime.recommend_with(&t.state, &req).await?;
        print_items(&recs.item_list, items.as_ref());
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, clap::Args)]
pub struct Rank {
    /// Solution name or ARN (its newest ACTIVE version), or a solution version ARN.
    #[arg(long)]
    solution: String,
    /// The user to rank for.
    #[arg(long)]
    user_id: String,
    /// Item ids to re-rank, comma-separated.
    #[arg(long, value_delimiter = ',')]
    items: Vec<String>,
}

impl Rank {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        let t = target(tailor, &self.solution, None).await?;
        let req = GetPersonalizedRankingRequest {
            campaign_arn: t.state.campaign.campaign_arn.clone(),
            user_id: self.user_id,
            input_list: self.items,
            ..Default::default()
        };
        let ranked = t.runtime.rank_with(&t.state, &req).await?;
        print_items(
            &ranked.personalized_ranking,
            titles(tailor, &t.group).await.as_ref(),
        );
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, clap::Args)]
pub struct Metrics {
    /// Solution name or ARN: its newest ACTIVE version.
    #[arg(
        long,
        required_unless_present = "solution_version",
        conflicts_with = "solution_version"
    )]
    solution: Option<String>,
    /// Or an exact solution version ARN.
    #[arg(long)]
    solution_version: Option<String>,
}

impl Metrics {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        let version = match (&self.solution_version, &self.solution) {
            (Some(v), _) => v.clone(),
            (None, Some(s)) => {
                let arn = solution_arn(tailor, s);
                tailor.describe_solution(&arn).await?;
                tailor
                    .latest_active_version(&arn)
                    .await?
                    .ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "solution {s} has no ACTIVE version; run `tailor train --solution {s}`"
                        ))
                    })?
                    .solution_version_arn
            }
            (None, None) => {
                return Err(Error::InvalidInput(
                    "give --solution or --solution-version".into(),
                ))
            }
        };
        let m = tailor.get_solution_metrics(&version).await?;
        say(&format!(
            "{}\n",
            serde_json::to_string_pretty(&m).unwrap_or_default()
        ));
        Ok(ExitCode::SUCCESS)
    }
}

//! Recipe commands that need no stored resources: offline evaluation of any recipe on any
//! interactions file.

use std::path::PathBuf;
use std::process::ExitCode;

use tailor_core::evaluation::{self, Report, Split};
use tailor_core::recipes::{EventConfig, Hyperparameters, Recipe, TrainingData};
use tailor_core::schema::DatasetType;
use tailor_core::{sample, Error, Result};

use crate::commands::say;

/// `key=value`, as a hyperparameter on the command line.
pub fn parse_hp(pairs: &[String]) -> Result<Hyperparameters> {
    let mut hp = Hyperparameters::new();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| Error::InvalidInput(format!("--hp '{p}' must be key=value")))?;
        hp.0.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(hp)
}

fn read(path: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::InvalidInput(format!("cannot read {}: {e}", path.display())))
}

/// An interactions file's bytes, or a plain error when its header is not an interactions
/// header: given an items or users file, the parser would list every column as wrong.
fn read_interactions(path: &PathBuf) -> Result<Vec<u8>> {
    let bytes = read(path)?;
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let header = String::from_utf8_lossy(first);
    let columns: Vec<String> = header
        .trim_start_matches('\u{feff}')
        .split(',')
        .map(|c| c.trim().trim_matches('"').to_ascii_uppercase())
        .collect();
    let has = |c: &str| columns.iter().any(|x| x == c);
    if !(has("USER_ID") && has("ITEM_ID") && has("TIMESTAMP")) {
        let shown: String = header.trim().chars().take(120).collect();
        return Err(Error::InvalidInput(format!(
            "{}: the header ({shown}) does not look like interactions, which need USER_ID, \
             ITEM_ID and TIMESTAMP columns; is this an items or users file? (items go to --items)",
            path.display()
        )));
    }
    Ok(bytes)
}

#[derive(Debug, clap::Args)]
pub struct Evaluate {
    /// Recipe name or ARN; repeat for several, or `all`.
    #[arg(long, default_value = "aws-user-personalization")]
    recipe: Vec<String>,
    /// Hyperparameter `key=value` (repeatable), applied to every recipe that knows it.
    #[arg(long)]
    hp: Vec<String>,
    /// Interactions CSV, split in time: the newest 20% of each user's events (users with 5 or
    /// more) held out.
    #[arg(long, conflicts_with_all = ["movielens", "train"])]
    interactions: Option<PathBuf>,
    /// A MovieLens directory (ratings.csv), converted and split as --interactions is.
    #[arg(long, conflicts_with = "train")]
    movielens: Option<PathBuf>,
    /// Pre-split training interactions CSV (use with --test).
    #[arg(long, requires = "test")]
    train: Option<PathBuf>,
    /// Pre-split test interactions CSV: each user's rows are their ground truth.
    #[arg(long, requires = "train")]
    test: Option<PathBuf>,
    /// Items CSV: its items join the catalogue.
    #[arg(long)]
    items: Option<PathBuf>,
    /// Evaluate on a validation split carved from the training part (the same protocol applied
    /// again), leaving the test part untouched: what defaults are tuned on.
    #[arg(long, conflicts_with = "train")]
    validation: bool,
    /// Evaluate at most this many held-out users (every k-th, so the figure is deterministic):
    /// scoring a whole catalogue for a million users is the slow part at scale.
    #[arg(long)]
    max_users: Option<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl Evaluate {
    fn split(&self) -> Result<Split> {
        let items = match &self.items {
            Some(p) => Some(evaluation::read_csv(DatasetType::Items, &read(p)?)?),
            None => None,
        };
        let config = EventConfig::default();
        let load = |bytes: &[u8]| -> Result<TrainingData> {
            let table = evaluation::read_csv(DatasetType::Interactions, bytes)?;
            TrainingData::from_tables(&table, items.as_ref(), &config)
        };
        if let (Some(train), Some(test)) = (&self.train, &self.test) {
            return Ok(evaluation::pre_split(
                &load(&read_interactions(train)?)?,
                &load(&read_interactions(test)?)?,
            ));
        }
        let bytes = match (&self.interactions, &self.movielens) {
            (Some(p), _) => read_interactions(p)?,
            (None, Some(dir)) => sample::movielens_ratings(&read(&dir.join("ratings.csv"))?)?,
            (None, None) => {
                return Err(Error::InvalidInput(
                    "give --interactions FILE, --movielens DIR, or --train FILE --test FILE".into(),
                ))
            }
        };
        let split = evaluation::quality_split(&load(&bytes)?);
        Ok(if self.validation {
            evaluation::quality_split(&split.train)
        } else {
            split
        })
    }

    fn recipes(&self) -> Result<Vec<Recipe>> {
        if self.recipe.iter().any(|r| r == "all") {
            return Ok(Recipe::ALL.to_vec());
        }
        self.recipe.iter().map(|r| Recipe::parse(r)).collect()
    }

    pub async fn run(self) -> Result<ExitCode> {
        let recipes = self.recipes()?;
        let hp = parse_hp(&self.hp)?;
        let mut split = self.split()?;
        if let Some(max) = self.max_users.filter(|&m| m > 0) {
            let step = split.truth.len().div_ceil(max).max(1);
            split.truth = split.truth.into_iter().step_by(step).collect();
        }
        let mut reports = Vec::new();
        for recipe in recipes {
            // Each recipe takes the hyperparameters it knows.
            let known = recipe.hyperparameters();
            let own = Hyperparameters(
                hp.0.iter()
                    .filter(|(k, _)| known.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            );
            let bar = crate::progress::fraction(&format!("training {}", recipe.name()));
            let report = evaluation::run(recipe, &own, &split, &mut |f| {
                bar.set_position((f * 100.0) as u64)
            });
            bar.finish_and_clear();
            reports.push(report?);
        }
        if self.json {
            say(&format!(
                "{}\n",
                serde_json::to_string_pretty(&reports).unwrap_or_default()
            ));
        } else {
            say(&table(&reports));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// A metrics table with Personalize's metric names as columns.
pub fn table(reports: &[Report]) -> String {
    use std::fmt::Write;
    let cols = [
        "normalized_discounted_cumulative_gain_at_10",
        "precision_at_10",
        "recall_at_10",
        "mean_reciprocal_rank_at_25",
        "coverage",
    ];
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<26} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "recipe", "ndcg@10", "prec@10", "rec@10", "mrr@25", "coverage", "fit s"
    );
    for r in reports {
        let v = |k: &str| r.metrics.get(k).copied().unwrap_or(f64::NAN);
        let _ = writeln!(
            o,
            "{:<26} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8}",
            r.recipe,
            v(cols[0]),
            v(cols[1]),
            v(cols[2]),
            v(cols[3]),
            v(cols[4]),
            if r.fit_seconds.is_nan() {
                "-".to_string()
            } else {
                format!("{:.2}", r.fit_seconds)
            }
        );
    }
    if let Some(r) = reports.first().filter(|r| r.users_evaluated > 0) {
        let _ = writeln!(
            o,
            "({} users evaluated, catalogue of {} items; columns are Personalize's {})",
            r.users_evaluated,
            r.catalogue,
            cols.join(", ")
        );
    }
    o
}

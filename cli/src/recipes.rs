//! Recipe commands that need no stored resources: offline evaluation of any recipe on any
//! interactions file.

use std::path::PathBuf;
use std::process::ExitCode;

use tailor_core::evaluation::{self, Report, Split};
use tailor_core::recipes::{EventConfig, Hyperparameters, Recipe, TrainingData};
use tailor_core::schema::DatasetType;
use tailor_core::{sample, Error, Result};

use crate::commands::say;

/// The hyperparameters of `hp` that `recipe` knows: each recipe takes its own.
fn own_hyperparameters(recipe: Recipe, hp: &Hyperparameters) -> Hyperparameters {
    let known = recipe.hyperparameters();
    Hyperparameters(
        hp.0.iter()
            .filter(|(k, _)| known.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

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
    /// Hold 10% of the items with interactions out of training entirely (only their
    /// attributes known) and measure how well the model finds the ones each user chose, among
    /// the cold items and among the whole catalogue, against a genre-profile baseline. Needs
    /// item attributes: --movielens (titles, genres, tags) or --items.
    #[arg(long)]
    cold_items: bool,
    /// For related-items recipes: the related items of each held-out user's newest training
    /// item against their held-out items, grouped by how many users that item had.
    #[arg(long)]
    related_items: bool,
    /// A numeric Items field: train user-personalization with solutionConfig's
    /// optimizationObjective on it at each objectiveSensitivity and report NDCG@10 and the
    /// field's mean over the top 10s.
    #[arg(long)]
    objective: Option<String>,
    /// A JSON file holding solutionConfig's hpoConfig: tune the (first) recipe on a validation
    /// split carved from the training part, then report the default and the tuned
    /// hyperparameters on the test part, with the tuning's wall time.
    #[arg(long)]
    hpo: Option<PathBuf>,
    /// Hold 10% of the users out of training entirely, give each their first 1 and first 3
    /// events, and measure the rest against popularity and item-kNN (aws-sims) from the same
    /// events.
    #[arg(long)]
    new_users: bool,
    /// The context stage on the generated shop, with its planted DEVICE and MEMBERSHIP
    /// effects and without them: NDCG@10 of each held-out user's events grouped by DEVICE,
    /// asked with and without the context, for known users and for new users with no events.
    #[arg(long)]
    context: bool,
    /// The generated shop's seed (--context).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The categorical Items field the cold-item baseline profiles users by.
    #[arg(long, default_value = "GENRES")]
    genre_field: String,
    /// An --items column to read as text (repeatable); other columns are categorical.
    #[arg(long)]
    textual: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the evaluation as a self-contained HTML report (metrics per recipe, NDCG@k
    /// curve, coverage, popularity bias; no script, nothing fetched).
    #[arg(long)]
    report: Option<PathBuf>,
}

impl Evaluate {
    /// The items table: --items, else (with --movielens) movies.csv with tags.csv.
    fn items(&self) -> Result<Option<tailor_core::data::Table>> {
        if let Some(p) = &self.items {
            let textual: Vec<&str> = self.textual.iter().map(String::as_str).collect();
            return Ok(Some(evaluation::read_csv_with_text(
                DatasetType::Items,
                &read(p)?,
                &textual,
            )?));
        }
        match &self.movielens {
            Some(dir) if self.cold_items || self.related_items || self.objective.is_some() => {
                let csv = sample::movielens_items_tagged(
                    &read(&dir.join("movies.csv"))?,
                    &read(&dir.join("tags.csv"))?,
                )?;
                Ok(Some(evaluation::read_csv_with_schema(
                    sample::schemas::MOVIELENS_ITEMS_TAGGED,
                    &csv,
                )?))
            }
            _ => Ok(None),
        }
    }

    /// Every interaction, unsplit, with the items' attributes.
    fn data(&self) -> Result<TrainingData> {
        let items = self.items()?;
        let bytes = match (&self.interactions, &self.movielens) {
            (Some(p), _) => read_interactions(p)?,
            (None, Some(dir)) => sample::movielens_ratings(&read(&dir.join("ratings.csv"))?)?,
            (None, None) => {
                return Err(Error::InvalidInput(
                    "give --interactions FILE or --movielens DIR".into(),
                ))
            }
        };
        let table = evaluation::read_csv(DatasetType::Interactions, &bytes)?;
        TrainingData::from_tables(&table, items.as_ref(), &EventConfig::default())
    }

    fn split(&self) -> Result<Split> {
        let items = self.items()?;
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
        if self.cold_items {
            return self.run_cold();
        }
        if self.related_items {
            return self.run_related();
        }
        if let Some(attribute) = &self.objective {
            return self.run_objective(attribute);
        }
        if let Some(path) = &self.hpo {
            return self.run_hpo(path);
        }
        if self.new_users {
            return self.run_new_users();
        }
        if self.context {
            return self.run_context();
        }
        let recipes = self.recipes()?;
        let hp = parse_hp(&self.hp)?;
        let mut split = self.split()?;
        if let Some(max) = self.max_users.filter(|&m| m > 0) {
            let step = split.truth.len().div_ceil(max).max(1);
            split.truth = split.truth.into_iter().step_by(step).collect();
        }
        let mut reports = Vec::new();
        for recipe in recipes {
            let own = own_hyperparameters(recipe, &hp);
            let bar = crate::progress::fraction(&format!("training {}", recipe.name()));
            let report = evaluation::run(recipe, &own, &split, &mut |f| {
                bar.set_position((f * 100.0) as u64)
            });
            bar.finish_and_clear();
            reports.push(report?);
        }
        if let Some(path) = &self.report {
            let title = format!(
                "tailor offline evaluation, {} held-out users",
                split.truth.len()
            );
            std::fs::write(path, evaluation::report::html(&reports, &title)).map_err(|e| {
                Error::InvalidInput(format!("cannot write {}: {e}", path.display()))
            })?;
            eprintln!("report written to {}", path.display());
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

impl Evaluate {
    /// `--cold-items`: the held-out items' figures for each recipe that scores a history, and
    /// for the genre baseline.
    fn run_cold(&self) -> Result<ExitCode> {
        use tailor_core::evaluation::cold;
        let data = self.data()?;
        if data.content.is_none() {
            return Err(Error::InvalidInput(
                "--cold-items needs item attributes: --movielens DIR or --items FILE".into(),
            ));
        }
        let mut split = cold::cold_item_split(&data, 0.1, COLD_SEED);
        if self.validation {
            split = cold::cold_item_split(&split.train, 0.1, COLD_SEED + 1);
        }
        let hp = parse_hp(&self.hp)?;
        let mut figures = Vec::new();
        let mut mixed_figures = Vec::new();
        for recipe in self.recipes()? {
            let own = own_hyperparameters(recipe, &hp);
            let bar = crate::progress::fraction(&format!("training {}", recipe.name()));
            let model = tailor_core::recipes::Model::fit(recipe, &split.train, &own, &mut |f| {
                bar.set_position((f * 100.0) as u64)
            });
            bar.finish_and_clear();
            let model = model?;
            figures.extend(cold::evaluate_scorer(recipe.name(), &model, &split));
            // Personalize explores only in User-Personalization campaigns.
            if recipe.recipe_type() == tailor_core::recipes::RecipeType::UserPersonalization {
                figures.push(cold::evaluate_explored(&model, &split, 0.3));
            }
            // What placing cold items among warm ones costs or gains: the usual QUALITY.md
            // metrics when the same share of items was never seen in training.
            let mixed = cold::mixed_split(&data, 0.1, COLD_SEED);
            let mixed = if self.validation {
                evaluation::quality_split(&mixed.train)
            } else {
                mixed
            };
            mixed_figures.push(evaluation::run(recipe, &own, &mixed, &mut |_| {})?);
        }
        let baseline =
            cold::GenreBaseline::new(&split.train, &self.genre_field).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "the items have no categorical '{}' field for the baseline (--genre-field)",
                    self.genre_field
                ))
            })?;
        figures.extend(cold::evaluate_scorer(
            &format!("baseline: {} profile × popularity", self.genre_field),
            &baseline,
            &split,
        ));
        if self.json {
            let out = serde_json::json!({
                "coldItems": figures,
                "withColdItemsUnseen": mixed_figures,
            });
            say(&format!(
                "{}\n",
                serde_json::to_string_pretty(&out).unwrap_or_default()
            ));
        } else {
            use std::fmt::Write;
            let mut o = String::new();
            let _ = writeln!(
                o,
                "{} cold items, {} users with cold items\n{:<52} {:<16} {:>9} {:>8}",
                split.cold.len(),
                split.truth.len(),
                "method",
                "candidates",
                "recall@10",
                "ndcg@10"
            );
            for f in &figures {
                let _ = writeln!(
                    o,
                    "{:<52} {:<16} {:>9.4} {:>8.4}",
                    f.method,
                    f.candidates,
                    f.recall_at_10,
                    f.normalized_discounted_cumulative_gain_at_10
                );
            }
            let _ = writeln!(
                o,
                "\nThe QUALITY.md split with the same share of items never seen in training \
                 (held-out events of warm and cold items alike):"
            );
            o.push_str(&table(&mixed_figures));
            say(&o);
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The cold-item split's draw (the validation split carved from its training part uses the
/// next seed).
const COLD_SEED: u64 = 20_261_207;

impl Evaluate {
    /// `--related-items`: each RELATED_ITEMS recipe's figures by the query item's evidence.
    fn run_related(&self) -> Result<ExitCode> {
        use std::fmt::Write;
        use tailor_core::recipes::RecipeType;
        // The split carries the items' attributes (--items, or MovieLens' titles and tags).
        let split = self.split()?;
        let hp = parse_hp(&self.hp)?;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{:<22} {:<28} {:>6} {:>9} {:>8}",
            "recipe", "group", "users", "recall@10", "ndcg@10"
        );
        for recipe in self.recipes()? {
            if recipe.recipe_type() != RecipeType::RelatedItems {
                continue;
            }
            let own = own_hyperparameters(recipe, &hp);
            let model = tailor_core::recipes::Model::fit(recipe, &split.train, &own, &mut |_| {})?;
            for (label, users, recall, ndcg) in evaluation::related_by_evidence(&model, &split) {
                let _ = writeln!(
                    o,
                    "{:<22} {:<28} {:>6} {:>9.4} {:>8.4}",
                    recipe.name(),
                    label,
                    users,
                    recall,
                    ndcg
                );
            }
        }
        say(&o);
        Ok(ExitCode::SUCCESS)
    }
}

impl Evaluate {
    /// `--objective FIELD`: relevance and the field's mean in the top 10 at each sensitivity.
    fn run_objective(&self, attribute: &str) -> Result<ExitCode> {
        use std::fmt::Write;
        // The split carries the items' attributes (--items, or MovieLens' titles and tags).
        let split = self.split()?;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{:<12} {:>8} {:>8} {:>14}",
            "sensitivity",
            "ndcg@10",
            "rec@10",
            &format!("mean {attribute}")
        );
        for level in ["OFF", "LOW", "MEDIUM", "HIGH"] {
            let mut hp = parse_hp(&self.hp)?;
            hp.0.insert("objective_attribute".into(), attribute.to_string());
            hp.0.insert("objective_sensitivity".into(), level.into());
            let recipe = tailor_core::recipes::next_items::USER_PERSONALIZATION;
            let model = tailor_core::recipes::Model::fit(recipe, &split.train, &hp, &mut |_| {})?;
            let m = evaluation::evaluate(&model, &split);
            let mean = evaluation::mean_attribute_at_10(&model, &split, attribute);
            let _ = writeln!(
                o,
                "{:<12} {:>8.4} {:>8.4} {:>14.2}",
                level, m["normalized_discounted_cumulative_gain_at_10"], m["recall_at_10"], mean
            );
        }
        say(&o);
        Ok(ExitCode::SUCCESS)
    }
}

impl Evaluate {
    /// `--hpo FILE`: defaults against tuned hyperparameters, tuned on validation only.
    fn run_hpo(&self, path: &PathBuf) -> Result<ExitCode> {
        use tailor_core::recipes::hpo;
        let recipe = *self
            .recipes()?
            .first()
            .ok_or_else(|| Error::InvalidInput("give a --recipe to tune".into()))?;
        let config: serde_json::Value = serde_json::from_slice(&read(path)?)
            .map_err(|e| Error::InvalidInput(format!("{}: not JSON: {e}", path.display())))?;
        let cfg = hpo::HpoConfig::parse(recipe, Some(&config))?;
        let split = self.split()?;
        let base = parse_hp(&self.hp)?;
        let bar =
            crate::progress::fraction(&format!("tuning {} ({} trials)", recipe.name(), cfg.jobs));
        let started = std::time::Instant::now();
        // The split's training part is what the service trains on: tuning carves its own
        // validation split from it, as a solution version's HPO does.
        let (tuned, trials) = hpo::tune(recipe, &split.train, &base, &cfg, &mut |f| {
            bar.set_position((f * 100.0) as u64)
        })?;
        let seconds = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let default = evaluation::run(recipe, &base, &split, &mut |_| {})?;
        let best = evaluation::run(recipe, &tuned, &split, &mut |_| {})?;
        let mut o = String::new();
        use std::fmt::Write;
        let _ = writeln!(o, "trials (validation {}):", cfg.metric);
        for t in &trials {
            let _ = writeln!(o, "  {:.4}  {:?}", t.metric, t.hyperparameters);
        }
        let _ = writeln!(
            o,
            "HPO: {} trials, {} at a time, {seconds:.1} s; chosen {:?}\n",
            trials.len(),
            cfg.parallel,
            tuned.0
        );
        let mut reports = vec![default, best];
        reports[0].recipe = format!("{} (defaults)", recipe.name());
        reports[1].recipe = format!("{} (tuned)", recipe.name());
        o.push_str(&table(&reports));
        say(&o);
        Ok(ExitCode::SUCCESS)
    }
}

impl Evaluate {
    /// `--new-users`: each recipe and the two baselines from a new user's first events.
    fn run_new_users(&self) -> Result<ExitCode> {
        use std::fmt::Write;
        use tailor_core::evaluation::new_users;
        use tailor_core::recipes::{popularity, sims};
        let data = self.data()?;
        let mut split = new_users::new_user_split(&data, 0.1, COLD_SEED);
        if self.validation {
            split = new_users::new_user_split(&split.train, 0.1, COLD_SEED + 1);
        }
        let hp = parse_hp(&self.hp)?;
        let mut recipes = self.recipes()?;
        for baseline in [popularity::POPULARITY_COUNT, sims::SIMS] {
            if !recipes.contains(&baseline) {
                recipes.push(baseline);
            }
        }
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{} users held out\n{:<26} {:>7} {:>6} {:>9} {:>8}",
            split.held_out.len(),
            "method",
            "events",
            "users",
            "recall@10",
            "ndcg@10"
        );
        for recipe in recipes {
            let own = own_hyperparameters(recipe, &hp);
            let model = tailor_core::recipes::Model::fit(recipe, &split.train, &own, &mut |_| {})?;
            for k in [1, 3] {
                let (users, recall, ndcg) = new_users::evaluate_first_k(&model, &split, k);
                let name = match recipe.name() {
                    "aws-popularity-count" => "baseline: popularity",
                    "aws-sims" => "baseline: item-kNN (sims)",
                    n => n,
                };
                let _ = writeln!(
                    o,
                    "{:<26} {:>7} {:>6} {:>9.4} {:>8.4}",
                    name, k, users, recall, ndcg
                );
            }
        }
        say(&o);
        Ok(ExitCode::SUCCESS)
    }

    /// `--context`: the context stage where the sample plants an effect and where it does not.
    fn run_context(&self) -> Result<ExitCode> {
        use std::fmt::Write;
        use tailor_core::evaluation::context as ctx;
        let recipe = *self
            .recipes()?
            .first()
            .ok_or_else(|| Error::InvalidInput("give a --recipe".into()))?;
        let hp = own_hyperparameters(recipe, &parse_hp(&self.hp)?);
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{:<12} {:<12} {:>6} {:>15} {:>12} {:>9}  stage weights",
            "sample", "users", "groups", "ndcg@10 without", "ndcg@10 with", "change"
        );
        for (name, planted) in [
            ("planted", sample::Planted::default()),
            ("no effect", sample::Planted::NONE),
        ] {
            let bar = crate::progress::fraction(&format!("generating and training ({name})"));
            let data = ctx::sample_data(&sample::generate_with(
                self.seed,
                sample::SampleSize::default(),
                planted,
            ))?;
            let known = ctx::evaluate_known_users(recipe, &hp, &data)?;
            let new = ctx::evaluate_new_users(recipe, &hp, &data, 0.1, COLD_SEED)?;
            bar.finish_and_clear();
            for (users, f, weights) in [
                ("known", &known, &known.warm),
                ("new (0 ev.)", &new, &new.cold),
            ] {
                let named: Vec<String> = f
                    .fields
                    .iter()
                    .zip(weights)
                    .map(|(n, w)| format!("{n} {w:.2}"))
                    .collect();
                let _ = writeln!(
                    o,
                    "{:<12} {:<12} {:>6} {:>15.4} {:>12.4} {:>+8.1}%  {}",
                    name,
                    users,
                    f.groups,
                    f.ndcg_without,
                    f.ndcg_with,
                    100.0 * (f.ndcg_with / f.ndcg_without.max(1e-12) - 1.0),
                    if named.is_empty() {
                        "(none kept)".to_string()
                    } else {
                        named.join(", ")
                    }
                );
            }
        }
        say(&o);
        Ok(ExitCode::SUCCESS)
    }
}

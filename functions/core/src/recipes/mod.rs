//! Recipes: each trains a [`Model`] from [`TrainingData`]; every model answers the same verbs
//! (scores for a history, and through capability traits related items or an update without
//! refit) so the engine serves them all alike.
//!
//! A recipe is one module: its hyperparameters, its fit, its scoring and its artifact sections,
//! published as one [`RecipeDef`] const. Adding a recipe is that module plus one line in
//! [`Recipe::ALL`].

pub mod als_shards;
mod artifact;
pub mod chain;
pub mod components;
pub mod content;
pub mod context;
mod data;
pub mod factors;
pub mod hpo;
pub mod ivf;
pub mod next_items;
pub mod objective;
mod params;
pub mod popularity;
pub mod retrieval;
pub mod shuffle;
pub mod similar_items;
pub mod sims;
pub mod trending;

use std::any::Any;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use artifact::{ArtifactError, ArtifactReader, ArtifactWriter};
pub(crate) use data::check_minimum;
pub use data::{Event, EventConfig, Situations, TrainingData, NO_VALUE};
pub use params::Hyperparameters;

use crate::data::attrs::Attrs;
use crate::data::IdDict;
use crate::error::{Error, Result};

/// Personalize's recipe groups, which decide what a campaign answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecipeType {
    UserPersonalization,
    PersonalizedRanking,
    RelatedItems,
    PopularItems,
    /// Batch segment jobs only: the users most drawn to items (no campaign).
    UserSegmentation,
}

/// Trains a recipe's own part: `(data, hyperparameters, popularity, progress)`. The
/// hyperparameter names are already checked against [`RecipeDef::hyperparameters`].
pub type FitFn =
    fn(&TrainingData, &Hyperparameters, &[f32], &mut dyn FnMut(f64)) -> Result<Box<dyn Learned>>;

/// Reads a recipe's own part back: `(artifact, resolved hyperparameters, catalogue size)`.
pub type ReadFn =
    fn(&ArtifactReader, &serde_json::Value, usize) -> Result<Box<dyn Learned>, ArtifactError>;

/// Everything tailor knows about one recipe, in the recipe's module.
pub struct RecipeDef {
    pub name: &'static str,
    pub recipe_type: RecipeType,
    /// The hyperparameter names it takes; any other is refused.
    pub hyperparameters: &'static [&'static str],
    pub fit: FitFn,
    pub read: ReadFn,
}

/// A handle on a registered recipe; equal when the names are.
#[derive(Clone, Copy)]
pub struct Recipe(&'static RecipeDef);

impl PartialEq for Recipe {
    fn eq(&self, other: &Recipe) -> bool {
        self.0.name == other.0.name
    }
}
impl Eq for Recipe {}

impl fmt::Debug for Recipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name)
    }
}

impl Recipe {
    /// The registry: one line per recipe.
    pub const ALL: &'static [Recipe] = &[
        next_items::USER_PERSONALIZATION,
        next_items::PERSONALIZED_RANKING,
        sims::SIMS,
        similar_items::SIMILAR_ITEMS,
        popularity::POPULARITY_COUNT,
        trending::TRENDING_NOW,
        next_items::ITEM_AFFINITY,
        next_items::ITEM_ATTRIBUTE_AFFINITY,
    ];

    pub const fn new(def: &'static RecipeDef) -> Recipe {
        Recipe(def)
    }

    pub fn name(self) -> &'static str {
        self.0.name
    }

    pub fn arn(self) -> String {
        format!("arn:aws:personalize:::recipe/{}", self.name())
    }

    pub fn recipe_type(self) -> RecipeType {
        self.0.recipe_type
    }

    pub fn hyperparameters(self) -> &'static [&'static str] {
        self.0.hyperparameters
    }

    /// From a recipe ARN or bare name.
    pub fn parse(arn_or_name: &str) -> Result<Recipe> {
        let name = arn_or_name.rsplit('/').next().unwrap_or(arn_or_name);
        Recipe::ALL
            .iter()
            .copied()
            .find(|r| r.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Recipe::ALL.iter().map(|r| r.name()).collect();
                Error::InvalidInput(format!(
                    "unknown recipe '{arn_or_name}'; available: {}",
                    names.join(", ")
                ))
            })
    }
}

/// What a recipe learned: the one trait every model's own part answers.
pub trait Learned: Send + Sync + fmt::Debug + Any {
    /// The resolved hyperparameters (Personalize's `tunedHPOParams`); the artifact header
    /// keeps them, and [`RecipeDef::read`] gets them back.
    fn hyperparameters(&self) -> serde_json::Value;

    /// Scores over the catalogue (`out` is empty, `popularity` catalogue-sized) for a user
    /// whose history (item codes, newest last) is given.
    fn score_history(&self, popularity: &[f32], history: &[u32], out: &mut Vec<f32>);

    /// [`Learned::score_history`] for several users (`outs` empty on entry, one per history);
    /// a model may score them together faster than one by one.
    fn score_histories(&self, popularity: &[f32], histories: &[&[u32]], outs: &mut [Vec<f32>]) {
        for (h, out) in histories.iter().zip(outs.iter_mut()) {
            self.score_history(popularity, h, out);
        }
    }

    /// The catalogue grew to `n_items` (items put after training): they carry no learned
    /// signal yet.
    fn grow(&mut self, n_items: usize);

    /// Items from code `first` on have these attributes (PutItems after training): a model
    /// that maps content into its space scores them from it.
    fn describe(&mut self, first: usize, attrs: &[Option<&Attrs>]) {
        let _ = (first, attrs);
    }

    /// Writes the recipe's own artifact sections.
    fn write(&self, w: &mut ArtifactWriter);

    fn box_clone(&self) -> Box<dyn Learned>;

    fn as_any(&self) -> &dyn Any;

    /// Items related to an item (SIMS, and the next-items models).
    fn related(&self) -> Option<&dyn RelatedItems> {
        None
    }

    /// Takes in new items and events without refitting (trainingMode UPDATE).
    fn updatable(&self) -> Option<&dyn Updatable> {
        None
    }

    /// Ranks a large catalogue for a history without scoring every item.
    fn retrieval(&self) -> Option<&dyn Retrieval> {
        None
    }

    /// Which items users join, when a history is answered from the items it reaches.
    fn components(&self) -> Option<&components::ItemComponents> {
        None
    }
}

/// Capability: a retrieval index over the catalogue, which answers a history's best items
/// (filters and exclusions applied while it searches) without scoring every item.
pub trait Retrieval {
    /// The request's ranker; `None` where scoring the whole catalogue is as fast (a small
    /// catalogue) or the history gives the index nothing to search with.
    fn ranker<'a>(
        &'a self,
        popularity: &'a [f32],
        history: &[u32],
    ) -> Option<Box<dyn crate::engine::Ranker + 'a>>;
}

/// Capability: scores of the items related to one item.
pub trait RelatedItems {
    /// Fills `out` (empty on entry) with a score per catalogue item; only positive scores
    /// count as related.
    fn score_related(&self, popularity: &[f32], item: u32, out: &mut Vec<f32>);
}

/// Capability: trainingMode UPDATE — the learned part over a grown catalogue and new events
/// (already in the model's codes), without a refit.
pub trait Updatable {
    fn update(&self, data: &TrainingData, popularity: &[f32]) -> Box<dyn Learned>;
}

/// A trained model: the catalogue, popularity, and the recipe's own part.
#[derive(Debug)]
pub struct Model {
    pub recipe: Recipe,
    pub items: IdDict,
    /// Distinct users per item, most popular = 1.
    pub popularity: Vec<f32>,
    pub learned: Box<dyn Learned>,
    /// The context stage, when training found context or user metadata that helps.
    pub context: Option<std::sync::Arc<context::ContextModel>>,
}

impl Clone for Model {
    fn clone(&self) -> Model {
        Model {
            recipe: self.recipe,
            items: self.items.clone(),
            popularity: self.popularity.clone(),
            learned: self.learned.box_clone(),
            context: self.context.clone(),
        }
    }
}

/// Two models are equal when their artifacts are: that is what survives a save and a load.
impl PartialEq for Model {
    fn eq(&self, other: &Model) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

impl Model {
    /// Trains `recipe` on `data`; `progress` gets a fraction in [0, 1].
    pub fn fit(
        recipe: Recipe,
        data: &TrainingData,
        hp: &Hyperparameters,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Model> {
        hp.only(recipe.name(), recipe.hyperparameters())?;
        Self::fit_with(recipe, data, progress, |popularity, progress| {
            (recipe.0.fit)(data, hp, popularity, progress)
        })
    }

    /// A model of `recipe` over `data`'s catalogue whose learned part `learn` fits, given the
    /// items' popularity: [`Self::fit`], or a fit whose parts were trained elsewhere (shards).
    pub fn fit_with(
        recipe: Recipe,
        data: &TrainingData,
        progress: &mut dyn FnMut(f64),
        learn: impl FnOnce(&[f32], &mut dyn FnMut(f64)) -> Result<Box<dyn Learned>>,
    ) -> Result<Model> {
        Self::fit_with_popularity(recipe, data, popularity::popularity(data), progress, learn)
    }

    /// [`Model::fit_with`], the items' popularity given: counted apart from `data` when `data`
    /// is a sample of users (the sharded training's finish).
    pub fn fit_with_popularity(
        recipe: Recipe,
        data: &TrainingData,
        popularity: Vec<f32>,
        progress: &mut dyn FnMut(f64),
        learn: impl FnOnce(&[f32], &mut dyn FnMut(f64)) -> Result<Box<dyn Learned>>,
    ) -> Result<Model> {
        let learned = learn(&popularity, progress)?;
        progress(1.0);
        Ok(Model {
            recipe,
            items: data.items.clone(),
            popularity,
            learned,
            context: None,
        })
    }

    /// UPDATE training: takes in new items, users and events without refitting the learned
    /// part — the catalogue grows, popularity is recomputed. Only recipes with the
    /// [`Updatable`] capability can.
    pub fn update(&self, data: &TrainingData) -> Result<Model> {
        let updatable = self.learned.updatable().ok_or_else(|| {
            Error::InvalidInput(format!(
                "trainingMode UPDATE is not available for {}; train with FULL",
                self.recipe.name()
            ))
        })?;
        let mut items = self.items.clone();
        let remap: Vec<u32> = data.items.iter().map(|id| items.intern(id)).collect();
        let mut remapped = TrainingData {
            users: data.users.clone(),
            items: items.clone(),
            histories: data.histories.clone(),
            content: data.content.as_ref().map(|c| {
                let mut rows = vec![None; items.len()];
                for (code, row) in remap.iter().zip(&c.rows) {
                    rows[*code as usize] = row.clone();
                }
                std::sync::Arc::new(content::ItemAttributes {
                    schema: c.schema.clone(),
                    rows,
                })
            }),
            situations: data.situations.clone(),
        };
        for h in &mut remapped.histories {
            for e in h {
                e.item = remap[e.item as usize];
            }
        }
        let popularity = popularity::popularity(&remapped);
        // The stage reads items past its counts as having none: it carries over as it is.
        let context = self.context.clone();
        Ok(Model {
            recipe: self.recipe,
            learned: updatable.update(&remapped, &popularity),
            items,
            popularity,
            context,
        })
    }

    /// The same model over a catalogue grown by `ids` (items put after training), with their
    /// attributes where known: they have no interactions and no popularity yet, so they are
    /// scored from their content where the model maps it, and surface through exploration and
    /// filters.
    pub fn with_new_items(&self, ids: &[&str], attrs: &[Option<&Attrs>]) -> Model {
        let mut m = self.clone();
        let first = m.items.len();
        for id in ids {
            m.items.intern(id);
        }
        let n = m.items.len();
        m.popularity.resize(n, 0.0);
        m.learned.grow(n);
        m.learned.describe(first, attrs);
        m
    }

    /// The resolved hyperparameters (Personalize's `tunedHPOParams`).
    pub fn hyperparameters(&self) -> serde_json::Value {
        self.learned.hyperparameters()
    }

    /// Scores over the catalogue for a user whose history (item codes, newest last) is given.
    pub fn score_history(&self, history: &[u32], out: &mut Vec<f32>) {
        out.clear();
        self.learned.score_history(&self.popularity, history, out);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::json!({
            "recipe": self.recipe.name(),
            "items": self.items.len(),
            "hyperparameters": self.hyperparameters(),
        });
        let mut w = ArtifactWriter::new(&header);
        w.strings(b"ITEM", &self.items)
            .f32s(b"POPL", &self.popularity);
        self.learned.write(&mut w);
        if let Some(c) = &self.context {
            c.write(&mut w);
        }
        w.finish()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ArtifactError> {
        let r = ArtifactReader::parse(bytes)?;
        let corrupt = |what: &str| ArtifactError::Corrupt(what.to_string());
        let recipe = r.header["recipe"]
            .as_str()
            .and_then(|n| Recipe::parse(n).ok())
            .ok_or_else(|| corrupt("unknown recipe"))?;
        let items = r.strings(b"ITEM")?;
        let popularity = r.f32s(b"POPL")?;
        if popularity.len() != items.len() {
            return Err(corrupt("popularity length"));
        }
        let learned = (recipe.0.read)(&r, &r.header["hyperparameters"], items.len())?;
        let context = context::ContextModel::read(&r, items.len())?.map(std::sync::Arc::new);
        Ok(Model {
            recipe,
            items,
            popularity,
            learned,
            context,
        })
    }
}

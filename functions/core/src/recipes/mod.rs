//! Recipes: each trains a [`Model`] from [`TrainingData`]; every model answers the same verbs
//! (scores for a history, related items) so the engine serves them all alike.

mod artifact;
mod data;
pub mod next_items;
mod params;
mod popularity;
pub mod sims;
pub mod trending;

use serde::{Deserialize, Serialize};

pub use artifact::{ArtifactError, ArtifactReader, ArtifactWriter};
pub use data::{Event, EventConfig, TrainingData};
pub use params::Hyperparameters;

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    UserPersonalization,
    PersonalizedRanking,
    Sims,
    PopularityCount,
    TrendingNow,
}

impl Recipe {
    pub const ALL: [Recipe; 5] = [
        Recipe::UserPersonalization,
        Recipe::PersonalizedRanking,
        Recipe::Sims,
        Recipe::PopularityCount,
        Recipe::TrendingNow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Recipe::UserPersonalization => "aws-user-personalization",
            Recipe::PersonalizedRanking => "aws-personalized-ranking",
            Recipe::Sims => "aws-sims",
            Recipe::PopularityCount => "aws-popularity-count",
            Recipe::TrendingNow => "aws-trending-now",
        }
    }

    pub fn arn(self) -> String {
        format!("arn:aws:personalize:::recipe/{}", self.name())
    }

    pub fn recipe_type(self) -> RecipeType {
        match self {
            Recipe::UserPersonalization => RecipeType::UserPersonalization,
            Recipe::PersonalizedRanking => RecipeType::PersonalizedRanking,
            Recipe::Sims => RecipeType::RelatedItems,
            Recipe::PopularityCount | Recipe::TrendingNow => RecipeType::PopularItems,
        }
    }

    /// From a recipe ARN or bare name.
    pub fn parse(arn_or_name: &str) -> Result<Recipe> {
        let name = arn_or_name.rsplit('/').next().unwrap_or(arn_or_name);
        Recipe::ALL
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown recipe '{arn_or_name}'; available: {}",
                    Recipe::ALL.map(|r| r.name()).join(", ")
                ))
            })
    }
}

/// What each recipe learned.
#[derive(Debug, Clone, PartialEq)]
pub enum Learned {
    Popularity,
    Trending {
        window: i64,
        scores: Vec<f32>,
    },
    Sims {
        params: sims::SimsParams,
        sims: sims::Sims,
    },
    NextItems(next_items::NextItems),
}

/// A trained model: the catalogue, popularity, and the recipe's own part.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub recipe: Recipe,
    pub items: IdDict,
    /// Distinct users per item, most popular = 1.
    pub popularity: Vec<f32>,
    pub learned: Learned,
}

impl Model {
    /// Trains `recipe` on `data`; `progress` gets a fraction in [0, 1].
    pub fn fit(
        recipe: Recipe,
        data: &TrainingData,
        hp: &Hyperparameters,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Model> {
        let popularity = popularity::popularity(data);
        let learned = match recipe {
            Recipe::PopularityCount => {
                hp.only(recipe.name(), &[])?;
                Learned::Popularity
            }
            Recipe::TrendingNow => {
                hp.only(recipe.name(), trending::KNOWN)?;
                let window = trending::frequency(hp)?;
                Learned::Trending {
                    window,
                    scores: trending::fit(data, window, &popularity),
                }
            }
            Recipe::Sims => {
                let params = sims::SimsParams::from_hp(hp)?;
                Learned::Sims {
                    sims: sims::fit(data, &params),
                    params,
                }
            }
            Recipe::UserPersonalization | Recipe::PersonalizedRanking => {
                let params = next_items::NextItemsParams::from_hp(recipe.name(), hp)?;
                Learned::NextItems(next_items::fit(data, params, progress)?)
            }
        };
        progress(1.0);
        Ok(Model {
            recipe,
            items: data.items.clone(),
            popularity,
            learned,
        })
    }

    /// UPDATE training: takes in new items, users and events without refitting the learned
    /// part — the catalogue grows, popularity (and trends) are recomputed.
    pub fn update(&self, data: &TrainingData) -> Result<Model> {
        let mut items = self.items.clone();
        let remap: Vec<u32> = data.items.iter().map(|id| items.intern(id)).collect();
        let mut remapped = TrainingData {
            users: data.users.clone(),
            items: items.clone(),
            histories: data.histories.clone(),
        };
        for h in &mut remapped.histories {
            for e in h {
                e.item = remap[e.item as usize];
            }
        }
        let popularity = popularity::popularity(&remapped);
        let learned = match &self.learned {
            Learned::NextItems(m) => {
                let mut m = m.clone();
                m.extend_catalogue(items.len());
                Learned::NextItems(m)
            }
            Learned::Trending { window, .. } => Learned::Trending {
                window: *window,
                scores: trending::fit(&remapped, *window, &popularity),
            },
            Learned::Sims { params, sims } => {
                let mut sims = sims.clone();
                let last = *sims.offsets.last().unwrap_or(&0);
                sims.offsets.resize(items.len() + 1, last);
                Learned::Sims {
                    params: params.clone(),
                    sims,
                }
            }
            Learned::Popularity => Learned::Popularity,
        };
        Ok(Model {
            recipe: self.recipe,
            items,
            popularity,
            learned,
        })
    }

    /// The same model over a catalogue grown by `ids` (items put after training): they have no
    /// learned signal and no popularity yet, so they surface through exploration and filters.
    pub fn with_new_items(&self, ids: &[&str]) -> Model {
        let mut m = self.clone();
        for id in ids {
            m.items.intern(id);
        }
        let n = m.items.len();
        m.popularity.resize(n, 0.0);
        match &mut m.learned {
            Learned::NextItems(x) => x.extend_catalogue(n),
            Learned::Trending { scores, .. } => scores.resize(n, 0.0),
            Learned::Sims { sims, .. } => {
                let last = *sims.offsets.last().unwrap_or(&0);
                sims.offsets.resize(n + 1, last);
            }
            Learned::Popularity => {}
        }
        m
    }

    /// The resolved hyperparameters (Personalize's `tunedHPOParams`).
    pub fn hyperparameters(&self) -> serde_json::Value {
        match &self.learned {
            Learned::Popularity => serde_json::json!({}),
            Learned::Trending { window, .. } => {
                serde_json::json!({ "trend_discovery_frequency_seconds": window })
            }
            Learned::Sims { params, .. } => serde_json::to_value(params).unwrap_or_default(),
            Learned::NextItems(m) => serde_json::to_value(&m.params).unwrap_or_default(),
        }
    }

    /// Scores over the catalogue for a user whose history (item codes, newest last) is given.
    pub fn score_history(&self, history: &[u32], out: &mut Vec<f32>) {
        out.clear();
        match &self.learned {
            Learned::Popularity => out.extend_from_slice(&self.popularity),
            Learned::Trending { scores, .. } => out.extend_from_slice(scores),
            Learned::Sims { sims, .. } => {
                // SIMS answers item queries; for a user, blend the neighbours of the newest items.
                out.extend(self.popularity.iter().map(|p| 1e-3 * p));
                for (k, &item) in history.iter().rev().take(10).enumerate() {
                    let w = (-0.2 * k as f32).exp();
                    for (j, s) in sims.neighbours(item) {
                        out[j as usize] += w * s;
                    }
                }
            }
            Learned::NextItems(m) => {
                let gamma = m.params.popularity_weight;
                out.extend(self.popularity.iter().map(|p| gamma * p));
                m.add_scores(history, out);
            }
        }
    }

    /// Scores of items related to `item`, or `false` when this model has no item-to-item notion.
    pub fn score_related(&self, item: u32, out: &mut Vec<f32>) -> bool {
        out.clear();
        match &self.learned {
            Learned::Sims { sims, .. } => {
                out.resize(self.items.len(), 0.0);
                for (j, s) in sims.neighbours(item) {
                    out[j as usize] = s;
                }
                true
            }
            Learned::NextItems(_) => {
                self.score_history(&[item], out);
                true
            }
            _ => false,
        }
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
        match &self.learned {
            Learned::Popularity => {}
            Learned::Trending { scores, .. } => {
                w.f32s(b"TRND", scores);
            }
            Learned::Sims { sims, .. } => {
                w.u32s(b"SOFF", &sims.offsets)
                    .u32s(b"SIDX", &sims.items)
                    .f32s(b"SSCO", &sims.scores);
            }
            Learned::NextItems(m) => {
                w.u32s(b"NCOL", &m.columns).f32s(b"NMAT", &m.b);
            }
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
        let hp = &r.header["hyperparameters"];
        let learned = match recipe {
            Recipe::PopularityCount => Learned::Popularity,
            Recipe::TrendingNow => {
                let scores = r.f32s(b"TRND")?;
                if scores.len() != items.len() {
                    return Err(corrupt("trend length"));
                }
                Learned::Trending {
                    window: hp["trend_discovery_frequency_seconds"]
                        .as_i64()
                        .unwrap_or(10_800),
                    scores,
                }
            }
            Recipe::Sims => {
                let params: sims::SimsParams =
                    serde_json::from_value(hp.clone()).map_err(|e| corrupt(&e.to_string()))?;
                let sims = sims::Sims {
                    offsets: r.u32s(b"SOFF")?,
                    items: r.u32s(b"SIDX")?,
                    scores: r.f32s(b"SSCO")?,
                };
                let ok = sims.offsets.len() == items.len() + 1
                    && sims.items.len() == sims.scores.len()
                    && sims.offsets.windows(2).all(|w| w[0] <= w[1])
                    && sims
                        .offsets
                        .last()
                        .is_some_and(|&l| l as usize == sims.items.len())
                    && sims.items.iter().all(|&j| (j as usize) < items.len());
                if !ok {
                    return Err(corrupt("neighbour lists"));
                }
                Learned::Sims { params, sims }
            }
            Recipe::UserPersonalization | Recipe::PersonalizedRanking => {
                let params: next_items::NextItemsParams =
                    serde_json::from_value(hp.clone()).map_err(|e| corrupt(&e.to_string()))?;
                let columns = r.u32s(b"NCOL")?;
                let b = r.f32s(b"NMAT")?;
                let n = columns.len();
                if b.len() != n * n || columns.iter().any(|&c| c as usize >= items.len()) {
                    return Err(corrupt("matrix shape"));
                }
                let mut column_of = vec![u32::MAX; items.len()];
                for (c, &i) in columns.iter().enumerate() {
                    column_of[i as usize] = c as u32;
                }
                let age_weights = params.age_weights();
                Learned::NextItems(next_items::NextItems {
                    params,
                    columns,
                    b,
                    column_of,
                    age_weights,
                })
            }
        };
        Ok(Model {
            recipe,
            items,
            popularity,
            learned,
        })
    }
}

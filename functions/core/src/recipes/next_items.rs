//! `aws-user-personalization` and `aws-personalized-ranking`: a "next-items" linear model.
//!
//! Over the `max_items` most-interacted items, a dense matrix B is fitted in closed form (ridge
//! regression) to map a recency-weighted history vector to the items that come next:
//!
//! ```text
//! rows:    every cut c of every user's time-ordered history
//! input:   h[item(c-1-k)] += exp(-recency_decay * k)        k < min(c, bptt)
//! target:  y[item(c+d)]   += exp(-target_decay * d)          d < target_window
//! B = (HᵀH + λI)⁻¹ HᵀY,  diag(B) = 0
//! score(history) = Σ_k exp(-recency_decay * k) · B[item(newest-k)] + popularity_weight · pop
//! ```
//!
//! Scoring needs only the user's recent items, so an event folds in on the very next request and
//! a user never seen in training is personalised from a few events. The defaults were chosen on
//! a validation split carved from the training part of the QUALITY.md split of MovieLens (see
//! README), never on its test part.

use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use rayon::prelude::*;

use super::components::ItemComponents;
use super::content::ContentMap;
use super::factors::{self, AlsParams, ItemFactors};
use super::ivf::Ivf;
use super::objective::Objective;
use super::retrieval::Index;
use super::{
    ArtifactError, ArtifactReader, ArtifactWriter, Hyperparameters, Learned, Recipe, RecipeDef,
    RecipeType, RelatedItems, Retrieval, TrainingData, Updatable,
};
use crate::data::attrs::Attrs;
use crate::error::{Error, Result};

pub const USER_PERSONALIZATION: Recipe = Recipe::new(&RecipeDef {
    name: "aws-user-personalization",
    recipe_type: RecipeType::UserPersonalization,
    hyperparameters: KNOWN,
    fit: |data, hp, popularity, progress| {
        let m = fit_indexed(data, NextItemsParams::from_hp(hp)?, popularity, progress)?;
        Ok(Box::new(UserPersonalization(m)))
    },
    read: |r, hp, n| Ok(Box::new(UserPersonalization(read(r, hp, n)?))),
});

pub const PERSONALIZED_RANKING: Recipe = Recipe::new(&RecipeDef {
    name: "aws-personalized-ranking",
    recipe_type: RecipeType::PersonalizedRanking,
    hyperparameters: KNOWN,
    fit: |data, hp, popularity, progress| {
        let m = fit_indexed(data, NextItemsParams::from_hp(hp)?, popularity, progress)?;
        Ok(Box::new(PersonalizedRanking(m)))
    },
    read: |r, hp, n| Ok(Box::new(PersonalizedRanking(read(r, hp, n)?))),
});

/// The USER_SEGMENTATION recipes learn what User-Personalization learns; a batch segment job
/// reads it the other way round, from items to the users whose histories score them highest
/// (`aws-item-attribute-affinity` over every item that has the asked attribute values).
pub const ITEM_AFFINITY: Recipe = Recipe::new(&RecipeDef {
    name: "aws-item-affinity",
    recipe_type: RecipeType::UserSegmentation,
    hyperparameters: KNOWN,
    fit: fit_segmentation,
    read: read_segmentation,
});

pub const ITEM_ATTRIBUTE_AFFINITY: Recipe = Recipe::new(&RecipeDef {
    name: "aws-item-attribute-affinity",
    recipe_type: RecipeType::UserSegmentation,
    hyperparameters: KNOWN,
    fit: fit_segmentation,
    read: read_segmentation,
});

fn fit_segmentation(
    data: &TrainingData,
    hp: &Hyperparameters,
    popularity: &[f32],
    progress: &mut dyn FnMut(f64),
) -> Result<Box<dyn Learned>> {
    let m = fit_indexed(data, NextItemsParams::from_hp(hp)?, popularity, progress)?;
    Ok(Box::new(Segmentation(m)))
}

fn read_segmentation(
    r: &ArtifactReader,
    hp: &serde_json::Value,
    n: usize,
) -> Result<Box<dyn Learned>, ArtifactError> {
    Ok(Box::new(Segmentation(read(r, hp, n)?)))
}

/// User-Personalization's model: next items, related items, and UPDATE without a refit.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPersonalization(pub NextItems);

/// Personalized-Ranking's model: the same matrix; Personalize offers no UPDATE for it.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonalizedRanking(pub NextItems);

/// The segmentation recipes' model: the same matrix, read from items to users.
#[derive(Debug, Clone, PartialEq)]
pub struct Segmentation(pub NextItems);

/// The [`Learned`] verbs the next-items recipes share.
macro_rules! next_items_learned {
    ($t:ident) => {
        impl Learned for $t {
            fn hyperparameters(&self) -> serde_json::Value {
                serde_json::to_value(&self.0.params).unwrap_or_default()
            }

            fn score_history(&self, popularity: &[f32], history: &[u32], out: &mut Vec<f32>) {
                self.0.score(popularity, history, out);
            }

            fn score_histories(
                &self,
                popularity: &[f32],
                histories: &[&[u32]],
                outs: &mut [Vec<f32>],
            ) {
                self.0.score_many(popularity, histories, outs);
            }

            fn grow(&mut self, n_items: usize) {
                self.0.extend_catalogue(n_items);
            }

            fn write(&self, w: &mut ArtifactWriter) {
                w.u32s(b"NCOL", &self.0.columns).f32s(b"NMAT", &self.0.b);
                if let Some(f) = &self.0.factors {
                    w.f32s(b"FACT", &f.y).f32s(b"FGRM", &f.gram);
                }
                if let Some(ix) = &self.0.index {
                    w.f32s(b"FIVC", &ix.ivf.centroids).u32s(b"FIVA", &ix.ivf.assign);
                }
                if let Some(c) = &self.0.content {
                    c.write(w);
                }
                if let Some(o) = &self.0.objective {
                    o.write(w);
                }
                if let Some(c) = &self.0.components {
                    w.u32s(b"ICMP", c.labels()).u32s(b"ICMH", c.homes());
                }
            }

            fn describe(&mut self, first: usize, attrs: &[Option<&Attrs>]) {
                self.0.describe_items(first, attrs);
            }

            fn box_clone(&self) -> Box<dyn Learned> {
                Box::new(self.clone())
            }

            fn as_any(&self) -> &dyn std::any::Any {
                self
            }

            fn related(&self) -> Option<&dyn RelatedItems> {
                Some(&self.0)
            }

            fn updatable(&self) -> Option<&dyn Updatable> {
                next_items_learned!(@update $t self)
            }

            fn retrieval(&self) -> Option<&dyn Retrieval> {
                self.0.index.as_ref().map(|_| &self.0 as &dyn Retrieval)
            }

            fn components(&self) -> Option<&ItemComponents> {
                self.0.components.as_ref()
            }
        }
    };
    (@update UserPersonalization $s:ident) => { Some($s) };
    (@update $t:ident $s:ident) => { None };
}
next_items_learned!(UserPersonalization);
next_items_learned!(PersonalizedRanking);
next_items_learned!(Segmentation);

impl Updatable for UserPersonalization {
    fn update(&self, data: &TrainingData, popularity: &[f32]) -> Box<dyn Learned> {
        let mut m = self.clone();
        let first = m.0.column_of.len();
        m.0.extend_catalogue(data.n_items());
        if let Some(c) = &data.content {
            let new: Vec<Option<&Attrs>> = c.rows.iter().skip(first).map(Option::as_ref).collect();
            m.0.describe_items(first, &new);
        }
        if let Some(mut ix) = m.0.index.take() {
            ix.rebias(&m.0, popularity);
            m.0.index = Some(ix);
        }
        Box::new(m)
    }
}

impl Retrieval for NextItems {
    fn ranker<'a>(
        &'a self,
        popularity: &'a [f32],
        history: &[u32],
    ) -> Option<Box<dyn crate::engine::Ranker + 'a>> {
        let r = super::retrieval::ranker(self, popularity, history)?;
        Some(Box::new(r))
    }
}

impl RelatedItems for NextItems {
    fn score_related(&self, popularity: &[f32], item: u32, out: &mut Vec<f32>) {
        self.score(popularity, &[item], out);
    }
}

fn read(
    r: &ArtifactReader,
    hp: &serde_json::Value,
    n_items: usize,
) -> Result<NextItems, ArtifactError> {
    let corrupt = |what: &str| ArtifactError::Corrupt(what.to_string());
    let params: NextItemsParams =
        serde_json::from_value(hp.clone()).map_err(|e| corrupt(&e.to_string()))?;
    let columns = r.u32s(b"NCOL")?;
    let b = r.f32s(b"NMAT")?;
    let n = columns.len();
    if b.len() != n * n || columns.iter().any(|&c| c as usize >= n_items) {
        return Err(corrupt("matrix shape"));
    }
    let mut column_of = vec![u32::MAX; n_items];
    for (c, &i) in columns.iter().enumerate() {
        column_of[i as usize] = c as u32;
    }
    let factors = if params.factors > 0 {
        let f = params.factors;
        let y = r.f32s(b"FACT")?;
        let gram = r.f32s(b"FGRM")?;
        if y.len() % f != 0 || y.len() / f > n_items || gram.len() != f * f {
            return Err(corrupt("factor shape"));
        }
        let mut factors = ItemFactors::new(f, y, gram, params.als_alpha as f32);
        factors.grow(n_items);
        Some(factors)
    } else {
        None
    };
    let age_weights = params.age_weights();
    let content = match &factors {
        Some(f) => ContentMap::read(r, f.factors)?,
        None => None,
    };
    let components = match r.u32s(b"ICMP") {
        Ok(labels) if labels.len() <= n_items => {
            Some(ItemComponents::read(labels, r.u32s(b"ICMH").ok())?)
        }
        Ok(_) => return Err(corrupt("component labels")),
        Err(_) => None,
    };
    let objective = match &params.objective_attribute {
        Some(_) => {
            let weight = params
                .objective_weight()
                .map_err(|e| ArtifactError::Corrupt(e.to_string()))?;
            Some(Objective::read(r, weight, n_items)?)
        }
        None => None,
    };
    let mut m = NextItems {
        params,
        columns,
        b,
        column_of,
        age_weights,
        factors,
        index: None,
        content,
        objective,
        components,
    };
    if let (Some(f), Ok(centroids), Ok(assign)) = (&m.factors, r.f32s(b"FIVC"), r.u32s(b"FIVA")) {
        let k = centroids.len() / f.factors;
        if centroids.len() % f.factors != 0
            || assign.len() > n_items
            || assign.iter().any(|&c| c as usize >= k)
        {
            return Err(corrupt("index shape"));
        }
        let trained = &f.y[..assign.len() * f.factors];
        let ivf = Ivf::new(f.factors, centroids, assign, trained);
        let popularity = r.f32s(b"POPL")?;
        let index = Index::new(ivf, m.params.retrieval_probe, &m, f, &popularity);
        m.index = Some(index);
    }
    Ok(m)
}

const KNOWN: &[&str] = &[
    "hidden_dimension",
    "bptt",
    "recency_mask",
    "min_user_history_length_percentile",
    "max_user_history_length_percentile",
    "exploration_weight",
    "exploration_item_age_cut_off",
    // tailor's own
    "lambda",
    "recency_decay",
    "max_items",
    "target_window",
    "target_decay",
    "popularity_weight",
    "factors",
    "factor_weight",
    "als_alpha",
    "als_reg",
    "als_iterations",
    "als_cg_steps",
    "content_reg",
    "short_history_popularity",
    // solutionConfig.optimizationObjective, as the service passes it
    "objective_attribute",
    "objective_sensitivity",
];

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NextItemsParams {
    /// Personalize's `bptt`: how many of the newest events a request looks at.
    pub bptt: usize,
    /// `recency_mask=false` weighs the whole window equally.
    pub recency_mask: bool,
    pub recency_decay: f64,
    pub lambda: f64,
    pub max_items: usize,
    pub target_window: usize,
    pub target_decay: f64,
    pub popularity_weight: f32,
    pub min_user_history_length_percentile: f64,
    pub max_user_history_length_percentile: f64,
    /// When set, B is limited to this rank (its leading singular subspace), i.e. items are
    /// embedded in `hidden_dimension` dimensions; unset, B keeps full rank (tailor's default,
    /// chosen on validation data).
    pub hidden_dimension: Option<usize>,
    pub exploration_weight: f64,
    pub exploration_item_age_cut_off: f64,
    /// Item factors over the whole catalogue (0: none), added to the next-items scores with
    /// `factor_weight`; `als_*` fit them.
    #[serde(default)]
    pub factors: usize,
    #[serde(default)]
    pub factor_weight: f32,
    /// `factors` is "auto": training sizes them by the catalogue ([`auto_factors`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_factors: bool,
    /// `factor_weight` was not given: training chooses it on validation data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tune_factor_weight: bool,
    /// `popularity_weight` was not given: with factors, training chooses it with the factor
    /// weight.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tune_popularity_weight: bool,
    #[serde(default)]
    pub als_alpha: f64,
    #[serde(default)]
    pub als_reg: f64,
    #[serde(default)]
    pub als_iterations: usize,
    /// Conjugate-gradient steps per row and sweep.
    #[serde(default = "three")]
    pub als_cg_steps: usize,
    /// The retrieval index's probe (chosen in training; 0 without an index).
    #[serde(default)]
    pub retrieval_probe: f32,
    /// The ridge penalty of the map from item content to factors.
    #[serde(default = "content_reg")]
    pub content_reg: f64,
    /// Popularity's extra weight for a history of one event, fading as `1 / (1 + events)`.
    #[serde(default = "short_history_popularity")]
    pub short_history_popularity: f32,
    /// `optimizationObjective.itemAttribute` and `objectiveSensitivity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective_attribute: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective_sensitivity: Option<String>,
}

fn content_reg() -> f64 {
    CONTENT_REG
}

fn short_history_popularity() -> f32 {
    SHORT_HISTORY_POPULARITY
}

/// Validation (`tailor evaluate --new-users --validation`, MovieLens): new users' NDCG@10 from
/// their first event 0.392 at 0, 0.446 at 0.03, 0.495 at 0.1, 0.471 at 0.3; the usual split's
/// NDCG@10 0.1922, 0.1922, 0.1919, 0.1904.
const SHORT_HISTORY_POPULARITY: f32 = 0.1;

/// Validation recall@10 of held-out items among themselves (`tailor evaluate --cold-items
/// --validation` on MovieLens): see the README's cold-start section.
const CONTENT_REG: f64 = 1.0;

impl NextItemsParams {
    pub fn from_hp(hp: &Hyperparameters) -> Result<NextItemsParams> {
        let hidden_dimension = match hp.text("hidden_dimension") {
            Some(_) => Some(hp.number("hidden_dimension", 149usize, 32, 256)?),
            None => None,
        };
        let p = NextItemsParams {
            bptt: hp.number("bptt", 50, 2, 256)?,
            recency_mask: hp.boolean("recency_mask", true)?,
            recency_decay: hp.number("recency_decay", 0.1, 0.0, 10.0)?,
            lambda: hp.number("lambda", 300.0, 1e-6, 1e9)?,
            max_items: hp.number("max_items", 1500, 1, 20_000)?,
            target_window: hp.number("target_window", 20, 1, 1000)?,
            target_decay: hp.number("target_decay", 0.2, 0.0, 10.0)?,
            popularity_weight: hp.number("popularity_weight", 1e-3, 0.0, 1e6)?,
            min_user_history_length_percentile: hp.number(
                "min_user_history_length_percentile",
                0.0,
                0.0,
                1.0,
            )?,
            max_user_history_length_percentile: hp.number(
                "max_user_history_length_percentile",
                1.0,
                0.0,
                1.0,
            )?,
            hidden_dimension,
            exploration_weight: hp.number("exploration_weight", 0.3, 0.0, 1.0)?,
            exploration_item_age_cut_off: hp.number(
                "exploration_item_age_cut_off",
                30.0,
                1e-9,
                1e9,
            )?,
            // "auto" (the default) sizes them by the catalogue; 0 turns them off.
            factors: match hp.text("factors") {
                None | Some("auto") => 0,
                _ => hp.number("factors", 0, 0, 512)?,
            },
            auto_factors: matches!(hp.text("factors"), None | Some("auto")),
            factor_weight: hp.number("factor_weight", 0.1, 0.0, 1e6)?,
            tune_factor_weight: hp.text("factor_weight").is_none(),
            tune_popularity_weight: hp.text("popularity_weight").is_none(),
            // Validation NDCG@10 (`tailor evaluate --validation`): on a generated 100k-item shop
            // of 2M events 0.111 at 1, 0.153 at 10, 0.161 at 20, 0.166 at 40; on MovieLens
            // 0.1921 / 0.1921 / 0.1922 / 0.1898. The sparser the data, the more a seen item
            // must outweigh the unseen ones; 20 keeps MovieLens at its best.
            als_alpha: hp.number("als_alpha", 20.0, 0.0, 1e6)?,
            als_reg: hp.number("als_reg", 1.0, 0.0, 1e9)?,
            als_iterations: hp.number("als_iterations", 15, 1, 100)?,
            als_cg_steps: hp.number("als_cg_steps", 2, 1, 64)?,
            retrieval_probe: 0.0,
            content_reg: hp.number("content_reg", CONTENT_REG, 1e-6, 1e6)?,
            short_history_popularity: hp.number(
                "short_history_popularity",
                SHORT_HISTORY_POPULARITY,
                0.0,
                1e6,
            )?,
            objective_attribute: hp.text("objective_attribute").map(str::to_string),
            objective_sensitivity: hp.text("objective_sensitivity").map(str::to_string),
        };
        p.objective_weight()?;
        if p.min_user_history_length_percentile > p.max_user_history_length_percentile {
            return Err(Error::InvalidInput(
                "min_user_history_length_percentile must not exceed max_user_history_length_percentile".into(),
            ));
        }
        Ok(p)
    }

    /// The optimisation objective's weight (0 without one; MEDIUM when only the attribute is
    /// given, as Personalize defaults it).
    pub fn objective_weight(&self) -> Result<f32> {
        match (&self.objective_attribute, &self.objective_sensitivity) {
            (None, _) => Ok(0.0),
            (Some(_), None) => super::objective::sensitivity_weight("MEDIUM"),
            (Some(_), Some(level)) => super::objective::sensitivity_weight(level),
        }
    }

    /// The weight of the event `k` places back from the newest.
    pub fn age_weights(&self) -> Vec<f32> {
        let a = if self.recency_mask {
            self.recency_decay
        } else {
            0.0
        };
        (0..self.bptt)
            .map(|k| (-a * k as f64).exp() as f32)
            .collect()
    }
}

/// The trained matrix over the selected items.
#[derive(Debug, Clone, PartialEq)]
pub struct NextItems {
    pub params: NextItemsParams,
    /// Catalogue code of each column.
    pub columns: Vec<u32>,
    /// Row-major n×n, row = input column.
    pub b: Vec<f32>,
    /// Catalogue code → column (`u32::MAX` if not selected).
    pub column_of: Vec<u32>,
    pub age_weights: Vec<f32>,
    /// Whole-catalogue item factors, when `params.factors > 0`.
    pub factors: Option<ItemFactors>,
    /// The retrieval index over the factors, for a catalogue too large to score whole.
    pub index: Option<Index>,
    /// The map from item attributes to factors, when the training data had them.
    pub content: Option<ContentMap>,
    /// The optimisation objective, when the solution has one.
    pub objective: Option<Objective>,
    /// Which items users join, when they are not all one component: a history is answered
    /// from the items it reaches.
    pub components: Option<ItemComponents>,
}

impl NextItems {
    pub fn n(&self) -> usize {
        self.columns.len()
    }

    /// Scores for a history into an empty `out`: popularity, weighted, plus the matrix's.
    pub fn score(&self, popularity: &[f32], history: &[u32], out: &mut Vec<f32>) {
        let gamma = self.popularity_weight_for(history.len());
        out.extend(popularity.iter().map(|p| gamma * p));
        self.add_scores(history, out);
        self.add_factor_scores(history, out);
        if let Some(o) = &self.objective {
            o.apply(out);
        }
    }

    /// [`NextItems::score`] for several histories, the factor scan shared by all of them.
    pub fn score_many(&self, popularity: &[f32], histories: &[&[u32]], outs: &mut [Vec<f32>]) {
        let mut xs: Vec<Vec<f32>> = Vec::new();
        let mut with_x: Vec<usize> = Vec::new();
        for (i, (history, out)) in histories.iter().zip(outs.iter_mut()).enumerate() {
            let gamma = self.popularity_weight_for(history.len());
            out.extend(popularity.iter().map(|p| gamma * p));
            self.add_scores(history, out);
            if let Some((_, x)) = self.user_vector(history) {
                xs.push(x);
                with_x.push(i);
            }
        }
        let Some(f) = self.factors.as_ref() else {
            return;
        };
        let x_refs: Vec<&[f32]> = xs.iter().map(Vec::as_slice).collect();
        let mut targets: Vec<&mut [f32]> = outs
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| with_x.contains(i))
            .map(|(_, o)| o.as_mut_slice())
            .collect();
        f.add_scores_many(&x_refs, self.params.factor_weight, &mut targets);
        if let Some(o) = &self.objective {
            outs.iter_mut().for_each(|out| o.apply(out));
        }
    }

    /// The popularity weight for a history of `len` events: the trained weight, plus a share
    /// that fades as events arrive — a user seen once says little yet about their taste. A
    /// catalogue answered through the retrieval index keeps the trained weight, which the
    /// index's precomputed bounds hold.
    pub fn popularity_weight_for(&self, len: usize) -> f32 {
        if self.index.is_some() {
            return self.params.popularity_weight;
        }
        self.params.popularity_weight + self.params.short_history_popularity / (1.0 + len as f32)
    }

    /// Adds `factor_weight · y_i·x` for the user `x` folded in from the history.
    pub fn add_factor_scores(&self, history: &[u32], out: &mut [f32]) {
        if let Some((f, x)) = self.user_vector(history) {
            f.add_scores(&x, self.params.factor_weight, out);
        }
    }

    /// The factors and the user vector folded in from the recency-weighted history (the same
    /// window and weights as the matrix's); `None` without factors or history.
    pub fn user_vector(&self, history: &[u32]) -> Option<(&ItemFactors, Vec<f32>)> {
        let f = self.factors.as_ref()?;
        let weighted: Vec<(u32, f32)> = history
            .iter()
            .rev()
            .zip(&self.age_weights)
            .map(|(&i, &w)| (i, w))
            .collect();
        (!weighted.is_empty()).then(|| (f, f.fold_in(&weighted)))
    }

    /// Adds `Σ_k w_k B[item_k]` to `out` (catalogue-sized) for a history, newest last.
    pub fn add_scores(&self, history: &[u32], out: &mut [f32]) {
        if let Some(acc) = self.head_scores(history) {
            for (j, &item) in self.columns.iter().enumerate() {
                out[item as usize] += acc[j];
            }
        }
    }

    /// `Σ_k w_k B[item_k]` by column; `None` when no history item has a column.
    pub fn head_scores(&self, history: &[u32]) -> Option<Vec<f32>> {
        let n = self.n();
        let mut rows: Vec<(usize, f32)> = Vec::with_capacity(self.age_weights.len());
        for (k, &item) in history
            .iter()
            .rev()
            .take(self.age_weights.len())
            .enumerate()
        {
            if let Some(&col) = self.column_of.get(item as usize) {
                if col != u32::MAX {
                    match rows.iter_mut().find(|(c, _)| *c == col as usize) {
                        Some((_, w)) => *w += self.age_weights[k],
                        None => rows.push((col as usize, self.age_weights[k])),
                    }
                }
            }
        }
        if rows.is_empty() {
            return None;
        }
        let mut acc = vec![0f32; n];
        for (col, w) in rows {
            let row = &self.b[col * n..(col + 1) * n];
            crate::engine::simd::add_scaled(&mut acc, w, row);
        }
        Some(acc)
    }

    /// Extends `column_of` to a catalogue that grew (UPDATE training).
    pub fn extend_catalogue(&mut self, n_items: usize) {
        self.column_of.resize(n_items, u32::MAX);
        if let Some(o) = &mut self.objective {
            o.grow(n_items);
        }
        if let Some(f) = &mut self.factors {
            f.grow(n_items);
        }
    }
}

/// Factors for a catalogue of `n_items` when `factors` is "auto": more items hold more
/// distinct tastes (64 beat 32 by 0.12 vs 0.10 NDCG@10 on a 100k-item shop of 500 taste
/// clusters), while on MovieLens' 9.7k items 32 and 64 are within 0.001 on validation and 32
/// halves the per-request scan.
pub fn auto_factors(n_items: usize) -> usize {
    if n_items <= 20_000 {
        32
    } else {
        64
    }
}

fn three() -> usize {
    3
}

/// The factor weights tried when `factor_weight` is not given.
const FACTOR_WEIGHTS: &[f32] = &[0.0, 0.01, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0];

/// Validation users scored per weight, at most: enough to rank a handful of weights.
const TUNING_USERS: usize = 3_000;

/// Fits the model and, over a catalogue too large to score whole per request, the retrieval
/// index over its factors, with the probe chosen on `data`'s users.
pub fn fit_indexed(
    data: &TrainingData,
    params: NextItemsParams,
    popularity: &[f32],
    progress: &mut dyn FnMut(f64),
) -> Result<NextItems> {
    let mut m = fit(data, params, &mut |f| progress(0.95 * f))?;
    m.finish_catalogue(data, popularity, ItemComponents::of(data))?;
    Ok(m)
}

impl NextItems {
    /// Gives the items without interactions factors from their content, homes the islands of
    /// `components` (`data`'s, or every user's when `data` is a sample) by their content, then
    /// indexes the catalogue: what every fit ends with.
    pub fn finish_catalogue(
        &mut self,
        data: &TrainingData,
        popularity: &[f32],
        components: Option<ItemComponents>,
    ) -> Result<()> {
        self.components = components;
        self.learn_content(data);
        if let (Some(c), Some(map), Some(attrs)) = (
            self.components.as_mut(),
            &self.content,
            data.content.as_deref(),
        ) {
            c.home_islands(|i| map.vector(attrs.rows.get(i as usize)?.as_ref()?));
        }
        self.learn_objective(data)?;
        self.index_catalogue(data, popularity);
        Ok(())
    }

    /// The optimisation objective's percentiles over the catalogue.
    fn learn_objective(&mut self, data: &TrainingData) -> Result<()> {
        self.objective = None;
        let Some(attribute) = &self.params.objective_attribute else {
            return Ok(());
        };
        let rows = data.content.as_ref().map_or(&[][..], |c| &c.rows[..]);
        let o = Objective::fit(
            rows,
            data.n_items(),
            attribute,
            self.params.objective_weight()?,
        )?;
        self.objective = Some(o);
        Ok(())
    }

    /// Fits the map from item attributes to factors on the items with interactions, and gives
    /// those without any their mapped factors; nothing without factors or attributes.
    pub fn learn_content(&mut self, data: &TrainingData) {
        self.content = None;
        let (Some(attrs), Some(f)) = (data.content.as_deref(), self.factors.as_mut()) else {
            return;
        };
        let warm: Vec<bool> = data.item_users().iter().map(|&u| u > 0).collect();
        let Some(map) = ContentMap::fit(
            attrs,
            &warm,
            &f.y,
            f.factors,
            self.params.content_reg as f32,
        ) else {
            return;
        };
        let cold: Vec<(u32, Vec<f32>)> = attrs
            .rows
            .iter()
            .enumerate()
            .filter(|&(i, _)| !warm.get(i).copied().unwrap_or(true))
            .filter_map(|(i, r)| Some((i as u32, map.vector(r.as_ref()?)?)))
            .collect();
        f.set_rows(&cold);
        self.content = Some(map);
    }

    /// Items from `first` on (put after training) get factors from their attributes.
    pub fn describe_items(&mut self, first: usize, attrs: &[Option<&Attrs>]) {
        if let (Some(o), Some(a)) = (&mut self.objective, &self.params.objective_attribute) {
            o.describe(first, attrs, a);
        }
        let (Some(map), Some(f)) = (&self.content, self.factors.as_mut()) else {
            return;
        };
        let rows: Vec<(u32, Vec<f32>)> = attrs
            .iter()
            .enumerate()
            .filter_map(|(k, a)| Some(((first + k) as u32, map.vector((*a)?)?)))
            .collect();
        f.set_rows(&rows);
    }

    /// Builds the retrieval index over the factors when the catalogue is too large to score
    /// whole per request, with the probe chosen on `data`'s users.
    pub fn index_catalogue(&mut self, data: &TrainingData, popularity: &[f32]) {
        if let Some(f) = self
            .factors
            .as_ref()
            .filter(|_| Index::wanted(data.n_items()))
        {
            let ivf = Ivf::build(&f.y[..data.n_items() * f.factors], f.factors);
            self.index = Some(Index::new(ivf, 1.0, self, f, popularity));
            Index::tune(self, data, popularity);
            self.params.retrieval_probe = self.index.as_ref().map_or(0.0, |ix| ix.probe);
        }
    }
}

/// The validation split the weights are chosen on: each user's newest 20%, as QUALITY.md
/// splits (users with at least 5 events).
pub(crate) fn tuning_split(data: &TrainingData) -> crate::evaluation::Split {
    crate::evaluation::temporal_split(data, 5, 0.2)
}

/// Fits the model; `progress` gets a fraction in [0, 1]. With factors and no `factor_weight`
/// given, the weight is chosen first on a validation split carved from `data` (each user's
/// newest 20%, as QUALITY.md splits), so it adapts to the data it trains on.
pub fn fit(
    data: &TrainingData,
    mut params: NextItemsParams,
    progress: &mut dyn FnMut(f64),
) -> Result<NextItems> {
    if params.auto_factors {
        params.factors = auto_factors(data.n_items());
        params.auto_factors = false;
    }
    if params.factors > 0 && params.tune_factor_weight {
        let split = tuning_split(data);
        let mut start = None;
        if !split.truth.is_empty() {
            // The trial takes two thirds of the sweeps and the final fit, started from its
            // factors, the last third: one fit's worth of sweeps in all.
            let trial_params = NextItemsParams {
                als_iterations: (params.als_iterations * 2).div_ceil(3),
                ..params.clone()
            };
            let trial = fit_with(&split.train, trial_params, None, &mut |f| progress(0.5 * f))?;
            (params.factor_weight, params.popularity_weight) = trial.best_weights(&split);
            start = trial.factors;
        }
        params.tune_factor_weight = false;
        params.tune_popularity_weight = false;
        // The trial's factors start the final fit, which then needs a third of the sweeps.
        let mut m = fit_with(data, params, start.as_ref(), &mut |f| {
            progress(0.5 + 0.5 * f)
        })?;
        if m.params.factor_weight == 0.0 {
            // The factors did not help on this data: keep the artifact small.
            m.factors = None;
            m.params.factors = 0;
        }
        return Ok(m);
    }
    // Nothing is tuned: the weights given (or defaulted) are the resolved ones.
    params.tune_factor_weight = false;
    params.tune_popularity_weight = false;
    fit_with(data, params, None, progress)
}

impl NextItems {
    /// The factor weight of [`FACTOR_WEIGHTS`] (and, unless given, the popularity weight: the
    /// default or a tenth of it) with the best NDCG@10 on `split`'s held-out events (training items
    /// excluded, as the evaluation does); the lighter weights on ties.
    pub(crate) fn best_weights(&self, split: &crate::evaluation::Split) -> (f32, f32) {
        let popularity = super::popularity::popularity(&split.train);
        let gamma = self.params.popularity_weight;
        // Never zero: popularity still orders the items nothing else tells apart (a user
        // with no history).
        let gammas = if self.params.tune_popularity_weight && gamma > 0.0 {
            vec![gamma / 10.0, gamma]
        } else {
            vec![gamma]
        };
        let step = split.truth.len().div_ceil(TUNING_USERS).max(1);
        let users: Vec<&(u32, Vec<u32>)> = split.truth.iter().step_by(step).collect();
        let gains: Vec<Vec<f64>> = users
            .par_iter()
            .map_init(
                || (Vec::new(), Vec::new()),
                |(head, fac): &mut (Vec<f32>, Vec<f32>), (u, truth)| {
                    let history: Vec<u32> = split.train.histories[*u as usize]
                        .iter()
                        .map(|e| e.item)
                        .collect();
                    head.clear();
                    head.resize(popularity.len(), 0.0);
                    self.add_scores(&history, head);
                    fac.clear();
                    fac.resize(head.len(), 0.0);
                    if let Some((f, x)) = self.user_vector(&history) {
                        f.add_scores(&x, 1.0, fac);
                    }
                    for &i in &history {
                        head[i as usize] = f32::NEG_INFINITY;
                    }
                    gammas
                        .iter()
                        .flat_map(|&g| FACTOR_WEIGHTS.iter().map(move |&w| (g, w)))
                        .map(|(g, w)| ndcg_at_10(head, &popularity, g, fac, w, truth))
                        .collect()
                },
            )
            .collect();
        let mut best = ((0.0f32, gamma), f64::NEG_INFINITY);
        let grid = gammas
            .iter()
            .flat_map(|&g| FACTOR_WEIGHTS.iter().map(move |&w| (w, g)));
        for (k, wg) in grid.enumerate() {
            let total: f64 = gains.iter().map(|g| g[k]).sum();
            if total > best.1 + 1e-9 {
                best = (wg, total);
            }
        }
        best.0
    }
}

/// NDCG@10 of `head + g·pop + w·fac` against `truth`.
fn ndcg_at_10(head: &[f32], pop: &[f32], g: f32, fac: &[f32], w: f32, truth: &[u32]) -> f64 {
    let mut top: Vec<(f32, u32)> = Vec::with_capacity(11);
    for (i, ((&b, &p), &f)) in head.iter().zip(pop).zip(fac).enumerate() {
        let s = b + g * p + w * f;
        if s.is_nan() || s == f32::NEG_INFINITY {
            continue;
        }
        if top.len() < 10 || s > top[top.len() - 1].0 {
            let at = top.partition_point(|&(t, _)| t >= s);
            top.insert(at, (s, i as u32));
            top.truncate(10);
        }
    }
    let mut distinct = truth.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let hits: Vec<bool> = top
        .iter()
        .map(|(_, i)| distinct.binary_search(i).is_ok())
        .collect();
    crate::evaluation::ndcg(&hits, distinct.len().min(10))
}

fn fit_with(
    data: &TrainingData,
    params: NextItemsParams,
    start: Option<&ItemFactors>,
    progress: &mut dyn FnMut(f64),
) -> Result<NextItems> {
    // A copy only when the percentiles drop users: the data can be most of a function's memory.
    let (min, max) = (
        params.min_user_history_length_percentile,
        params.max_user_history_length_percentile,
    );
    let filtered;
    let data = if min <= 0.0 && max >= 1.0 {
        data
    } else {
        let mut d = data.clone();
        d.filter_history_percentiles(min, max);
        filtered = d;
        &filtered
    };
    let counts = data.item_counts();
    let mut order: Vec<u32> = (0..data.n_items() as u32)
        .filter(|&i| counts[i as usize] > 0.0)
        .collect();
    order.sort_by(|&a, &b| {
        counts[b as usize]
            .total_cmp(&counts[a as usize])
            .then(a.cmp(&b))
    });
    order.truncate(params.max_items);
    let n = order.len();
    if n == 0 {
        return Err(Error::InvalidInput("no interactions to train on".into()));
    }
    let mut column_of = vec![u32::MAX; data.n_items()];
    for (c, &i) in order.iter().enumerate() {
        column_of[i as usize] = c as u32;
    }
    let age_weights = params.age_weights();
    let target_weights: Vec<f64> = (0..params.target_window)
        .map(|d| (-params.target_decay * d as f64).exp())
        .collect();

    // Accumulate G = HᵀH and R = HᵀY, one pair per thread over a share of the users.
    let threads = rayon::current_num_threads().max(1);
    let mut shares: Vec<Vec<usize>> = vec![Vec::new(); threads];
    let mut load = vec![0usize; threads];
    for (u, h) in data.histories.iter().enumerate() {
        let t = (0..threads).min_by_key(|&t| load[t]).unwrap_or(0);
        load[t] += h.len() * h.len().min(params.bptt);
        shares[t].push(u);
    }
    let accumulate = |users: &[usize]| {
        let mut g = vec![0f64; n * n];
        let mut r = vec![0f64; n * n];
        let mut h: Vec<(usize, f64)> = Vec::with_capacity(params.bptt);
        let mut y: Vec<(usize, f64)> = Vec::with_capacity(params.target_window);
        for &u in users {
            let seq = &data.histories[u];
            let cols: Vec<u32> = seq.iter().map(|e| column_of[e.item as usize]).collect();
            for c in 1..seq.len() {
                y.clear();
                for (d, tw) in target_weights.iter().enumerate().take(seq.len() - c) {
                    let col = cols[c + d];
                    if col != u32::MAX {
                        y.push((col as usize, tw * seq[c + d].weight as f64));
                    }
                }
                if y.is_empty() {
                    continue;
                }
                h.clear();
                for (k, aw) in age_weights.iter().enumerate().take(c) {
                    let col = cols[c - 1 - k];
                    if col != u32::MAX {
                        h.push((col as usize, *aw as f64 * seq[c - 1 - k].weight as f64));
                    }
                }
                for &(i, wi) in &h {
                    let grow = &mut g[i * n..(i + 1) * n];
                    for &(j, wj) in &h {
                        grow[j] += wi * wj;
                    }
                    let rrow = &mut r[i * n..(i + 1) * n];
                    for &(j, wj) in &y {
                        rrow[j] += wi * wj;
                    }
                }
            }
        }
        (g, r)
    };
    let parts: Vec<(Vec<f64>, Vec<f64>)> = std::thread::scope(|s| {
        let handles: Vec<_> = shares
            .iter()
            .map(|share| s.spawn(|| accumulate(share)))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    if parts.len() != threads {
        return Err(Error::Internal("a training thread failed".into()));
    }
    progress(0.4);
    let mut parts = parts.into_iter();
    let (mut g, mut r) = parts.next().unwrap_or_default();
    for (g2, r2) in parts {
        g.iter_mut().zip(&g2).for_each(|(a, b)| *a += b);
        r.iter_mut().zip(&r2).for_each(|(a, b)| *a += b);
    }
    let gm = Mat::<f64>::from_fn(n, n, |i, j| {
        g[i * n + j] + if i == j { params.lambda } else { 0.0 }
    });
    drop(g);
    let mut rm = Mat::<f64>::from_fn(n, n, |i, j| r[i * n + j]);
    drop(r);
    let llt = gm.llt(Side::Lower).map_err(|_| {
        Error::Internal("the regularised Gram matrix is not positive definite".into())
    })?;
    progress(0.7);
    llt.solve_in_place(rm.as_mut());
    if let Some(d) = params.hidden_dimension {
        rm = reduce_rank(&rm, d)?;
    }
    let mut b = vec![0f32; n * n];
    for i in 0..n {
        for j in 0..n {
            if i != j {
                b[i * n + j] = rm[(i, j)] as f32;
            }
        }
    }
    let factors = (params.factors > 0).then(|| {
        let iterations = match start {
            Some(_) => params.als_iterations.div_ceil(3),
            None => params.als_iterations,
        };
        let als = AlsParams {
            factors: params.factors,
            iterations,
            alpha: params.als_alpha as f32,
            reg: params.als_reg as f32,
            cg_steps: params.als_cg_steps,
        };
        factors::fit(data, &als, start, &mut |f| progress(0.8 + 0.2 * f))
    });
    progress(1.0);
    Ok(NextItems {
        params,
        columns: order,
        b,
        column_of,
        age_weights,
        factors,
        index: None,
        content: None,
        objective: None,
        components: None,
    })
}

/// The best rank-`d` approximation of `b`, by a randomised SVD (one power iteration) with a
/// fixed seed, so training stays deterministic.
fn reduce_rank(b: &Mat<f64>, d: usize) -> Result<Mat<f64>> {
    let n = b.nrows();
    if d >= n {
        return Ok(b.clone());
    }
    let k = (d + 10).min(n);
    let mut rng = crate::sample::SplitMix::new(0x7a11_0000 + d as u64);
    let noise: Vec<f64> = (0..n * k).map(|_| rng.unit() - 0.5).collect();
    let omega = Mat::<f64>::from_fn(n, k, |i, j| noise[i * k + j]);
    let y = b * &omega;
    let q1 = y.qr().compute_thin_Q();
    let y = b * (b.transpose() * &q1);
    let q = y.qr().compute_thin_Q();
    let c = q.transpose() * b;
    let svd = c
        .thin_svd()
        .map_err(|_| Error::Internal("the rank reduction did not converge".into()))?;
    let s = svd.S().column_vector();
    let u = svd.U();
    let us = Mat::<f64>::from_fn(k, d, |i, j| u[(i, j)] * s[j]);
    let left = &q * &us;
    let v = svd.V();
    Ok(&left * v.subcols(0, d).transpose())
}

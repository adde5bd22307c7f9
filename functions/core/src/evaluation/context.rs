//! Context and user metadata: each held-out user's events are grouped by their context (e.g.
//! DEVICE), and each group is asked for with that context and the user's metadata, then without,
//! through the engine's one answer path. Known users keep their training history (the QUALITY.md
//! split); new users are held out of training entirely and have no events at all.
//!
//! The context stage is learned on a validation split carved from the training part, so the
//! held-out events never tune it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use rayon::prelude::*;

use super::{history, quality_split, recall_ndcg_at_10};
use crate::data::attrs::{Attr, Attrs};
use crate::engine::{self, Query};
use crate::error::Result;
use crate::recipes::{context, Event, Hyperparameters, Model, Recipe, Situations, TrainingData};
use crate::sample::SampleData;

/// NDCG@10 (and recall@10) over (user, context) groups, without and with the context stage.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ContextFigures {
    pub groups: usize,
    pub recall_without: f64,
    pub ndcg_without: f64,
    pub recall_with: f64,
    pub ndcg_with: f64,
    /// The stage's weight per field for users with history and without (empty: no stage).
    pub fields: Vec<String>,
    pub warm: Vec<f32>,
    pub cold: Vec<f32>,
}

/// The generated sample (interactions, items, users) as training data.
pub fn sample_data(sample: &SampleData) -> Result<TrainingData> {
    use crate::sample::schemas;
    let interactions =
        super::read_csv_with_schema(schemas::ECOMMERCE_INTERACTIONS, &sample.interactions)?;
    let items = match &sample.items {
        Some(csv) => Some(super::read_csv_with_schema(schemas::ECOMMERCE_ITEMS, csv)?),
        None => None,
    };
    let mut data = TrainingData::from_tables(
        &interactions,
        items.as_ref(),
        &crate::recipes::EventConfig::default(),
    )?;
    if let Some(csv) = &sample.users {
        data.read_users(&super::read_csv_with_schema(schemas::ECOMMERCE_USERS, csv)?);
    }
    Ok(data)
}

/// An event's context as a request sends it.
pub fn context_map(s: &Situations, ctx: u32) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    if let Some(tuple) = s.tuples.get(ctx as usize) {
        for ((name, dict), &v) in s.event_fields.iter().zip(tuple) {
            if v != crate::recipes::NO_VALUE {
                map.insert(name.clone(), dict.name(v).to_string());
            }
        }
    }
    map
}

/// A user's categorical metadata as the runtime holds it.
pub fn user_attrs(s: &Situations, user: u32) -> Attrs {
    let mut attrs = Attrs::new();
    if let Some(row) = s.users.get(user as usize) {
        for ((name, dict), &v) in s.user_fields.iter().zip(row) {
            if v != crate::recipes::NO_VALUE {
                attrs.insert(name.clone(), Attr::Text(dict.name(v).to_string()));
            }
        }
    }
    attrs
}

/// The recipe fitted on `train`, with the context stage learned on a validation split carved
/// from `train`: (without the stage, with it).
fn fit_pair(recipe: Recipe, hp: &Hyperparameters, train: &TrainingData) -> Result<(Model, Model)> {
    let validation = quality_split(train);
    let base = Model::fit(recipe, &validation.train, hp, &mut |_| {})?;
    let stage = context::learn(&base, &validation.train, train);
    let plain = Model::fit(recipe, train, hp, &mut |_| {})?;
    let mut with = plain.clone();
    with.context = stage.map(Arc::new);
    Ok((plain, with))
}

/// One (user, context) group: the user's history, the context, and the items picked in it.
struct Group {
    user: u32,
    history: Vec<u32>,
    ctx: u32,
    truth: Vec<u32>,
}

/// Groups a user's held-out events by context; the truth leaves out what the history holds.
fn groups_of(
    user: u32,
    history: Vec<u32>,
    held: &[Event],
    known: &dyn Fn(u32) -> bool,
) -> Vec<Group> {
    let mut by_ctx: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let seen: HashSet<u32> = history.iter().copied().collect();
    for e in held {
        if known(e.item) && !seen.contains(&e.item) {
            by_ctx.entry(e.ctx).or_default().push(e.item);
        }
    }
    by_ctx
        .into_iter()
        .map(|(ctx, mut truth)| {
            truth.sort_unstable();
            truth.dedup();
            Group {
                user,
                history: history.clone(),
                ctx,
                truth,
            }
        })
        .collect()
}

fn figures(plain: &Model, with: &Model, s: &Situations, groups: &[Group]) -> ContextFigures {
    let ask = |model: &Model, g: &Group, context: bool| {
        let map = context_map(s, g.ctx);
        let attrs = user_attrs(s, g.user);
        let query = Query {
            exclude_history: true,
            context: context.then_some(&map),
            user_attrs: context.then_some(&attrs),
            ..Query::for_history(&g.history, 10)
        };
        let top: Vec<u32> = engine::recommend(model, &query)
            .iter()
            .filter_map(|p| p.item)
            .collect();
        recall_ndcg_at_10(&top, &g.truth)
    };
    // Per group: (recall, NDCG) without the stage, then with it.
    type Pair = ((f64, f64), (f64, f64));
    let per: Vec<Pair> = groups
        .par_iter()
        .map(|g| (ask(plain, g, false), ask(with, g, true)))
        .collect();
    let n = per.len().max(1) as f64;
    let mean = |f: &dyn Fn(&Pair) -> f64| per.iter().map(f).sum::<f64>() / n;
    let stage = with.context.as_deref();
    ContextFigures {
        groups: per.len(),
        recall_without: mean(&|p| p.0 .0),
        ndcg_without: mean(&|p| p.0 .1),
        recall_with: mean(&|p| p.1 .0),
        ndcg_with: mean(&|p| p.1 .1),
        fields: stage.map_or(Vec::new(), |c| {
            c.fields.iter().map(|f| f.name.clone()).collect()
        }),
        warm: stage.map_or(Vec::new(), |c| c.warm.clone()),
        cold: stage.map_or(Vec::new(), |c| c.cold.clone()),
    }
}

/// Known users (the QUALITY.md split): their newest events by context, from their history.
pub fn evaluate_known_users(
    recipe: Recipe,
    hp: &Hyperparameters,
    data: &TrainingData,
) -> Result<ContextFigures> {
    let s = situations(data)?;
    let split = quality_split(data);
    let (plain, with) = fit_pair(recipe, hp, &split.train)?;
    let groups: Vec<Group> = split
        .truth
        .iter()
        .flat_map(|&(u, _)| {
            let kept = split.train.histories[u as usize].len();
            groups_of(
                u,
                history(&split.train, u),
                &data.histories[u as usize][kept..],
                &|_| true,
            )
        })
        .collect();
    Ok(figures(&plain, &with, s, &groups))
}

/// New users: `fraction` of the users held out of training entirely (drawn with `seed`), asked
/// with no events at all: popularity, then popularity re-ranked by context and metadata.
pub fn evaluate_new_users(
    recipe: Recipe,
    hp: &Hyperparameters,
    data: &TrainingData,
    fraction: f64,
    seed: u64,
) -> Result<ContextFigures> {
    let s = situations(data)?;
    let users = super::new_users::held_out_users(data, fraction, seed);
    let mut train = data.clone();
    for &u in &users {
        train.histories[u].clear();
    }
    let (plain, with) = fit_pair(recipe, hp, &train)?;
    let counts = train.item_users();
    let known = |i: u32| counts[i as usize] > 0;
    let groups: Vec<Group> = users
        .iter()
        .flat_map(|&u| groups_of(u as u32, Vec::new(), &data.histories[u], &known))
        .collect();
    Ok(figures(&plain, &with, s, &groups))
}

fn situations(data: &TrainingData) -> Result<&Situations> {
    data.situations.as_deref().ok_or_else(|| {
        crate::Error::InvalidInput(
            "the data has no context fields (Interactions) or categorical user metadata".into(),
        )
    })
}

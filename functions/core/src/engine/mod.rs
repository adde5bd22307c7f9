//! The one answer path: a typed [`Query`] against a loaded [`Model`] in, ranked [`Pick`]s out.
//! Pure (no I/O, no locks), so the local server, the Lambdas, the CLI, batch jobs, benchmarks
//! and the offline evaluation all answer the same way; serving only resolves the campaign, the
//! group's history and the compiled filters, then calls [`recommend_batch`].
//!
//! A query runs through small named stages ([`stages`]), each observable on its own:
//! score → exclude → filter → context → explore → promote → pick → backfill → softmax → reasons.

mod itemset;
pub mod ranker;
pub mod simd;
pub mod stages;
mod topk;

use rayon::prelude::*;

pub use itemset::ItemSet;
pub use ranker::{Dense, Ranker};
pub use topk::{top_k, Scored, TopK};

use crate::recipes::Model;

/// What is scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scoring {
    /// The catalogue for a user with a history (GetRecommendations, GetPersonalizedRanking).
    History,
    /// Items related to one item (a RELATED_ITEMS campaign); `None`: an item the model does not
    /// know, answered with popular items as Personalize does.
    Related(Option<u32>),
}

/// Which items may be answered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Candidates<'a> {
    /// The whole catalogue but these (the request's excluded ids).
    All { exclude: &'a [u32] },
    /// Exactly these, in this order (GetPersonalizedRanking's inputList); `None` for an id the
    /// model does not know, which is answered last and without a score.
    Only(&'a [Option<u32>]),
}

/// Promoted items: a share of the slots for the best items a second filter allows.
#[derive(Debug, Clone, Copy)]
pub struct PromotionQuery<'a> {
    /// `None`: any item.
    pub allowed: Option<&'a ItemSet>,
    /// percentPromotedItems.
    pub percent: u32,
}

/// New items' bonus (Personalize's item exploration): `weight` × the best score × `share`.
#[derive(Debug, Clone, Default)]
pub struct Exploration {
    pub weight: f32,
    /// (item code, 1 / (1 + its interactions)) for items younger than the age cut-off.
    pub fresh: Vec<(u32, f32)>,
}

/// One request, as the engine sees it: everything resolved to the model's item codes.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// The user's item codes, oldest first.
    pub history: &'a [u32],
    pub scoring: Scoring,
    pub candidates: Candidates<'a>,
    /// The compiled filter's allowed items for this request.
    pub filter: Option<&'a ItemSet>,
    pub promotion: Option<PromotionQuery<'a>>,
    pub exploration: Option<&'a Exploration>,
    /// Request context (Personalize's `context`): what the model's context stage reads.
    pub context: Option<&'a std::collections::BTreeMap<String, String>>,
    /// The user's record in the Users dataset (the context stage reads its metadata).
    pub user_attrs: Option<&'a crate::data::attrs::Attrs>,
    pub num_results: usize,
    /// Leave out the history's items: the offline protocol does; serving does not (Personalize
    /// leaves that to an Interactions filter).
    pub exclude_history: bool,
    /// Seeds the promoted slots' positions (serving derives it from the recommendation id).
    pub seed: u64,
}

impl<'a> Query<'a> {
    /// The catalogue's best `num_results` for `history`, no filter, promotion or exploration.
    pub fn for_history(history: &'a [u32], num_results: usize) -> Query<'a> {
        Query {
            history,
            scoring: Scoring::History,
            candidates: Candidates::All { exclude: &[] },
            filter: None,
            promotion: None,
            exploration: None,
            context: None,
            user_attrs: None,
            num_results,
            exclude_history: false,
            seed: 0,
        }
    }
}

/// Why an item is in an answer (Personalize's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The model's own choice (no reason given on the wire).
    Model,
    Promoted,
    /// Popular-item fill: no signal for the request, or too few related items.
    Popular,
    Exploration,
}

impl Reason {
    /// Personalize's wording; empty for the model's own choice.
    pub fn wire(self) -> Option<&'static str> {
        match self {
            Reason::Model => None,
            Reason::Promoted => Some("Promoted item"),
            Reason::Popular => Some("Popular item"),
            Reason::Exploration => Some("Exploration"),
        }
    }
}

/// One answered item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pick {
    /// The model's item code; `None` for an unknown input of [`Candidates::Only`].
    pub item: Option<u32>,
    /// Position in [`Candidates::Only`]'s list; `None` for [`Candidates::All`].
    pub input: Option<usize>,
    /// The model's raw score (after the exploration bonus).
    pub raw: f32,
    /// Personalize's score: the softmax over the answered set; `None` for unknown inputs.
    pub score: Option<f64>,
    pub reason: Reason,
}

/// The primitive: answers every query against one model, in parallel across cores. One
/// request is a batch of one.
pub fn recommend_batch(model: &Model, queries: &[Query<'_>]) -> Vec<Vec<Pick>> {
    if queries.len() == 1 {
        return vec![stages::answer(model, &queries[0])];
    }
    queries
        .par_iter()
        .map(|q| stages::answer(model, q))
        .collect()
}

/// One query (a batch of one).
pub fn recommend(model: &Model, query: &Query<'_>) -> Vec<Pick> {
    recommend_batch(model, std::slice::from_ref(query))
        .pop()
        .unwrap_or_default()
}

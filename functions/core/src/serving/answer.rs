//! GetRecommendations and GetPersonalizedRanking: resolve the campaign, its group's history for
//! the user, the compiled filters and the exploration candidates, then let the engine answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::group::{GroupData, Seen};
use super::{lookup, Attr, CachedIndex, CampaignState, LoadedFilter, Runtime};
use crate::api::runtime::*;
use crate::engine::{self, Candidates, Exploration, ItemSet, PromotionQuery, Query, Scoring};
use crate::error::{Error, Result};
use crate::filters::{FilterData, IndexView, ItemIndex, Value};
use crate::recipes::RecipeType;

/// What a filter sees for one request: model item codes resolved to the group's attributes.
struct RequestData<'a> {
    campaign: &'a CampaignState,
    group: &'a GroupData,
    user: Option<&'a str>,
    history: &'a [Seen],
    current_item: Option<u32>,
    /// The campaign's index of the filters' item fields and the model codes it is behind on.
    index: Option<(Arc<ItemIndex>, Vec<u32>)>,
}

impl FilterData for RequestData<'_> {
    fn n_items(&self) -> usize {
        self.campaign.model.items.len()
    }

    fn item_attribute(&self, item: u32, field: &str) -> Option<Value<'_>> {
        let id = self.campaign.model.items.name(item);
        let code = self.group.items.get(id)?;
        let attrs = self.group.item_attrs.get(code as usize)?.as_ref()?;
        lookup(attrs, field).map(Attr::filter_value)
    }

    fn user_attribute(&self, field: &str) -> Option<Value<'_>> {
        let attrs = self.group.user_attrs.get(self.user?)?;
        lookup(attrs, field).map(Attr::filter_value)
    }

    fn interactions(&self) -> Vec<(u32, String)> {
        self.history
            .iter()
            .filter_map(|s| {
                let code = self.campaign.model_code(s.item)?;
                let t = if s.event_type == u32::MAX {
                    ""
                } else {
                    self.group.event_types.name(s.event_type)
                };
                Some((code, t.to_string()))
            })
            .collect()
    }

    fn current_item(&self) -> Option<u32> {
        self.current_item
    }

    fn item_index(&self) -> Option<IndexView<'_>> {
        self.index
            .as_ref()
            .map(|(index, stale)| IndexView { index, stale })
    }
}

/// How many changed items an index re-checks per condition before it is rebuilt instead.
const STALE_LIMIT: usize = 256;

/// The campaign's index over the item fields `filters` select on, current for `g`'s catalogue:
/// built on a filter's first request, extended when another filter needs another field, and
/// rebuilt once more than [`STALE_LIMIT`] items changed since (PutItems); until then the
/// changed items are re-checked one by one. `None` when no filter reads item attributes.
fn item_index(
    c: &CampaignState,
    g: &GroupData,
    filters: &[Option<&LoadedFilter>],
) -> Result<Option<(Arc<ItemIndex>, Vec<u32>)>> {
    let fields: Vec<&str> = filters
        .iter()
        .flatten()
        .flat_map(|f| f.filter.item_fields())
        .collect();
    if fields.is_empty() {
        return Ok(None);
    }
    let version = g.changed_items.len();
    let usable = |cached: &CachedIndex| {
        cached.version <= version
            && version - cached.version <= STALE_LIMIT
            && fields.iter().all(|f| cached.index.has_field(f))
    };
    let stale = |since: usize| -> Vec<u32> {
        g.changed_items[since..]
            .iter()
            .filter_map(|&code| c.model_code(code))
            .collect()
    };
    if let Some(cached) = c.item_index.read().map_err(super::poisoned)?.as_ref() {
        if usable(cached) {
            return Ok(Some((cached.index.clone(), stale(cached.version))));
        }
    }
    let mut slot = c.item_index.write().map_err(super::poisoned)?;
    if let Some(cached) = slot.as_ref().filter(|cached| usable(cached)) {
        return Ok(Some((cached.index.clone(), stale(cached.version))));
    }
    // Same catalogue version: keep what is indexed and add the new fields; otherwise rebuild
    // every field indexed so far.
    let (mut index, mut wanted) = match slot.as_ref() {
        Some(cached) if cached.version == version => ((*cached.index).clone(), Vec::new()),
        Some(cached) => (
            ItemIndex::new(c.model.items.len()),
            cached.index.fields().map(str::to_string).collect(),
        ),
        None => (ItemIndex::new(c.model.items.len()), Vec::new()),
    };
    wanted.extend(fields.iter().map(|f| f.to_string()));
    let started = std::time::Instant::now();
    let data = RequestData {
        campaign: c,
        group: g,
        user: None,
        history: &[],
        current_item: None,
        index: None,
    };
    for field in &wanted {
        if !index.has_field(field) {
            index.add_field(field, |item| data.item_attribute(item, field));
        }
    }
    tracing::debug!(
        campaign = %c.campaign.campaign_arn,
        fields = ?wanted,
        version,
        ms = started.elapsed().as_secs_f64() * 1000.0,
        bytes = index.heap_bytes(),
        "filter index built"
    );
    let index = Arc::new(index);
    *slot = Some(CachedIndex {
        version,
        index: index.clone(),
    });
    Ok(Some((index, Vec::new())))
}

fn new_recommendation_id() -> String {
    format!("RID-{}", uuid::Uuid::new_v4())
}

impl Runtime {
    /// GetRecommendations.
    pub async fn get_recommendations(
        &self,
        req: &GetRecommendationsRequest,
    ) -> Result<GetRecommendationsResponse> {
        req.validate()?;
        let c = self
            .answering(req.campaign_arn.as_deref().unwrap_or_default())
            .await?;
        self.recommend_with(&c, req).await
    }

    /// GetRecommendations against a loaded campaign state (a campaign, or a solution version
    /// the CLI answers from as a campaign with the default configuration would).
    pub async fn recommend_with(
        &self,
        c: &CampaignState,
        req: &GetRecommendationsRequest,
    ) -> Result<GetRecommendationsResponse> {
        let k = req.validate()?;
        metadata_allowed(c, &req.metadata_columns)?;
        let scoring = match c.recipe_type {
            RecipeType::UserPersonalization if req.user_id.is_none() => {
                return Err(Error::InvalidInput(
                    "userId is required for a USER_PERSONALIZATION campaign".into(),
                ))
            }
            RecipeType::RelatedItems => match &req.item_id {
                Some(id) => Scoring::Related(c.model.items.get(id)),
                None => {
                    return Err(Error::InvalidInput(
                        "itemId is required for a RELATED_ITEMS campaign".into(),
                    ))
                }
            },
            RecipeType::PersonalizedRanking => {
                return Err(Error::InvalidInput(
                    "a PERSONALIZED_RANKING campaign answers GetPersonalizedRanking".into(),
                ))
            }
            RecipeType::UserSegmentation => {
                return Err(Error::InvalidInput(
                    "a USER_SEGMENTATION solution version answers batch segment jobs only".into(),
                ))
            }
            _ => Scoring::History,
        };
        let main = self.group_filter(c, req.filter_arn.as_deref()).await?;
        let promotion = match req.promotions.first() {
            Some(p) => Some((self.group_filter(c, p.filter_arn.as_deref()).await?, p)),
            None => None,
        };

        // The group's read lock is held for the answer only, not across the awaits after it.
        let (item_list, recommendation_id) = {
            let g = c.group.data.read().map_err(super::poisoned)?;
            let empty = Vec::new();
            let seen = req
                .user_id
                .as_ref()
                .and_then(|u| g.histories.get(u))
                .unwrap_or(&empty);
            let filters = [
                main.as_deref(),
                promotion.as_ref().and_then(|(f, _)| f.as_deref()),
            ];
            let data = RequestData {
                campaign: c,
                group: &g,
                user: req.user_id.as_deref(),
                history: seen,
                current_item: req.item_id.as_ref().and_then(|i| c.model.items.get(i)),
                index: item_index(c, &g, &filters)?,
            };
            let allowed = compile(main.as_deref(), &data, &req.filter_values)?;
            let promoted = match &promotion {
                Some((f, p)) => Some((compile(f.as_deref(), &data, &p.filter_values)?, *p)),
                None => None,
            };
            if !req.metadata_columns.is_empty() {
                check_columns(&g, &req.metadata_columns)?;
            }
            let history = c.model_codes(seen);
            let exclude: Vec<u32> = req
                .excluded_ids()
                .iter()
                .filter_map(|id| c.model.items.get(id))
                .collect();
            let exploration = (c.recipe_type == RecipeType::UserPersonalization
                && c.exploration_weight > 0.0)
                .then(|| exploration(c, &g))
                .transpose()?;
            let recommendation_id = new_recommendation_id();
            let query = Query {
                history: &history,
                scoring,
                candidates: Candidates::All { exclude: &exclude },
                filter: allowed.as_ref(),
                promotion: promoted.as_ref().map(|(set, p)| PromotionQuery {
                    allowed: set.as_ref(),
                    percent: p.percent_promoted_items.unwrap_or(0),
                }),
                exploration: exploration.as_deref(),
                context: Some(&req.context),
                user_attrs: req.user_id.as_ref().and_then(|u| g.user_attrs.get(u)),
                num_results: k,
                exclude_history: false,
                seed: engine::stages::seed(&recommendation_id),
            };
            let with_score = c.recipe_type == RecipeType::UserPersonalization;
            let promotion_name = promoted.as_ref().and_then(|(_, p)| p.name.clone());
            let picks = engine::recommend(&c.model, &query);
            // What this answer shows, for the events that will name its recommendation id.
            if c.records_shown && c.recipe_type == RecipeType::UserPersonalization {
                g.shown.lock().map_err(super::poisoned)?.insert(
                    &recommendation_id,
                    picks
                        .iter()
                        .filter_map(|p| g.items.get(c.model.items.name(p.item?))),
                );
            }
            let item_list: Vec<PredictedItem> = picks
                .into_iter()
                .filter_map(|pick| {
                    let item = pick.item?;
                    Some(PredictedItem {
                        item_id: c.model.items.name(item).to_string(),
                        score: pick.score.filter(|_| with_score),
                        promotion_name: (pick.reason == engine::Reason::Promoted)
                            .then(|| promotion_name.clone())
                            .flatten(),
                        metadata: (!req.metadata_columns.is_empty())
                            .then(|| metadata(c, &g, item, &req.metadata_columns)),
                        reason: pick.reason.wire().map(String::from).into_iter().collect(),
                    })
                })
                .collect();
            (item_list, recommendation_id)
        };
        if c.records_shown && c.recipe_type == RecipeType::UserPersonalization {
            // Another process may take the events that name this answer (the events
            // function on AWS): with shared stores it is remembered there too.
            if self.sharing != super::Sharing::Alone {
                let ids: Vec<String> = item_list.iter().map(|p| p.item_id.clone()).collect();
                self.tailor
                    .stores
                    .events
                    .put_shown(&c.group.arn, &recommendation_id, &ids)
                    .await?;
            }
        }
        Ok(GetRecommendationsResponse {
            item_list,
            recommendation_id,
        })
    }

    /// The campaign, with its group's streamed events up to date.
    async fn answering(&self, arn: &str) -> Result<std::sync::Arc<CampaignState>> {
        let c = self.campaign(arn).await?;
        self.catch_up(&c.group).await?;
        Ok(c)
    }

    /// A filter that must belong to the campaign's dataset group.
    async fn group_filter(
        &self,
        c: &CampaignState,
        arn: Option<&str>,
    ) -> Result<Option<std::sync::Arc<LoadedFilter>>> {
        let Some(arn) = arn else { return Ok(None) };
        let f = self.filter(arn).await?;
        if f.record.dataset_group_arn != c.group.arn {
            return Err(Error::InvalidInput(format!(
                "filter {arn} belongs to another dataset group"
            )));
        }
        Ok(Some(f))
    }

    /// GetPersonalizedRanking.
    pub async fn get_personalized_ranking(
        &self,
        req: &GetPersonalizedRankingRequest,
    ) -> Result<GetPersonalizedRankingResponse> {
        req.validate()?;
        let c = self.answering(&req.campaign_arn).await?;
        self.rank_with(&c, req).await
    }

    /// GetPersonalizedRanking against a loaded campaign state.
    pub async fn rank_with(
        &self,
        c: &CampaignState,
        req: &GetPersonalizedRankingRequest,
    ) -> Result<GetPersonalizedRankingResponse> {
        req.validate()?;
        if !matches!(
            c.recipe_type,
            RecipeType::PersonalizedRanking | RecipeType::UserPersonalization
        ) {
            return Err(Error::InvalidInput(
                "GetPersonalizedRanking needs a PERSONALIZED_RANKING campaign".into(),
            ));
        }
        metadata_allowed(c, &req.metadata_columns)?;
        let loaded = self.group_filter(c, req.filter_arn.as_deref()).await?;
        let g = c.group.data.read().map_err(super::poisoned)?;
        let empty = Vec::new();
        let seen = g.histories.get(&req.user_id).unwrap_or(&empty);
        let data = RequestData {
            campaign: c,
            group: &g,
            user: Some(&req.user_id),
            history: seen,
            current_item: None,
            index: item_index(c, &g, &[loaded.as_deref()])?,
        };
        let allowed = compile(loaded.as_deref(), &data, &req.filter_values)?;
        let with_metadata = !req.metadata_columns.is_empty();
        if with_metadata {
            check_columns(&g, &req.metadata_columns)?;
        }
        let history = c.model_codes(seen);
        let list: Vec<Option<u32>> = req
            .input_list
            .iter()
            .map(|id| c.model.items.get(id))
            .collect();
        let query = Query {
            candidates: Candidates::Only(&list),
            filter: allowed.as_ref(),
            context: Some(&req.context),
            user_attrs: g.user_attrs.get(&req.user_id),
            ..Query::for_history(&history, list.len())
        };
        let personalized_ranking = engine::recommend(&c.model, &query)
            .into_iter()
            .filter_map(|pick| {
                let input = pick.input?;
                Some(PredictedItem {
                    item_id: req.input_list[input].clone(),
                    score: pick.score,
                    metadata: with_metadata.then(|| {
                        pick.item
                            .map(|code| metadata(c, &g, code, &req.metadata_columns))
                            .unwrap_or_default()
                    }),
                    ..Default::default()
                })
            })
            .collect();
        Ok(GetPersonalizedRankingResponse {
            personalized_ranking,
            recommendation_id: new_recommendation_id(),
        })
    }
}

/// The items a filter allows for this request, over the model's catalogue.
fn compile(
    filter: Option<&LoadedFilter>,
    data: &RequestData<'_>,
    values: &BTreeMap<String, String>,
) -> Result<Option<ItemSet>> {
    match filter {
        Some(f) => Ok(Some(f.filter.allowed(data, values)?)),
        None => Ok(None),
    }
}

/// The campaign's exploration candidates for the group as it is now: kept until the group
/// counts another interaction or sets an item, since building them walks the catalogue.
fn exploration(c: &CampaignState, g: &GroupData) -> Result<Arc<Exploration>> {
    if let Some((revision, e)) = c.exploration.read().map_err(super::poisoned)?.as_ref() {
        if *revision == g.revision {
            return Ok(e.clone());
        }
    }
    let e = Arc::new(fresh_items(c, g));
    *c.exploration.write().map_err(super::poisoned)? = Some((g.revision, e.clone()));
    Ok(e)
}

/// An impression's weight against an interaction in what shrinks an item's exploration: a
/// showing that drew nothing says less about an item than an interaction does, but enough of
/// them say it was given its chance.
pub const IMPRESSION_WEIGHT: f32 = 0.25;

/// Exploration candidates: items created within the cut-off (days before the newest
/// interaction), each with its share of the bonus shrinking with its interactions and
/// impressions.
fn fresh_items(c: &CampaignState, g: &GroupData) -> Exploration {
    let cutoff = g.latest_ts - (c.exploration_cutoff_days * 86_400.0) as i64;
    let to_model = c.to_model.read();
    let to_model: &[u32] = to_model.as_deref().map_or(&[], |m| m);
    let fresh = g
        .created
        .iter()
        .zip(to_model)
        .enumerate()
        .filter(|&(_, (created, &m))| m != u32::MAX && created.is_some_and(|t| t >= cutoff))
        .map(|(code, (_, &m))| {
            let evidence = g.interaction_counts[code] as f32
                + IMPRESSION_WEIGHT * g.impression_counts[code] as f32;
            (m, 1.0 / (1.0 + evidence))
        })
        .collect();
    Exploration {
        weight: c.exploration_weight,
        fresh,
    }
}

/// metadataColumns only on a campaign created with enableMetadataWithRecommendations.
fn metadata_allowed(c: &CampaignState, columns: &BTreeMap<String, Vec<String>>) -> Result<()> {
    if !columns.is_empty()
        && !c
            .campaign
            .campaign_config
            .enable_metadata_with_recommendations
    {
        return Err(Error::InvalidInput(
            "metadataColumns needs a campaign with enableMetadataWithRecommendations".into(),
        ));
    }
    Ok(())
}

fn check_columns(g: &GroupData, columns: &BTreeMap<String, Vec<String>>) -> Result<()> {
    let Some(schema) = &g.items_schema else {
        return Err(Error::InvalidInput(
            "metadataColumns needs an Items dataset".into(),
        ));
    };
    for col in columns.get("ITEMS").into_iter().flatten() {
        if schema.field_index_ignore_case(col).is_none() {
            return Err(Error::InvalidInput(format!(
                "metadataColumns: '{col}' is not a column of the Items dataset"
            )));
        }
    }
    Ok(())
}

fn metadata(
    c: &CampaignState,
    g: &GroupData,
    item: u32,
    columns: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, String> {
    let id = c.model.items.name(item);
    let attrs = g
        .items
        .get(id)
        .and_then(|code| g.item_attrs.get(code as usize))
        .and_then(|a| a.as_ref());
    let mut out = BTreeMap::new();
    for col in columns.get("ITEMS").into_iter().flatten() {
        let v = attrs.and_then(|a| lookup(a, col));
        out.insert(col.to_lowercase(), v.map(Attr::to_wire).unwrap_or_default());
    }
    out
}

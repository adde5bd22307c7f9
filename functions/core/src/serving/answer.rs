//! Answering the runtime and events requests.

use std::collections::BTreeMap;

use super::group::{properties_to_attrs, GroupData, Seen};
use super::{attr_json, poisoned, Attr, CampaignState, LoadedFilter, Runtime, Sharing};
use crate::api::events::{parse_properties, PutEventsRequest, PutItemsRequest, PutUsersRequest};
use crate::api::runtime::*;
use crate::engine::{top_k, ItemSet};
use crate::error::{Error, Result};
use crate::filters::{FilterData, Value};
use crate::recipes::RecipeType;
use crate::schema::DatasetType;
use crate::services::tables;
use crate::store::{Expect, StoredEvent};

/// What a filter sees for one request: model item codes resolved to the group's attributes.
struct RequestData<'a> {
    campaign: &'a CampaignState,
    group: &'a GroupData,
    user: Option<&'a str>,
    history: &'a [Seen],
    current_item: Option<u32>,
}

/// An attribute by column name, exact first, then ignoring ASCII case (filters and
/// metadataColumns may spell columns either way).
fn lookup<'a>(attrs: &'a super::Attrs, field: &str) -> Option<&'a Attr> {
    attrs.get(field).or_else(|| {
        attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(field))
            .map(|(_, v)| v)
    })
}

fn value(a: &Attr) -> Value<'_> {
    match a {
        Attr::Text(s) => Value::Text(s),
        Attr::Number(n) => Value::Number(*n),
        Attr::Bool(b) => Value::Bool(*b),
    }
}

impl FilterData for RequestData<'_> {
    fn n_items(&self) -> usize {
        self.campaign.model.items.len()
    }

    fn item_attribute(&self, item: u32, field: &str) -> Option<Value<'_>> {
        let id = self.campaign.model.items.name(item);
        let code = self.group.items.get(id)?;
        let attrs = self.group.item_attrs.get(code as usize)?.as_ref()?;
        lookup(attrs, field).map(value)
    }

    fn user_attribute(&self, field: &str) -> Option<Value<'_>> {
        let attrs = self.group.user_attrs.get(self.user?)?;
        lookup(attrs, field).map(value)
    }

    fn interactions(&self) -> Vec<(u32, String)> {
        self.history
            .iter()
            .filter_map(|s| {
                let code = self.campaign.model_code(s.item, self.group)?;
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
}

/// Personalize's scores: a softmax of the model's scores over a set of items (the catalogue for
/// GetRecommendations, the input list for GetPersonalizedRanking), so they lie in [0, 1] and sum
/// to 1 over that set. The temperature puts the best item 4 units above the mean, which keeps
/// the order and gives a peaked but not degenerate distribution for any model's scale.
struct Softmax {
    max: f64,
    temperature: f64,
    total: f64,
}

impl Softmax {
    fn over(scores: &[f32]) -> Softmax {
        let finite = scores.iter().filter(|s| s.is_finite()).map(|&s| s as f64);
        let (mut max, mut sum, mut n) = (f64::MIN, 0.0, 0usize);
        for s in finite.clone() {
            max = max.max(s);
            sum += s;
            n += 1;
        }
        let mean = if n > 0 { sum / n as f64 } else { 0.0 };
        let temperature = ((max - mean) / 4.0).max(1e-12);
        let total = finite
            .map(|s| ((s - max) / temperature).exp())
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
        Softmax {
            max,
            temperature,
            total,
        }
    }

    fn probability(&self, score: f32) -> f64 {
        ((score as f64 - self.max) / self.temperature).exp() / self.total
    }
}

fn new_recommendation_id() -> String {
    format!("RID-{}", uuid::Uuid::new_v4())
}

/// Deterministic positions for promoted items, from the recommendation id.
fn promoted_positions(k: usize, n: usize, seed: &str) -> Vec<bool> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    let mut rng = crate::sample::SplitMix::new(h);
    let mut slots: Vec<usize> = (0..k).collect();
    for i in (1..slots.len()).rev() {
        slots.swap(i, rng.below(i + 1));
    }
    let mut marks = vec![false; k];
    for &s in slots.iter().take(n) {
        marks[s] = true;
    }
    marks
}

impl Runtime {
    /// GetRecommendations.
    pub async fn get_recommendations(
        &self,
        req: &GetRecommendationsRequest,
    ) -> Result<GetRecommendationsResponse> {
        let k = req.validate()?;
        let c = self
            .answering(req.campaign_arn.as_deref().unwrap_or_default())
            .await?;
        metadata_allowed(&c, &req.metadata_columns)?;
        match c.recipe_type {
            RecipeType::UserPersonalization if req.user_id.is_none() => {
                return Err(Error::InvalidInput(
                    "userId is required for a USER_PERSONALIZATION campaign".into(),
                ))
            }
            RecipeType::RelatedItems if req.item_id.is_none() => {
                return Err(Error::InvalidInput(
                    "itemId is required for a RELATED_ITEMS campaign".into(),
                ))
            }
            RecipeType::PersonalizedRanking => {
                return Err(Error::InvalidInput(
                    "a PERSONALIZED_RANKING campaign answers GetPersonalizedRanking".into(),
                ))
            }
            _ => {}
        }
        let main = self.group_filter(&c, req.filter_arn.as_deref()).await?;
        let promotion = match req.promotions.first() {
            Some(p) => Some((self.group_filter(&c, p.filter_arn.as_deref()).await?, p)),
            None => None,
        };
        let g = c.group.data.read().map_err(poisoned)?;
        self.recommend_now(
            &c,
            &g,
            req,
            k,
            main.as_deref(),
            promotion.as_ref().map(|(f, p)| (f.as_deref(), *p)),
        )
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

    /// The synchronous part of GetRecommendations, under the group's read lock.
    fn recommend_now(
        &self,
        c: &CampaignState,
        g: &GroupData,
        req: &GetRecommendationsRequest,
        k: usize,
        filter: Option<&LoadedFilter>,
        promotion: Option<(Option<&LoadedFilter>, &Promotion)>,
    ) -> Result<GetRecommendationsResponse> {
        let n_items = c.model.items.len();
        let empty = Vec::new();
        let history = req
            .user_id
            .as_ref()
            .and_then(|u| g.histories.get(u))
            .unwrap_or(&empty);
        let current_item = req.item_id.as_ref().and_then(|i| c.model.items.get(i));
        let model_history = c.model_codes(history, g);
        let data = RequestData {
            campaign: c,
            group: g,
            user: req.user_id.as_deref(),
            history,
            current_item,
        };
        let related = c.recipe_type == RecipeType::RelatedItems;

        let mut skip = ItemSet::new(n_items);
        req.excluded_ids()
            .iter()
            .filter_map(|id| c.model.items.get(id))
            .for_each(|i| skip.insert(i));
        let mut scores = Vec::with_capacity(n_items);
        if related {
            if let Some(item) = current_item {
                skip.insert(item);
                if !c.model.score_related(item, &mut scores) {
                    scores.clear();
                }
            }
        } else {
            // Items the user interacted with stay candidates, as in Personalize: a filter
            // (`EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (...)`) drops them when wanted.
            c.model.score_history(&model_history, &mut scores);
        }
        // No signal at all (an unknown item): popular items, marked as such.
        let popular_fill = scores.is_empty() || (related && scores.iter().all(|&s| s <= 0.0));
        if popular_fill {
            scores = c.model.popularity.clone();
        }
        let explored =
            if c.recipe_type == RecipeType::UserPersonalization && c.exploration_weight > 0.0 {
                self.explore(c, g, &mut scores)
            } else {
                ItemSet::new(n_items)
            };
        let allowed = match filter {
            Some(f) => Some(f.filter.allowed(&data, &req.filter_values)?),
            None => None,
        };
        let passes = |i: u32| !skip.contains(i) && allowed.as_ref().is_none_or(|a| a.contains(i));

        let mut taken = ItemSet::new(n_items);
        let mut promoted = Vec::new();
        let mut promotion_name = None;
        if let Some((pf, p)) = promotion {
            let set = match pf {
                Some(f) => f.filter.allowed(&data, &p.filter_values)?,
                None => ItemSet::full(n_items),
            };
            let n = (k * p.percent_promoted_items.unwrap_or(0) as usize).div_ceil(100);
            promoted = top_k(&scores, n, |i| !skip.contains(i) && set.contains(i));
            promotion_name = p.name.clone();
            promoted.iter().for_each(|s| taken.insert(s.item));
        }
        let signal = |i: u32| !related || popular_fill || scores[i as usize] > 0.0;
        let mut regular = top_k(&scores, k - promoted.len(), |i| {
            passes(i) && !taken.contains(i) && signal(i)
        });
        regular.iter().for_each(|s| taken.insert(s.item));
        // Related items with few neighbours are topped up with popular items that pass the filter.
        let mut backfilled = ItemSet::new(n_items);
        if regular.len() + promoted.len() < k {
            let extra = top_k(
                &c.model.popularity,
                k - regular.len() - promoted.len(),
                |i| passes(i) && !taken.contains(i),
            );
            extra.iter().for_each(|s| backfilled.insert(s.item));
            regular.extend(extra);
        }

        let recommendation_id = new_recommendation_id();
        let softmax = Softmax::over(&scores);
        let marks = promoted_positions(
            promoted.len() + regular.len(),
            promoted.len(),
            &recommendation_id,
        );
        let (mut pi, mut ri) = (promoted.into_iter(), regular.into_iter());
        let with_score = c.recipe_type == RecipeType::UserPersonalization;
        if !req.metadata_columns.is_empty() {
            check_columns(g, &req.metadata_columns)?;
        }
        let mut item_list = Vec::with_capacity(k);
        for is_promoted in marks {
            let Some(s) = (if is_promoted { pi.next() } else { ri.next() }) else {
                continue;
            };
            let popular = popular_fill || backfilled.contains(s.item);
            let reason = if is_promoted {
                vec!["Promoted item".to_string()]
            } else if popular {
                vec!["Popular item".to_string()]
            } else if explored.contains(s.item) {
                vec!["Exploration".to_string()]
            } else {
                vec![]
            };
            item_list.push(PredictedItem {
                item_id: c.model.items.name(s.item).to_string(),
                score: (with_score && !popular).then(|| softmax.probability(s.score)),
                promotion_name: if is_promoted {
                    promotion_name.clone()
                } else {
                    None
                },
                metadata: (!req.metadata_columns.is_empty())
                    .then(|| metadata(c, g, s.item, &req.metadata_columns)),
                reason,
            });
        }
        Ok(GetRecommendationsResponse {
            item_list,
            recommendation_id,
        })
    }

    /// Exploration: items created within the cut-off (days before the newest interaction) get
    /// a bonus of `explorationWeight` × the best score, shrinking with their interactions.
    fn explore(&self, c: &CampaignState, g: &GroupData, scores: &mut [f32]) -> ItemSet {
        let mut explored = ItemSet::new(scores.len());
        let best = scores.iter().copied().fold(0f32, f32::max);
        let cutoff = g.latest_ts - (c.exploration_cutoff_days * 86_400.0) as i64;
        let Ok(to_model) = c.to_model.read() else {
            return explored;
        };
        for (code, created) in g.created.iter().enumerate() {
            let Some(created) = created else { continue };
            if *created < cutoff {
                continue;
            }
            let m = match to_model.get(code) {
                Some(&m) if m != u32::MAX => m,
                Some(_) => continue,
                None => match c.model.items.get(g.items.name(code as u32)) {
                    Some(m) => m,
                    None => continue,
                },
            };
            let bonus = c.exploration_weight * best / (1.0 + g.interaction_counts[code] as f32);
            if bonus > 0.0 {
                scores[m as usize] += bonus;
                explored.insert(m);
            }
        }
        explored
    }

    /// GetPersonalizedRanking.
    pub async fn get_personalized_ranking(
        &self,
        req: &GetPersonalizedRankingRequest,
    ) -> Result<GetPersonalizedRankingResponse> {
        req.validate()?;
        let c = self.answering(&req.campaign_arn).await?;
        if !matches!(
            c.recipe_type,
            RecipeType::PersonalizedRanking | RecipeType::UserPersonalization
        ) {
            return Err(Error::InvalidInput(
                "GetPersonalizedRanking needs a PERSONALIZED_RANKING campaign".into(),
            ));
        }
        metadata_allowed(&c, &req.metadata_columns)?;
        let loaded = match &req.filter_arn {
            Some(a) => Some(self.filter(a).await?),
            None => None,
        };
        let g = c.group.data.read().map_err(poisoned)?;
        let history = g.histories.get(&req.user_id).cloned().unwrap_or_default();
        let model_history = c.model_codes(&history, &g);
        let allowed = match &loaded {
            Some(f) => {
                let data = RequestData {
                    campaign: &c,
                    group: &g,
                    user: Some(&req.user_id),
                    history: &history,
                    current_item: None,
                };
                Some(f.filter.allowed(&data, &req.filter_values)?)
            }
            None => None,
        };
        let candidates: Vec<Option<u32>> = req
            .input_list
            .iter()
            .map(|id| c.model.items.get(id))
            .collect();
        // Filtered-out items leave the list; unknown ones stay, last, without a score.
        let kept: Vec<usize> = (0..candidates.len())
            .filter(|&i| match (candidates[i], &allowed) {
                (Some(code), Some(a)) => a.contains(code),
                _ => true,
            })
            .collect();
        let kept_candidates: Vec<Option<u32>> = kept.iter().map(|&i| candidates[i]).collect();
        let ranked = crate::engine::rank(&c.model, &model_history, &kept_candidates);
        let known: Vec<f32> = ranked.iter().filter_map(|(_, s)| *s).collect();
        let softmax = Softmax::over(&known);
        let with_metadata = !req.metadata_columns.is_empty();
        if with_metadata {
            check_columns(&g, &req.metadata_columns)?;
        }
        let personalized_ranking = ranked
            .into_iter()
            .map(|(pos, score)| {
                let id = &req.input_list[kept[pos]];
                PredictedItem {
                    item_id: id.clone(),
                    score: score.map(|s| softmax.probability(s)),
                    metadata: with_metadata.then(|| {
                        kept_candidates[pos]
                            .map(|code| metadata(&c, &g, code, &req.metadata_columns))
                            .unwrap_or_default()
                    }),
                    ..Default::default()
                }
            })
            .collect();
        Ok(GetPersonalizedRankingResponse {
            personalized_ranking,
            recommendation_id: new_recommendation_id(),
        })
    }

    /// PutEvents: durable in the event store first, then visible to the next request.
    pub async fn put_events(&self, req: &PutEventsRequest) -> Result<()> {
        req.validate()?;
        let tracker = self.tracker(&req.tracking_id).await?;
        let events: Vec<StoredEvent> = req
            .event_list
            .iter()
            .map(|e| StoredEvent {
                event_id: e
                    .event_id
                    .clone()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                session_id: req.session_id.clone(),
                user_id: req.user_id.clone(),
                item_id: e.item_id.clone(),
                event_type: e.event_type.clone(),
                event_value: e.event_value,
                sent_at: e.sent_at.unwrap_or_default(),
                properties: e.properties.clone(),
                recommendation_id: e.recommendation_id.clone(),
                impression: e.impression.clone(),
            })
            .collect();
        self.tailor
            .stores
            .events
            .append(&tracker.dataset_group_arn, &events)
            .await?;
        // With shared stores the answering process reads the event back (catch_up): loading
        // the whole group here would only slow the write path down.
        if self.sharing == Sharing::Alone {
            let group = self.group(&tracker.dataset_group_arn).await?;
            let mut g = group.data.write().map_err(poisoned)?;
            for e in &events {
                g.apply_event(e);
            }
        }
        Ok(())
    }

    async fn put_records(
        &self,
        dataset_arn: &str,
        kind: DatasetType,
        records: Vec<(String, Option<String>)>,
        max: usize,
        what: &str,
    ) -> Result<()> {
        let dataset = self.tailor.describe_dataset(dataset_arn).await?;
        if dataset.dataset_type != kind {
            return Err(Error::InvalidInput(format!(
                "{dataset_arn} is not a {kind} dataset"
            )));
        }
        if dataset.status != crate::domain::Status::Active {
            return Err(Error::InUse(format!(
                "dataset {dataset_arn} is {}",
                dataset.status
            )));
        }
        let schema = self.tailor.dataset_schema(&dataset).await?;
        let mut parsed = Vec::with_capacity(records.len());
        for (i, (id, props)) in records.into_iter().enumerate() {
            let field = format!("{what}[{i}].properties");
            let attrs = match props {
                Some(p) => {
                    properties_to_attrs(&schema, &parse_properties(&field, &p, max)?, &field)?
                }
                None => Default::default(),
            };
            parsed.push((id, attrs));
        }
        for (id, attrs) in &parsed {
            let json: serde_json::Map<String, serde_json::Value> = attrs
                .iter()
                .map(|(k, v)| (k.clone(), attr_json(v)))
                .collect();
            let bytes = serde_json::to_vec(&json).map_err(|e| Error::Internal(e.to_string()))?;
            self.tailor
                .stores
                .meta
                .put(
                    tables::PUT_RECORDS,
                    &format!("{dataset_arn}|{id}"),
                    bytes,
                    Expect::Any,
                )
                .await?;
        }
        if self.sharing != Sharing::Alone {
            return Ok(());
        }
        let group = self.group(&dataset.dataset_group_arn).await?;
        {
            let mut g = group.data.write().map_err(poisoned)?;
            for (id, attrs) in parsed {
                match kind {
                    DatasetType::Items => {
                        let code = g.intern_item(&id);
                        g.set_item(code, attrs);
                    }
                    _ => {
                        g.user_attrs.insert(id, attrs);
                    }
                }
            }
        }
        if kind == DatasetType::Items {
            self.extend_campaigns(&group)?;
        }
        Ok(())
    }

    /// PutItems: new or changed items, visible to filters and metadata at once.
    pub async fn put_items(&self, req: &PutItemsRequest) -> Result<()> {
        req.validate()?;
        let records = req
            .items
            .iter()
            .map(|i| (i.item_id.clone(), i.properties.clone()))
            .collect();
        self.put_records(
            &req.dataset_arn,
            DatasetType::Items,
            records,
            32_000,
            "items",
        )
        .await
    }

    /// PutUsers: new or changed users, visible to filters at once.
    pub async fn put_users(&self, req: &PutUsersRequest) -> Result<()> {
        req.validate()?;
        let records = req
            .users
            .iter()
            .map(|u| (u.user_id.clone(), u.properties.clone()))
            .collect();
        self.put_records(
            &req.dataset_arn,
            DatasetType::Users,
            records,
            24_000,
            "users",
        )
        .await
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

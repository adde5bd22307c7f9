//! The runtime behind GetRecommendations, GetPersonalizedRanking, PutEvents, PutItems and
//! PutUsers: campaigns' models and dataset groups' live state in memory, so an event changes
//! the very next answer with no retraining. Doors (the local server, the Lambdas) only decode
//! requests and encode answers.

mod answer;
pub mod batch;
mod group;
mod put;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub use group::{lookup, Attr, Attrs, GroupData};

use crate::domain::{Campaign, EventTracker, FilterRecord};
use crate::error::{Error, Result};
use crate::filters::{Filter, ItemIndex};
use crate::recipes::{Model, RecipeType};
use crate::schema::DatasetType;
use crate::Tailor;

/// A dataset group's live state.
pub struct GroupState {
    pub arn: String,
    pub data: RwLock<GroupData>,
    /// The sequence number of the last streamed event applied; held while catching up so two
    /// requests do not read the same events twice.
    applied: tokio::sync::Mutex<u64>,
}

/// A campaign ready to answer.
pub struct CampaignState {
    pub campaign: Campaign,
    pub recipe_type: RecipeType,
    pub model: Arc<Model>,
    pub group: Arc<GroupState>,
    /// The campaign's one id bridge: group item code → model code (`u32::MAX` when the model
    /// does not know the item), kept as long as the group's catalogue by [`Runtime::sync_ids`]
    /// and [`Runtime::extend_campaigns`].
    pub to_model: RwLock<Vec<u32>>,
    pub exploration_weight: f32,
    pub exploration_cutoff_days: f64,
    /// The filters' item fields indexed over the model's catalogue, with the group catalogue
    /// version it was built at (see [`answer`]'s `item_index`).
    item_index: RwLock<Option<CachedIndex>>,
    /// Exploration candidates and the group revision they were computed at.
    exploration: RwLock<Option<(u64, Arc<crate::engine::Exploration>)>>,
    /// When the campaign record was last compared with the stored one.
    checked: Mutex<Instant>,
    /// Whether answers remember what they showed (for the impressions a later event's
    /// `recommendationId` implies): a campaign's do; a solution version's (batch jobs, the
    /// offline checks) reach no user who could send such an event, so they record nothing.
    pub records_shown: bool,
}

impl CampaignState {
    /// Model codes of a history's group items (those the model knows), under one lock.
    pub fn model_codes(&self, history: &[group::Seen]) -> Vec<u32> {
        let Ok(map) = self.to_model.read() else {
            return Vec::new();
        };
        history
            .iter()
            .filter_map(|s| map.get(s.item as usize).copied())
            .filter(|&c| c != u32::MAX)
            .collect()
    }

    /// The model code of a group item; `None` when the model does not know it.
    pub fn model_code(&self, group_item: u32) -> Option<u32> {
        let map = self.to_model.read().ok()?;
        map.get(group_item as usize)
            .copied()
            .filter(|&c| c != u32::MAX)
    }
}

/// An [`ItemIndex`] and the length of the group's `changed_items` when it was built.
struct CachedIndex {
    version: usize,
    index: Arc<ItemIndex>,
}

/// A parsed filter with its dataset group.
pub struct LoadedFilter {
    pub record: FilterRecord,
    pub filter: Filter,
}

pub(crate) fn poisoned<T>(_: T) -> Error {
    Error::Internal("a runtime lock was poisoned".into())
}

/// How a runtime shares its stores with other processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// This process is the only writer (the local server): events apply in memory as they are
    /// put, and campaigns change only through this process.
    Alone,
    /// Other processes write too (Lambda execution environments): every answer first reads the
    /// events appended since the last one, and a campaign record older than `campaign_refresh`
    /// is compared with the stored one, reloading the model when its version changed.
    Shared { campaign_refresh: Duration },
}

/// The serving runtime over a [`Tailor`].
pub struct Runtime {
    pub tailor: Tailor,
    sharing: Sharing,
    campaigns: RwLock<HashMap<String, Arc<CampaignState>>>,
    groups: tokio::sync::Mutex<HashMap<String, Arc<GroupState>>>,
    trackers: RwLock<HashMap<String, EventTracker>>,
    filters: RwLock<HashMap<String, Arc<LoadedFilter>>>,
}

impl Runtime {
    /// A runtime that is its stores' only writer.
    pub fn new(tailor: Tailor) -> Runtime {
        Runtime::with_sharing(tailor, Sharing::Alone)
    }

    pub fn with_sharing(tailor: Tailor, sharing: Sharing) -> Runtime {
        Runtime {
            tailor,
            sharing,
            campaigns: RwLock::new(HashMap::new()),
            groups: tokio::sync::Mutex::new(HashMap::new()),
            trackers: RwLock::new(HashMap::new()),
            filters: RwLock::new(HashMap::new()),
        }
    }

    /// Loads every campaign now rather than on its first request. A campaign that cannot load
    /// (a damaged model, dataset or record) is logged, naming what failed, and left to fail its
    /// own requests; the others serve. Returns how many loaded.
    pub async fn warm(&self) -> Result<usize> {
        let campaigns = self.tailor.list_campaigns(None).await?;
        let mut loaded = 0;
        for c in &campaigns {
            match self.campaign(&c.campaign_arn).await {
                Ok(_) => loaded += 1,
                Err(e) => tracing::error!(
                    campaign = c.campaign_arn,
                    error = %e,
                    "campaign cannot be served"
                ),
            }
        }
        Ok(loaded)
    }

    /// The campaign's state, loading its model and group on first use.
    pub async fn campaign(&self, arn: &str) -> Result<Arc<CampaignState>> {
        let loaded = self.campaigns.read().map_err(poisoned)?.get(arn).cloned();
        let Some(state) = loaded else {
            let campaign = self.tailor.describe_campaign(arn).await?;
            return self.load_campaign(arn, campaign).await;
        };
        let Sharing::Shared { campaign_refresh } = self.sharing else {
            return Ok(state);
        };
        let due = match state.checked.lock() {
            Ok(mut checked) if checked.elapsed() >= campaign_refresh => {
                *checked = Instant::now();
                true
            }
            Ok(_) => false,
            Err(_) => return Err(Error::Internal("a runtime lock was poisoned".into())),
        };
        if !due {
            return Ok(state);
        }
        self.refresh_put_records(&state.group).await?;
        // New items replace the campaign's state (a model that knows them): answer from that.
        let state = match self.campaigns.read().map_err(poisoned)?.get(arn) {
            Some(s) => s.clone(),
            None => state,
        };
        let stored = self.tailor.describe_campaign(arn).await?;
        if stored.solution_version_arn == state.campaign.solution_version_arn
            && stored.campaign_config == state.campaign.campaign_config
        {
            return Ok(state);
        }
        tracing::info!(
            campaign = arn,
            version = stored.solution_version_arn,
            "campaign changed: reloading its model"
        );
        self.load_campaign(arn, stored).await
    }

    async fn load_campaign(&self, arn: &str, campaign: Campaign) -> Result<Arc<CampaignState>> {
        let state = self.campaign_state(campaign, true).await?;
        self.campaigns
            .write()
            .map_err(poisoned)?
            .insert(arn.to_string(), state.clone());
        Ok(state)
    }

    /// A solution version served as a campaign with the default configuration would serve it
    /// (what `tailor recommend --solution` answers from), not registered as a campaign.
    pub async fn solution_version(&self, version_arn: &str) -> Result<Arc<CampaignState>> {
        self.solution_version_with(version_arn, Default::default())
            .await
    }

    /// A solution version served with `config` (a batch inference job's exploration settings).
    pub async fn solution_version_with(
        &self,
        version_arn: &str,
        config: crate::domain::CampaignConfig,
    ) -> Result<Arc<CampaignState>> {
        let now = crate::domain::now_epoch();
        self.campaign_state(
            Campaign {
                name: "solution-version".into(),
                // A campaign ARN, so requests against it pass the same checks a campaign's do.
                campaign_arn: self
                    .tailor
                    .arns
                    .arn(crate::domain::ResourceType::Campaign, "solution-version"),
                solution_version_arn: version_arn.into(),
                min_provisioned_tps: 1,
                campaign_config: config,
                status: crate::domain::Status::Active,
                failure_reason: None,
                creation_date_time: now,
                last_updated_date_time: now,
                latest_campaign_update: None,
            },
            false,
        )
        .await
    }

    async fn campaign_state(
        &self,
        campaign: Campaign,
        records_shown: bool,
    ) -> Result<Arc<CampaignState>> {
        let arn = campaign.campaign_arn.clone();
        let version = self
            .tailor
            .describe_solution_version(&campaign.solution_version_arn)
            .await?;
        // The model and the group's data are independent reads: overlap them.
        let started = Instant::now();
        let (model, group) = tokio::join!(
            async {
                let model = self.tailor.load_model(&campaign.solution_version_arn).await;
                (model, started.elapsed().as_secs_f64() * 1000.0)
            },
            self.group(&version.dataset_group_arn)
        );
        let (model, model_ms) = model;
        let (model, group) = (Arc::new(model?), group?);
        tracing::info!(
            campaign = %arn,
            model_ms,
            total_ms = started.elapsed().as_secs_f64() * 1000.0,
            "campaign loaded"
        );
        let (model, to_model) = {
            let data = group.data.read().map_err(poisoned)?;
            // Items put since the training (PutItems) join the catalogue, as they join a
            // campaign already loaded.
            let model = with_group_items(&model, &data).map_or(model, Arc::new);
            let to_model = data
                .items
                .iter()
                .map(|id| model.items.get(id).unwrap_or(u32::MAX))
                .collect();
            (model, to_model)
        };
        let config = &campaign.campaign_config.item_exploration_config;
        let num = |k: &str, d: f64| {
            config
                .get(k)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(d)
        };
        let state = Arc::new(CampaignState {
            recipe_type: model.recipe.recipe_type(),
            exploration_weight: num("explorationWeight", 0.3) as f32,
            exploration_cutoff_days: num("explorationItemAgeCutOff", 30.0),
            campaign,
            model,
            group,
            to_model: RwLock::new(to_model),
            item_index: RwLock::new(None),
            exploration: RwLock::new(None),
            checked: Mutex::new(Instant::now()),
            records_shown,
        });
        Ok(state)
    }

    /// Gives every loaded campaign of `group` the items it has not seen (PutItems), so they can
    /// be recommended at once.
    pub(crate) fn extend_campaigns(&self, group: &GroupState) -> Result<()> {
        let mut campaigns = self.campaigns.write().map_err(poisoned)?;
        let data = group.data.read().map_err(poisoned)?;
        for state in campaigns.values_mut() {
            if state.group.arn != group.arn {
                continue;
            }
            let Some(model) = with_group_items(&state.model, &data) else {
                continue;
            };
            let model = Arc::new(model);
            let to_model = data
                .items
                .iter()
                .map(|id| model.items.get(id).unwrap_or(u32::MAX))
                .collect();
            *state = Arc::new(CampaignState {
                campaign: state.campaign.clone(),
                recipe_type: state.recipe_type,
                model,
                group: state.group.clone(),
                to_model: RwLock::new(to_model),
                exploration_weight: state.exploration_weight,
                exploration_cutoff_days: state.exploration_cutoff_days,
                item_index: RwLock::new(None),
                exploration: RwLock::new(None),
                checked: Mutex::new(Instant::now()),
                records_shown: state.records_shown,
            });
        }
        Ok(())
    }

    /// Forgets a campaign's loaded state (after UpdateCampaign), so the next request reloads.
    pub fn evict_campaign(&self, arn: &str) {
        if let Ok(mut c) = self.campaigns.write() {
            c.remove(arn);
        }
    }

    /// A dataset group's state, loading bulk data, streamed events and Put* records once.
    pub async fn group(&self, arn: &str) -> Result<Arc<GroupState>> {
        let mut groups = self.groups.lock().await;
        if let Some(g) = groups.get(arn) {
            return Ok(g.clone());
        }
        let started = Instant::now();
        let lap = |what: &str| {
            tracing::debug!(
                group = arn,
                what,
                ms = started.elapsed().as_secs_f64() * 1000.0,
                "loading group"
            )
        };
        let group = self.tailor.describe_dataset_group(arn).await?;
        let mut data = GroupData::default();
        let dataset = |kind| self.tailor.arns.dataset_arn(&group.name, kind);
        let arns = [
            dataset(DatasetType::Items),
            dataset(DatasetType::Users),
            dataset(DatasetType::Interactions),
        ];
        let (items, users, interactions) = tokio::join!(
            self.tailor.load_dataset(&arns[0]),
            self.tailor.load_dataset(&arns[1]),
            self.tailor.load_serving_interactions(&arns[2]),
        );
        lap("datasets read");
        // A dataset that does not exist, or has no data yet, is empty; one whose data cannot be
        // read fails the group (and so only its campaigns), logged naming the dataset.
        fn present<T>(r: Result<Option<T>>, dataset: &str) -> Result<Option<T>> {
            match r {
                Ok(v) => Ok(v),
                Err(Error::NotFound(_)) => Ok(None),
                Err(e) => {
                    tracing::error!(dataset, error = %e, "dataset cannot be read");
                    Err(e)
                }
            }
        }
        let items = present(items, &arns[0])?;
        let users = present(users, &arns[1])?;
        // Events up to `after` are in the snapshot: only the log's tail is replayed.
        let (interactions, mut after) = match interactions {
            Ok((s, through)) => (s, through),
            Err(Error::NotFound(_)) => (None, 0),
            Err(e) => {
                tracing::error!(dataset = arns[2], error = %e, "dataset cannot be read");
                return Err(e);
            }
        };
        // Applied in this order: the items dataset interns the catalogue's codes first.
        if let Some(t) = items {
            data.load_items(&t);
        } else if let Ok(ds) = self
            .tailor
            .describe_dataset(&dataset(DatasetType::Items))
            .await
        {
            data.items_schema = Some(self.tailor.dataset_schema(&ds).await?);
        }
        if let Some(t) = users {
            data.load_users(&t);
        } else if let Ok(ds) = self
            .tailor
            .describe_dataset(&dataset(DatasetType::Users))
            .await
        {
            data.users_schema = Some(self.tailor.dataset_schema(&ds).await?);
        }
        if let Some(s) = interactions {
            data.load_snapshot(&s);
        }
        lap("datasets applied");
        loop {
            let batch = self.tailor.stores.events.since(arn, after, 10_000).await?;
            let Some(last) = batch.last().map(|(s, _)| *s) else {
                break;
            };
            for (_, e) in &batch {
                data.apply_event(e);
            }
            after = last;
        }
        lap("events");
        Self::apply_put_records(&mut data, self.stored_put_records(&group.name).await?);
        let state = Arc::new(GroupState {
            arn: arn.to_string(),
            data: RwLock::new(data),
            applied: tokio::sync::Mutex::new(after),
        });
        groups.insert(arn.to_string(), state.clone());
        Ok(state)
    }

    /// The stored PutItems / PutUsers records of a group: (is an item, id, attributes).
    async fn stored_put_records(&self, group_name: &str) -> Result<Vec<(bool, String, Attrs)>> {
        let items = self.tailor.arns.dataset_arn(group_name, DatasetType::Items);
        let users = self.tailor.arns.dataset_arn(group_name, DatasetType::Users);
        let mut out = Vec::new();
        for (key, v) in self
            .tailor
            .stores
            .meta
            .list(&crate::services::put_records_table(group_name), None)
            .await?
        {
            let Some((dataset_arn, id)) = key.split_once('|') else {
                continue;
            };
            if dataset_arn != items && dataset_arn != users {
                continue;
            }
            let attrs = match serde_json::from_slice::<HashMap<String, serde_json::Value>>(&v.value)
            {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(record = key, error = %e, "put record unreadable: left out");
                    continue;
                }
            };
            let attrs: Attrs = attrs
                .into_iter()
                .filter_map(|(k, v)| Some((k, Attr::from_json(&v)?)))
                .collect();
            out.push((dataset_arn == items, id.to_string(), attrs));
        }
        Ok(out)
    }

    /// Applies put records; a record replaces an earlier one with the same id, so applying one
    /// again is harmless. Returns whether the catalogue grew.
    fn apply_put_records(data: &mut GroupData, records: Vec<(bool, String, Attrs)>) -> bool {
        let before = data.items.len();
        for (is_item, id, attrs) in records {
            if is_item {
                let code = data.intern_item(&id);
                data.set_item(code, attrs);
            } else {
                data.user_attrs.insert(id, attrs);
            }
        }
        data.items.len() > before
    }

    /// With shared stores, re-reads the items and users other processes put (PutItems,
    /// PutUsers), so they reach this environment within one campaign refresh interval.
    async fn refresh_put_records(&self, group: &GroupState) -> Result<()> {
        let name = self.tailor.describe_dataset_group(&group.arn).await?.name;
        let records = self.stored_put_records(&name).await?;
        let grew = Self::apply_put_records(&mut *group.data.write().map_err(poisoned)?, records);
        if grew {
            self.extend_campaigns(group)?;
        }
        Ok(())
    }

    /// With shared stores, applies the events other processes appended since the last call, so
    /// an event put through another execution environment shapes the very next answer.
    pub async fn catch_up(&self, group: &GroupState) -> Result<()> {
        if self.sharing == Sharing::Alone {
            return Ok(());
        }
        let mut applied = group.applied.lock().await;
        loop {
            let batch = self
                .tailor
                .stores
                .events
                .since(&group.arn, *applied, 10_000)
                .await?;
            let Some(last) = batch.last().map(|(s, _)| *s) else {
                return Ok(());
            };
            {
                let mut data = group.data.write().map_err(poisoned)?;
                for (_, e) in &batch {
                    data.apply_event(e);
                }
            }
            self.sync_ids(group)?;
            *applied = last;
        }
    }

    /// Extends every loaded campaign's group-code → model-code map of `group` over items the
    /// group learned since (events naming new items), so requests resolve codes by the map
    /// alone. Lock order: campaigns, then group data, then a map (as [`Self::extend_campaigns`]).
    pub(crate) fn sync_ids(&self, group: &GroupState) -> Result<()> {
        let campaigns = self.campaigns.read().map_err(poisoned)?;
        let data = group.data.read().map_err(poisoned)?;
        for state in campaigns.values().filter(|s| s.group.arn == group.arn) {
            let mut map = state.to_model.write().map_err(poisoned)?;
            for code in map.len()..data.items.len() {
                let id = data.items.name(code as u32);
                map.push(state.model.items.get(id).unwrap_or(u32::MAX));
            }
        }
        Ok(())
    }

    /// The filter of `arn`, parsed once.
    pub async fn filter(&self, arn: &str) -> Result<Arc<LoadedFilter>> {
        if let Some(f) = self.filters.read().map_err(poisoned)?.get(arn) {
            return Ok(f.clone());
        }
        let record = self.tailor.describe_filter(arn).await?;
        let filter = Filter::parse(&record.filter_expression)
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let loaded = Arc::new(LoadedFilter { record, filter });
        self.filters
            .write()
            .map_err(poisoned)?
            .insert(arn.to_string(), loaded.clone());
        Ok(loaded)
    }

    /// The event tracker of a trackingId.
    pub async fn tracker(&self, tracking_id: &str) -> Result<EventTracker> {
        if let Some(t) = self.trackers.read().map_err(poisoned)?.get(tracking_id) {
            return Ok(t.clone());
        }
        let tracker = self
            .tailor
            .list_event_trackers(None)
            .await?
            .into_iter()
            .find(|t| t.tracking_id == tracking_id)
            .ok_or_else(|| {
                Error::InvalidInput(format!("no event tracker has trackingId {tracking_id}"))
            })?;
        self.trackers
            .write()
            .map_err(poisoned)?
            .insert(tracking_id.to_string(), tracker.clone());
        Ok(tracker)
    }
}

/// The model over the group's catalogue, when the group knows items the model does not (put
/// after training): they join with their attributes, which a content map scores.
fn with_group_items(model: &Model, data: &group::GroupData) -> Option<Model> {
    let (new, attrs): (Vec<&str>, Vec<_>) = data
        .items
        .iter()
        .enumerate()
        .filter(|(_, id)| model.items.get(id).is_none())
        .map(|(code, id)| (id, data.item_attrs.get(code).and_then(Option::as_ref)))
        .unzip();
    (!new.is_empty()).then(|| model.with_new_items(&new, &attrs))
}

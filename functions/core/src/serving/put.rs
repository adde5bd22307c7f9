//! PutEvents, PutItems and PutUsers: durable in the stores first, then visible to the next
//! request.

use super::group::properties_to_attrs;
use super::{poisoned, Runtime, Sharing};
use crate::api::events::{parse_properties, PutEventsRequest, PutItemsRequest, PutUsersRequest};
use crate::domain::{arn_path, ResourceType};
use crate::error::{Error, Result};
use crate::schema::DatasetType;
use crate::services::put_records_table;
use crate::store::{Expect, StoredEvent};

impl Runtime {
    /// PutEvents: durable in the event store first, then visible to the next request.
    pub async fn put_events(&self, req: &PutEventsRequest) -> Result<()> {
        req.validate()?;
        let tracker = self.tracker(&req.tracking_id).await?;
        let mut events: Vec<StoredEvent> = req
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
        // The impressions a recommendation id implies are stored with the event, as if sent
        // explicitly, where this process answered that recommendation: the dataset's
        // IMPRESSION column then holds them too.
        if self.sharing == Sharing::Alone {
            let group = self.group(&tracker.dataset_group_arn).await?;
            let g = group.data.read().map_err(poisoned)?;
            for e in &mut events {
                e.impression = g.impressions_of(e);
            }
        } else {
            // Shared stores: the answer was remembered there by whichever process gave it.
            for e in &mut events {
                if let (true, Some(rid)) = (e.impression.is_empty(), &e.recommendation_id) {
                    let shown = self
                        .tailor
                        .stores
                        .events
                        .shown(&tracker.dataset_group_arn, rid);
                    e.impression = shown.await?.unwrap_or_default();
                }
            }
        }
        self.tailor
            .stores
            .events
            .append(&tracker.dataset_group_arn, &events)
            .await?;
        // With shared stores the answering process reads the event back (catch_up): loading
        // the whole group here would only slow the write path down.
        if self.sharing == Sharing::Alone {
            let group = self.group(&tracker.dataset_group_arn).await?;
            {
                let mut g = group.data.write().map_err(poisoned)?;
                for e in &events {
                    g.apply_event(e);
                }
            }
            self.sync_ids(&group)?;
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
        let group_name = arn_path(&dataset.dataset_group_arn, ResourceType::DatasetGroup)
            .unwrap_or_default()
            .to_string();
        for (id, attrs) in &parsed {
            let json: serde_json::Map<String, serde_json::Value> = attrs
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect();
            let bytes = serde_json::to_vec(&json).map_err(|e| Error::Internal(e.to_string()))?;
            self.tailor
                .stores
                .meta
                .put(
                    &put_records_table(&group_name),
                    &format!("{dataset_arn}|{id}"),
                    Some(dataset_arn),
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

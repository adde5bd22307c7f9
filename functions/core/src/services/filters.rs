//! Filters: an expression in Personalize's grammar, checked at creation.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::catalog::tables;
use super::Tailor;
use crate::domain::*;
use crate::error::Result;
use crate::filters::Filter;
use crate::schema::{DatasetSchema, DatasetType};

impl Tailor {
    /// Creates a filter. InvalidInput, naming the byte offset and what was expected, for a
    /// syntax error, a parameter `filterValues` could not supply (more than 25, or a name over
    /// 50 characters), or a field the group's datasets lack or filters cannot read.
    pub async fn create_filter(
        &self,
        name: &str,
        dataset_group_arn: &str,
        expression: &str,
    ) -> Result<FilterRecord> {
        validate_name("name", name)?;
        self.describe_dataset_group(dataset_group_arn).await?;
        let filter = Filter::parse(expression)?;
        let schemas = self.group_schemas(dataset_group_arn).await?;
        filter.check_fields(|kind| schemas.get(&kind).map(|s| s.as_ref()))?;
        self.check_filter_quota(dataset_group_arn).await?;
        let now = now_epoch();
        let record = FilterRecord {
            name: name.into(),
            filter_arn: self.arns.arn(ResourceType::Filter, name),
            dataset_group_arn: dataset_group_arn.into(),
            filter_expression: expression.into(),
            status: Status::Active,
            failure_reason: None,
            creation_date_time: now,
            last_updated_date_time: now,
        };
        self.insert_record(&record).await?;
        Ok(record)
    }

    /// The schema of each dataset the group has.
    async fn group_schemas(
        &self,
        dataset_group_arn: &str,
    ) -> Result<BTreeMap<DatasetType, Arc<DatasetSchema>>> {
        let mut out = BTreeMap::new();
        for dataset in self.list_datasets(Some(dataset_group_arn)).await? {
            out.insert(dataset.dataset_type, self.dataset_schema(&dataset).await?);
        }
        Ok(out)
    }

    pub async fn describe_filter(&self, arn: &str) -> Result<FilterRecord> {
        Ok(self.require(tables::FILTERS, arn).await?.0)
    }

    pub async fn list_filters(&self, dataset_group_arn: Option<&str>) -> Result<Vec<FilterRecord>> {
        self.list_records(dataset_group_arn).await
    }
}

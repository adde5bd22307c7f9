//! Filters: an expression in Personalize's grammar, checked at creation.

use super::catalog::tables;
use super::Tailor;
use crate::domain::*;
use crate::error::{Error, Result};
use crate::filters::Filter;

impl Tailor {
    /// Creates a filter; a syntax error is InvalidInput naming the offset and what was expected.
    pub async fn create_filter(
        &self,
        name: &str,
        dataset_group_arn: &str,
        expression: &str,
    ) -> Result<FilterRecord> {
        validate_name("name", name)?;
        self.describe_dataset_group(dataset_group_arn).await?;
        Filter::parse(expression).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let in_group = self.list_filters(Some(dataset_group_arn)).await?.len();
        if in_group >= 10 {
            return Err(Error::LimitExceeded(
                "a dataset group holds at most 10 filters".into(),
            ));
        }
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
        self.insert_record(tables::FILTERS, &record.filter_arn, &record)
            .await?;
        Ok(record)
    }

    pub async fn describe_filter(&self, arn: &str) -> Result<FilterRecord> {
        Ok(self.require(tables::FILTERS, arn).await?.0)
    }

    pub async fn list_filters(&self, dataset_group_arn: Option<&str>) -> Result<Vec<FilterRecord>> {
        let mut all: Vec<FilterRecord> = self.list_records(tables::FILTERS).await?;
        if let Some(g) = dataset_group_arn {
            all.retain(|f| f.dataset_group_arn == g);
        }
        Ok(all)
    }
}

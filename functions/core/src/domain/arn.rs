use crate::error::{Error, Result};

/// The resource kinds that appear in ARNs, spelled as Personalize spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    DatasetGroup,
    Schema,
    Dataset,
    DatasetImportJob,
    Solution,
    Campaign,
    Filter,
    EventTracker,
    BatchInferenceJob,
    BatchSegmentJob,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::DatasetGroup => "dataset-group",
            ResourceType::Schema => "schema",
            ResourceType::Dataset => "dataset",
            ResourceType::DatasetImportJob => "dataset-import-job",
            ResourceType::Solution => "solution",
            ResourceType::Campaign => "campaign",
            ResourceType::Filter => "filter",
            ResourceType::EventTracker => "event-tracker",
            ResourceType::BatchInferenceJob => "batch-inference-job",
            ResourceType::BatchSegmentJob => "batch-segment-job",
        }
    }
}

/// Builds ARNs for one region and account (locally they come from configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnBuilder {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl Default for ArnBuilder {
    fn default() -> Self {
        ArnBuilder {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account: "000000000000".into(),
        }
    }
}

impl ArnBuilder {
    pub fn new(region: impl Into<String>, account: impl Into<String>) -> Self {
        ArnBuilder {
            region: region.into(),
            account: account.into(),
            ..Default::default()
        }
    }

    /// `arn:aws:personalize:{region}:{account}:{type}/{path}`.
    pub fn arn(&self, kind: ResourceType, path: &str) -> String {
        format!(
            "arn:{}:personalize:{}:{}:{}/{}",
            self.partition,
            self.region,
            self.account,
            kind.as_str(),
            path
        )
    }

    /// Dataset ARNs are `dataset/{datasetGroupName}/{TYPE}`.
    pub fn dataset_arn(&self, group_name: &str, kind: crate::schema::DatasetType) -> String {
        self.arn(
            ResourceType::Dataset,
            &format!("{group_name}/{}", kind.as_str()),
        )
    }
}

/// The resource path of an ARN (after `{type}/`), if it is a Personalize ARN of that type.
pub fn arn_path(arn: &str, kind: ResourceType) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (scheme, _partition, service, _region, _account, rest) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if scheme != "arn" || service != "personalize" {
        return None;
    }
    rest.strip_prefix(kind.as_str())?.strip_prefix('/')
}

/// Personalize's resource-name rule: 1–63 chars, `^[a-zA-Z0-9][a-zA-Z0-9\-_]*`.
pub fn validate_name(field: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{field} '{name}' must be 1-63 characters of letters, digits, '-' or '_', starting with a letter or digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses_arns() {
        let b = ArnBuilder::default();
        let arn = b.arn(ResourceType::DatasetGroup, "movies");
        assert_eq!(
            arn,
            "arn:aws:personalize:us-east-1:000000000000:dataset-group/movies"
        );
        assert_eq!(arn_path(&arn, ResourceType::DatasetGroup), Some("movies"));
        assert_eq!(arn_path(&arn, ResourceType::Schema), None);
        assert_eq!(arn_path("nonsense", ResourceType::Schema), None);
        let ds = b.dataset_arn("movies", crate::schema::DatasetType::Interactions);
        assert!(ds.ends_with(":dataset/movies/INTERACTIONS"));
    }

    #[test]
    fn names_follow_personalize_rules() {
        assert!(validate_name("name", "movies-2024_a").is_ok());
        assert!(validate_name("name", "").is_err());
        assert!(validate_name("name", "-lead").is_err());
        assert!(validate_name("name", "has space").is_err());
        assert!(validate_name("name", &"a".repeat(64)).is_err());
        assert!(validate_name("name", &"a".repeat(63)).is_ok());
    }
}

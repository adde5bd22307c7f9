use crate::api::text::shown;
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
    DataDeletionJob,
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
            ResourceType::DataDeletionJob => "data-deletion-job",
        }
    }

    /// How many names follow `{type}/` in this kind's ARNs.
    fn path_names(self) -> usize {
        match self {
            ResourceType::Dataset => 2,
            _ => 1,
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
    if is_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{field} '{}' must be 1-63 characters of letters, digits, '-' or '_', starting with a letter or digit",
            shown(name)
        )))
    }
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Personalize's limit on every ARN parameter.
pub const MAX_ARN_CHARS: usize = 256;

/// Checks that `arn`, given as `field`, is an ARN of a `kind` resource as Personalize writes
/// them: at most 256 characters, `arn:<partition>:personalize:<region>:<account>:<kind>/<name>`
/// (datasets `dataset/<group>/<TYPE>`) with Personalize's resource-name rule for every name.
///
/// Failing ARNs are InvalidInput; one that passes is a well-formed key that is either there or
/// NotFound. Without this, ARNs the store cannot map to a key (`campaign/x/`, `campaign//x`,
/// names longer than a file name) surfaced as internal errors.
pub fn check_arn(field: &str, arn: &str, kind: ResourceType) -> Result<()> {
    let n = arn.chars().count();
    if n == 0 {
        return Err(Error::InvalidInput(format!("{field} is required")));
    }
    if n > MAX_ARN_CHARS {
        return Err(Error::InvalidInput(format!(
            "{field} must have length at most {MAX_ARN_CHARS}, but has {n}"
        )));
    }
    let bad = |why: String| {
        Error::InvalidInput(format!(
            "{field} '{}' is not a valid {} ARN: {why}",
            shown(arn),
            kind.as_str()
        ))
    };
    let mut parts = arn.splitn(6, ':');
    let (Some(scheme), Some(partition), Some(service), Some(region), Some(account), Some(rest)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad(format!(
            "expected arn:aws:personalize:<region>:<account>:{}/<name>",
            kind.as_str()
        )));
    };
    let partition_ok = !partition.is_empty()
        && partition
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if scheme != "arn" || !partition_ok || service != "personalize" {
        return Err(bad("it must start with arn:<partition>:personalize:".into()));
    }
    // Personalize's pattern allows anything here; ours keeps to what regions and account ids
    // are made of, so no separator or control character can reach a storage key.
    let plain = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !plain(region) || !plain(account) {
        return Err(bad(
            "region and account may hold only letters, digits, '-' and '_'".into(),
        ));
    }
    let Some(path) = rest
        .strip_prefix(kind.as_str())
        .and_then(|p| p.strip_prefix('/'))
    else {
        return Err(bad(format!(
            "the resource must be {}/<name>",
            kind.as_str()
        )));
    };
    let names: Vec<&str> = path.split('/').collect();
    let want = kind.path_names();
    if names.len() != want {
        return Err(bad(format!(
            "the resource must be {}/{}",
            kind.as_str(),
            if want == 2 {
                "<group>/<TYPE>"
            } else {
                "<name>"
            }
        )));
    }
    if let Some(name) = names.iter().find(|n| !is_name(n)) {
        return Err(bad(format!(
            "the resource name '{}' must be 1-63 characters of letters, digits, '-' or '_', starting with a letter or digit",
            shown(name)
        )));
    }
    Ok(())
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

    #[test]
    fn arns_are_checked_before_any_lookup() {
        let b = ArnBuilder::default();
        let ok = |a: &str, k| check_arn("campaignArn", a, k).is_ok();
        assert!(ok(
            &b.arn(ResourceType::Campaign, "demo-campaign"),
            ResourceType::Campaign
        ));
        assert!(ok(
            "arn:aws-cn:personalize:cn-north-1:123456789012:filter/f_1",
            ResourceType::Filter
        ));
        let ds = b.dataset_arn("movies", crate::schema::DatasetType::Items);
        assert!(ok(&ds, ResourceType::Dataset));
        let camp = b.arn(ResourceType::Campaign, "c");
        for bad in [
            format!("{camp}/"),
            format!("{camp}//x"),
            b.arn(ResourceType::Campaign, "a//b"),
            b.arn(ResourceType::Campaign, ""),
            b.arn(ResourceType::Campaign, &"a".repeat(64)),
            b.arn(ResourceType::Campaign, "has space"),
            b.arn(ResourceType::Campaign, "%%%"),
            b.arn(ResourceType::Filter, "f"),
            "arn:aws:personalize:us-east-1:000000000000:campaign".into(),
            "arn:aws:s3:us-east-1:000000000000:campaign/c".into(),
            "arn:AWS:personalize:us-east-1:000000000000:campaign/c".into(),
            "arn:aws:personalize:us/east:000000000000:campaign/c".into(),
            "arn:aws:personalize:us-east-1:0\n0:campaign/c".into(),
            "campaign/c".into(),
            String::new(),
            format!("{camp}{}", "x".repeat(300)),
        ] {
            let e = check_arn("campaignArn", &bad, ResourceType::Campaign).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{bad}");
            assert!(e.to_string().len() < 600, "{e}");
        }
        assert!(!ok(
            &b.arn(ResourceType::Dataset, "movies"),
            ResourceType::Dataset
        ));
        assert!(!ok(
            &b.arn(ResourceType::Dataset, "movies/ITEMS/x"),
            ResourceType::Dataset
        ));
        let e = check_arn("f", &format!("{camp}\u{1b}[2J\n"), ResourceType::Campaign).unwrap_err();
        assert!(
            !e.to_string().contains('\u{1b}') && !e.to_string().contains('\n'),
            "{e}"
        );
    }
}

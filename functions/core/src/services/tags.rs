//! Tags on resources (TagResource, UntagResource, ListTagsForResource, and the `tags` of the
//! Create operations), with Personalize's limits. A resource's tags are one record keyed by its
//! ARN, deleted with the resource.

use super::catalog::tables;
use super::Tailor;
use crate::domain::*;
use crate::error::{Error, Result};
use crate::store::{Expect, StoreError};

/// Personalize's limit of user tags per resource, and of keys per UntagResource.
pub const MAX_TAGS: usize = 50;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

/// Personalize's tag character set: letters, separators (spaces), numbers and `_.:/=+-@`.
fn tag_chars_ok(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
}

fn check_key(field: &str, key: &str) -> Result<()> {
    let n = key.chars().count();
    if n == 0 || n > MAX_KEY_CHARS || !tag_chars_ok(key) {
        return Err(Error::InvalidInput(format!(
            "{field} {} must be 1 to {MAX_KEY_CHARS} letters, digits, spaces or _.:/=+-@",
            crate::api::text::shown(key)
        )));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(Error::InvalidInput(format!(
            "{field} {}: the aws: prefix is reserved",
            crate::api::text::shown(key)
        )));
    }
    Ok(())
}

/// Checks tags before anything is created with them, so a bad tag creates nothing.
pub fn check_tags(tags: &[Tag]) -> Result<()> {
    for (i, tag) in tags.iter().enumerate() {
        check_key(&format!("tags[{i}].tagKey"), &tag.tag_key)?;
        if tag.tag_value.chars().count() > MAX_VALUE_CHARS || !tag_chars_ok(&tag.tag_value) {
            return Err(Error::InvalidInput(format!(
                "tags[{i}].tagValue must be at most {MAX_VALUE_CHARS} letters, digits, spaces \
                 or _.:/=+-@"
            )));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(Error::TooManyTags(format!(
            "{} tags: a resource holds at most {MAX_TAGS}",
            tags.len()
        )));
    }
    Ok(())
}

/// The table holding the resource an ARN names, from the ARN's resource type.
fn table_of(arn: &str) -> Option<&'static str> {
    let kinds = [
        (ResourceType::DatasetGroup, tables::DATASET_GROUPS),
        (ResourceType::Schema, tables::SCHEMAS),
        (ResourceType::Dataset, tables::DATASETS),
        (ResourceType::DatasetImportJob, tables::IMPORT_JOBS),
        (ResourceType::Campaign, tables::CAMPAIGNS),
        (ResourceType::Filter, tables::FILTERS),
        (ResourceType::EventTracker, tables::EVENT_TRACKERS),
        (
            ResourceType::BatchInferenceJob,
            tables::BATCH_INFERENCE_JOBS,
        ),
        (ResourceType::BatchSegmentJob, tables::BATCH_SEGMENT_JOBS),
        (ResourceType::DataDeletionJob, tables::DATA_DELETION_JOBS),
    ];
    if let Some(path) = arn_path(arn, ResourceType::Solution) {
        // `solution/<name>` is a solution, `solution/<name>/<id>` one of its versions.
        return Some(if path.contains('/') {
            tables::SOLUTION_VERSIONS
        } else {
            tables::SOLUTIONS
        });
    }
    kinds
        .into_iter()
        .find(|(kind, _)| arn_path(arn, *kind).is_some())
        .map(|(_, table)| table)
}

impl Tailor {
    /// Fails with ResourceNotFound unless `arn` names a stored resource.
    async fn require_taggable(&self, arn: &str) -> Result<()> {
        let table = table_of(arn).ok_or_else(|| {
            Error::NotFound(format!(
                "resourceArn {} names no taggable resource",
                crate::api::text::shown(arn)
            ))
        })?;
        self.require::<serde_json::Value>(table, arn).await?;
        Ok(())
    }

    /// Adds `tags` to the resource, replacing the value of a key it has; TooManyTags if it
    /// would end with more than [`MAX_TAGS`].
    pub async fn tag_resource(&self, arn: &str, tags: &[Tag]) -> Result<()> {
        check_tags(tags)?;
        self.require_taggable(arn).await?;
        self.edit_tags(arn, |held| {
            for tag in tags {
                match held.iter_mut().find(|t| t.tag_key == tag.tag_key) {
                    Some(t) => t.tag_value = tag.tag_value.clone(),
                    None => held.push(tag.clone()),
                }
            }
            if held.len() > MAX_TAGS {
                return Err(Error::TooManyTags(format!(
                    "resource {arn} would have {} tags: a resource holds at most {MAX_TAGS}",
                    held.len()
                )));
            }
            Ok(())
        })
        .await
    }

    /// Removes the tags with these keys; keys the resource lacks are ignored.
    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<()> {
        if keys.len() > MAX_TAGS {
            return Err(Error::TooManyTagKeys(format!(
                "{} tag keys: at most {MAX_TAGS} at a time",
                keys.len()
            )));
        }
        for (i, key) in keys.iter().enumerate() {
            check_key(&format!("tagKeys[{i}]"), key)?;
        }
        self.require_taggable(arn).await?;
        self.edit_tags(arn, |held| {
            held.retain(|t| !keys.contains(&t.tag_key));
            Ok(())
        })
        .await
    }

    pub async fn list_tags_for_resource(&self, arn: &str) -> Result<Vec<Tag>> {
        self.require_taggable(arn).await?;
        Ok(self
            .get_record::<Vec<Tag>>(tables::TAGS, arn)
            .await?
            .map(|(tags, _)| tags)
            .unwrap_or_default())
    }

    /// Read, change, conditional write; again if another writer got in between.
    async fn edit_tags(
        &self,
        arn: &str,
        change: impl Fn(&mut Vec<Tag>) -> Result<()>,
    ) -> Result<()> {
        loop {
            let current = self.get_record::<Vec<Tag>>(tables::TAGS, arn).await?;
            let (mut tags, expect) = match current {
                Some((tags, v)) => (tags, Expect::Version(v)),
                None => (Vec::new(), Expect::Absent),
            };
            change(&mut tags)?;
            let bytes = serde_json::to_vec(&tags).map_err(|e| Error::Internal(e.to_string()))?;
            match self
                .stores
                .meta
                .put(tables::TAGS, arn, None, bytes, expect)
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_rules() {
        let tag = |k: &str, v: &str| Tag {
            tag_key: k.into(),
            tag_value: v.into(),
        };
        assert!(check_tags(&[tag("team", "growth"), tag("Kostenstelle 7", "ü:x/y=z+1@-")]).is_ok());
        for bad in [
            tag("", "x"),
            tag("aws:owner", "x"),
            tag("a;b", "x"),
            tag("k", "v!"),
        ] {
            assert_eq!(
                check_tags(std::slice::from_ref(&bad))
                    .unwrap_err()
                    .kind()
                    .name(),
                "InvalidInputException",
                "{bad:?}"
            );
        }
        let many: Vec<Tag> = (0..=MAX_TAGS).map(|i| tag(&format!("k{i}"), "")).collect();
        assert_eq!(
            check_tags(&many).unwrap_err().kind().name(),
            "TooManyTagsException"
        );
    }

    #[test]
    fn arns_name_their_tables() {
        let b = ArnBuilder::default();
        let solution = b.arn(ResourceType::Solution, "s");
        assert_eq!(table_of(&solution), Some(tables::SOLUTIONS));
        assert_eq!(
            table_of(&format!("{solution}/abc")),
            Some(tables::SOLUTION_VERSIONS)
        );
        assert_eq!(
            table_of(&b.arn(ResourceType::DatasetGroup, "g")),
            Some(tables::DATASET_GROUPS)
        );
        assert_eq!(
            table_of(&b.arn(ResourceType::Dataset, "g/ITEMS")),
            Some(tables::DATASETS)
        );
        assert_eq!(table_of("arn:aws:s3:::bucket"), None);
    }
}

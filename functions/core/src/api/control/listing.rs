//! The List operations: one page of one kind of resource, optionally one parent's, read a page at
//! a time from the metadata store ([`crate::store::MetaStore::list_page`]) rather than whole.
//!
//! `maxResults` is 1–100 (100 when absent); `nextToken` is the last key of the page before and
//! the list it belongs to (the operation and its parent), hex-encoded behind a version tag:
//! opaque to clients, and checked when it comes back, so one List's token is refused by another.

use std::future::Future;

use serde_json::{json, Map, Value};

use super::{pick, shown};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::services::{tables, Resource, Tailor};

/// How a kind of resource lists: the response's field, the summary's fields, and the request
/// field naming the parent it may be listed under (with the parent's table, to check it exists).
pub(super) trait Listed: Resource + Send + Sync {
    const FIELD: &'static str;
    const SUMMARY: &'static [&'static str];
    const PARENT: Option<(&'static str, &'static str)>;

    /// The records as they stand now: a job whose worker is gone is failed first.
    fn fresh(
        tailor: &Tailor,
        records: Vec<Self>,
    ) -> impl Future<Output = Result<Vec<Self>>> + Send {
        let _ = tailor;
        async move { Ok(records) }
    }
}

const TIMES: [&str; 2] = ["creationDateTime", "lastUpdatedDateTime"];

macro_rules! listed {
    ($ty:ty, $field:expr, $parent:expr, [$($f:expr),* $(,)?]) => {
        impl Listed for $ty {
            const FIELD: &'static str = $field;
            const SUMMARY: &'static [&'static str] =
                &[$($f,)* TIMES[0], TIMES[1]];
            const PARENT: Option<(&'static str, &'static str)> = $parent;
        }
    };
    // A job kind whose records a reader settles first (a dead worker's job is failed).
    ($ty:ty, $field:expr, $parent:expr, [$($f:expr),* $(,)?], fresh: $settle:ident) => {
        impl Listed for $ty {
            const FIELD: &'static str = $field;
            const SUMMARY: &'static [&'static str] =
                &[$($f,)* TIMES[0], TIMES[1]];
            const PARENT: Option<(&'static str, &'static str)> = $parent;

            async fn fresh(tailor: &Tailor, records: Vec<Self>) -> Result<Vec<Self>> {
                tailor.$settle(records).await
            }
        }
    };
}

listed!(
    DatasetGroup,
    "datasetGroups",
    None,
    [
        "name",
        "datasetGroupArn",
        "status",
        "failureReason",
        "domain"
    ]
);
listed!(
    DatasetSchemaRecord,
    "schemas",
    None,
    ["name", "schemaArn", "domain"]
);
listed!(
    Dataset,
    "datasets",
    Some(("datasetGroupArn", tables::DATASET_GROUPS)),
    ["name", "datasetArn", "datasetType", "status"]
);
listed!(
    Solution,
    "solutions",
    Some(("datasetGroupArn", tables::DATASET_GROUPS)),
    ["name", "solutionArn", "status", "recipeArn"]
);
listed!(
    SolutionVersion,
    "solutionVersions",
    Some(("solutionArn", tables::SOLUTIONS)),
    [
        "solutionVersionArn",
        "status",
        "trainingMode",
        "trainingType",
        "failureReason"
    ],
    fresh: settle_versions
);
listed!(
    Campaign,
    "campaigns",
    Some(("solutionArn", tables::SOLUTIONS)),
    ["name", "campaignArn", "status", "failureReason"]
);
listed!(
    EventTracker,
    "eventTrackers",
    Some(("datasetGroupArn", tables::DATASET_GROUPS)),
    ["name", "eventTrackerArn", "status"]
);
// Personalize's own field name, capital F included.
listed!(
    FilterRecord,
    "Filters",
    Some(("datasetGroupArn", tables::DATASET_GROUPS)),
    [
        "name",
        "filterArn",
        "datasetGroupArn",
        "status",
        "failureReason"
    ]
);

listed!(
    DatasetImportJob,
    "datasetImportJobs",
    Some(("datasetArn", tables::DATASETS)),
    [
        "datasetImportJobArn",
        "jobName",
        "status",
        "failureReason",
        "importMode"
    ],
    fresh: settle_import_jobs
);

listed!(
    BatchInferenceJob,
    "batchInferenceJobs",
    Some(("solutionVersionArn", tables::SOLUTION_VERSIONS)),
    [
        "batchInferenceJobArn",
        "jobName",
        "status",
        "failureReason",
        "solutionVersionArn",
        "batchInferenceJobMode"
    ],
    fresh: settle_batch_jobs
);
listed!(
    BatchSegmentJob,
    "batchSegmentJobs",
    Some(("solutionVersionArn", tables::SOLUTION_VERSIONS)),
    [
        "batchSegmentJobArn",
        "jobName",
        "status",
        "failureReason",
        "solutionVersionArn"
    ],
    fresh: settle_batch_jobs
);
listed!(
    DataDeletionJob,
    "dataDeletionJobs",
    Some(("datasetGroupArn", tables::DATASET_GROUPS)),
    [
        "dataDeletionJobArn",
        "datasetGroupArn",
        "jobName",
        "status",
        "failureReason"
    ],
    fresh: settle_deletion_jobs
);

/// A List request's paging: how many, and after which key.
pub(super) struct Paging {
    pub limit: usize,
    /// The token's list and key, as it came.
    token: Option<(String, String)>,
}

impl Paging {
    /// Takes `maxResults` and `nextToken` out of a request.
    pub fn take(req: &mut Map<String, Value>) -> Result<Paging> {
        let limit = match req.remove("maxResults") {
            None | Some(Value::Null) => 100,
            Some(v) => match v.as_i64() {
                Some(n @ 1..=100) => n as usize,
                _ => {
                    return Err(Error::InvalidInput(format!(
                        "maxResults must be an integer between 1 and 100, but is {v}"
                    )))
                }
            },
        };
        let token = match req.remove("nextToken") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(decode_token(&t).ok_or_else(|| {
                Error::InvalidNextToken("nextToken is not one this service issued".into())
            })?),
            Some(_) => return Err(Error::InvalidNextToken("nextToken must be a string".into())),
        };
        Ok(Paging { limit, token })
    }

    /// The key to continue after, for the list `scope` names ([`scope`]); a token another list
    /// issued is refused.
    pub fn after(&self, scope: &str) -> Result<Option<&str>> {
        match &self.token {
            None => Ok(None),
            Some((s, key)) if s == scope => Ok(Some(key)),
            Some(_) => Err(Error::InvalidNextToken(
                "nextToken was issued for another list (operation or parent)".into(),
            )),
        }
    }
}

/// What a token is bound to: the List's output field and its parent.
pub(super) fn scope(field: &str, parent: Option<&str>) -> String {
    format!("{field}|{}", parent.unwrap_or(""))
}

/// A List operation on `T`: the request's paging and (where `T` has one) its parent, checked to
/// exist (an unknown parent is ResourceNotFound, not an empty list); anything else in the
/// request is refused by name.
pub(super) async fn list<T: Listed>(tailor: &Tailor, body: &[u8]) -> Result<Value> {
    let mut req: Map<String, Value> = super::request(body)?;
    let paging = Paging::take(&mut req)?;
    let parent = match T::PARENT {
        Some((field, table)) => match req.remove(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(arn)) => {
                tailor.require::<Value>(table, &arn).await?;
                Some(arn)
            }
            Some(_) => return Err(Error::InvalidInput(format!("{field} must be a string"))),
        },
        None => None,
    };
    if let Some(field) = req.keys().next() {
        return Err(Error::InvalidInput(format!(
            "{} is not a field of this operation's input",
            crate::api::text::shown(field)
        )));
    }
    let scope = scope(T::FIELD, parent.as_deref());
    let (records, next) = tailor
        .list_page::<T>(parent.as_deref(), paging.after(&scope)?, paging.limit)
        .await?;
    let records = T::fresh(tailor, records).await?;
    let items = records
        .iter()
        .map(|r| Ok(pick(&shown(r, &[])?, T::SUMMARY)))
        .collect::<Result<Vec<_>>>()?;
    Ok(response(T::FIELD, items, next.map(|key| (scope, key))))
}

/// A page of an in-memory list sorted by `key` (recipes, which are not stored), for the list
/// `scope` names.
pub(super) fn page_of<T>(
    all: Vec<T>,
    key: impl Fn(&T) -> &str,
    paging: &Paging,
    scope: &str,
) -> Result<(Vec<T>, Next)> {
    let after = paging.after(scope)?;
    let mut rest: Vec<T> = all
        .into_iter()
        .filter(|t| after.is_none_or(|a| key(t) > a))
        .collect();
    let next = (rest.len() > paging.limit)
        .then(|| (scope.to_string(), key(&rest[paging.limit - 1]).to_string()));
    rest.truncate(paging.limit);
    Ok((rest, next))
}

/// Where the next page starts: the list's scope and the last key given.
pub(super) type Next = Option<(String, String)>;

/// `{ field: items, nextToken }`, the token (bound to its list) present only when more remain.
pub(super) fn response(field: &str, items: Vec<Value>, next: Next) -> Value {
    let mut out = json!({ field: items });
    if let Some((scope, key)) = next {
        out["nextToken"] = json!(encode_token(&scope, &key));
    }
    out
}

fn encode_token(scope: &str, key: &str) -> String {
    let mut out = String::from("t2.");
    for b in scope.bytes().chain([0]).chain(key.bytes()) {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn decode_token(token: &str) -> Option<(String, String)> {
    let hex = token.strip_prefix("t2.")?;
    if hex.is_empty() || hex.len() % 2 != 0 || hex.len() > 6 * MAX_ARN_CHARS {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let (scope, key) = text.split_once('\0')?;
    (!key.is_empty()).then(|| (scope.to_string(), key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_refused() {
        let arn = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop";
        let scope = scope("datasetGroups", None);
        assert_eq!(
            decode_token(&encode_token(&scope, arn)),
            Some((scope.clone(), arn.to_string()))
        );
        for bad in [
            "", "t2.", "t2.zz", "t2.abc", "t1.61", "61", "t2.ff", "t2.6100",
        ] {
            assert!(decode_token(bad).is_none(), "{bad}");
        }
    }

    fn paging(body: Value) -> Result<Paging> {
        Paging::take(&mut body.as_object().unwrap().clone())
    }

    #[test]
    fn pages_cover_the_list_once_in_order() {
        let all: Vec<String> = (0..7).map(|i| format!("arn:x/{i}")).collect();
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let p = paging(json!({ "maxResults": 3, "nextToken": token })).unwrap();
            let (items, next) = page_of(all.clone(), |s| s, &p, "xs|").unwrap();
            assert!(items.len() <= 3);
            seen.extend(items);
            match next {
                Some((scope, key)) => token = Some(encode_token(&scope, &key)),
                None => break,
            }
        }
        assert_eq!(seen, all);
        // Another list's token is refused, though it decodes.
        let foreign = encode_token("ys|arn:parent", "arn:x/2");
        let p = paging(json!({ "nextToken": foreign })).unwrap();
        let e = page_of(all.clone(), |s| s, &p, "xs|").err().unwrap();
        assert_eq!(e.kind().name(), "InvalidNextTokenException");
        for bad in [json!(0), json!(101), json!("3"), json!(2.5)] {
            assert!(paging(json!({ "maxResults": bad })).is_err(), "{bad}");
        }
        let e = paging(json!({ "nextToken": "nonsense" })).err().unwrap();
        assert_eq!(e.kind().name(), "InvalidNextTokenException");
    }
}

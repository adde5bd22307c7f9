//! Batch inference and batch segments over JSON Lines, in Personalize's shapes: one output line
//! per input line, in input order, `{"input", "output", "error"}`; a bad line gets its `error`
//! (naming the line) and the others go on.
//!
//! Inference answers each line by the same path as GetRecommendations / GetPersonalizedRanking
//! on the solution version, so a batch answer equals the online one. Segments read a
//! USER_SEGMENTATION model the other way round: every user's history is scored once, and each
//! line's items keep their `numResults` best users.
//!
//! Both spread their work over `threads` (all cores by default); a Lambda shard runs on one.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use serde_json::{json, Map, Value};

use super::{poisoned, CampaignState, GroupData, Runtime};
use crate::api::runtime::{
    GetPersonalizedRankingRequest, GetRecommendationsRequest, PredictedItem,
};
use crate::domain::CampaignConfig;
use crate::error::{Error, Result};
use crate::recipes::RecipeType;

/// Items (or users) per line when a job does not say (Personalize's default).
pub const DEFAULT_NUM_RESULTS: usize = 25;

/// Users scored together in a segment job (one pass over the model's factors per block).
const SCORE_BLOCK: usize = 32;

/// Item queries an `aws-item-affinity` job answers per file, and attribute queries an
/// `aws-item-attribute-affinity` one does (Personalize's limits).
pub const MAX_ITEM_QUERIES: usize = 500;
pub const MAX_ATTRIBUTE_QUERIES: usize = 10;

/// A batch job's settings that apply to every line.
#[derive(Debug, Clone, Default)]
pub struct BatchSettings {
    /// Items (inference) or users (segments) per line; [`DEFAULT_NUM_RESULTS`] when None.
    pub num_results: Option<usize>,
    pub filter_arn: Option<String>,
    /// `batchInferenceJobConfig.itemExplorationConfig`, as a campaign's.
    pub item_exploration_config: BTreeMap<String, String>,
    /// Threads to answer on; 0 = every core.
    pub threads: usize,
    /// Lines of the file before this input (a shard's offset), so errors name file lines.
    pub line_offset: usize,
}

impl BatchSettings {
    fn threads_for(&self, work: usize) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let wanted = if self.threads == 0 {
            cores
        } else {
            self.threads
        };
        wanted.clamp(1, work.max(1))
    }
}

/// What a batch run did: lines answered and lines that got an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchCounts {
    pub lines: u64,
    pub failed: u64,
}

impl std::ops::AddAssign for BatchCounts {
    fn add_assign(&mut self, o: BatchCounts) {
        self.lines += o.lines;
        self.failed += o.failed;
    }
}

/// The non-blank lines of `input`, numbered as in the file.
fn numbered(input: &str, offset: usize) -> Vec<(usize, &str)> {
    input
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (offset + i + 1, l))
        .collect()
}

/// One output line; `answer` is the line's `output`, or its error.
fn output_line(n: usize, input: Result<&Map<String, Value>, &str>, answer: Result<Value>) -> Value {
    let input = match input {
        Ok(obj) => Value::Object(obj.clone()),
        Err(raw) => Value::String(raw.to_string()),
    };
    match answer {
        Ok(output) => json!({ "input": input, "output": output, "error": null }),
        Err(e) => json!({ "input": input, "output": null,
                          "error": format!("line {n}: {}", e.client_message()) }),
    }
}

/// A line as a JSON object, or the error its output line carries.
fn parse_line(raw: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(Error::InvalidInput("not a JSON object".into())),
        Err(e) => Err(Error::InvalidInput(format!("not JSON: {e}"))),
    }
}

fn filter_values(line: &Map<String, Value>) -> Result<BTreeMap<String, String>> {
    match line.get("filterValues") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| Error::InvalidInput("filterValues must map names to strings".into())),
    }
}

fn write_lines(out: &mut Vec<u8>, lines: &[Value]) -> BatchCounts {
    let mut counts = BatchCounts::default();
    for line in lines {
        counts.lines += 1;
        if !line["error"].is_null() {
            counts.failed += 1;
        }
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    counts
}

impl Runtime {
    /// A solution version as a batch job serves it (its exploration settings), loaded once for
    /// all of a job's files.
    pub async fn batch_state(
        &self,
        solution_version_arn: &str,
        settings: &BatchSettings,
    ) -> Result<std::sync::Arc<CampaignState>> {
        let config = CampaignConfig {
            item_exploration_config: settings.item_exploration_config.clone(),
            ..Default::default()
        };
        self.solution_version_with(solution_version_arn, config)
            .await
    }

    /// Answers every non-blank line of `input` for `solution_version_arn`, appending the
    /// output lines to `out`. Fails only when the version itself cannot be served.
    pub async fn batch_inference(
        &self,
        solution_version_arn: &str,
        settings: &BatchSettings,
        input: &str,
        out: &mut Vec<u8>,
    ) -> Result<BatchCounts> {
        let c = self.batch_state(solution_version_arn, settings).await?;
        self.batch_inference_with(&c, settings, input, out).await
    }

    /// [`Runtime::batch_inference`] on a loaded version ([`Runtime::batch_state`]).
    ///
    /// With more than one thread, each answers a run of lines on a runtime of its own: call
    /// this from a thread that may block (a job's), not from a server's worker.
    pub async fn batch_inference_with(
        &self,
        c: &CampaignState,
        settings: &BatchSettings,
        input: &str,
        out: &mut Vec<u8>,
    ) -> Result<BatchCounts> {
        if c.recipe_type == RecipeType::UserSegmentation {
            return Err(Error::InvalidInput(format!(
                "solution version {} is USER_SEGMENTATION: it answers batch segment jobs",
                c.campaign.solution_version_arn
            )));
        }
        // Loaded here, on the caller's runtime, so the threads below find them cached.
        self.catch_up(&c.group).await?;
        if let Some(arn) = &settings.filter_arn {
            self.filter(arn).await?;
        }
        let lines = numbered(input, settings.line_offset);
        let threads = settings.threads_for(lines.len());
        let answered: Vec<Value> = if threads == 1 {
            self.answer_lines(c, settings, &lines).await
        } else {
            let chunk = lines.len().div_ceil(threads);
            let parts: Vec<Result<Vec<Value>>> = std::thread::scope(|s| {
                let handles: Vec<_> = lines
                    .chunks(chunk)
                    .map(|part| {
                        let c = &c;
                        s.spawn(move || {
                            let rt = tokio::runtime::Builder::new_current_thread()
                                .enable_all()
                                .build()
                                .map_err(|e| Error::Internal(format!("no runtime: {e}")))?;
                            Ok(rt.block_on(self.answer_lines(c, settings, part)))
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(Error::Internal("a batch thread panicked".into()))
                        })
                    })
                    .collect()
            });
            let mut all = Vec::with_capacity(lines.len());
            for part in parts {
                all.extend(part?);
            }
            all
        };
        Ok(write_lines(out, &answered))
    }

    async fn answer_lines(
        &self,
        c: &CampaignState,
        settings: &BatchSettings,
        lines: &[(usize, &str)],
    ) -> Vec<Value> {
        let mut out = Vec::with_capacity(lines.len());
        for &(n, raw) in lines {
            out.push(match parse_line(raw) {
                Ok(obj) => {
                    let answer = self.answer_line(c, settings, &obj).await.map(|i| items(&i));
                    output_line(n, Ok(&obj), answer)
                }
                Err(e) => output_line(n, Err(raw), Err(e)),
            });
        }
        out
    }

    async fn answer_line(
        &self,
        c: &CampaignState,
        settings: &BatchSettings,
        line: &Map<String, Value>,
    ) -> Result<Vec<PredictedItem>> {
        let text = |field: &str| line.get(field).and_then(Value::as_str).map(String::from);
        let filter_values = filter_values(line)?;
        let campaign_arn = c.campaign.campaign_arn.clone();
        if c.recipe_type == RecipeType::PersonalizedRanking {
            let input_list: Vec<String> = match line.get("itemList") {
                Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
                    Error::InvalidInput("itemList must be a list of item ids".into())
                })?,
                None => {
                    return Err(Error::InvalidInput(
                        "itemList is required for a PERSONALIZED_RANKING solution version".into(),
                    ))
                }
            };
            let req = GetPersonalizedRankingRequest {
                campaign_arn,
                input_list,
                user_id: text("userId").unwrap_or_default(),
                filter_arn: settings.filter_arn.clone(),
                filter_values,
                ..Default::default()
            };
            return Ok(self.rank_with(c, &req).await?.personalized_ranking);
        }
        let req = GetRecommendationsRequest {
            campaign_arn: Some(campaign_arn),
            user_id: text("userId"),
            item_id: text("itemId"),
            num_results: Some(settings.num_results.unwrap_or(DEFAULT_NUM_RESULTS)),
            filter_arn: settings.filter_arn.clone(),
            filter_values,
            ..Default::default()
        };
        Ok(self.recommend_with(c, &req).await?.item_list)
    }

    /// Answers every non-blank line of `input` (`{"itemId"}` for `aws-item-affinity`,
    /// `{"itemAttributes"}` for `aws-item-attribute-affinity`) with the `numResults` users
    /// most drawn to those items, best first, appending the output lines to `out`.
    pub async fn batch_segments(
        &self,
        solution_version_arn: &str,
        settings: &BatchSettings,
        input: &str,
        out: &mut Vec<u8>,
    ) -> Result<BatchCounts> {
        let c = self.batch_state(solution_version_arn, settings).await?;
        self.batch_segments_with(&c, settings, input, out).await
    }

    /// [`Runtime::batch_segments`] on a loaded version ([`Runtime::batch_state`]).
    pub async fn batch_segments_with(
        &self,
        c: &CampaignState,
        settings: &BatchSettings,
        input: &str,
        out: &mut Vec<u8>,
    ) -> Result<BatchCounts> {
        if c.recipe_type != RecipeType::UserSegmentation {
            return Err(Error::InvalidInput(format!(
                "solution version {} is not USER_SEGMENTATION \
                 (aws-item-affinity or aws-item-attribute-affinity)",
                c.campaign.solution_version_arn
            )));
        }
        self.catch_up(&c.group).await?;
        let user_filter = match &settings.filter_arn {
            Some(arn) => {
                let f = self.filter(arn).await?;
                if f.record.dataset_group_arn != c.group.arn {
                    return Err(Error::InvalidInput(format!(
                        "filter {arn} belongs to another dataset group"
                    )));
                }
                Some(f)
            }
            None => None,
        };
        let by_attributes = c.model.recipe.name() == "aws-item-attribute-affinity";
        let n = settings.num_results.unwrap_or(DEFAULT_NUM_RESULTS);
        let g = c.group.data.read().map_err(poisoned)?;
        // Each line: its input, and its query (model item codes) or its error.
        let mut queries: Vec<SegmentLine> = Vec::new();
        let limit = if by_attributes {
            MAX_ATTRIBUTE_QUERIES
        } else {
            MAX_ITEM_QUERIES
        };
        let mut accepted = 0;
        for (n_line, raw) in numbered(input, settings.line_offset) {
            let parsed = parse_line(raw);
            let (input, query) = match parsed {
                Ok(obj) => {
                    let q = segment_query(c, &g, &obj, by_attributes).and_then(|items| {
                        accepted += 1;
                        if accepted > limit {
                            return Err(Error::InvalidInput(format!(
                                "a file holds at most {limit} queries for {}",
                                c.model.recipe.name()
                            )));
                        }
                        Ok(Query {
                            items,
                            values: filter_values(&obj)?,
                        })
                    });
                    (Ok(obj), q)
                }
                Err(e) => (Err(raw), Err(e)),
            };
            queries.push((n_line, input, query));
        }
        let live: Vec<&Query> = queries
            .iter()
            .filter_map(|(_, _, q)| q.as_ref().ok())
            .collect();
        let users: Vec<(&String, &Vec<super::group::Seen>)> =
            g.histories.iter().filter(|(_, h)| !h.is_empty()).collect();
        let threads = settings.threads_for(users.len() / 64);
        let chunk = users.len().div_ceil(threads).max(1);
        let filter = user_filter.as_deref().map(|f| &f.filter);
        let tops: Vec<Result<Vec<Top>>> = std::thread::scope(|s| {
            let handles: Vec<_> = users
                .chunks(chunk)
                .map(|part| {
                    let (c, g, live) = (&c, &*g, &live);
                    s.spawn(move || segment_scores(c, g, part, live, filter, n))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::Internal("a segment thread panicked".into()))
                    })
                })
                .collect()
        });
        let mut merged: Vec<Top> = live.iter().map(|_| Top::new(n)).collect();
        for part in tops {
            for (m, t) in merged.iter_mut().zip(part?) {
                m.merge(t);
            }
        }
        let mut answers = merged.into_iter();
        let mut lines = Vec::with_capacity(queries.len());
        for (n_line, input, query) in queries {
            let answer = match query {
                Ok(_) => Ok(
                    json!({ "recommendedUsers": answers.next().map(Top::users).unwrap_or_default() }),
                ),
                Err(e) => Err(e),
            };
            lines.push(segment_line(n_line, input, answer, by_attributes));
        }
        Ok(write_lines(out, &lines))
    }
}

/// A segment output line in Personalize's shapes: `{"input": {"itemId"}, "output":
/// {"recommendedUsers"}}` for item affinity, the input's own fields beside `output` for
/// attribute affinity (`{"itemAttributes", "output"}`); `error` only on a line that has one.
fn segment_line(
    n: usize,
    input: Result<Map<String, Value>, &str>,
    answer: Result<Value>,
    by_attributes: bool,
) -> Value {
    let (output, error) = match answer {
        Ok(o) => (o, None),
        Err(e) => (
            Value::Null,
            Some(format!("line {n}: {}", e.client_message())),
        ),
    };
    let mut line = match input {
        Ok(obj) if by_attributes => obj,
        Ok(obj) => Map::from_iter([("input".to_string(), Value::Object(obj))]),
        Err(raw) => Map::from_iter([("input".to_string(), Value::String(raw.to_string()))]),
    };
    line.insert("output".into(), output);
    if let Some(e) = error {
        line.insert("error".into(), Value::String(e));
    }
    Value::Object(line)
}

/// A segment line: its number, its input (or its raw text), its query (or its error).
type SegmentLine<'a> = (usize, Result<Map<String, Value>, &'a str>, Result<Query>);

/// A segment line's items (model codes) and its filter values.
struct Query {
    items: Vec<u32>,
    values: BTreeMap<String, String>,
}

/// The model codes a segment line asks about: its `itemId`, or every item whose attributes
/// hold each `FIELD = "value"` of its `itemAttributes`.
fn segment_query(
    c: &CampaignState,
    g: &GroupData,
    line: &Map<String, Value>,
    by_attributes: bool,
) -> Result<Vec<u32>> {
    if !by_attributes {
        let id = line.get("itemId").and_then(Value::as_str).ok_or_else(|| {
            Error::InvalidInput("itemId (a string) is required for aws-item-affinity".into())
        })?;
        return match c.model.items.get(id) {
            Some(code) => Ok(vec![code]),
            None => Err(Error::InvalidInput(format!(
                "item {} is not in the model's catalogue",
                crate::api::text::shown(id)
            ))),
        };
    }
    let expr = line
        .get("itemAttributes")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::InvalidInput(
                "itemAttributes (a string) is required for aws-item-attribute-affinity".into(),
            )
        })?;
    let wanted = parse_attributes(expr)?;
    let mut codes = Vec::new();
    for (item, attrs) in g.item_attrs.iter().enumerate() {
        let Some(attrs) = attrs else { continue };
        let holds = wanted.iter().all(|(field, value)| {
            super::lookup(attrs, field).is_some_and(|a| {
                a.to_wire()
                    .split('|')
                    .any(|part| part.trim().eq_ignore_ascii_case(value))
            })
        });
        if let Some(code) = holds.then(|| c.model_code(item as u32)).flatten() {
            codes.push(code);
        }
    }
    if codes.is_empty() {
        return Err(Error::InvalidInput(format!(
            "no item of the model has {}",
            crate::api::text::shown(expr)
        )));
    }
    Ok(codes)
}

/// `ITEMS.GENRES = "Comedy" AND PRICE_BAND = "low"`: Personalize's segment expressions allow
/// string equality and AND only; the `ITEMS.` prefix is optional.
pub fn parse_attributes(expr: &str) -> Result<Vec<(String, String)>> {
    let bad = |why: &str| {
        Error::InvalidInput(format!(
            "itemAttributes {}: {why}",
            crate::api::text::shown(expr)
        ))
    };
    let mut out = Vec::new();
    let mut rest = expr.trim();
    loop {
        let (field, after) = rest
            .split_once('=')
            .ok_or_else(|| bad("expected FIELD = \"value\""))?;
        let field = field.trim();
        let field = ["ITEMS.", "Items.", "items."]
            .iter()
            .find_map(|p| field.strip_prefix(p))
            .unwrap_or(field);
        if field.is_empty()
            || !field
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        {
            return Err(bad("a field is a column name of the Items dataset"));
        }
        let after = after.trim_start();
        let quoted = after
            .strip_prefix('"')
            .ok_or_else(|| bad("a value is a double-quoted string"))?;
        let end = quoted
            .find('"')
            .ok_or_else(|| bad("a value's closing quote is missing"))?;
        out.push((field.to_string(), quoted[..end].to_string()));
        rest = quoted[end + 1..].trim_start();
        if rest.is_empty() {
            return Ok(out);
        }
        let and = rest.get(..4).filter(|w| w.eq_ignore_ascii_case("AND "));
        rest = rest[and
            .ok_or_else(|| bad("conditions are joined by AND"))?
            .len()..]
            .trim_start();
    }
}

/// A user's affinity for a line's items, as a share of the user's predicted next
/// interaction: scores are comparable across users, and an attribute query's items add up.
fn segment_scores(
    c: &CampaignState,
    g: &GroupData,
    users: &[(&String, &Vec<super::group::Seen>)],
    queries: &[&Query],
    filter: Option<&crate::filters::Filter>,
    n: usize,
) -> Result<Vec<Top>> {
    let mut tops: Vec<Top> = queries.iter().map(|_| Top::new(n)).collect();
    // Users are scored a block at a time: the model reads its factors once per block.
    for block in users.chunks(SCORE_BLOCK) {
        let known: Vec<(&String, Vec<u32>)> = block
            .iter()
            .map(|(user, history)| (*user, c.model_codes(history)))
            .filter(|(_, codes)| !codes.is_empty())
            .collect();
        let histories: Vec<&[u32]> = known.iter().map(|(_, codes)| codes.as_slice()).collect();
        let mut scores: Vec<Vec<f32>> = vec![Vec::new(); known.len()];
        c.model
            .learned
            .score_histories(&c.model.popularity, &histories, &mut scores);
        for ((user, _), scores) in known.iter().zip(&scores) {
            let mass: f32 = scores.iter().filter(|s| **s > 0.0).sum();
            if mass <= 0.0 {
                continue;
            }
            let attrs = g.user_attrs.get(*user);
            for (q, top) in queries.iter().zip(&mut tops) {
                let share: f32 = q
                    .items
                    .iter()
                    .map(|&i| scores.get(i as usize).copied().unwrap_or(0.0).max(0.0))
                    .sum::<f32>()
                    / mass;
                if share <= 0.0 || !top.would_take(share) {
                    continue;
                }
                if let Some(f) = filter {
                    if !f.allows_user(&OneUser(attrs), &q.values)? {
                        continue;
                    }
                }
                top.push(share, user);
            }
        }
    }
    Ok(tops)
}

/// One user's attributes, as a user filter reads them.
struct OneUser<'a>(Option<&'a super::Attrs>);

impl crate::filters::FilterData for OneUser<'_> {
    fn n_items(&self) -> usize {
        1
    }
    fn item_attribute(&self, _: u32, _: &str) -> Option<crate::filters::Value<'_>> {
        None
    }
    fn user_attribute(&self, field: &str) -> Option<crate::filters::Value<'_>> {
        self.0
            .and_then(|a| super::lookup(a, field))
            .map(|a| a.filter_value())
    }
    fn interactions(&self) -> Vec<(u32, String)> {
        Vec::new()
    }
    fn current_item(&self) -> Option<u32> {
        None
    }
}

/// The `n` best users of a query: a min-heap on (share, then user id for a stable order).
struct Top {
    n: usize,
    heap: BinaryHeap<Entry>,
}

#[derive(PartialEq)]
struct Entry(f32, String);

impl Eq for Entry {}
impl Ord for Entry {
    // Reversed: the heap's top is the weakest kept user.
    fn cmp(&self, o: &Entry) -> Ordering {
        o.0.total_cmp(&self.0).then_with(|| self.1.cmp(&o.1))
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Entry) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Top {
    fn new(n: usize) -> Top {
        Top {
            n,
            heap: BinaryHeap::with_capacity(n + 1),
        }
    }

    fn would_take(&self, share: f32) -> bool {
        self.heap.len() < self.n || self.heap.peek().is_some_and(|w| share >= w.0)
    }

    fn push(&mut self, share: f32, user: &str) {
        self.heap.push(Entry(share, user.to_string()));
        if self.heap.len() > self.n {
            self.heap.pop();
        }
    }

    fn merge(&mut self, other: Top) {
        for Entry(share, user) in other.heap {
            self.push(share, &user);
        }
    }

    fn users(self) -> Vec<String> {
        // Ascending by the reversed order is best first.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| e.1)
            .collect()
    }
}

/// `{"recommendedItems", "scores"}`, scores only when the answer has them.
fn items(items: &[PredictedItem]) -> Value {
    let ids: Vec<&str> = items.iter().map(|i| i.item_id.as_str()).collect();
    let scores: Option<Vec<f64>> = items.iter().map(|i| i.score).collect();
    match scores {
        Some(s) if !s.is_empty() => json!({ "recommendedItems": ids, "scores": s }),
        _ => json!({ "recommendedItems": ids }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_expressions_are_equalities_joined_by_and() {
        assert_eq!(
            parse_attributes(r#"ITEMS.GENRES = "Comedy" AND price_band="low""#).unwrap(),
            vec![
                ("GENRES".to_string(), "Comedy".to_string()),
                ("price_band".to_string(), "low".to_string())
            ]
        );
        for bad in [
            r#"GENRES > "x""#,
            r#"GENRES = Comedy"#,
            r#"GENRES = "Comedy" OR GENRES = "Drama""#,
            r#"GENRES = "Comedy"#,
            r#"= "x""#,
        ] {
            let e = parse_attributes(bad).unwrap_err();
            assert_eq!(e.kind().name(), "InvalidInputException", "{bad}");
        }
    }

    #[test]
    fn top_keeps_the_best_users_best_first() {
        let mut t = Top::new(2);
        for (s, u) in [(0.1, "a"), (0.5, "b"), (0.3, "c"), (0.5, "a2")] {
            if t.would_take(s) {
                t.push(s, u);
            }
        }
        assert_eq!(t.users(), vec!["a2", "b"]);
    }
}

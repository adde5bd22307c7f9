//! A batch job a shard at a time, for the batch state machine's Distributed Map:
//!
//! - [`plan_batch_job`] cuts every input file into runs of lines and writes the list (the
//!   manifest the Map's ItemReader reads) beside the job's other objects;
//! - [`run_batch_shard`] answers one run of lines and stores its output lines sealed;
//! - [`join_batch_job`] concatenates the shards' outputs into `<input file name>.out`, in input
//!   order, and records the job ACTIVE. A shard with no output (it failed past its retries,
//!   within the Map's tolerated failures) gets an error on each of its lines instead.
//!
//! Segment jobs are one shard per file: a segment scores every user once for all its lines.

use serde::{Deserialize, Serialize};

use super::batch_jobs::{is_segment, run_batch_job, BatchJob};
use super::Tailor;
use crate::crypto::{self, ObjectId};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::serving::batch::{BatchCounts, BatchSettings};
use crate::serving::Runtime;

/// Lines per shard when the deployment does not say (`TAILOR_BATCH_SHARD_LINES`).
pub const DEFAULT_SHARD_LINES: usize = 5_000;

/// One run of lines of one input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shard {
    /// Position in the manifest: the order outputs are joined in.
    pub index: usize,
    /// The input file's name (its output is `<file>.out`) and where it is read from.
    pub file: String,
    pub location: String,
    /// Lines before this shard's first, and how many it answers.
    pub first: usize,
    pub lines: usize,
}

/// What Plan tells the state machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Whole job in one invocation (`run`), no Map.
    pub small: bool,
    pub shards: usize,
    /// The manifest's key in the deployment's bucket (a JSON array of [`Shard`]s).
    pub manifest_key: String,
}

fn job_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn job_kind(arn: &str) -> &'static str {
    if is_segment(arn) {
        "batch-segment-job"
    } else {
        "batch-inference-job"
    }
}

/// The store key of a job's manifest, and of a shard's sealed output.
pub fn manifest_key(arn: &str) -> String {
    format!("batch/{}/{}/manifest.json", job_kind(arn), job_id(arn))
}

fn shard_key(arn: &str, index: usize) -> String {
    format!(
        "batch/{}/{}/{index:06}.out.sealed",
        job_kind(arn),
        job_id(arn)
    )
}

async fn job_of<J: BatchJob>(tailor: &Tailor, arn: &str) -> Result<(J, String)> {
    let (job, _) = tailor.require::<J>(J::TABLE, arn).await?;
    let version = tailor.describe_solution_version(job.version_arn()).await?;
    Ok((job, version.dataset_group_arn))
}

/// Lines of `text` as the engine numbers them (blank lines count, as in the file).
fn line_count(text: &str) -> usize {
    text.lines().count()
}

/// Cuts the job's input into shards of at most `shard_lines` lines and writes the manifest.
/// A job of one shard is `small`: the state machine runs it whole and the job stays pending
/// for that; otherwise the job is IN_PROGRESS from here.
pub async fn plan_batch_job(tailor: &Tailor, arn: &str, shard_lines: usize) -> Result<Plan> {
    let segment = is_segment(arn);
    let input = if segment {
        tailor.describe_batch_segment_job(arn).await?.job_input
    } else {
        tailor.describe_batch_inference_job(arn).await?.job_input
    };
    let files = tailor.read_batch_input(&input.s3_data_source).await?;
    let base = input.s3_data_source.path.trim_end_matches('/');
    let mut shards = Vec::new();
    for (name, bytes) in &files {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| Error::InvalidInput(format!("input file {name} is not UTF-8: {e}")))?;
        let location = if files.len() == 1 && !input.s3_data_source.path.ends_with('/') {
            input.s3_data_source.path.clone()
        } else {
            format!("{base}/{name}")
        };
        let n = line_count(text).max(1);
        let step = if segment { n } else { shard_lines.max(1) };
        let mut first = 0;
        while first < n {
            let lines = step.min(n - first);
            shards.push(Shard {
                index: shards.len(),
                file: name.clone(),
                location: location.clone(),
                first,
                lines,
            });
            first += lines;
        }
    }
    let manifest = serde_json::to_vec(&shards).map_err(|e| Error::Internal(e.to_string()))?;
    let key = manifest_key(arn);
    tailor.stores.blobs.put(&key, manifest).await?;
    let small = shards.len() <= 1;
    if !small {
        let started = if segment {
            tailor.claim_batch_job::<BatchSegmentJob>(arn, None).await?
        } else {
            tailor
                .claim_batch_job::<BatchInferenceJob>(arn, None)
                .await?
        };
        if !started {
            return Err(Error::InUse(format!("batch job {arn} is not pending")));
        }
    }
    Ok(Plan {
        small,
        shards: shards.len(),
        manifest_key: key,
    })
}

/// Runs a small job whole (the state machine's `run` branch, and the batch function without a
/// state machine).
pub async fn run_small_batch_job(runtime: &Runtime, arn: &str) -> Result<BatchCounts> {
    run_batch_job(runtime, arn, 0).await
}

/// Answers one shard on one thread and stores its output lines sealed under the job's group.
pub async fn run_batch_shard(runtime: &Runtime, arn: &str, shard: &Shard) -> Result<BatchCounts> {
    if is_segment(arn) {
        shard_of::<BatchSegmentJob>(runtime, arn, shard).await
    } else {
        shard_of::<BatchInferenceJob>(runtime, arn, shard).await
    }
}

async fn shard_of<J: BatchJob>(runtime: &Runtime, arn: &str, shard: &Shard) -> Result<BatchCounts> {
    let tailor = &runtime.tailor;
    let (job, group) = job_of::<J>(tailor, arn).await?;
    let text = shard_file(tailor, shard).await?;
    let part: String = text
        .lines()
        .skip(shard.first)
        .take(shard.lines)
        .map(|l| format!("{l}\n"))
        .collect();
    let settings = BatchSettings {
        threads: 1,
        line_offset: shard.first,
        ..job.settings()
    };
    let mut out = Vec::new();
    let counts = if J::SEGMENT {
        runtime
            .batch_segments(job.version_arn(), &settings, &part, &mut out)
            .await?
    } else {
        runtime
            .batch_inference(job.version_arn(), &settings, &part, &mut out)
            .await?
    };
    let key = shard_key(arn, shard.index);
    let id = ObjectId {
        group: &group,
        kind: "batch/output",
        resource: arn,
        key: &key,
    };
    let sealed = crypto::seal(tailor.stores.keys.as_ref(), &id, &out).await?;
    tailor.stores.blobs.put(&key, sealed).await?;
    Ok(counts)
}

/// Joins the shards' outputs into each file's `.out`, records the job ACTIVE with its counts,
/// and deletes the shards' objects.
pub async fn join_batch_job(tailor: &Tailor, arn: &str) -> Result<BatchCounts> {
    if is_segment(arn) {
        join::<BatchSegmentJob>(tailor, arn).await
    } else {
        join::<BatchInferenceJob>(tailor, arn).await
    }
}

async fn join<J: BatchJob>(tailor: &Tailor, arn: &str) -> Result<BatchCounts> {
    let (job, group) = job_of::<J>(tailor, arn).await?;
    let manifest = tailor
        .stores
        .blobs
        .get(&manifest_key(arn))
        .await?
        .ok_or_else(|| Error::Internal(format!("batch job {arn} has no manifest")))?;
    let shards: Vec<Shard> =
        serde_json::from_slice(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
    let mut counts = BatchCounts::default();
    let mut file: Option<(String, Vec<u8>)> = None;
    for shard in &shards {
        if file.as_ref().is_some_and(|(name, _)| *name != shard.file) {
            if let Some((name, bytes)) = file.take() {
                tailor
                    .write_batch_output(job.output(), &name, bytes)
                    .await?;
            }
        }
        let out = &mut file
            .get_or_insert_with(|| (shard.file.clone(), Vec::new()))
            .1;
        let key = shard_key(arn, shard.index);
        let lines = match tailor.stores.blobs.get(&key).await? {
            Some(sealed) => {
                let id = ObjectId {
                    group: &group,
                    kind: "batch/output",
                    resource: arn,
                    key: &key,
                };
                crypto::open(tailor.stores.keys.as_ref(), &id, &sealed).await?
            }
            None => failed_shard_lines(tailor, shard).await?,
        };
        for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            counts.lines += 1;
            let failed = serde_json::from_slice::<serde_json::Value>(line)
                .map(|v| !v["error"].is_null())
                .unwrap_or(true);
            counts.failed += u64::from(failed);
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    if let Some((name, bytes)) = file.take() {
        tailor
            .write_batch_output(job.output(), &name, bytes)
            .await?;
    }
    tailor.finish_batch_job::<J>(arn, counts).await?;
    for shard in &shards {
        let _ = tailor
            .stores
            .blobs
            .delete(&shard_key(arn, shard.index))
            .await;
    }
    Ok(counts)
}

/// The text of the input file a shard answers part of.
async fn shard_file(tailor: &Tailor, shard: &Shard) -> Result<String> {
    let files = tailor
        .read_batch_input(&S3DataConfig {
            path: shard.location.clone(),
            kms_key_arn: None,
        })
        .await?;
    let (_, bytes) = files
        .into_iter()
        .find(|(name, _)| *name == shard.file)
        .ok_or_else(|| Error::InvalidInput(format!("input file {} is gone", shard.location)))?;
    String::from_utf8(bytes)
        .map_err(|e| Error::InvalidInput(format!("input file {} is not UTF-8: {e}", shard.file)))
}

/// The output lines of a shard that never answered: each of its lines with an error.
async fn failed_shard_lines(tailor: &Tailor, shard: &Shard) -> Result<Vec<u8>> {
    let text = shard_file(tailor, shard).await?;
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate().skip(shard.first).take(shard.lines) {
        if raw.trim().is_empty() {
            continue;
        }
        let input = serde_json::from_str::<serde_json::Value>(raw)
            .unwrap_or_else(|_| serde_json::Value::String(raw.to_string()));
        let line = serde_json::json!({
            "input": input, "output": null,
            "error": format!("line {}: the shard answering this line failed; run the job again", i + 1),
        });
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

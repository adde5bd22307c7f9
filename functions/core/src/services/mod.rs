//! The application layer: what the doors (CLI, local server, Lambdas) call, written against the
//! storage ports only.

pub mod batch_jobs;
pub mod batch_shards;
mod campaigns;
mod catalog;
mod compaction;
mod datasets;
mod deletes;
mod deletion;
mod filters;
mod import;
pub mod jobs;
pub mod quotas;
mod shards;
mod solutions;
mod tags;
pub mod training;
pub mod uploads;

use std::sync::Arc;

pub use catalog::tables;
pub(crate) use catalog::Resource;
pub use compaction::{put_records_table, Compaction};
pub use import::{ImportJobOptions, ImportOutcome};
pub use shards::{EVENTS_PER_SHARD, SINGLE_FUNCTION_EVENTS};
pub use solutions::{CreateSolution, SHARDS_HP};
pub use tags::{check_tags, MAX_TAGS};

use crate::domain::ArnBuilder;
use crate::store::checked::CheckedMeta;
use crate::store::{
    fs::FsStores, BlobStore, DataSources, EventStore, KeyService, MetaStore, StoreResult,
};

/// The adapters a service runs on.
#[derive(Clone)]
pub struct Stores {
    pub blobs: Arc<dyn BlobStore>,
    pub meta: Arc<dyn MetaStore>,
    pub events: Arc<dyn EventStore>,
    pub keys: Arc<dyn KeyService>,
}

impl Stores {
    /// The services' view of a set of adapters: resource records are checksummed and bound to
    /// their table and key ([`CheckedMeta`]) whatever the adapter.
    pub fn new(
        blobs: Arc<dyn BlobStore>,
        meta: Arc<dyn MetaStore>,
        events: Arc<dyn EventStore>,
        keys: Arc<dyn KeyService>,
    ) -> Stores {
        Stores {
            blobs,
            meta: Arc::new(CheckedMeta::new(meta)),
            events,
            keys,
        }
    }

    /// The embedded adapters over one data directory.
    pub fn embedded(root: impl Into<std::path::PathBuf>) -> StoreResult<Stores> {
        let fs = FsStores::open(root)?;
        Ok(Stores::new(
            Arc::new(fs.blobs),
            Arc::new(fs.meta),
            Arc::new(fs.events),
            Arc::new(fs.keys),
        ))
    }
}

/// The product's services over a set of stores.
#[derive(Clone)]
pub struct Tailor {
    pub stores: Stores,
    pub arns: ArnBuilder,
    pub quotas: quotas::Quotas,
    /// Where `s3://` data locations are read, when this door can reach S3.
    pub sources: Option<Arc<dyn DataSources>>,
    /// Where import jobs and solution versions run once created.
    pub jobs: Arc<dyn jobs::JobRunner>,
    /// Plaintext bytes of interactions data per task of a sharded training's scan and cut
    /// Maps (`TAILOR_SHARD_RANGE_BYTES`, else [`shards::RANGE_BYTES`]).
    pub shard_range_bytes: u64,
    /// Events a sharded training's finish samples users up to (`TAILOR_SHARD_SAMPLE_EVENTS`,
    /// else [`shards::SAMPLE_EVENTS`]).
    pub shard_sample_events: u64,
}

impl Tailor {
    /// Services with Personalize's default quotas.
    pub fn new(stores: Stores, arns: ArnBuilder) -> Tailor {
        Tailor {
            stores,
            arns,
            quotas: quotas::Quotas::default(),
            sources: None,
            jobs: Arc::new(jobs::LocalJobs),
            shard_range_bytes: std::env::var("TAILOR_SHARD_RANGE_BYTES")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|&n| n > 0)
                .unwrap_or(shards::RANGE_BYTES),
            shard_sample_events: std::env::var("TAILOR_SHARD_SAMPLE_EVENTS")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|&n| n > 0)
                .unwrap_or(shards::SAMPLE_EVENTS),
        }
    }

    pub fn with_jobs(self, jobs: Arc<dyn jobs::JobRunner>) -> Tailor {
        Tailor { jobs, ..self }
    }

    pub fn with_sources(self, sources: Arc<dyn DataSources>) -> Tailor {
        Tailor {
            sources: Some(sources),
            ..self
        }
    }

    pub fn with_quotas(self, quotas: quotas::Quotas) -> Tailor {
        Tailor { quotas, ..self }
    }
}

//! tailor-core's integration tests, as one test binary: one link instead of eleven, which is
//! most of what a test build costs here.

mod batch;
mod compaction;
mod content;
mod context;
mod csv_prop;
mod csv_rules;
mod data_dir;
mod deletion;
mod engine;
mod evaluation;
mod event_log;
mod filters;
mod fuzz;
mod import_jobs;
mod impressions;
mod ports;
mod quotas;
mod recipes;
mod roundtrip;
mod scale;
mod schema_rules;
mod seen_items;
mod serving;
mod shards;
mod solutions;
mod support;
mod tamper;
mod workflow;

//! tailor's core: Amazon Personalize's resources, data rules, recipes and services, with no
//! dependency on AWS or HTTP. The doors (the `tailor` CLI, the local server, the Lambdas) build
//! adapters for the [`store`] ports and call [`services::Tailor`] and [`serving::Runtime`].
//!
//! A map, in the order data flows:
//!
//! - **Data enters** as CSV through import jobs ([`data::csv`] rules, [`services`]' import: a new
//!   sealed Avro version per import, [`data::avro`], plus the interactions' serving snapshot,
//!   [`data::snapshot`]), and as PutEvents / PutItems / PutUsers ([`serving`]: the event log and
//!   put records, visible to the next request). Compaction (`Tailor::compact`) turns the latter
//!   into new dataset versions, so training sees them and a cold start replays only the log's
//!   tail.
//! - **A recipe lives** in [`recipes`]: one module per recipe with its hyperparameters, fit,
//!   update, scores and artifact sections, one registry line each.
//! - **An answer is computed** in [`engine`], the one answer path: a typed [`engine::Query`]
//!   (history, candidates, compiled filter, promotion, exploration) through named stages, batch
//!   first ([`engine::recommend_batch`]). [`serving`] only resolves the campaign, the group's
//!   history and the filters ([`filters`]: parsed once; item attributes indexed once per
//!   campaign, [`filters::ItemIndex`]; evaluated to item sets), then calls it;
//!   the CLI, benchmarks and the offline [`evaluation`] call it too.
//! - **AWS starts** outside this crate: `functions/aws` implements the [`store`] ports on S3,
//!   DynamoDB and KMS, `functions/http` is the HTTP door, and each Lambda is a thin main. Every
//!   adapter passes the same conformance suites ([`store`]'s `conformance`).

pub mod api;
pub mod crypto;
pub mod data;
pub mod domain;
pub mod engine;
pub mod error;
pub mod evaluation;
pub mod filters;
pub mod recipes;
pub mod sample;
pub mod schema;
pub mod services;
pub mod serving;
pub mod store;

pub use error::{Error, ErrorKind, Result};
pub use services::{Stores, Tailor};

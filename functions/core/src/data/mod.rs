//! Datasets held columnar: dense u32 codes for ids and event types, typed columns for the rest.
//!
//! `csv` turns a Personalize CSV into a [`Table`] (row-level errors, nothing partial);
//! `avro` persists a table as an Avro object container file written with the dataset's schema;
//! `summary` describes a table for `tailor describe`.

pub mod attrs;
pub mod avro;
pub mod csv;
mod ids;
pub mod snapshot;
pub mod summary;
mod table;

pub use ids::IdDict;
pub use table::{Table, Values};

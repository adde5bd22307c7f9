//! tailor's core: Amazon Personalize's resources, data rules, recipes and services, with no
//! dependency on AWS or HTTP. The doors (the `tailor` CLI, the local server, the Lambdas) build
//! adapters for the [`store`] ports and call [`services::Tailor`].

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

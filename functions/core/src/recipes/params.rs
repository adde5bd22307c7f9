//! Hyperparameters arrive as strings, as Personalize takes them; each recipe reads its own,
//! with ranges checked and unknown names refused.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::error::{Error, Result};

/// `algorithmHyperParameters` and `featureTransformationParameters`, merged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hyperparameters(pub BTreeMap<String, String>);

impl Hyperparameters {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }

    /// Fails on any name not in `known`, listing the known ones.
    pub fn only(&self, recipe: &str, known: &[&str]) -> Result<()> {
        if let Some(bad) = self.0.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(Error::InvalidInput(format!(
                "unknown hyperparameter '{bad}' for {recipe}; known: {}",
                known.join(", ")
            )));
        }
        Ok(())
    }

    /// A number within `[min, max]`, or `default` when absent.
    pub fn number<T>(&self, key: &str, default: T, min: T, max: T) -> Result<T>
    where
        T: FromStr + PartialOrd + Copy + std::fmt::Display,
    {
        let Some(raw) = self.0.get(key) else {
            return Ok(default);
        };
        let v: T = raw.trim().parse().map_err(|_| {
            Error::InvalidInput(format!("hyperparameter {key}='{raw}' is not a number"))
        })?;
        // Written so a NaN fails too.
        if !(v >= min && v <= max) {
            return Err(Error::InvalidInput(format!(
                "hyperparameter {key}={raw} is out of range [{min}, {max}]"
            )));
        }
        Ok(v)
    }

    pub fn boolean(&self, key: &str, default: bool) -> Result<bool> {
        match self.0.get(key).map(|s| s.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(s) if s == "true" => Ok(true),
            Some(s) if s == "false" => Ok(false),
            Some(s) => Err(Error::InvalidInput(format!(
                "hyperparameter {key}='{s}' must be true or false"
            ))),
        }
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

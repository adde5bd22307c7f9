//! A deployment's configuration, read from the environment the SAM template gives every
//! function (and that `tailor --aws` reads too), so both name the same resources and ARNs.

use std::time::Duration;

use tailor_core::domain::ArnBuilder;
use tailor_core::Tailor;

use crate::{ResourceNames, Stores};

/// The variables that name a deployment's resources.
pub const BUCKET_VAR: &str = "TAILOR_BUCKET";
pub const META_TABLE_VAR: &str = "TAILOR_META_TABLE";
pub const EVENTS_TABLE_VAR: &str = "TAILOR_EVENTS_TABLE";
pub const KMS_KEY_VAR: &str = "TAILOR_KMS_KEY_ID";
pub const ACCOUNT_VAR: &str = "TAILOR_ACCOUNT_ID";
pub const REFRESH_VAR: &str = "TAILOR_CAMPAIGN_REFRESH_SECONDS";
/// Quotas changed from Personalize's defaults, `name=N,...` (services::quotas).
pub const QUOTAS_VAR: &str = "TAILOR_QUOTAS";

/// How often a warm function compares a campaign with its stored record, by default.
pub const DEFAULT_CAMPAIGN_REFRESH: Duration = Duration::from_secs(30);

/// Where a deployment keeps its data, and how its ARNs read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub names: ResourceNames,
    pub region: String,
    pub account_id: String,
    pub quotas: tailor_core::services::quotas::Quotas,
}

impl Deployment {
    /// Reads the deployment from environment variables; the error names every missing one.
    pub fn from_env() -> Result<Deployment, String> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the deployment through `var` (the environment, or a map in tests).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Deployment, String> {
        let mut missing = Vec::new();
        let mut get = |k: &'static str| match var(k).filter(|v| !v.trim().is_empty()) {
            Some(v) => v,
            None => {
                missing.push(k);
                String::new()
            }
        };
        let names = ResourceNames {
            bucket: get(BUCKET_VAR),
            meta_table: get(META_TABLE_VAR),
            events_table: get(EVENTS_TABLE_VAR),
            kms_key_id: get(KMS_KEY_VAR),
        };
        let account_id = get(ACCOUNT_VAR);
        if !missing.is_empty() {
            return Err(format!(
                "missing configuration: set {} (the SAM template sets them for every function)",
                missing.join(", ")
            ));
        }
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        let quotas = var(QUOTAS_VAR)
            .unwrap_or_default()
            .parse()
            .map_err(|e| format!("{QUOTAS_VAR}: {e}"))?;
        Ok(Deployment {
            names,
            region,
            account_id,
            quotas,
        })
    }

    /// The product's services over this deployment's S3 bucket, tables and key.
    pub async fn tailor(&self) -> Tailor {
        let config = crate::sdk_config_from_env().await;
        let stores = Stores::from_config(&config, &self.names);
        Tailor::new(stores, ArnBuilder::new(&self.region, &self.account_id))
            .with_quotas(self.quotas.clone())
            .with_sources(std::sync::Arc::new(
                crate::S3DataSources::new(&config).with_kms_key(&self.names.kms_key_id),
            ))
    }
}

/// `TAILOR_CAMPAIGN_REFRESH_SECONDS`, or the default when unset or not a number.
pub fn campaign_refresh_from_env() -> Duration {
    std::env::var(REFRESH_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_CAMPAIGN_REFRESH)
}

/// An S3 notification's object key as stored: notifications URL-encode keys, with `+` for
/// spaces.
pub fn decode_s3_event_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn reads_every_variable_and_names_the_missing_ones() {
        let mut env: HashMap<&str, &str> = [
            (BUCKET_VAR, "b"),
            (META_TABLE_VAR, "m"),
            (EVENTS_TABLE_VAR, "e"),
            (KMS_KEY_VAR, "k"),
            (ACCOUNT_VAR, "123456789012"),
            ("AWS_REGION", "eu-west-1"),
        ]
        .into();
        let d = Deployment::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(d.names.bucket, "b");
        assert_eq!(d.region, "eu-west-1");
        assert_eq!(d.account_id, "123456789012");
        env.remove(BUCKET_VAR);
        env.insert(KMS_KEY_VAR, " ");
        let e = Deployment::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap_err();
        assert!(e.contains(BUCKET_VAR) && e.contains(KMS_KEY_VAR), "{e}");
        assert!(!e.contains(META_TABLE_VAR), "{e}");
    }

    #[test]
    fn decodes_notification_keys() {
        assert_eq!(
            decode_s3_event_key("imports/my+group/ITEMS/a%2Bb%C3%A9.csv"),
            "imports/my group/ITEMS/a+bé.csv"
        );
    }
}

//! CloudWatch embedded metric format (EMF): one JSON line per request that CloudWatch Logs turns
//! into metrics, with the names Personalize publishes under `AWS/Personalize`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

/// The namespace our metrics go to.
pub const NAMESPACE: &str = "Tailor";

/// The `Service` dimension: the deployment's name (the SAM template sets it to the stack name,
/// so two stacks in one account keep apart on its dashboards), "tailor" if unset.
pub fn service() -> &'static str {
    static SERVICE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SERVICE.get_or_init(|| {
        std::env::var("TAILOR_METRICS_SERVICE")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "tailor".into())
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    GetRecommendations,
    GetPersonalizedRanking,
    PutEvents,
    PutItems,
    PutUsers,
}

impl Operation {
    /// Personalize's metric names: requests, 4xx errors, 5xx errors, latency.
    pub fn metric_names(self) -> [&'static str; 4] {
        match self {
            Operation::GetRecommendations => [
                "GetRecommendations",
                "GetRecommendations4xxErrors",
                "GetRecommendations5xxErrors",
                "GetRecommendationsLatency",
            ],
            Operation::GetPersonalizedRanking => [
                "GetPersonalizedRankingRequests",
                "GetPersonalizedRanking4xxErrors",
                "GetPersonalizedRanking5xxErrors",
                "GetPersonalizedRankingLatency",
            ],
            Operation::PutEvents => [
                "PutEventsRequests",
                "PutEvents4xxErrors",
                "PutEvents5xxErrors",
                "PutEventLatency",
            ],
            Operation::PutItems => [
                "PutItemsRequests",
                "PutItems4xxErrors",
                "PutItems5xxErrors",
                "PutItemsLatency",
            ],
            Operation::PutUsers => [
                "PutUsersRequests",
                "PutUsers4xxErrors",
                "PutUsers5xxErrors",
                "PutUsersLatency",
            ],
        }
    }

    /// The EMF record of one request.
    pub fn emf_line(self, status: u16, latency: Duration) -> String {
        let [requests, e4, e5, lat] = self.metric_names();
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let count = |hit: bool| if hit { 1 } else { 0 };
        json!({
            "_aws": {
                "Timestamp": ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Service"]],
                    "Metrics": [
                        {"Name": requests, "Unit": "Count"},
                        {"Name": e4, "Unit": "Count"},
                        {"Name": e5, "Unit": "Count"},
                        {"Name": lat, "Unit": "Milliseconds"},
                    ],
                }],
            },
            "Service": service(),
            requests: 1,
            e4: count((400..500).contains(&status)),
            e5: count(status >= 500),
            lat: latency.as_secs_f64() * 1000.0,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_declare_and_carry_every_metric() {
        let line = Operation::PutEvents.emf_line(400, Duration::from_micros(2500));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let declared = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], NAMESPACE);
        for name in Operation::PutEvents.metric_names() {
            assert!(
                declared["Metrics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["Name"] == name),
                "{name} not declared"
            );
            assert!(v.get(name).is_some(), "{name} has no value");
        }
        assert_eq!(v["PutEventsRequests"], 1);
        assert_eq!(v["PutEvents4xxErrors"], 1);
        assert_eq!(v["PutEvents5xxErrors"], 0);
        assert_eq!(v["PutEventLatency"], 2.5);
        assert_eq!(v["Service"], service());
    }

    #[test]
    fn server_errors_count_as_5xx_only() {
        let line = Operation::GetRecommendations.emf_line(500, Duration::ZERO);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["GetRecommendations4xxErrors"], 0);
        assert_eq!(v["GetRecommendations5xxErrors"], 1);
    }

    /// Every metric of the `Tailor` namespace the SAM template's dashboard and alarms read is one
    /// the functions emit: a renamed metric cannot leave a widget or an alarm silently empty.
    #[test]
    fn the_dashboard_and_alarms_read_metrics_that_are_emitted() {
        let template = include_str!("../../../infra/template.yaml");
        let emitted: Vec<&str> = [
            Operation::GetRecommendations,
            Operation::GetPersonalizedRanking,
            Operation::PutEvents,
            Operation::PutItems,
            Operation::PutUsers,
        ]
        .iter()
        .flat_map(|op| op.metric_names())
        .collect();
        // Dashboard widgets: ["Tailor", "<metric>", "Service", ...]; alarms: MetricName: <metric>
        // under Namespace: Tailor.
        let mut read = Vec::new();
        for part in template.split("[\"Tailor\", \"").skip(1) {
            read.push(part.split('"').next().unwrap_or_default());
        }
        for block in template.split("Namespace: Tailor").skip(1) {
            if let Some(rest) = block.split("MetricName: ").nth(1) {
                read.push(rest.split_whitespace().next().unwrap_or_default());
            }
        }
        assert!(read.len() >= 10, "the template reads only {read:?}");
        for name in read {
            assert!(emitted.contains(&name), "{name} is not emitted");
        }
    }
}

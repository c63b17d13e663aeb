//! Healthchecks on the wire: `Config.Healthcheck` of a create body and of inspect, and
//! `State.Health` of inspect.

use super::create::Unmodelled;
use crate::null_as_default as nd;
use serde::{Deserialize, Serialize};

/// `Config.Healthcheck` (`--health-*`, `--no-healthcheck`, compose's `healthcheck:`):
/// durations in nanoseconds, 0 for "the image's or Docker's default".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthcheckConfig {
    /// `[]` inherit the image's, `["NONE"]` none, `["CMD", args..]`, `["CMD-SHELL", cmd]`.
    pub test: Option<Vec<String>>,
    #[serde(deserialize_with = "nd")]
    pub interval: i64,
    #[serde(deserialize_with = "nd")]
    pub timeout: i64,
    #[serde(deserialize_with = "nd")]
    pub start_period: i64,
    #[serde(deserialize_with = "nd")]
    pub retries: i64,
    /// Fields berth does not run (`StartInterval`), kept so the daemon can refuse a set one.
    #[serde(flatten)]
    pub unmodelled: Unmodelled,
}

/// `State.Health`: a running container's health.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: u32,
    /// The last probes, oldest first.
    pub log: Vec<HealthcheckResult>,
}

/// One probe of `State.Health.Log`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthcheckResult {
    /// RFC 3339 with nanoseconds.
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_cli_healthcheck_decodes_and_keeps_what_berth_does_not_run() {
        let h: HealthcheckConfig = serde_json::from_value(json!({"Test": ["CMD-SHELL", "true"],
            "Interval": 1_000_000_000i64, "Timeout": null, "Retries": 2, "StartInterval": 5}))
        .unwrap();
        assert_eq!(h.interval, 1_000_000_000);
        assert_eq!(h.timeout, 0);
        assert_eq!(h.unmodelled["StartInterval"], 5);
        let v = serde_json::to_value(HealthcheckConfig::default()).unwrap();
        assert_eq!(
            v,
            json!({"Test": null, "Interval": 0, "Timeout": 0, "StartPeriod": 0, "Retries": 0})
        );
    }
}

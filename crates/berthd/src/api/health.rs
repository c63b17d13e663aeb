//! Healthchecks between the wire and the engine: `Config.Healthcheck` of a create body in,
//! `Config.Healthcheck` and `State.Health` of inspect out.

use super::ApiError;
use crate::engine::health::{Health, HealthConfig};
use berth_api::container as wire;
use chrono::SecondsFormat;

/// Config.Healthcheck (`--health-*`, `--no-healthcheck`, compose's `healthcheck:`) as the
/// engine runs it, checked as Docker checks it. Fields berth does not run are refused by
/// the run options' check of what is unmodelled.
pub fn parse(h: &wire::HealthcheckConfig) -> Result<HealthConfig, ApiError> {
    let h = HealthConfig {
        test: h.test.clone().unwrap_or_default(),
        interval_ns: h.interval,
        timeout_ns: h.timeout,
        start_period_ns: h.start_period,
        retries: h.retries,
    };
    h.validate()?;
    Ok(h)
}

/// Config.Healthcheck as Docker shows it.
pub fn config(h: &HealthConfig) -> wire::HealthcheckConfig {
    wire::HealthcheckConfig {
        test: Some(h.test.clone()),
        interval: h.interval_ns,
        timeout: h.timeout_ns,
        start_period: h.start_period_ns,
        retries: h.retries,
        unmodelled: Default::default(),
    }
}

/// State.Health.
pub fn state(h: &Health) -> wire::Health {
    let time = |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    wire::Health {
        status: h.status.as_str().to_string(),
        failing_streak: h.failing_streak,
        log: h
            .log
            .iter()
            .map(|p| wire::HealthcheckResult {
                start: time(&p.start),
                end: time(&p.end),
                exit_code: p.exit_code,
                output: p.output.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(v: serde_json::Value) -> wire::HealthcheckConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn cli_body_and_refusals() {
        let h = parse(&decode(json!({"Test": ["CMD-SHELL", "true"],
            "Interval": 1_000_000_000i64, "Retries": 2, "StartInterval": 0})))
        .unwrap();
        assert_eq!(h.interval_ns, 1_000_000_000);
        assert_eq!(h.retries, 2);
        assert_eq!(config(&h).interval, 1_000_000_000);
        assert!(parse(&decode(json!({"Test": ["CMD", "x"], "Retries": -1}))).is_err());
        assert!(parse(&decode(json!({"Test": ["CMD"]}))).is_err());
    }
}

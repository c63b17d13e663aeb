//! Healthchecks on the wire: Config.Healthcheck of a create body, and `State.Health` and
//! `Config.Healthcheck` of inspect.

use super::ApiError;
use crate::engine::health::{Health, HealthConfig};
use chrono::SecondsFormat;
use serde_json::{json, Value};

fn nanos(v: &Value, what: &str) -> Result<i64, ApiError> {
    match v {
        Value::Null => Ok(0),
        Value::Number(n) => n.as_i64().ok_or_else(|| {
            ApiError::bad_request(format!("Healthcheck.{what}: expected nanoseconds, got {n}"))
        }),
        other => Err(ApiError::bad_request(format!(
            "Healthcheck.{what}: expected nanoseconds, got {other}"
        ))),
    }
}

/// Config.Healthcheck (`--health-*`, `--no-healthcheck`, compose's `healthcheck:`); fields
/// berth does not run (StartInterval) are refused unless unset.
pub fn parse(v: &Value) -> Result<Option<HealthConfig>, ApiError> {
    let Some(obj) = v.as_object() else {
        return match v {
            Value::Null => Ok(None),
            other => Err(ApiError::bad_request(format!(
                "Config.Healthcheck: expected an object, got {other}"
            ))),
        };
    };
    for (k, val) in obj {
        let known = matches!(
            k.as_str(),
            "Test" | "Interval" | "Timeout" | "StartPeriod" | "Retries"
        );
        if !(known || val.is_null() || val.as_i64() == Some(0)) {
            return Err(ApiError::bad_request(format!(
                "Config.Healthcheck.{k} is not supported by berth (got {val}); leave it unset"
            )));
        }
    }
    let test = match &v["Test"] {
        Value::Null => vec![],
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Config.Healthcheck.Test: expected strings, got {x}"
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(ApiError::bad_request(format!(
                "Config.Healthcheck.Test: expected a list, got {other}"
            )))
        }
    };
    let h = HealthConfig {
        test,
        interval_ns: nanos(&v["Interval"], "Interval")?,
        timeout_ns: nanos(&v["Timeout"], "Timeout")?,
        start_period_ns: nanos(&v["StartPeriod"], "StartPeriod")?,
        retries: nanos(&v["Retries"], "Retries")?,
    };
    h.validate()?;
    Ok(Some(h))
}

/// Config.Healthcheck as Docker shows it.
pub fn config_json(h: Option<&HealthConfig>) -> Value {
    match h {
        None => Value::Null,
        Some(h) => json!({
            "Test": h.test, "Interval": h.interval_ns, "Timeout": h.timeout_ns,
            "StartPeriod": h.start_period_ns, "Retries": h.retries,
        }),
    }
}

/// State.Health.
pub fn state_json(h: &Health) -> Value {
    let log: Vec<Value> = h
        .log
        .iter()
        .map(|p| {
            json!({
                "Start": p.start.to_rfc3339_opts(SecondsFormat::Nanos, true),
                "End": p.end.to_rfc3339_opts(SecondsFormat::Nanos, true),
                "ExitCode": p.exit_code,
                "Output": p.output,
            })
        })
        .collect();
    json!({"Status": h.status.as_str(), "FailingStreak": h.failing_streak, "Log": log})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_body_and_refusals() {
        let h = parse(
            &json!({"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000i64,
            "Retries": 2, "StartInterval": 0}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.interval_ns, 1_000_000_000);
        assert_eq!(h.retries, 2);
        assert!(parse(&Value::Null).unwrap().is_none());
        assert!(parse(&json!({"Test": ["CMD"], "StartInterval": 5})).is_err());
        assert!(parse(&json!({"Test": ["CMD", "x"], "Retries": -1})).is_err());
    }
}

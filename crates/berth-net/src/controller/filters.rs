//! Docker's filters of `network ls` and `network prune`.

use super::Filters;
use crate::error::{NetError, NetResult};
use crate::network::Network;
use chrono::{DateTime, Utc};

fn bad(msg: impl Into<String>) -> NetError {
    NetError::InvalidParameter(msg.into())
}

pub(super) fn check_filter_keys(filters: &Filters, allowed: &[&str]) -> NetResult<()> {
    for key in filters.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(bad(format!(
                "invalid filter '{key}'; allowed filters: {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

fn label_matches(n: &Network, spec: &str) -> bool {
    match spec.split_once('=') {
        Some((k, v)) => n.labels.get(k).is_some_and(|have| have == v),
        None => n.labels.contains_key(spec),
    }
}

pub(super) fn label_filters_match(n: &Network, filters: &Filters) -> bool {
    filters
        .get("label")
        .is_none_or(|want| want.iter().all(|l| label_matches(n, l)))
        && filters
            .get("label!")
            .is_none_or(|deny| !deny.iter().any(|l| label_matches(n, l)))
}

pub(super) fn matches_filters(n: &Network, filters: &Filters, in_use: bool) -> NetResult<bool> {
    let any = |key: &str, pred: &dyn Fn(&str) -> bool| -> bool {
        filters
            .get(key)
            .is_none_or(|vals| vals.is_empty() || vals.iter().any(|v| pred(v)))
    };
    if let Some(types) = filters.get("type") {
        for t in types {
            if t != "custom" && t != "builtin" {
                return Err(bad(format!(
                    "invalid filter: 'type'='{t}'; allowed types are custom and builtin"
                )));
            }
        }
    }
    if let Some(d) = filters.get("dangling") {
        for v in d {
            if !matches!(v.as_str(), "true" | "false" | "1" | "0") {
                return Err(bad(format!(
                    "invalid filter 'dangling={v}': expected true or false"
                )));
            }
        }
    }
    Ok(any("driver", &|v| n.driver.name() == v)
        && any("id", &|v| n.id.starts_with(v))
        && any("name", &|v| n.name.contains(v))
        && any("scope", &|v| n.scope == v)
        && any("type", &|v| (v == "builtin") == n.predefined)
        // Docker's dangling: user-defined and without endpoints.
        && any("dangling", &|v| matches!(v, "true" | "1") == (!n.predefined && !in_use))
        && label_filters_match(n, filters))
}

/// Docker's `until` filter: a duration back from now (`24h`, `90m`), a Unix time, or RFC 3339.
pub(super) fn parse_until(text: &str) -> NetResult<DateTime<Utc>> {
    let err = || {
        bad(format!(
            "invalid until filter '{text}': expected a duration (10m, 24h), a Unix timestamp or an RFC 3339 time"
        ))
    };
    if let Some((num, unit)) = text
        .char_indices()
        .last()
        .map(|(i, c)| (&text[..i], c))
        .filter(|(_, c)| matches!(c, 's' | 'm' | 'h'))
    {
        if let Ok(n) = num.parse::<i64>() {
            let secs = match unit {
                's' => n,
                'm' => n * 60,
                _ => n * 3600,
            };
            return Ok(Utc::now() - chrono::Duration::seconds(secs));
        }
    }
    if let Ok(secs) = text.parse::<i64>() {
        return DateTime::from_timestamp(secs, 0).ok_or_else(err);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| err())
}

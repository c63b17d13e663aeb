//! The options of `GET /containers/{id}/logs`, as Docker's: which streams, `follow`, `tail`
//! (records, newest last), `since`/`until` (a Unix time with a fraction, as the docker CLI
//! sends them; a duration or an RFC 3339 time are taken too) and `timestamps`.

use super::ApiError;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    /// The last N records; None for all.
    pub tail: Option<usize>,
    /// Records read at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Records read at or before this; following ends once it has passed.
    pub until: Option<DateTime<Utc>>,
    /// Each line prefixed with its time (RFC 3339, nine fraction digits) and a space.
    pub timestamps: bool,
}

pub fn parse(q: &HashMap<String, String>) -> Result<LogOptions, ApiError> {
    let on = |k: &str| matches!(q.get(k).map(String::as_str), Some("1" | "true" | "True"));
    let mut opts = LogOptions {
        stdout: on("stdout"),
        stderr: on("stderr"),
        follow: on("follow"),
        timestamps: on("timestamps"),
        ..LogOptions::default()
    };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let now = Utc::now();
    let time = |key: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        match q.get(key).map(String::as_str) {
            None | Some("" | "0") => Ok(None),
            Some(v) => berth_api::timestamp::parse(v, now)
                .map(Some)
                .map_err(|e| ApiError::bad_request(format!("{key}: {e}"))),
        }
    };
    opts.since = time("since")?;
    opts.until = time("until")?;
    opts.tail = match q.get("tail").map(String::as_str) {
        None | Some("" | "all") => None,
        Some(t) => match t.parse::<i64>() {
            Ok(n) if n < 0 => None,
            Ok(n) => Some(n as usize),
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "invalid tail {t:?}: expected a number of lines or \"all\""
                )))
            }
        },
    };
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_refusals() {
        let q = |pairs: &[(&str, &str)]| {
            let mut m: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            m.insert("stdout".into(), "1".into());
            m
        };
        assert_eq!(parse(&q(&[("tail", "all")])).unwrap().tail, None);
        assert_eq!(parse(&q(&[("tail", "3")])).unwrap().tail, Some(3));
        assert!(parse(&q(&[("tail", "x")])).is_err());
        assert!(parse(&q(&[("timestamps", "1")])).unwrap().timestamps);
        assert!(!parse(&q(&[("timestamps", "0")])).unwrap().timestamps);
        let since = parse(&q(&[("since", "1700000000.5")])).unwrap().since;
        assert_eq!(since, DateTime::from_timestamp(1_700_000_000, 500_000_000));
        assert_eq!(parse(&q(&[("until", "0")])).unwrap().until, None);
        let e = parse(&q(&[("until", "soon")])).unwrap_err();
        assert!(e.message.contains("until") && e.message.contains("soon"));
        let none = HashMap::from([("tail".to_string(), "1".to_string())]);
        assert!(parse(&none)
            .unwrap_err()
            .message
            .contains("at least one stream"));
    }
}

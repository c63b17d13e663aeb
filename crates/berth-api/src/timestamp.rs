//! Times as Docker's `--since`/`--until` take them: a duration back from now (`10m`, `1h30m`,
//! `1.5h`, Go's syntax), a Unix time with an optional fraction (`1700000000.5`), or an RFC 3339
//! time (a zone-less one is local time, as Docker's). The CLI sends the API a Unix time.

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// The time `value` names, `now` being the reference for durations; the error names the value.
pub fn parse(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let v = value.trim();
    let bad = || {
        format!(
            "invalid time {value:?}: expected a duration (10m, 1h30m), a Unix timestamp (1700000000.5) or an RFC 3339 time (2006-01-02T15:04:05Z)"
        )
    };
    if v.is_empty() {
        return Err(bad());
    }
    if let Some(d) = go_duration(v) {
        return Ok(now - d);
    }
    if let Some(t) = unix(v) {
        return Ok(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(v, f) {
            return local(n).ok_or_else(bad);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return local(d.and_hms_opt(0, 0, 0).ok_or_else(bad)?).ok_or_else(bad);
    }
    Err(bad())
}

/// A time as the API's `since`/`until` carry it: Unix seconds and nanoseconds.
pub fn to_unix(t: DateTime<Utc>) -> String {
    format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos())
}

/// `value` as the API's Unix time, durations counted back from now (what the CLI sends).
pub fn unix_from_now(value: &str) -> Result<String, String> {
    parse(value, Utc::now()).map(to_unix)
}

/// Docker's RFC 3339 with nine fraction digits, as `logs -t` prints it.
pub fn rfc3339_nano(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

fn local(n: NaiveDateTime) -> Option<DateTime<Utc>> {
    Local
        .from_local_datetime(&n)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// `SECONDS[.FRACTION]`, negative seconds refused.
fn unix(v: &str) -> Option<DateTime<Utc>> {
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    DateTime::from_timestamp(secs.parse().ok()?, nanos)
}

/// Go's `time.ParseDuration`: one or more `NUMBER UNIT` (ns, us, µs, ms, s, m, h), with an
/// optional sign and decimal fractions. A bare number is not a duration (it is a Unix time).
fn go_duration(v: &str) -> Option<chrono::Duration> {
    let (neg, mut rest) = match v.as_bytes().first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let ns_per = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += num * ns_per;
    }
    if !total.is_finite() || total > i64::MAX as f64 {
        return None;
    }
    let d = chrono::Duration::nanoseconds(total as i64);
    Some(if neg { -d } else { d })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_unix_times_and_rfc3339() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let at = |v: &str| parse(v, now).map(to_unix);
        assert_eq!(at("10m").as_deref(), Ok("1699999400.000000000"));
        assert_eq!(at("1h30m").as_deref(), Ok("1699994600.000000000"));
        assert_eq!(at("1.5s").as_deref(), Ok("1699999998.500000000"));
        assert_eq!(at("1699999999.25").as_deref(), Ok("1699999999.250000000"));
        assert_eq!(at("1699999999").as_deref(), Ok("1699999999.000000000"));
        assert_eq!(
            at("2023-11-14T22:13:20.5Z").as_deref(),
            Ok("1700000000.500000000")
        );
        assert_eq!(
            at("2023-11-14T23:13:20+01:00").as_deref(),
            Ok("1700000000.000000000")
        );
        for bad in ["", "10x", "yesterday", "-5", "1.2.3", "2023-13-01"] {
            assert!(parse(bad, now).is_err(), "{bad} was accepted");
        }
        assert!(parse("yesterday", now)
            .unwrap_err()
            .contains("\"yesterday\""));
    }

    #[test]
    fn docker_prints_nine_fraction_digits() {
        let t = DateTime::from_timestamp(1_700_000_000, 5_000).expect("time");
        assert_eq!(rfc3339_nano(t), "2023-11-14T22:13:20.000005000Z");
    }
}

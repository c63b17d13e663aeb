//! The options of `GET /containers/{id}/logs`: `tail` is honoured; `timestamps`, `since` and
//! `until` need a time for each line, which berth's logs do not keep (the container writes its
//! stdout and stderr files itself), so they are refused rather than ignored.

use super::ApiError;
use std::collections::HashMap;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// The last N lines of each stream; None for all.
    pub tail: Option<usize>,
}

pub fn parse(q: &HashMap<String, String>) -> Result<LogOptions, ApiError> {
    let on = |k: &str| matches!(q.get(k).map(String::as_str), Some("1" | "true" | "True"));
    if on("timestamps") {
        return Err(ApiError::bad_request(
            "timestamps are not supported by berth: its logs keep no time per line (leave out -t/--timestamps)",
        ));
    }
    for key in ["since", "until"] {
        if let Some(v) = q.get(key).filter(|v| !v.is_empty() && v.as_str() != "0") {
            return Err(ApiError::bad_request(format!(
                "{key} {v} is not supported by berth: its logs keep no time per line (leave out --{key})"
            )));
        }
    }
    let tail = match q.get("tail").map(String::as_str) {
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
    Ok(LogOptions { tail })
}

/// The byte offset where the last `n` lines of `data` begin (a final line without its newline
/// counts as a line).
pub fn tail_start(data: &[u8], n: usize) -> usize {
    if n == 0 {
        return data.len();
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_and_refusals() {
        let d = b"a\nb\nc\n";
        assert_eq!(&d[tail_start(d, 2)..], b"b\nc\n");
        assert_eq!(&d[tail_start(d, 5)..], d);
        assert_eq!(tail_start(d, 0), d.len());
        assert_eq!(&b"a\nb"[tail_start(b"a\nb", 1)..], b"b");
        let q = |k: &str, v: &str| HashMap::from([(k.to_string(), v.to_string())]);
        assert_eq!(parse(&q("tail", "all")).unwrap().tail, None);
        assert_eq!(parse(&q("tail", "3")).unwrap().tail, Some(3));
        assert!(parse(&q("tail", "x")).is_err());
        assert!(parse(&q("timestamps", "1")).is_err());
        assert!(parse(&q("timestamps", "0")).is_ok());
        assert!(parse(&q("since", "1700000000")).is_err());
        assert!(parse(&q("until", "0")).is_ok());
    }
}

//! Docker's `filters` query, parsed once for `/containers/json` and `/images/json`: the keys each
//! list allows, and the matching rules Docker applies (regular expressions for names and IDs,
//! `key` / `key=value` labels, port ranges, globs for image references).

use super::ApiError;
use berth_net::firewall::Proto;
use chrono::{DateTime, Utc};
use regex::Regex;
use std::collections::{BTreeMap, HashMap};

/// The keys `/containers/json` accepts, as Docker's.
pub const CONTAINER_KEYS: &[&str] = &[
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

/// The keys `/images/json` accepts, as Docker's.
pub const IMAGE_KEYS: &[&str] = &["before", "dangling", "label", "reference", "since", "until"];

const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];
const HEALTH: &[&str] = &["starting", "healthy", "unhealthy", "none"];

/// A parsed `filters` query: values per key, with the regular expressions of `name` and `id`
/// compiled once.
#[derive(Debug, Default)]
pub struct Filters {
    values: BTreeMap<String, Vec<String>>,
    regexes: BTreeMap<String, Vec<Regex>>,
}

impl Filters {
    /// Parses `filters` from a query (either of Docker's JSON shapes); a key outside `allowed`
    /// is a 400 naming it.
    pub fn from_query(q: &HashMap<String, String>, allowed: &[&str]) -> Result<Self, ApiError> {
        let values = match q.get("filters") {
            Some(raw) => berth_api::network::parse_filters(raw).map_err(ApiError::bad_request)?,
            None => BTreeMap::new(),
        };
        Self::new(values, allowed)
    }

    pub fn new(values: BTreeMap<String, Vec<String>>, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut regexes = BTreeMap::new();
        for (key, vals) in &values {
            if !allowed.contains(&key.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "invalid filter '{key}'; allowed filters: {}",
                    allowed.join(", ")
                )));
            }
            if key == "name" || key == "id" {
                let compiled = vals
                    .iter()
                    .map(|v| {
                        Regex::new(v).map_err(|e| {
                            ApiError::bad_request(format!("invalid filter '{key}={v}': {e}"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                regexes.insert(key.clone(), compiled);
            }
        }
        let f = Filters { values, regexes };
        f.check_enum("status", STATUSES)?;
        f.check_enum("health", HEALTH)?;
        for v in f.get("exited") {
            v.parse::<i32>().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid filter 'exited={v}': expected an exit code"
                ))
            })?;
        }
        for key in ["dangling", "is-task"] {
            for v in f.get(key) {
                parse_bool(key, v)?;
            }
        }
        for v in f.get("until") {
            parse_time("until", v)?;
        }
        for key in ["publish", "expose"] {
            for v in f.get(key) {
                PortRange::parse(key, v)?;
            }
        }
        Ok(f)
    }

    fn check_enum(&self, key: &str, allowed: &[&str]) -> Result<(), ApiError> {
        for v in self.get(key) {
            if !allowed.contains(&v.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "invalid filter '{key}={v}'; allowed values: {}",
                    allowed.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The values of a key (empty when it is absent).
    pub fn get(&self, key: &str) -> &[String] {
        self.values.get(key).map(Vec::as_slice).unwrap_or_default()
    }

    pub fn has(&self, key: &str) -> bool {
        self.values.get(key).is_some_and(|v| !v.is_empty())
    }

    /// True when the key is absent or any of its values satisfies `pred`.
    pub fn any(&self, key: &str, pred: impl Fn(&str) -> bool) -> bool {
        !self.has(key) || self.get(key).iter().any(|v| pred(v))
    }

    /// Docker's `Match`: any of the key's regular expressions finds any of `texts`.
    pub fn regex(&self, key: &str, texts: &[&str]) -> bool {
        match self.regexes.get(key) {
            Some(rs) if !rs.is_empty() => rs.iter().any(|r| texts.iter().any(|t| r.is_match(t))),
            _ => true,
        }
    }

    /// `label=key` and `label=key=value`: every one must hold.
    pub fn labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.get("label")
            .iter()
            .all(|spec| label_holds(spec, labels))
    }

    /// `label!=key[=value]` (prune's): whether any one holds, sparing what carries it.
    pub fn labels_denied(&self, labels: &BTreeMap<String, String>) -> bool {
        self.get("label!")
            .iter()
            .any(|spec| label_holds(spec, labels))
    }

    /// A boolean filter's value (validated when parsed); None when absent.
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).first().and_then(|v| parse_bool(key, v).ok())
    }

    /// Any `publish`/`expose` value covers one of `ports`.
    pub fn ports(&self, key: &str, ports: &[(u16, Proto)]) -> bool {
        self.any(key, |v| {
            PortRange::parse(key, v)
                .map(|r| ports.iter().any(|p| r.covers(*p)))
                .unwrap_or(false)
        })
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" | "1" | "True" => Ok(true),
        "false" | "0" | "False" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "invalid filter '{key}={v}': expected true or false"
        ))),
    }
}

/// `80`, `80/udp`, `8000-8080/tcp`: a port range of one protocol (tcp unless named).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PortRange {
    first: u16,
    last: u16,
    proto: Proto,
}

impl PortRange {
    fn parse(key: &str, v: &str) -> Result<Self, ApiError> {
        let err = || {
            ApiError::bad_request(format!(
                "invalid filter '{key}={v}': expected PORT[/PROTO] or START-END[/PROTO]"
            ))
        };
        let (ports, proto) = v.split_once('/').unwrap_or((v, "tcp"));
        let proto = match proto {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            _ => return Err(err()),
        };
        let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
        let first: u16 = a.parse().map_err(|_| err())?;
        let last: u16 = b.parse().map_err(|_| err())?;
        if first == 0 || last < first {
            return Err(err());
        }
        Ok(PortRange { first, last, proto })
    }

    fn covers(&self, (port, proto): (u16, Proto)) -> bool {
        proto == self.proto && (self.first..=self.last).contains(&port)
    }
}

/// A time in a filter: a duration back from now (`90s`, `10m`, `24h`), a Unix time, or RFC 3339.
pub fn parse_time(key: &str, v: &str) -> Result<DateTime<Utc>, ApiError> {
    let err = || {
        ApiError::bad_request(format!(
            "invalid filter '{key}={v}': expected a duration (10m, 24h), a Unix timestamp or an RFC 3339 time"
        ))
    };
    for (unit, secs) in [('s', 1), ('m', 60), ('h', 3600)] {
        if let Some(n) = v.strip_suffix(unit).and_then(|n| n.parse::<i64>().ok()) {
            return Ok(Utc::now() - chrono::Duration::seconds(n * secs));
        }
    }
    if let Ok(secs) = v.parse::<i64>() {
        return DateTime::from_timestamp(secs, 0).ok_or_else(err);
    }
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| err())
}

/// Docker's image `reference` filter: a glob (`*`, `?`, `[...]`, no crossing `/`) against the
/// whole `name:tag`, or against the name alone when the pattern has no tag.
pub fn reference_matches(pattern: &str, repo_tag: &str) -> bool {
    let Some(re) = glob_regex(pattern) else {
        return false;
    };
    if re.is_match(repo_tag) {
        return true;
    }
    let last = pattern.rsplit('/').next().unwrap_or(pattern);
    let name = match repo_tag.rsplit_once(':') {
        Some((n, tag)) if !tag.contains('/') => n,
        _ => repo_tag,
    };
    !last.contains(':') && re.is_match(name)
}

fn glob_regex(pattern: &str) -> Option<Regex> {
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                re.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    re.push('^');
                }
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    if c == '\\' || c == '[' {
                        re.push('\\');
                    }
                    re.push(c);
                }
                re.push(']');
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).ok()
}

/// `key` or `key=value` against a set of labels.
fn label_holds(spec: &str, labels: &BTreeMap<String, String>) -> bool {
    match spec.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(spec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(raw: &str, keys: &[&str]) -> Result<Filters, ApiError> {
        let q = HashMap::from([("filters".to_string(), raw.to_string())]);
        Filters::from_query(&q, keys)
    }

    #[test]
    fn unknown_key_is_named() {
        let e = f(r#"{"nosuch":{"x":true}}"#, CONTAINER_KEYS).unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(
            e.message.contains("invalid filter 'nosuch'"),
            "{}",
            e.message
        );
    }

    #[test]
    fn both_json_shapes_and_regex_names() {
        let a = f(r#"{"name":{"^web$":true}}"#, CONTAINER_KEYS).unwrap();
        assert!(a.regex("name", &["web"]));
        assert!(!a.regex("name", &["web2"]));
        let b = f(r#"{"name":["we"]}"#, CONTAINER_KEYS).unwrap();
        assert!(b.regex("name", &["web2"]));
        assert!(f(r#"{"name":["("]}"#, CONTAINER_KEYS).is_err());
    }

    #[test]
    fn values_are_checked() {
        assert!(f(r#"{"status":["sleeping"]}"#, CONTAINER_KEYS).is_err());
        assert!(f(r#"{"exited":["x"]}"#, CONTAINER_KEYS).is_err());
        assert!(f(r#"{"publish":["80/sctp"]}"#, CONTAINER_KEYS).is_err());
        assert!(f(r#"{"dangling":["maybe"]}"#, IMAGE_KEYS).is_err());
        assert!(f(r#"{"status":["running"]}"#, IMAGE_KEYS).is_err());
    }

    #[test]
    fn labels_and_ports() {
        let a = f(
            r#"{"label":["a","b=2"],"publish":["8000-8080"]}"#,
            CONTAINER_KEYS,
        )
        .unwrap();
        let mut l = BTreeMap::from([("a".to_string(), "1".to_string())]);
        assert!(!a.labels(&l));
        l.insert("b".into(), "2".into());
        assert!(a.labels(&l));
        assert!(a.ports("publish", &[(8080, Proto::Tcp)]));
        assert!(!a.ports("publish", &[(8080, Proto::Udp)]));
        assert!(!a.ports("publish", &[(80, Proto::Tcp)]));
        assert!(a.ports("expose", &[]), "an absent key matches everything");
    }

    #[test]
    fn reference_globs() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(reference_matches("busybox:lat*", "busybox:latest"));
        assert!(!reference_matches("busybox:1", "busybox:latest"));
        assert!(!reference_matches("*", "lib/busybox:latest"));
        assert!(reference_matches("*/*", "lib/busybox:latest"));
        assert!(reference_matches("localhost:5000/x", "localhost:5000/x:v1"));
    }
}

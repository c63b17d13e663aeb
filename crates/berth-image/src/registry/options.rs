//! daemon.json's `insecure-registries` and `registry-mirrors`, as dockerd reads them.

use ipnet::IpNet;
use std::net::IpAddr;

/// Where berth may pull from and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryOptions {
    /// Registries reached over HTTPS without verifying the certificate, or over plain HTTP.
    /// Loopback addresses are insecure whatever this says, as in Docker.
    pub insecure: Vec<Insecure>,
    /// Used for Docker Hub names only, in order.
    pub mirrors: Vec<Mirror>,
}

/// One `insecure-registries` entry: a CIDR (the registry's address is in it) or `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Insecure {
    Net(IpNet),
    Host(String),
}

impl Insecure {
    /// Parses an entry; the error names it and what is allowed.
    pub fn parse(s: &str) -> Result<Insecure, String> {
        if s.contains("://") {
            return Err(format!(
                "insecure registry {s} should not contain '://': give HOST[:PORT] or a CIDR"
            ));
        }
        if s.contains('/') {
            return s.parse().map(Insecure::Net).map_err(|_| {
                format!("insecure registry {s} is not a CIDR: give HOST[:PORT] or a CIDR")
            });
        }
        if s.is_empty() || s.chars().any(|c| c.is_whitespace()) {
            return Err(format!(
                "insecure registry {s:?} is not valid: give HOST[:PORT] or a CIDR"
            ));
        }
        Ok(Insecure::Host(s.to_string()))
    }

    pub fn text(&self) -> String {
        match self {
            Insecure::Net(n) => n.to_string(),
            Insecure::Host(h) => h.clone(),
        }
    }
}

/// One `registry-mirrors` entry: `http[s]://HOST[:PORT][/]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// `HOST[:PORT]`.
    pub host: String,
    /// The URL said `http://`.
    pub http: bool,
}

impl Mirror {
    pub fn parse(s: &str) -> Result<Mirror, String> {
        let bad = |why: &str| format!("invalid mirror {s:?}: {why}");
        let (http, rest) = if let Some(r) = s.strip_prefix("https://") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (true, r)
        } else {
            return Err(bad("expected an http:// or https:// URL"));
        };
        let host = rest.strip_suffix('/').unwrap_or(rest);
        if host.is_empty()
            || host.contains(['/', '?', '#', '@'])
            || host.contains(char::is_whitespace)
        {
            return Err(bad(
                "expected http[s]://HOST[:PORT] with no path, query or user",
            ));
        }
        Ok(Mirror {
            host: host.to_string(),
            http,
        })
    }

    pub fn url(&self) -> String {
        format!(
            "{}://{}/",
            if self.http { "http" } else { "https" },
            self.host
        )
    }
}

/// The CIDRs Docker treats as insecure by default.
pub fn default_insecure_nets() -> Vec<IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

impl RegistryOptions {
    /// Whether `registry` (`host[:port]`) is insecure given the addresses it has.
    pub fn is_insecure(&self, registry: &str, addrs: &[IpAddr]) -> bool {
        let host = host_of(registry);
        let nets: Vec<IpNet> = default_insecure_nets()
            .into_iter()
            .chain(self.insecure.iter().filter_map(|i| match i {
                Insecure::Net(n) => Some(*n),
                Insecure::Host(_) => None,
            }))
            .collect();
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        host == "localhost"
            || self
                .insecure
                .iter()
                .any(|i| matches!(i, Insecure::Host(h) if h == registry))
            || literal
                .iter()
                .chain(addrs)
                .any(|a| nets.iter().any(|n| n.contains(a)))
    }

    /// Whether an address lookup could change [`is_insecure`]'s answer for `registry`.
    pub fn needs_lookup(&self, registry: &str) -> bool {
        let host = host_of(registry);
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_err()
            && host != "localhost"
            && self.insecure.iter().any(|i| matches!(i, Insecure::Net(_)))
    }
}

/// `host` of `host[:port]` (brackets kept for IPv6).
fn host_of(registry: &str) -> &str {
    match registry.rsplit_once(':') {
        Some((h, p))
            if p.bytes().all(|b| b.is_ascii_digit()) && (!h.contains(':') || h.ends_with(']')) =>
        {
            h
        }
        _ => registry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_as_dockerd_reads_them() {
        assert_eq!(
            Insecure::parse("10.0.0.0/8").unwrap(),
            Insecure::Net("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            Insecure::parse("reg.local:5000").unwrap(),
            Insecure::Host("reg.local:5000".into())
        );
        assert!(Insecure::parse("http://reg:5000")
            .unwrap_err()
            .contains("://"));
        assert!(Insecure::parse("10.0.0.0/99").is_err());
        assert_eq!(
            Mirror::parse("http://127.0.0.1:5001/").unwrap(),
            Mirror {
                host: "127.0.0.1:5001".into(),
                http: true
            }
        );
        assert!(Mirror::parse("127.0.0.1:5001").is_err());
        assert!(Mirror::parse("https://m.example/path").is_err());
    }

    #[test]
    fn loopback_is_insecure_by_default_and_others_only_when_listed() {
        let none = RegistryOptions::default();
        assert!(none.is_insecure("127.0.0.1:5000", &[]));
        assert!(none.is_insecure("localhost:5000", &[]));
        assert!(none.is_insecure("[::1]:5000", &[]));
        assert!(!none.is_insecure("10.1.2.3:5000", &[]));
        assert!(!none.is_insecure("reg.example", &[]));
        let some = RegistryOptions {
            insecure: vec![
                Insecure::parse("10.0.0.0/8").unwrap(),
                Insecure::parse("reg.example:5000").unwrap(),
            ],
            mirrors: vec![],
        };
        assert!(some.is_insecure("10.1.2.3:5000", &[]));
        assert!(some.is_insecure("reg.example:5000", &[]));
        assert!(!some.is_insecure("reg.example:6000", &[]));
        assert!(some.is_insecure("other.example", &["10.9.9.9".parse().unwrap()]));
        assert!(some.needs_lookup("other.example"));
        assert!(!some.needs_lookup("10.1.2.3:5000"));
    }
}

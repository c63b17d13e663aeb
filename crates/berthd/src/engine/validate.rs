//! Create-time checks of the values that end up in the container's /etc files or in kernel
//! calls: each refuses with a message naming the value (quoted, so a newline shows as `\n`)
//! and what is allowed, before anything exists. Pure functions, so each is unit-tested alone.

use super::{ContainerSpec, EngineError, Result};
use berth_net::endpoint::parse_mac;
use std::net::IpAddr;

/// Longest container name: a name resolves in DNS and is written to /etc/hosts.
pub const MAX_NAME: usize = 253;

fn bad(msg: String) -> EngineError {
    EngineError::BadRequest(msg)
}

/// Every checked value of a create request.
pub fn spec(s: &ContainerSpec) -> Result<()> {
    let name = s.name.strip_prefix('/').unwrap_or(&s.name);
    if !name.is_empty() {
        container_name(name)?;
    }
    if !s.hostname.is_empty() {
        hostname("hostname", &s.hostname)?;
    }
    if !s.domainname.is_empty() {
        hostname("domainname", &s.domainname)?;
    }
    for h in &s.extra_hosts {
        extra_host(h)?;
    }
    for d in &s.dns_search {
        dns_search(d)?;
    }
    for o in &s.dns_options {
        dns_option(o)?;
    }
    for e in &s.env {
        env(e)?;
    }
    if !s.mac_address.is_empty() {
        mac(&s.mac_address)?;
    }
    for (_, req) in &s.networks {
        if let Some(m) = &req.mac {
            mac(m)?;
        }
    }
    working_dir(&s.working_dir)
}

/// Docker's name grammar `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most `MAX_NAME` characters.
pub fn container_name(name: &str) -> Result<()> {
    let mut c = name.chars();
    let grammar = matches!(c.next(), Some(x) if x.is_ascii_alphanumeric())
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '_' | '.' | '-'));
    if !grammar {
        return Err(bad(format!(
            "Invalid container name ({name:?}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    if name.len() > MAX_NAME {
        return Err(bad(format!(
            "Invalid container name ({}...): {} characters, at most {MAX_NAME} are allowed",
            &name[..32],
            name.len()
        )));
    }
    Ok(())
}

/// RFC 1123 host names: dot-separated labels of letters, digits and inner dashes, at most 63
/// characters each and 253 in all. `what` names the field in the message.
pub fn hostname(what: &str, h: &str) -> Result<()> {
    let why = if h.len() > 253 {
        Some(format!("{} characters, at most 253 are allowed", h.len()))
    } else {
        h.split('.').find_map(label_fault)
    };
    match why {
        None => Ok(()),
        Some(why) => Err(bad(format!(
            "invalid {what} {}: {why} (RFC 1123: labels of letters, digits and inner dashes, at most 63 characters each)",
            shown(h)
        ))),
    }
}

fn label_fault(l: &str) -> Option<String> {
    if l.is_empty() {
        return Some("an empty label".into());
    }
    if l.len() > 63 {
        return Some(format!("a label of {} characters", l.len()));
    }
    if let Some(c) = l.chars().find(|c| !c.is_ascii_alphanumeric() && *c != '-') {
        return Some(format!("the character {c:?} is not allowed"));
    }
    if l.starts_with('-') || l.ends_with('-') {
        return Some("a label starts or ends with a dash".into());
    }
    None
}

/// A long value is shown by its start only, so a message stays readable.
fn shown(v: &str) -> String {
    if v.chars().count() > 80 {
        format!("{:?}...", v.chars().take(64).collect::<String>())
    } else {
        format!("{v:?}")
    }
}

/// `--add-host NAME:ADDRESS`: a host name (letters, digits, `.`, `_`, `-`: no space, which
/// would add aliases, and no newline, which would add lines) and an IP or `host-gateway`.
pub fn extra_host(entry: &str) -> Result<()> {
    let fail = |why: &str| {
        Err(bad(format!(
            "invalid argument {} for \"--add-host\" flag: {why}",
            shown(entry)
        )))
    };
    let Some((name, addr)) = entry.split_once(':') else {
        return fail(&format!("bad format for add-host: {}", shown(entry)));
    };
    if name.is_empty()
        || name.len() > 253
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return fail("the name must be letters, digits, '.', '_' or '-' (at most 253)");
    }
    let ip = addr.trim_start_matches('[').trim_end_matches(']');
    if addr != "host-gateway" && ip.parse::<IpAddr>().is_err() {
        return fail("the address must be an IP address or host-gateway");
    }
    Ok(())
}

/// `--dns-search`: a domain name, or `.` (no search domain).
pub fn dns_search(d: &str) -> Result<()> {
    if d == "." {
        return Ok(());
    }
    hostname("dns search domain", d.strip_suffix('.').unwrap_or(d))
}

/// `--dns-option`: resolv.conf's `name` or `name:value` (`ndots:3`, `rotate`, `edns0`).
pub fn dns_option(o: &str) -> Result<()> {
    let (name, value) = match o.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (o, None),
    };
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    let value_ok = match value {
        None => true,
        Some(v) => {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        }
    };
    if name_ok && value_ok && o.len() <= 255 {
        Ok(())
    } else {
        Err(bad(format!(
            "invalid dns option {}: expected NAME or NAME:VALUE of letters, digits, '-', '_' (and '.' in the value)",
            shown(o)
        )))
    }
}

/// `Env`: `NAME=VALUE` or `NAME`, never a NUL (the kernel's strings end there).
pub fn env(e: &str) -> Result<()> {
    if e.contains('\0') {
        return Err(bad(format!(
            "invalid environment variable {}: it contains a NUL character",
            shown(e)
        )));
    }
    if e.is_empty() || e.starts_with('=') {
        return Err(bad(format!(
            "invalid environment variable {}: the name is empty",
            shown(e)
        )));
    }
    Ok(())
}

/// A MAC address a container can have: unicast and not all zeros.
pub fn mac(m: &str) -> Result<()> {
    let Some(b) = parse_mac(m) else {
        return Err(bad(format!(
            "invalid MAC address: {}: expected six hex pairs like 02:42:ac:11:00:02",
            shown(m)
        )));
    };
    let why = if b == [0; 6] {
        "the all-zero address"
    } else if b == [0xff; 6] {
        "the broadcast address"
    } else if b[0] & 1 == 1 {
        "a multicast address (the lowest bit of the first octet is set)"
    } else {
        return Ok(());
    };
    Err(bad(format!(
        "invalid MAC address: {m}: {why} cannot be a container's address"
    )))
}

/// `WorkingDir`: empty (the image's) or an absolute path.
pub fn working_dir(w: &str) -> Result<()> {
    if w.contains('\0') {
        return Err(bad(format!(
            "the working directory {} is invalid: it contains a NUL character",
            shown(w)
        )));
    }
    if !w.is_empty() && !w.starts_with('/') {
        return Err(bad(format!(
            "the working directory {} is invalid, it needs to be an absolute path",
            shown(w)
        )));
    }
    Ok(())
}

/// This machine's platform as Docker names it (`linux/amd64`).
pub fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        a => a,
    };
    format!("linux/{arch}")
}

/// `--platform`: berth runs images for this machine only, so it may be empty, `linux` or
/// this machine's `linux/ARCH[/VARIANT]`. A 400, not Docker's 404: on a 404 the docker CLI
/// would try to pull.
pub fn platform(p: &str) -> Result<()> {
    let host = host_platform();
    let lower = p.to_ascii_lowercase();
    let arch_alias = lower.replace("x86_64", "amd64").replace("aarch64", "arm64");
    let fits = lower.is_empty()
        || lower == "linux"
        || arch_alias == host
        || arch_alias.starts_with(&format!("{host}/"));
    if fits {
        return Ok(());
    }
    Err(bad(format!(
        "image platform {} does not match this machine's {host}: berth runs images for {host} only (no emulation)",
        shown(p)
    )))
}

/// The create body's shape: the parts serde would otherwise take from a list (a struct
/// deserializes from a JSON array, field by field) must be objects.
pub fn create_body(v: &serde_json::Value) -> Result<()> {
    let Some(obj) = v.as_object() else {
        return Err(bad(format!(
            "invalid JSON in request body: expected an object, got {}",
            kind(v)
        )));
    };
    for key in ["HostConfig", "NetworkingConfig", "Labels", "ExposedPorts"] {
        match obj.get(key) {
            None | Some(serde_json::Value::Null) | Some(serde_json::Value::Object(_)) => {}
            Some(other) => {
                return Err(bad(format!(
                    "invalid {key} in request body: expected an object, got {}",
                    kind(other)
                )))
            }
        }
    }
    Ok(())
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Asserts a 400 whose message holds `needle` (shared by the engine's check tests).
    pub(crate) fn refused(r: Result<()>, needle: &str) {
        match r {
            Err(EngineError::BadRequest(m)) => assert!(m.contains(needle), "{m} lacks {needle}"),
            other => panic!("expected a refusal naming {needle}, got {other:?}"),
        }
    }

    #[test]
    fn names() {
        container_name("web-1.a_b").unwrap();
        container_name("a").unwrap();
        refused(container_name("-x"), "Invalid container name");
        refused(container_name("a b"), r#""a b""#);
        refused(container_name("x\ny"), r#"x\ny"#);
        refused(container_name(&"a".repeat(10_000)), "10000 characters");
        container_name(&"a".repeat(MAX_NAME)).unwrap();
    }

    #[test]
    fn hostnames() {
        hostname("hostname", "web").unwrap();
        hostname("hostname", "a-b.example.com").unwrap();
        hostname("hostname", &"a".repeat(63)).unwrap();
        refused(hostname("hostname", &"a".repeat(64)), "a label of 64");
        refused(
            hostname("hostname", &["a"; 127].join(".").repeat(2)),
            "at most 253",
        );
        refused(hostname("hostname", &"a".repeat(300)), "300 characters");
        refused(
            hostname("hostname", "evil\n1.2.3.4 x"),
            r#"evil\n1.2.3.4 x"#,
        );
        refused(hostname("hostname", "a\0b"), "not allowed");
        refused(hostname("hostname", "a b"), "' '");
        refused(hostname("hostname", "-a"), "dash");
        refused(hostname("hostname", "a..b"), "empty label");
        refused(hostname("domainname", "x\ny"), "invalid domainname");
    }

    #[test]
    fn extra_hosts() {
        extra_host("foo.example:10.1.2.3").unwrap();
        extra_host("h:host-gateway").unwrap();
        extra_host("v6:[::1]").unwrap();
        refused(extra_host("a b:10.0.0.1"), "--add-host");
        refused(extra_host("a\n10.0.0.9 evil:10.0.0.1"), r#"\n"#);
        refused(extra_host("a:10.0.0.1\nevil"), "IP address");
        refused(extra_host("a:"), "IP address");
        refused(extra_host(":10.0.0.1"), "the name");
        refused(extra_host("noaddr"), r#"bad format for add-host: "noaddr""#);
    }

    #[test]
    fn dns_values() {
        dns_search("corp.example").unwrap();
        dns_search("corp.example.").unwrap();
        dns_search(".").unwrap();
        refused(dns_search("a\nnameserver 1.2.3.4"), "dns search domain");
        refused(dns_search("a b"), "' '");
        dns_option("ndots:3").unwrap();
        dns_option("rotate").unwrap();
        dns_option("single-request-reopen").unwrap();
        dns_option("timeout:1.5").unwrap();
        refused(dns_option("ndots:3\nnameserver 1.2.3.4"), "dns option");
        refused(dns_option("a b"), "dns option");
        refused(dns_option(":3"), "dns option");
        refused(dns_option("ndots:"), "dns option");
    }

    #[test]
    fn env_macs_and_dirs() {
        env("A=b c\nd").unwrap();
        env("A").unwrap();
        refused(env("A=x\0y"), "NUL");
        refused(env("=x"), "name is empty");
        mac("02:42:ac:11:00:02").unwrap();
        refused(mac("ff:ff:ff:ff:ff:ff"), "broadcast");
        refused(mac("01:00:5e:00:00:01"), "multicast");
        refused(mac("00:00:00:00:00:00"), "all-zero");
        refused(mac("02:42:ac:11:00"), "six hex pairs");
        working_dir("").unwrap();
        working_dir("/srv").unwrap();
        refused(working_dir("srv"), "absolute path");
        refused(working_dir("/a\0b"), "NUL");
    }

    #[test]
    fn platforms() {
        platform("").unwrap();
        platform("linux").unwrap();
        platform(&host_platform()).unwrap();
        platform(&host_platform().to_uppercase()).unwrap();
        refused(platform("linux/s390x"), "linux/s390x");
        refused(platform("windows"), "does not match");
    }

    #[test]
    fn body_shapes() {
        create_body(&serde_json::json!({"Image": "x", "HostConfig": {}})).unwrap();
        create_body(&serde_json::json!({"Image": "x", "HostConfig": null})).unwrap();
        refused(
            create_body(&serde_json::json!({"Image": "x", "HostConfig": []})),
            "invalid HostConfig in request body: expected an object, got a list",
        );
        refused(
            create_body(&serde_json::json!({"NetworkingConfig": [1]})),
            "NetworkingConfig",
        );
        refused(create_body(&serde_json::json!([])), "got a list");
    }
}

//! `-p` and `--expose` as the docker CLI reads them, turned into the API's `PortBindings` and
//! `ExposedPorts` (the CLI expands ranges; the daemon sees one key per container port).

use std::collections::BTreeMap;

/// One `PortBindings` entry: container port key (`80/tcp`), host address, host port or range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub key: String,
    pub host_ip: String,
    pub host_port: String,
}

fn range(text: &str, what: &str) -> Result<(u16, u16), String> {
    let bad = || format!("Invalid {what}: {text}");
    let one = |t: &str| match t.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(bad()),
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if a > b {
                return Err(bad());
            }
            Ok((a, b))
        }
        None => one(text).map(|p| (p, p)),
    }
}

fn proto(text: &str) -> Result<&str, String> {
    match text {
        "" => Ok("tcp"),
        "tcp" | "udp" => Ok(text),
        other => Err(format!(
            "Invalid proto: {other} (berth publishes tcp and udp)"
        )),
    }
}

/// Parses one `-p` value: `[IP:][HOSTPORT[-END]:]CPORT[-END][/PROTO]`, IPv6 addresses in
/// brackets.
pub fn parse_publish(spec: &str) -> Result<Vec<Binding>, String> {
    let (body, pr) = spec.rsplit_once('/').unwrap_or((spec, ""));
    let pr = proto(pr)?;
    let (ip, rest) = if let Some(after) = body.strip_prefix('[') {
        let (ip, rest) = after
            .split_once("]:")
            .ok_or_else(|| format!("Invalid ip address: {spec}"))?;
        (ip.to_string(), rest)
    } else {
        match body.matches(':').count() {
            0 | 1 => (String::new(), body),
            2 => {
                let (ip, rest) = body.split_once(':').unwrap_or(("", body));
                (ip.to_string(), rest)
            }
            _ => {
                return Err(format!(
                "Invalid ip address: {spec} (write IPv6 host addresses in brackets, [::1]:8080:80)"
            ))
            }
        }
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("Invalid ip address: {ip}"));
    }
    let (host, container) = rest.split_once(':').unwrap_or(("", rest));
    let (c_lo, c_hi) = range(container, "containerPort")?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(range(host, "hostPort")?)
    };
    let key = |p: u16| format!("{p}/{pr}");
    let mut out = Vec::new();
    match host_range {
        None => {
            for p in c_lo..=c_hi {
                out.push(Binding {
                    key: key(p),
                    host_ip: ip.clone(),
                    host_port: String::new(),
                });
            }
        }
        Some((h_lo, h_hi)) if c_lo == c_hi => out.push(Binding {
            key: key(c_lo),
            host_ip: ip,
            host_port: if h_lo == h_hi {
                h_lo.to_string()
            } else {
                format!("{h_lo}-{h_hi}")
            },
        }),
        Some((h_lo, h_hi)) => {
            if h_hi - h_lo != c_hi - c_lo {
                return Err(format!(
                    "Invalid ranges specified for container and host Ports: {container} and {host}"
                ));
            }
            for (i, p) in (c_lo..=c_hi).enumerate() {
                out.push(Binding {
                    key: key(p),
                    host_ip: ip.clone(),
                    host_port: (h_lo + i as u16).to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// Parses one `--expose` value: `PORT[-END][/PROTO]`, as keys.
pub fn parse_expose(spec: &str) -> Result<Vec<String>, String> {
    let (ports, pr) = spec.rsplit_once('/').unwrap_or((spec, ""));
    let pr = proto(pr)?;
    let (lo, hi) = range(ports, "range format for --expose")?;
    Ok((lo..=hi).map(|p| format!("{p}/{pr}")).collect())
}

/// `PortBindings` and `ExposedPorts` for `-p` values and `--expose` values.
pub type PortMaps = (
    BTreeMap<String, Vec<serde_json::Value>>,
    BTreeMap<String, serde_json::Value>,
);

pub fn port_maps(publish: &[String], expose: &[String]) -> Result<PortMaps, String> {
    let mut bindings: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    let mut exposed = BTreeMap::new();
    for p in publish {
        for b in parse_publish(p)? {
            exposed.insert(b.key.clone(), serde_json::json!({}));
            bindings
                .entry(b.key)
                .or_default()
                .push(serde_json::json!({"HostIp": b.host_ip, "HostPort": b.host_port}));
        }
    }
    for e in expose {
        for k in parse_expose(e)? {
            exposed.insert(k, serde_json::json!({}));
        }
    }
    Ok((bindings, exposed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(key: &str, ip: &str, port: &str) -> Binding {
        Binding {
            key: key.into(),
            host_ip: ip.into(),
            host_port: port.into(),
        }
    }

    #[test]
    fn every_docker_form_parses() {
        assert_eq!(
            parse_publish("8080:80").unwrap(),
            vec![b("80/tcp", "", "8080")]
        );
        assert_eq!(
            parse_publish("127.0.0.1:8080:80/udp").unwrap(),
            vec![b("80/udp", "127.0.0.1", "8080")]
        );
        assert_eq!(
            parse_publish("127.0.0.1::80").unwrap(),
            vec![b("80/tcp", "127.0.0.1", "")]
        );
        assert_eq!(parse_publish("80").unwrap(), vec![b("80/tcp", "", "")]);
        assert_eq!(
            parse_publish("8090-8095:80").unwrap(),
            vec![b("80/tcp", "", "8090-8095")]
        );
        assert_eq!(
            parse_publish("9100-9101:9100-9101").unwrap(),
            vec![b("9100/tcp", "", "9100"), b("9101/tcp", "", "9101")]
        );
        assert_eq!(
            parse_publish("[::1]:8080:80").unwrap(),
            vec![b("80/tcp", "::1", "8080")]
        );
        assert_eq!(parse_publish("7000-7001").unwrap().len(), 2);
    }

    #[test]
    fn bad_forms_say_what_is_wrong() {
        for (spec, want) in [
            ("70000:80", "Invalid hostPort: 70000"),
            ("abc:80", "Invalid hostPort: abc"),
            (
                "8096-8097:80-82",
                "Invalid ranges specified for container and host Ports: 80-82 and 8096-8097",
            ),
            ("80/sctp", "Invalid proto: sctp"),
            ("1.2.3:80:80", "Invalid ip address: 1.2.3"),
            ("8080:x", "Invalid containerPort: x"),
        ] {
            assert_eq!(
                parse_publish(spec).unwrap_err().split(" (").next().unwrap(),
                want.split(" (").next().unwrap(),
                "{spec}"
            );
        }
        assert_eq!(parse_expose("7000-7002").unwrap().len(), 3);
        assert!(parse_expose("x").is_err());
    }
}

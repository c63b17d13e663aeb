//! The one port grammar, both ways: `-p` and `--expose` as the docker CLI reads them, turned
//! into the API's `PortBindings` and `ExposedPorts` (the CLI expands ranges; the daemon sees one
//! key per container port), and the pieces of those maps (`80/tcp`, `HostPort`, `HostIp`) as
//! the daemon checks them, with the same words for the same faults.

use crate::container::{Empty, PortBinding, PortBindings};
use std::collections::BTreeMap;
use std::net::IpAddr;

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

fn proto(text: &str) -> Result<&'static str, String> {
    match text {
        "" | "tcp" => Ok("tcp"),
        "udp" => Ok("udp"),
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
    if !ip.is_empty() {
        parse_host_ip(&ip)?;
    }
    let (host, container) = rest.split_once(':').unwrap_or(("", rest));
    let (c_lo, c_hi) = range(container, "containerPort")?;
    let host_range = parse_host_port(host)?;
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
pub type PortMaps = (PortBindings, BTreeMap<String, Empty>);

pub fn port_maps(publish: &[String], expose: &[String]) -> Result<PortMaps, String> {
    let mut bindings = PortBindings::new();
    let mut exposed = BTreeMap::new();
    for p in publish {
        for b in parse_publish(p)? {
            exposed.insert(b.key.clone(), Empty);
            bindings
                .entry(b.key)
                .or_default()
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: b.host_ip,
                    host_port: b.host_port,
                });
        }
    }
    for e in expose {
        for k in parse_expose(e)? {
            exposed.insert(k, Empty);
        }
    }
    Ok((bindings, exposed))
}

/// A `PortBindings` or `ExposedPorts` key, `80/tcp` (or `80`): the port and its protocol.
pub fn parse_key(key: &str) -> Result<(u16, &'static str), String> {
    let (port, pr) = key.split_once('/').unwrap_or((key, ""));
    let pr = proto(pr).map_err(|e| format!("{e}, in port {key}"))?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((p, pr)),
        _ => Err(format!(
            "Invalid containerPort: {port} (in {key}; a port is 1-65535)"
        )),
    }
}

/// A binding's `HostPort`: none (an ephemeral port), `N` or `LO-HI`.
pub fn parse_host_port(text: &str) -> Result<Option<(u16, u16)>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    range(text, "hostPort").map(Some)
}

/// A binding's `HostIp`: none (every address), or an address, IPv6 with or without brackets.
/// `0.0.0.0` is returned as it is: what "every IPv4 address" means is the daemon's to say.
pub fn parse_host_ip(text: &str) -> Result<Option<IpAddr>, String> {
    let t = text.trim_start_matches('[').trim_end_matches(']');
    if t.is_empty() {
        return Ok(None);
    }
    t.parse()
        .map(Some)
        .map_err(|_| format!("Invalid ip address: {text} (HostIp must be an IP address)"))
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

    #[test]
    fn what_the_cli_writes_the_daemon_reads_back() {
        let (bindings, exposed) = port_maps(
            &["127.0.0.1:8080:80".into(), "[::1]::53/udp".into()],
            &["9000".into()],
        )
        .unwrap();
        for key in exposed.keys() {
            parse_key(key).unwrap();
        }
        for (key, list) in &bindings {
            parse_key(key).unwrap();
            for b in list.iter().flatten() {
                parse_host_ip(&b.host_ip).unwrap();
                parse_host_port(&b.host_port).unwrap();
            }
        }
        assert_eq!(parse_key("53/udp").unwrap(), (53, "udp"));
        assert_eq!(parse_key("80").unwrap(), (80, "tcp"));
        assert!(parse_key("80/sctp")
            .unwrap_err()
            .starts_with("Invalid proto: sctp"));
        assert!(parse_key("0/tcp")
            .unwrap_err()
            .starts_with("Invalid containerPort: 0"));
        assert_eq!(parse_host_port("8090-8095").unwrap(), Some((8090, 8095)));
        assert!(parse_host_port("x")
            .unwrap_err()
            .starts_with("Invalid hostPort: x"));
        assert!(parse_host_port("9-8").is_err());
        assert_eq!(
            parse_host_ip("[::1]").unwrap(),
            Some("::1".parse().unwrap())
        );
        assert!(parse_host_ip("10.0.0").is_err());
    }
}

//! Published ports on the wire: `HostConfig.PortBindings`, `Config.ExposedPorts`,
//! `NetworkSettings.Ports` and the `Ports` of `GET /containers/json`, in Docker's shapes.

use super::error::ApiError;
use berth_net::firewall::Proto;
use berth_net::portmap::{PortRequest, Published};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;

fn proto_of(text: &str, key: &str) -> Result<Proto, ApiError> {
    match text {
        "" | "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        other => Err(ApiError::bad_request(format!(
            "invalid protocol \"{other}\" in port {key}: berth publishes tcp and udp"
        ))),
    }
}

/// `80/tcp` (or `80`) as a port and protocol.
pub fn parse_key(key: &str) -> Result<(u16, Proto), ApiError> {
    let (port, proto) = key.split_once('/').unwrap_or((key, ""));
    let proto = proto_of(proto, key)?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((p, proto)),
        _ => Err(ApiError::bad_request(format!(
            "Invalid containerPort: {port} (in {key}; a port is 1-65535)"
        ))),
    }
}

fn parse_host_port(text: &str) -> Result<Option<(u16, u16)>, ApiError> {
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || ApiError::bad_request(format!("Invalid hostPort: {text}"));
    let one = |t: &str| match t.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(bad()),
    };
    let (lo, hi) = match text.split_once('-') {
        Some((a, b)) => (one(a)?, one(b)?),
        None => {
            let p = one(text)?;
            (p, p)
        }
    };
    if lo > hi {
        return Err(bad());
    }
    Ok(Some((lo, hi)))
}

fn parse_host_ip(text: &str) -> Result<Option<IpAddr>, ApiError> {
    let t = text.trim_start_matches('[').trim_end_matches(']');
    if t.is_empty() {
        return Ok(None);
    }
    let ip: IpAddr = t.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "Invalid ip address: {text} (HostIp must be an IP address)"
        ))
    })?;
    // 0.0.0.0 is every IPv4 address; `::` every IPv6 one.
    Ok(Some(ip))
}

/// `HostConfig.PortBindings` as requests, in container port order.
pub fn parse_bindings(map: &BTreeMap<String, Value>) -> Result<Vec<PortRequest>, ApiError> {
    let mut out = Vec::new();
    for (key, list) in map {
        let (container_port, proto) = parse_key(key)?;
        let entries = match list {
            Value::Null => vec![],
            Value::Array(a) => a.clone(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "PortBindings[{key}] must be a list of {{HostIp, HostPort}}"
                )))
            }
        };
        let entries = if entries.is_empty() {
            vec![json!({})]
        } else {
            entries
        };
        for e in entries {
            let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let host_ip = parse_host_ip(&text("HostIp"))?;
            let host_ip = host_ip.filter(|ip| !(ip.is_ipv4() && ip.is_unspecified()));
            out.push(PortRequest {
                proto,
                container_port,
                host_ip,
                host_ports: parse_host_port(&text("HostPort"))?,
            });
        }
    }
    out.sort_by_key(|r| (r.container_port, r.proto));
    Ok(out)
}

/// `Config.ExposedPorts` keys.
pub fn parse_exposed(map: &BTreeMap<String, Value>) -> Result<Vec<(u16, Proto)>, ApiError> {
    map.keys().map(|k| parse_key(k)).collect()
}

fn key(port: u16, proto: Proto) -> String {
    format!("{port}/{}", proto.name())
}

/// `HostConfig.PortBindings` as the request gave them.
pub fn bindings_json(reqs: &[PortRequest]) -> Value {
    let mut m: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in reqs {
        let port = match r.host_ports {
            None => String::new(),
            Some((a, b)) if a == b => a.to_string(),
            Some((a, b)) => format!("{a}-{b}"),
        };
        m.entry(key(r.container_port, r.proto))
            .or_default()
            .push(json!({
                "HostIp": r.host_ip.map(|i| i.to_string()).unwrap_or_default(),
                "HostPort": port,
            }));
    }
    json!(m)
}

/// `Config.ExposedPorts`.
pub fn exposed_json(exposed: &[(u16, Proto)]) -> Value {
    let m: Map<String, Value> = exposed
        .iter()
        .map(|(p, pr)| (key(*p, *pr), json!({})))
        .collect();
    if m.is_empty() {
        Value::Null
    } else {
        Value::Object(m)
    }
}

/// `NetworkSettings.Ports`: every exposed port, with its host bindings or null.
pub fn ports_json(exposed: &[(u16, Proto)], published: &[Published]) -> Value {
    let mut m = Map::new();
    for (p, pr) in exposed {
        m.insert(key(*p, *pr), Value::Null);
    }
    for p in published {
        let entry = m
            .entry(key(p.container_port, p.proto))
            .or_insert_with(|| json!([]));
        if entry.is_null() {
            *entry = json!([]);
        }
        if let Value::Array(a) = entry {
            a.push(json!({"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()}));
        }
    }
    Value::Object(m)
}

/// The `Ports` list of `GET /containers/json`.
pub fn summary_json(exposed: &[(u16, Proto)], published: &[Published]) -> Value {
    let mut v: Vec<Value> = published
        .iter()
        .map(|p| {
            json!({"IP": p.host_ip.to_string(), "PrivatePort": p.container_port,
                   "PublicPort": p.host_port, "Type": p.proto.name()})
        })
        .collect();
    for (port, proto) in exposed {
        if !published
            .iter()
            .any(|p| p.container_port == *port && p.proto == *proto)
        {
            v.push(json!({"PrivatePort": port, "Type": proto.name()}));
        }
    }
    Value::Array(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_parse_docker_forms_and_refuse_bad_ones() {
        let map: BTreeMap<String, Value> = serde_json::from_str(
            r#"{"80/tcp":[{"HostIp":"","HostPort":"8080"}],"53/udp":[{"HostIp":"127.0.0.1","HostPort":""}],
                "81":[{"HostIp":"0.0.0.0","HostPort":"8090-8095"}],"82/tcp":null}"#,
        )
        .expect("json");
        let r = parse_bindings(&map).expect("valid");
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].container_port, 53);
        assert_eq!(r[0].proto, Proto::Udp);
        assert_eq!(r[0].host_ip, Some([127, 0, 0, 1].into()));
        assert_eq!(r[0].host_ports, None);
        assert_eq!(r[1].host_ports, Some((8080, 8080)));
        assert_eq!(r[2].host_ports, Some((8090, 8095)));
        assert_eq!(r[2].host_ip, None, "0.0.0.0 means every address");
        assert_eq!(r[3].host_ports, None);
        for (bad, want) in [
            (
                r#"{"80/tcp":[{"HostPort":"70000"}]}"#,
                "Invalid hostPort: 70000",
            ),
            (
                r#"{"80/tcp":[{"HostPort":"abc"}]}"#,
                "Invalid hostPort: abc",
            ),
            (
                r#"{"x/tcp":[{"HostPort":"1"}]}"#,
                "Invalid containerPort: x",
            ),
            (r#"{"80/sctp":[]}"#, "invalid protocol \"sctp\""),
            (
                r#"{"80/tcp":[{"HostIp":"1.2.3","HostPort":"1"}]}"#,
                "Invalid ip address: 1.2.3",
            ),
        ] {
            let map: BTreeMap<String, Value> = serde_json::from_str(bad).expect("json");
            let e = parse_bindings(&map).expect_err(bad);
            assert!(e.message.contains(want), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn ports_json_lists_exposed_ports_as_null_and_bindings_as_docker() {
        let published = vec![Published {
            proto: Proto::Tcp,
            container_port: 80,
            host_ip: [0, 0, 0, 0].into(),
            host_port: 8080,
        }];
        let v = ports_json(&[(80, Proto::Tcp), (53, Proto::Udp)], &published);
        assert_eq!(
            v,
            json!({"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],"53/udp":null})
        );
    }
}

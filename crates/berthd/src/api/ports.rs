//! Published ports on the wire: `HostConfig.PortBindings`, `Config.ExposedPorts`,
//! `NetworkSettings.Ports` and the `Ports` of `GET /containers/json`, in Docker's shapes.

use super::error::ApiError;
use berth_api::container::{Empty, PortBinding, PortBindings, PortMap, SummaryPort};
use berth_net::firewall::Proto;
use berth_net::portmap::{PortRequest, Published};
use std::collections::BTreeMap;

/// `80/tcp` (or `80`) as a port and protocol, in the grammar the CLI writes.
pub fn parse_key(key: &str) -> Result<(u16, Proto), ApiError> {
    let (port, proto) = berth_api::ports::parse_key(key).map_err(ApiError::bad_request)?;
    let proto = if proto == "udp" {
        Proto::Udp
    } else {
        Proto::Tcp
    };
    Ok((port, proto))
}

/// `HostConfig.PortBindings` as requests, in container port order.
pub fn parse_bindings(map: &PortBindings) -> Result<Vec<PortRequest>, ApiError> {
    use berth_api::ports::{parse_host_ip, parse_host_port};
    let mut out = Vec::new();
    for (key, list) in map {
        let (container_port, proto) = parse_key(key)?;
        // No binding, or an empty list: one on an ephemeral port of every address.
        let entries = match list.as_deref() {
            None | Some([]) => &[PortBinding::default()][..],
            Some(l) => l,
        };
        for e in entries {
            let host_ip = parse_host_ip(&e.host_ip).map_err(ApiError::bad_request)?;
            // 0.0.0.0 is every IPv4 address; `::` every IPv6 one.
            let host_ip = host_ip.filter(|ip| !(ip.is_ipv4() && ip.is_unspecified()));
            out.push(PortRequest {
                proto,
                container_port,
                host_ip,
                host_ports: parse_host_port(&e.host_port).map_err(ApiError::bad_request)?,
            });
        }
    }
    out.sort_by_key(|r| (r.container_port, r.proto));
    Ok(out)
}

/// `Config.ExposedPorts` keys.
pub fn parse_exposed(map: &BTreeMap<String, Empty>) -> Result<Vec<(u16, Proto)>, ApiError> {
    map.keys().map(|k| parse_key(k)).collect()
}

fn key(port: u16, proto: Proto) -> String {
    format!("{port}/{}", proto.name())
}

/// `HostConfig.PortBindings` as the request gave them.
pub fn bindings(reqs: &[PortRequest]) -> PortBindings {
    let mut m = PortBindings::new();
    for r in reqs {
        let port = match r.host_ports {
            None => String::new(),
            Some((a, b)) if a == b => a.to_string(),
            Some((a, b)) => format!("{a}-{b}"),
        };
        m.entry(key(r.container_port, r.proto))
            .or_default()
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: r.host_ip.map(|i| i.to_string()).unwrap_or_default(),
                host_port: port,
            });
    }
    m
}

/// `Config.ExposedPorts` (absent when there are none, as Docker's).
pub fn exposed_map(exposed: &[(u16, Proto)]) -> Option<BTreeMap<String, Empty>> {
    let m: BTreeMap<String, Empty> = exposed
        .iter()
        .map(|(p, pr)| (key(*p, *pr), Empty))
        .collect();
    (!m.is_empty()).then_some(m)
}

/// `NetworkSettings.Ports`: every exposed port, with its host bindings or null.
pub fn port_map(exposed: &[(u16, Proto)], published: &[Published]) -> PortMap {
    let mut m = PortMap::new();
    for (p, pr) in exposed {
        m.insert(key(*p, *pr), None);
    }
    for p in published {
        m.entry(key(p.container_port, p.proto))
            .or_default()
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: p.host_ip.to_string(),
                host_port: p.host_port.to_string(),
            });
    }
    m
}

/// The `Ports` list of `GET /containers/json`.
pub fn summary_ports(exposed: &[(u16, Proto)], published: &[Published]) -> Vec<SummaryPort> {
    let mut v: Vec<SummaryPort> = published
        .iter()
        .map(|p| SummaryPort {
            ip: Some(p.host_ip.to_string()),
            private_port: p.container_port,
            public_port: Some(p.host_port),
            r#type: p.proto.name().into(),
        })
        .collect();
    for (port, proto) in exposed {
        if !published
            .iter()
            .any(|p| p.container_port == *port && p.proto == *proto)
        {
            v.push(SummaryPort {
                ip: None,
                private_port: *port,
                public_port: None,
                r#type: proto.name().into(),
            });
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_parse_docker_forms_and_refuse_bad_ones() {
        let map: PortBindings = serde_json::from_str(
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
            (r#"{"80/sctp":[]}"#, "Invalid proto: sctp"),
            (
                r#"{"80/tcp":[{"HostIp":"1.2.3","HostPort":"1"}]}"#,
                "Invalid ip address: 1.2.3",
            ),
        ] {
            let map: PortBindings = serde_json::from_str(bad).expect("json");
            let e = parse_bindings(&map).expect_err(bad);
            assert!(e.message.contains(want), "{bad}: {}", e.message);
        }
    }

    use serde_json::json;

    #[test]
    fn ports_json_lists_exposed_ports_as_null_and_bindings_as_docker() {
        let published = vec![Published {
            proto: Proto::Tcp,
            container_port: 80,
            host_ip: [0, 0, 0, 0].into(),
            host_port: 8080,
        }];
        let v = serde_json::to_value(port_map(&[(80, Proto::Tcp), (53, Proto::Udp)], &published))
            .expect("json");
        assert_eq!(
            v,
            json!({"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],"53/udp":null})
        );
    }
}

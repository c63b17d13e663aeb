//! Legacy `--link` environment: what a linking container learns about its target, in the
//! variables Docker sets (`ALIAS_NAME`, `ALIAS_PORT*` for every exposed port, `ALIAS_ENV_*`).

use super::{Container, Engine};
use berth_net::firewall::Proto;
use std::net::IpAddr;

/// A running container that another links to, with what the link tells about it.
pub struct LinkTarget {
    pub container: super::Container,
    /// Its exposed ports, sorted.
    pub ports: Vec<(u16, Proto)>,
    /// Its environment, the image's then its own.
    pub env: Vec<String>,
}

/// What a container's links give it.
#[derive(Debug, Default)]
pub struct ResolvedLinks {
    /// /etc/hosts lines: the target's default-bridge address, then "alias shortid name"
    /// (Docker's order).
    pub hosts: Vec<(IpAddr, String)>,
    /// `ALIAS_NAME`, `ALIAS_PORT*`, `ALIAS_ENV_*`.
    pub env: Vec<String>,
    /// Each target's sandbox and exposed ports: what ICC isolation lets through.
    pub holes: Vec<(String, Vec<(u16, Proto)>)>,
}

impl Engine {
    /// Resolves `c`'s links to running `targets` (in `c.spec.links` order).
    pub(super) async fn resolve_links(
        &self,
        c: &Container,
        targets: &[LinkTarget],
    ) -> ResolvedLinks {
        let mut out = ResolvedLinks::default();
        for (lt, (_, alias)) in targets.iter().zip(&c.spec.links) {
            let t = &lt.container;
            let Some(sb) = &t.sandbox_id else { continue };
            let eps = self.ctl.sandbox_endpoints(sb).await;
            let Some(ip) = eps.iter().find_map(|e| e.ipv4.map(|a| a.addr())) else {
                continue;
            };
            let names = if alias == &t.name {
                format!("{} {}", t.name, t.hostname)
            } else {
                format!("{alias} {} {}", t.hostname, t.name)
            };
            out.hosts.push((ip, names));
            out.env
                .extend(link_env(&c.name, alias, ip, &lt.ports, &lt.env));
            if !lt.ports.is_empty() {
                out.holes.push((sb.clone(), lt.ports.clone()));
            }
        }
        out
    }
}

/// The variables for one link: `me` links to a container under `alias`, reachable at `ip`,
/// exposing `ports`, with environment `env`. As Docker: TCP ports come first, then the others,
/// each by number; `ALIAS_PORT` is the first of them; a run of consecutive ports of one
/// protocol also gets `_START`, `_PORT_START`, `_END` and `_PORT_END` under its first port.
pub fn link_env(
    me: &str,
    alias: &str,
    ip: IpAddr,
    ports: &[(u16, Proto)],
    env: &[String],
) -> Vec<String> {
    let var = alias.to_uppercase().replace(['-', '.'], "_");
    let mut ports = ports.to_vec();
    ports.sort_by_key(|&(port, proto)| (proto != Proto::Tcp, proto.name(), port));
    ports.dedup();
    let mut out = Vec::new();
    if let Some((port, proto)) = ports.first() {
        out.push(format!("{var}_PORT={}://{ip}:{port}", proto.name()));
    }
    let key =
        |port: u16, proto: Proto| format!("{var}_PORT_{port}_{}", proto.name().to_uppercase());
    let mut start = 0;
    while start < ports.len() {
        let (first, proto) = ports[start];
        let mut end = start;
        while ports
            .get(end + 1)
            .is_some_and(|&(n, p)| p == proto && u32::from(n) == u32::from(ports[end].0) + 1)
        {
            end += 1;
        }
        let p = proto.name();
        for &(port, _) in &ports[start..=end] {
            let k = key(port, proto);
            out.push(format!("{k}={p}://{ip}:{port}"));
            out.push(format!("{k}_ADDR={ip}"));
            out.push(format!("{k}_PORT={port}"));
            out.push(format!("{k}_PROTO={p}"));
        }
        if end > start {
            let last = ports[end].0;
            let k = key(first, proto);
            out.push(format!("{k}_START={p}://{ip}:{first}"));
            out.push(format!("{k}_PORT_START={first}"));
            out.push(format!("{k}_END={p}://{ip}:{last}"));
            out.push(format!("{k}_PORT_END={last}"));
        }
        start = end + 1;
    }
    out.push(format!("{var}_NAME=/{me}/{alias}"));
    for kv in env {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        // Docker leaves out what every image sets and says nothing about the target.
        if k == "HOME" || k == "PATH" {
            continue;
        }
        out.push(format!("{var}_ENV_{k}={v}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_name_and_environment_as_docker() {
        let ip: IpAddr = "172.17.0.2".parse().expect("ip");
        let env = link_env(
            "client",
            "web-db",
            ip,
            &[(53, Proto::Udp), (80, Proto::Tcp)],
            &["PATH=/bin".into(), "MODE=prod".into(), "junk".into()],
        );
        // TCP first, even where a UDP port is lower.
        assert_eq!(
            env,
            [
                "WEB_DB_PORT=tcp://172.17.0.2:80",
                "WEB_DB_PORT_80_TCP=tcp://172.17.0.2:80",
                "WEB_DB_PORT_80_TCP_ADDR=172.17.0.2",
                "WEB_DB_PORT_80_TCP_PORT=80",
                "WEB_DB_PORT_80_TCP_PROTO=tcp",
                "WEB_DB_PORT_53_UDP=udp://172.17.0.2:53",
                "WEB_DB_PORT_53_UDP_ADDR=172.17.0.2",
                "WEB_DB_PORT_53_UDP_PORT=53",
                "WEB_DB_PORT_53_UDP_PROTO=udp",
                "WEB_DB_NAME=/client/web-db",
                "WEB_DB_ENV_MODE=prod",
            ]
        );
    }

    #[test]
    fn consecutive_ports_of_one_protocol_get_range_variables() {
        let ip: IpAddr = "10.0.0.2".parse().expect("ip");
        let ports = [
            (8001, Proto::Tcp),
            (9000, Proto::Tcp),
            (8000, Proto::Tcp),
            (8002, Proto::Udp),
            (8002, Proto::Tcp),
            (8003, Proto::Udp),
        ];
        let env = link_env("c", "r", ip, &ports, &[]);
        let ranges: Vec<&str> = env
            .iter()
            .map(String::as_str)
            .filter(|v| v.contains("_START") || v.contains("_END"))
            .collect();
        assert_eq!(
            ranges,
            [
                "R_PORT_8000_TCP_START=tcp://10.0.0.2:8000",
                "R_PORT_8000_TCP_PORT_START=8000",
                "R_PORT_8000_TCP_END=tcp://10.0.0.2:8002",
                "R_PORT_8000_TCP_PORT_END=8002",
                "R_PORT_8002_UDP_START=udp://10.0.0.2:8002",
                "R_PORT_8002_UDP_PORT_START=8002",
                "R_PORT_8002_UDP_END=udp://10.0.0.2:8003",
                "R_PORT_8002_UDP_PORT_END=8003",
            ]
        );
        // The range's variables follow the last port of the range; 9000 stands alone.
        let at = |v: &str| env.iter().position(|e| e == v).expect(v);
        assert!(at("R_PORT_8002_TCP_PROTO=tcp") < at("R_PORT_8000_TCP_START=tcp://10.0.0.2:8000"));
        assert!(at("R_PORT_8000_TCP_PORT_END=8002") < at("R_PORT_9000_TCP=tcp://10.0.0.2:9000"));
        assert_eq!(env[0], "R_PORT=tcp://10.0.0.2:8000");
        assert_eq!(env.iter().filter(|v| v.ends_with("_PROTO=tcp")).count(), 4);
    }
}

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
/// exposing `ports` (sorted), with environment `env`.
pub fn link_env(
    me: &str,
    alias: &str,
    ip: IpAddr,
    ports: &[(u16, Proto)],
    env: &[String],
) -> Vec<String> {
    let var = alias.to_uppercase().replace(['-', '.'], "_");
    let mut out = Vec::new();
    // The default port is the lowest; on a tie tcp before udp (the sort order).
    if let Some((port, proto)) = ports.first() {
        out.push(format!("{var}_PORT={}://{ip}:{port}", proto.name()));
    }
    for (port, proto) in ports {
        let p = proto.name();
        let key = format!("{var}_PORT_{port}_{}", p.to_uppercase());
        out.push(format!("{key}={p}://{ip}:{port}"));
        out.push(format!("{key}_ADDR={ip}"));
        out.push(format!("{key}_PORT={port}"));
        out.push(format!("{key}_PROTO={p}"));
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
        assert_eq!(
            env,
            [
                "WEB_DB_PORT=udp://172.17.0.2:53",
                "WEB_DB_PORT_53_UDP=udp://172.17.0.2:53",
                "WEB_DB_PORT_53_UDP_ADDR=172.17.0.2",
                "WEB_DB_PORT_53_UDP_PORT=53",
                "WEB_DB_PORT_53_UDP_PROTO=udp",
                "WEB_DB_PORT_80_TCP=tcp://172.17.0.2:80",
                "WEB_DB_PORT_80_TCP_ADDR=172.17.0.2",
                "WEB_DB_PORT_80_TCP_PORT=80",
                "WEB_DB_PORT_80_TCP_PROTO=tcp",
                "WEB_DB_NAME=/client/web-db",
                "WEB_DB_ENV_MODE=prod",
            ]
        );
    }
}

//! Keeping the embedded resolver in step with endpoints: records change in the same step as the
//! endpoint, and a sandbox gets its resolver sockets with its first user-defined network.

use super::{Controller, EndpointState, SANDBOXES};
use crate::dns::{EndpointRecord, RESOLVER_ADDR};
use crate::endpoint::{Endpoint, Sandbox};
use crate::error::{NetError, NetResult};
use crate::network::Network;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// Whether a network has embedded DNS: user-defined ones only, as in Docker.
pub(super) fn has_dns(net: &Network) -> bool {
    !net.predefined
}

fn upstreams(servers: &[IpAddr]) -> Option<Vec<SocketAddr>> {
    (!servers.is_empty()).then(|| servers.iter().map(|ip| SocketAddr::new(*ip, 53)).collect())
}

impl Controller {
    /// The names of an endpoint: its container's name, aliases and short ID.
    fn record<'a>(ep: &'a Endpoint, net: &'a Network) -> EndpointRecord<'a> {
        let mut names = vec![ep.name.clone()];
        names.extend(ep.aliases.iter().cloned());
        if ep.owner.len() >= 12 {
            names.push(ep.owner[..12].to_string());
        }
        EndpointRecord {
            endpoint_id: &ep.id,
            sandbox_id: &ep.sandbox_id,
            network_id: &net.id,
            network_name: &net.name,
            internal: net.internal,
            names,
            v4: ep.ipv4.and_then(|a| match a.addr() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            }),
            v6: ep.ipv6.and_then(|a| match a.addr() {
                IpAddr::V6(v6) => Some(v6),
                IpAddr::V4(_) => None,
            }),
        }
    }

    /// Publishes an endpoint's names, starting the sandbox's resolver if it has none yet.
    /// Returns the resolver's ports when they differ from those the sandbox record holds.
    pub(super) fn dns_join(
        &self,
        sb: &Sandbox,
        ep: &Endpoint,
        net: &Network,
    ) -> NetResult<Option<[u16; 2]>> {
        self.dns_publish(sb, ep, net);
        self.dns_serve(sb, net).inspect_err(|_| self.dns_leave(ep))
    }

    /// Publishes an endpoint's names: peers resolve it from here on, while it is still being
    /// plumbed (a name that never works is taken back when the attach fails).
    pub(super) fn dns_publish(&self, sb: &Sandbox, ep: &Endpoint, net: &Network) {
        if has_dns(net) {
            self.dns.update(|r| {
                r.set_upstreams(&sb.id, upstreams(&sb.dns));
                r.add(Self::record(ep, net));
            });
        }
    }

    /// Starts the sandbox's own resolver once it is on a network with DNS; the ports when they
    /// are new (to be stored).
    pub(super) fn dns_serve(&self, sb: &Sandbox, net: &Network) -> NetResult<Option<[u16; 2]>> {
        if !has_dns(net) || self.dns.is_serving(&sb.id) {
            return Ok(None);
        }
        let ports = self.start_resolver(sb)?;
        Ok((sb.resolver_ports != Some(ports)).then_some(ports))
    }

    pub(super) fn dns_leave(&self, ep: &Endpoint) {
        self.dns.update(|r| r.remove(&ep.id));
    }

    /// Stops a sandbox's resolver; its sockets close, so they no longer hold the namespace.
    pub(super) fn dns_stop(&self, sandbox_id: &str) {
        self.dns.stop(sandbox_id);
    }

    fn start_resolver(&self, sb: &Sandbox) -> NetResult<[u16; 2]> {
        let socks = self
            .kernel
            .open_resolver(&sb.path, RESOLVER_ADDR, sb.resolver_ports)
            .map_err(NetError::kernel(format!(
                "start the embedded DNS server in {}",
                sb.path.display()
            )))?;
        let ports = socks.ports;
        self.dns
            .serve(&sb.id, socks.udp, socks.tcp)
            .map(|()| ports)
            .map_err(|e| NetError::Kernel {
                context: "serve embedded DNS".into(),
                source: crate::sys::SysError::Netns {
                    op: "register resolver sockets of",
                    path: sb.path.display().to_string(),
                    source: e,
                },
            })
    }

    /// At start: records for every surviving endpoint, and resolver sockets in each sandbox
    /// that had them, on the same ports when possible (then the redirect stays as it was).
    pub(super) fn restore_dns(
        &self,
        networks: &BTreeMap<String, Network>,
        st: &mut EndpointState,
    ) -> NetResult<()> {
        let mut eps: Vec<Endpoint> = st.endpoints.values().cloned().collect();
        eps.sort_by_key(|e| {
            let n: u32 = e
                .ifname
                .trim_start_matches("eth")
                .parse()
                .unwrap_or(u32::MAX);
            (e.sandbox_id.clone(), n)
        });
        for ep in eps {
            let (Some(net), Some(sb)) = (
                networks.get(&ep.network_id),
                st.sandboxes.get_mut(&ep.sandbox_id),
            ) else {
                continue;
            };
            match self.dns_join(sb, &ep, net) {
                Ok(Some(ports)) => {
                    sb.resolver_ports = Some(ports);
                    self.store.put(SANDBOXES, &sb.id, &*sb)?;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(sandbox = %sb.id, error = %e, "cannot restore embedded DNS")
                }
            }
        }
        Ok(())
    }
}

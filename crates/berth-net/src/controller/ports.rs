//! Published ports (`-p`): host port reservations, the DNAT elements that lead them to a
//! container's address, userland proxies when berth leaves the firewall alone, and Docker's
//! words when a port cannot be had or a driver publishes none.

use super::endpoints::EndpointState;
use super::{Controller, SANDBOXES};
use crate::endpoint::Endpoint;
use crate::error::{NetError, NetResult};
use crate::firewall::{Change, PortRule, Proto};
use crate::portmap::{host_ips, PortError, PortRequest, Published};
use std::net::IpAddr;

/// The endpoint whose address published ports lead to: the one with the default route.
pub(super) fn port_endpoint<'a>(eps: &'a EndpointState, sandbox_id: &str) -> Option<&'a Endpoint> {
    eps.endpoints
        .values()
        .find(|e| e.sandbox_id == sandbox_id && e.default_route)
}

/// Where a published port leads: the container's address of the host address's family.
fn target(ep: &Endpoint, p: &Published) -> Option<std::net::SocketAddr> {
    let ip = if p.host_ip.is_ipv4() {
        ep.ipv4?.addr()
    } else {
        ep.ipv6?.addr()
    };
    Some(std::net::SocketAddr::new(ip, p.container_port))
}

pub(super) fn rules_for(ep: &Endpoint, ports: &[Published]) -> Vec<PortRule> {
    ports
        .iter()
        .filter_map(|p| {
            let to = target(ep, p)?;
            Some(PortRule {
                proto: p.proto,
                host_ip: (!p.host_ip.is_unspecified()).then_some(p.host_ip),
                host_port: p.host_port,
                container_ip: to.ip(),
                container_port: to.port(),
            })
        })
        .collect()
}

/// Forgets conntrack entries of UDP flows to `ports`, so a client that kept sending while a
/// mapping changed is not stuck with the old translation (or with none).
fn clear_udp_conntrack(ports: &[Published]) {
    for p in ports.iter().filter(|p| p.proto == Proto::Udp) {
        if let Err(e) = crate::sys::conntrack::delete_udp_to_port(p.host_port) {
            tracing::warn!(port = p.host_port, error = %e, "cannot clear UDP conntrack entries");
        }
    }
}

impl Controller {
    /// At start: takes back the host ports of published ports (and their proxies).
    pub(super) fn restore_ports(&self, eps: &EndpointState) {
        let mut held = self.lock_ports();
        for sb in eps.sandboxes.values() {
            for p in &sb.ports {
                held.restore(p.proto, p.host_ip, p.host_port);
            }
            if let Some(ep) = port_endpoint(eps, &sb.id) {
                if let Err(e) = self.serve_ports(&mut held, ep, &sb.ports) {
                    tracing::warn!(sandbox = %sb.id, error = %e, "cannot proxy published ports");
                }
            }
        }
    }

    /// Gives back the host ports of published ports whose endpoint left.
    pub(super) fn release_ports(&self, dropped: &[Published]) {
        {
            let mut held = self.lock_ports();
            for p in dropped {
                held.release(p.proto, p.host_ip, p.host_port);
            }
        }
        clear_udp_conntrack(dropped);
    }

    pub(super) fn lock_ports(&self) -> std::sync::MutexGuard<'_, crate::portmap::PortReservations> {
        self.ports.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Refuses a request that would clash with a port berth already publishes, a HostIp the
    /// host does not have (400) or a fixed port another program holds now (409), for `create`,
    /// before a container exists.
    pub fn check_ports(&self, reqs: &[PortRequest]) -> NetResult<()> {
        let held = self.lock_ports();
        for r in reqs {
            if let Some(addr) = held.would_clash(r) {
                return Err(NetError::Conflict(format!(
                    "Bind for {addr} failed: port is already allocated"
                )));
            }
            match held.probe(r) {
                Ok(()) => {}
                Err(e @ crate::portmap::PortError::NotLocal(_)) => {
                    return Err(NetError::InvalidParameter(e.to_string()))
                }
                Err(e) => {
                    return Err(NetError::Conflict(format!(
                        "Error starting userland proxy: {e}"
                    )))
                }
            }
        }
        Ok(())
    }

    /// A container reaches its own published ports through a host address only if its bridge
    /// port may send back what came in on it (as Docker does without its userland proxy).
    /// Only ports that publish get it: hairpin also reflects the container's own broadcasts.
    async fn hairpin(&self, ep: &Endpoint) {
        let why = match self.kernel.link_index(&ep.host_ifname).await {
            Ok(Some(index)) => match self.kernel.set_hairpin(index, true).await {
                Ok(()) => return,
                Err(e) => e.to_string(),
            },
            Ok(None) => format!("no link {}", ep.host_ifname),
            Err(e) => e.to_string(),
        };
        tracing::warn!(
            endpoint = %ep.id,
            error = %why,
            "cannot set hairpin mode: the container will not reach its own published ports through a host address"
        );
    }

    /// Docker's warnings for a container that publishes ports on these networks (names, IDs
    /// or the network mode), one per driver that cannot publish: containers there are reached
    /// at their own addresses. Names that are no network here are for the engine to refuse.
    pub async fn port_mapping_warnings<'a>(
        &self,
        networks: impl Iterator<Item = &'a str>,
    ) -> Vec<String> {
        let nets = self.networks.lock().await;
        let mut out: Vec<String> = Vec::new();
        for key in networks {
            let Ok(net) = Self::lookup(&nets, key) else {
                continue;
            };
            let drv = crate::driver::of(&net.driver);
            if net.predefined || drv.publishes_ports() {
                continue;
            }
            let w = format!("{} driver does not support port mappings", drv.name());
            if !out.contains(&w) {
                out.push(w);
            }
        }
        out
    }

    /// Publishes ports of a sandbox on the address of its first network: reserves the host
    /// ports, records them, then adds the DNAT elements, all or nothing.
    pub async fn publish(
        &self,
        sandbox_id: &str,
        reqs: &[PortRequest],
    ) -> NetResult<Vec<Published>> {
        let nets = self.networks.lock().await;
        let mut eps = self.eps.lock().await;
        let mut sb = eps.sandbox(sandbox_id)?;
        let Some(ep) = port_endpoint(&eps, sandbox_id).cloned() else {
            // `--network none`: nothing to publish to, as Docker.
            return Ok(Vec::new());
        };
        // An overlay's container end sits on a bridge in the network's own namespace: DNATed
        // traffic comes back to it routed through the transfer link, so hairpin is neither
        // needed nor possible from here.
        let hairpin = nets.get(&ep.network_id).is_none_or(|n| n.scope != "global");
        if let Some(net) = nets.get(&ep.network_id) {
            if !crate::driver::of(&net.driver).publishes_ports() {
                // Containers there are reached at their own addresses, as Docker.
                tracing::warn!(network = %net.name, "{} driver does not support port mappings; published ports are ignored", net.driver.name());
                return Ok(Vec::new());
            }
        }
        let mut got: Vec<Published> = Vec::new();
        let failed = {
            let mut held = self.lock_ports();
            let mut failed = None;
            'all: for r in reqs {
                let ips = host_ips(r, ep.ipv4.is_some(), ep.ipv6.is_some());
                if ips.is_empty() || r.host_ip.is_some_and(|ip| !family_ok(&ep, ip)) {
                    failed = Some(NetError::InvalidParameter(format!(
                        "cannot publish {}/{} on {}: container {} has no {} address",
                        r.container_port,
                        r.proto.name(),
                        r.host_ip.map(|i| i.to_string()).unwrap_or_default(),
                        ep.name,
                        if r.host_ip.is_some_and(|i| i.is_ipv6()) {
                            "IPv6"
                        } else {
                            "IPv4"
                        },
                    )));
                    break;
                }
                // With both families, the IPv6 side takes the port the IPv4 side got.
                let mut range = r.host_ports;
                for ip in ips {
                    match held.reserve(r.proto, ip, range) {
                        Ok(port) => {
                            range = Some((port, port));
                            got.push(Published {
                                proto: r.proto,
                                container_port: r.container_port,
                                host_ip: ip,
                                host_port: port,
                            });
                        }
                        Err(e) => {
                            failed = Some(port_error(&ep, e));
                            break 'all;
                        }
                    }
                }
            }
            if failed.is_some() {
                for p in &got {
                    held.release(p.proto, p.host_ip, p.host_port);
                }
            }
            failed
        };
        if let Some(e) = failed {
            return Err(e);
        }
        sb.ports.extend(got.iter().cloned());
        self.store.put(SANDBOXES, &sb.id, &sb)?;
        let rules = rules_for(&ep, &got);
        let served = self
            .firewall
            .change(&[Change::AddPorts(rules.clone())])
            .map_err(|e| NetError::Kernel {
                context: "add published ports".into(),
                source: e,
            })
            .and_then(|()| {
                self.serve_ports(&mut self.lock_ports(), &ep, &got)
                    .map_err(|e| {
                        NetError::PortAllocation(format!(
                            "driver failed programming external connectivity on endpoint {} ({}): cannot proxy a published port: {e}",
                            ep.name, ep.id
                        ))
                    })
            });
        if let Err(e) = served {
            if self.cfg.firewall {
                if let Err(re) = self.firewall.change(&[Change::RemovePorts(rules)]) {
                    // Left in place they would forward a port nothing serves; the next
                    // firewall restore (start, SIGHUP) rebuilds the ruleset from the records.
                    tracing::error!(sandbox = %sb.id, error = %re, "cannot roll back published ports");
                }
            }
            sb.ports.retain(|p| !got.contains(p));
            self.store.put(SANDBOXES, &sb.id, &sb)?;
            let mut held = self.lock_ports();
            for p in &got {
                held.release(p.proto, p.host_ip, p.host_port);
            }
            return Err(e);
        }
        clear_udp_conntrack(&got);
        if hairpin && !got.is_empty() {
            self.hairpin(&ep).await;
        }
        eps.sandboxes.insert(sb.id.clone(), sb);
        Ok(got)
    }
}

impl Controller {
    /// Without a firewall, published ports are served by userland proxies to the container
    /// (none with the firewall: kernel NAT does it all).
    fn serve_ports(
        &self,
        held: &mut crate::portmap::PortReservations,
        ep: &Endpoint,
        ports: &[Published],
    ) -> std::io::Result<()> {
        if self.cfg.firewall {
            return Ok(());
        }
        for p in ports {
            if let Some(to) = target(ep, p) {
                held.serve(p.proto, p.host_ip, p.host_port, to)?;
            }
        }
        Ok(())
    }
}

fn family_ok(ep: &Endpoint, ip: IpAddr) -> bool {
    if ip.is_ipv4() {
        ep.ipv4.is_some()
    } else {
        ep.ipv6.is_some()
    }
}

/// Docker's words for a port that cannot be had at start: another publication's is "Bind for
/// ADDR failed: port is already allocated", another program's comes from its userland proxy.
fn port_error(ep: &Endpoint, e: PortError) -> NetError {
    let proxy = if matches!(e, PortError::Bind(..)) {
        "Error starting userland proxy: "
    } else {
        ""
    };
    NetError::PortAllocation(format!(
        "driver failed programming external connectivity on endpoint {} ({}): {proxy}{e}",
        ep.name, ep.id
    ))
}

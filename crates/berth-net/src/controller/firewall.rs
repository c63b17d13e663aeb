//! The controller's side of the firewall and of published ports: it derives the firewall's
//! facts from networks, endpoints and sandboxes, reserves host ports, and tells the firewall
//! what changed. The firewall holds no state of its own, so a reload rebuilds it from here.

use super::endpoints::EndpointState;
use super::{Controller, SANDBOXES};
use crate::endpoint::{Endpoint, Sandbox};
use crate::error::{NetError, NetResult};
use crate::firewall::{Change, FirewallState, LinkRule, NetRule, PortRule, Proto};
use crate::network::Network;
use crate::portmap::{host_ips, PortError, PortRequest, Published};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// How a bridge network appears to the firewall.
pub(super) fn net_rule(net: &Network) -> Option<NetRule> {
    let b = net.bridge()?;
    Some(NetRule {
        bridge: b.name.clone(),
        internal: net.internal,
        masquerade: b.masquerade,
        icc: b.icc,
    })
}

/// The endpoint whose address published ports lead to: the one with the default route.
fn port_endpoint<'a>(eps: &'a EndpointState, sandbox_id: &str) -> Option<&'a Endpoint> {
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

fn rules_for(ep: &Endpoint, ports: &[Published]) -> Vec<PortRule> {
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

/// Everything the firewall should hold for these networks and endpoints.
pub(super) fn full_state(nets: &BTreeMap<String, Network>, eps: &EndpointState) -> FirewallState {
    let mut st = FirewallState::default();
    for net in nets.values() {
        if let Some(rule) = net_rule(net) {
            if !rule.icc {
                st.isolated_ports.extend(
                    eps.endpoints
                        .values()
                        .filter(|e| e.network_id == net.id)
                        .map(|e| e.host_ifname.clone()),
                );
            }
            st.networks.push(rule);
        }
    }
    // Each sandbox's endpoints, found once: a scan of every endpoint per sandbox made this
    // quadratic, and `network check` computes it on every question.
    let mut by_sandbox: BTreeMap<&str, Vec<&Endpoint>> = BTreeMap::new();
    for e in eps.endpoints.values() {
        by_sandbox.entry(e.sandbox_id.as_str()).or_default().push(e);
    }
    for sb in eps.sandboxes.values() {
        let own = by_sandbox
            .get(sb.id.as_str())
            .map_or(&[][..], Vec::as_slice);
        if let Some(ep) = own.iter().find(|e| e.default_route) {
            st.ports.extend(rules_for(ep, &sb.ports));
        }
        let mine = |l: &&LinkRule| own.iter().any(|e| e.host_ifname == l.from);
        st.links.extend(sb.links.iter().filter(mine).cloned());
    }
    st
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
    /// At start: takes back the host ports of published ports and rebuilds berth's tables.
    pub(super) fn restore_firewall(
        &self,
        nets: &BTreeMap<String, Network>,
        eps: &EndpointState,
    ) -> NetResult<()> {
        {
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
        self.firewall_bridge_sysctls(nets.values());
        self.firewall
            .apply(&full_state(nets, eps))
            .map_err(NetError::kernel("apply firewall rules"))
    }

    /// Rebuilds berth's tables from the controller's records, after someone flushed them or on
    /// request. One transaction: established connections keep flowing.
    pub async fn reload_firewall(&self) -> NetResult<()> {
        let nets = self.networks.lock().await;
        let eps = self.eps.lock().await;
        self.firewall_bridge_sysctls(nets.values());
        self.firewall
            .apply(&full_state(&nets, &eps))
            .map_err(NetError::kernel("apply firewall rules"))?;
        tracing::info!("firewall rules re-applied");
        Ok(())
    }

    /// Published ports on 127.0.0.1 are routed to a bridge: the kernel must accept loopback
    /// sources there.
    fn firewall_bridge_sysctls<'a>(&self, nets: impl Iterator<Item = &'a Network>) {
        if !self.cfg.firewall {
            return;
        }
        for net in nets {
            if let Some(b) = net.bridge() {
                let key = format!("net/ipv4/conf/{}/route_localnet", b.name);
                if let Err(e) = self.kernel.set_sysctl(&key, "1") {
                    tracing::warn!(bridge = %b.name, error = %e, "cannot set route_localnet");
                }
            }
        }
    }

    pub(super) fn firewall_add_network(&self, net: &Network) -> NetResult<()> {
        let Some(rule) = net_rule(net) else {
            return Ok(());
        };
        self.firewall_bridge_sysctls(std::iter::once(net));
        self.firewall
            .change(&[Change::AddNetwork(rule)])
            .map_err(NetError::kernel(format!(
                "add firewall rules of {}",
                net.name
            )))
    }

    pub(super) fn firewall_remove_network(&self, net: &Network) {
        if let Some(rule) = net_rule(net) {
            if let Err(e) = self.firewall.change(&[Change::RemoveNetwork(rule)]) {
                tracing::warn!(network = %net.name, error = %e, "cannot remove firewall rules");
            }
        }
    }

    /// An endpoint joins ICC isolation if its network has ICC off.
    pub(super) fn firewall_join(&self, ep: &Endpoint, net: &Network) -> NetResult<()> {
        if net.bridge().is_some_and(|b| !b.icc) {
            self.firewall
                .change(&[Change::Isolate(ep.host_ifname.clone())])
                .map_err(NetError::kernel(format!(
                    "isolate {} on {}",
                    ep.host_ifname, net.name
                )))?;
        }
        Ok(())
    }

    /// Opens ICC isolation for `--link`: where the sandbox shares a network with ICC off with
    /// a target, its port may reach the target's exposed ports (Docker opens exactly these).
    /// Recorded with the sandbox, so a reload keeps the holes and its leaving closes them.
    pub async fn open_links(
        &self,
        sandbox_id: &str,
        targets: &[(String, Vec<(u16, Proto)>)],
    ) -> NetResult<()> {
        let nets = self.networks.lock().await;
        let mut eps = self.eps.lock().await;
        let mut sb = eps.sandbox(sandbox_id)?;
        let isolated = |net_id: &str| {
            nets.get(net_id)
                .and_then(|n| n.bridge())
                .is_some_and(|b| !b.icc)
        };
        let mut links = Vec::new();
        for (target, ports) in targets {
            for me in eps.endpoints.values().filter(|e| e.sandbox_id == sb.id) {
                let theirs = eps.endpoints.values().filter(|e| {
                    &e.sandbox_id == target
                        && e.network_id == me.network_id
                        && isolated(&e.network_id)
                });
                for te in theirs {
                    links.extend(ports.iter().map(|&(port, proto)| LinkRule {
                        from: me.host_ifname.clone(),
                        to: te.host_ifname.clone(),
                        proto,
                        port,
                    }));
                }
            }
        }
        links.retain(|l| !sb.links.contains(l));
        if links.is_empty() {
            return Ok(());
        }
        let before = sb.clone();
        sb.links.extend(links.iter().cloned());
        self.store.put(SANDBOXES, &sb.id, &sb)?;
        if let Err(e) = self.firewall.change(&[Change::AddLinks(links)]) {
            self.store.put(SANDBOXES, &before.id, &before)?;
            return Err(NetError::Kernel {
                context: "open --link ports".into(),
                source: e,
            });
        }
        eps.sandboxes.insert(sb.id.clone(), sb);
        Ok(())
    }

    /// The firewall changes for endpoints leaving: isolation, `--link` holes, and the published ports of a
    /// sandbox whose port endpoint goes (its reservations go with them).
    pub(super) fn firewall_leave(
        &self,
        nets: &BTreeMap<String, Network>,
        leaving: &[Endpoint],
        sb: Option<&Sandbox>,
    ) -> Vec<Published> {
        let mut changes = Vec::new();
        let mut dropped = Vec::new();
        for ep in leaving {
            let isolated = nets
                .get(&ep.network_id)
                .and_then(|n| n.bridge())
                .is_some_and(|b| !b.icc);
            if isolated {
                changes.push(Change::Unisolate(ep.host_ifname.clone()));
            }
            if let Some(sb) = sb {
                let links: Vec<LinkRule> = sb
                    .links
                    .iter()
                    .filter(|l| l.from == ep.host_ifname)
                    .cloned()
                    .collect();
                if !links.is_empty() {
                    changes.push(Change::RemoveLinks(links));
                }
            }
            if let Some(sb) = sb.filter(|_| ep.default_route) {
                let rules = rules_for(ep, &sb.ports);
                if !rules.is_empty() {
                    changes.push(Change::RemovePorts(rules));
                }
                dropped.extend(sb.ports.iter().cloned());
            }
        }
        if !changes.is_empty() {
            if let Err(e) = self.firewall.change(&changes) {
                // Left-over elements only point at addresses nobody holds; a reload clears them.
                tracing::warn!(error = %e, "cannot remove firewall elements");
            }
        }
        {
            let mut held = self.lock_ports();
            for p in &dropped {
                held.release(p.proto, p.host_ip, p.host_port);
            }
        }
        clear_udp_conntrack(&dropped);
        dropped
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
        if !got.is_empty() {
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

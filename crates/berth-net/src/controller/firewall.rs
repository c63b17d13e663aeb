//! The controller's side of the firewall: it derives the firewall's facts from networks,
//! endpoints and sandboxes, and tells the firewall what changed. The firewall holds no state
//! of its own, so a reload rebuilds it from here. Published ports are `ports.rs`.

use super::endpoints::EndpointState;
use super::ports::rules_for;
use super::{Controller, SANDBOXES};
use crate::endpoint::{Endpoint, Sandbox};
use crate::error::{NetError, NetResult};
use crate::firewall::{Change, FirewallState, LinkRule, NetRule, Proto};
use crate::network::Network;
use crate::portmap::Published;
use std::collections::BTreeMap;

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

impl Controller {
    /// At start: takes back the host ports of published ports and rebuilds berth's tables.
    pub(super) fn restore_firewall(
        &self,
        nets: &BTreeMap<String, Network>,
        eps: &EndpointState,
    ) -> NetResult<()> {
        self.restore_ports(eps);
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
        self.release_ports(&dropped);
        dropped
    }
}

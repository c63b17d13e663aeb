//! A read-only view of the controller's records for `network check` and `network graph`:
//! networks, sandboxes with their endpoints and published ports, and the firewall's facts as
//! berth programmed them.

use super::firewall::full_state;
use super::Controller;
use crate::endpoint::{format_mac, Endpoint};
use crate::network::Network;
use crate::portmap::Published;
use crate::reach::model::{
    EndpointView, NetSnapshot, NetworkView, PortView, SandboxView, SubnetView,
};
use std::collections::{BTreeMap, HashMap};

fn network_view(n: &Network) -> NetworkView {
    NetworkView {
        id: n.id.clone(),
        name: n.name.clone(),
        driver: n.driver.name().to_string(),
        bridge: n.bridge().map(|b| b.name.clone()),
        mtu: n.bridge().map(|b| b.mtu),
        subnets: n
            .subnets
            .iter()
            .map(|s| SubnetView {
                subnet: s.subnet,
                gateway: s.gateway,
            })
            .collect(),
        internal: n.internal,
        icc: n.bridge().is_none_or(|b| b.icc),
        masquerade: n.bridge().is_some_and(|b| b.masquerade),
        predefined: n.predefined,
    }
}

fn endpoint_view(e: &Endpoint, net: Option<&Network>) -> EndpointView {
    EndpointView {
        network_id: e.network_id.clone(),
        network: net.map(|n| n.name.clone()).unwrap_or_default(),
        ifname: e.ifname.clone(),
        host_ifname: e.host_ifname.clone(),
        mac: format_mac(&e.mac),
        ipv4: e.ipv4,
        ipv6: e.ipv6,
        gateway4: e.gateway4,
        gateway6: e.gateway6,
        aliases: e.aliases.clone(),
        default_route: e.default_route,
    }
}

impl Controller {
    /// Everything `network check` needs from the network layer, copied under the locks once.
    pub async fn reach_snapshot(&self) -> NetSnapshot {
        let nets = self.networks.lock().await;
        let eps = self.eps.lock().await;
        let mut by_sandbox: std::collections::BTreeMap<&str, Vec<&Endpoint>> = Default::default();
        for e in eps.endpoints.values() {
            by_sandbox.entry(e.sandbox_id.as_str()).or_default().push(e);
        }
        let sandboxes = eps
            .sandboxes
            .values()
            .map(|sb| {
                let mut mine = by_sandbox.remove(sb.id.as_str()).unwrap_or_default();
                mine.sort_by_key(|e| {
                    e.ifname
                        .trim_start_matches("eth")
                        .parse::<u32>()
                        .unwrap_or(u32::MAX)
                });
                SandboxView {
                    id: sb.id.clone(),
                    path: sb.path.display().to_string(),
                    endpoints: mine
                        .iter()
                        .map(|e| endpoint_view(e, nets.get(&e.network_id)))
                        .collect(),
                    ports: sb
                        .ports
                        .iter()
                        .map(|p| PortView {
                            proto: p.proto,
                            host_ip: p.host_ip,
                            host_port: p.host_port,
                            container_port: p.container_port,
                        })
                        .collect(),
                }
            })
            .collect();
        let mut networks: Vec<NetworkView> = nets.values().map(network_view).collect();
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        NetSnapshot {
            networks,
            sandboxes,
            firewall: full_state(&nets, &eps),
            firewall_enabled: self.cfg.firewall,
        }
    }
}

/// What container listings and inspect show of the network layer: every network, and the
/// endpoints (in attach order) and published ports of the sandboxes asked for, copied once,
/// so that a listing of N containers waits for the controller once, not 3N times behind
/// sandboxes being made.
#[derive(Debug, Default, Clone)]
pub struct SandboxesView {
    networks: BTreeMap<String, Network>,
    sandboxes: HashMap<String, (Vec<Endpoint>, Vec<Published>)>,
}

impl SandboxesView {
    /// The network named by full ID, name, or unique ID prefix, as `Controller::get` finds it.
    pub fn network(&self, key: &str) -> Option<&Network> {
        Controller::lookup(&self.networks, key).ok()
    }

    /// Endpoints of a sandbox, eth0 first (none for a sandbox that is gone).
    pub fn endpoints(&self, sandbox_id: &str) -> &[Endpoint] {
        self.sandboxes
            .get(sandbox_id)
            .map(|(e, _)| e.as_slice())
            .unwrap_or_default()
    }

    /// Ports a sandbox publishes.
    pub fn ports(&self, sandbox_id: &str) -> &[Published] {
        self.sandboxes
            .get(sandbox_id)
            .map(|(_, p)| p.as_slice())
            .unwrap_or_default()
    }
}

impl Controller {
    /// Networks, and the endpoints and ports of `sandbox_ids`, taken in one go.
    pub async fn sandboxes_view<'a>(
        &self,
        sandbox_ids: impl IntoIterator<Item = &'a str>,
    ) -> SandboxesView {
        // One lock at a time: a reader never holds the networks while it queues for the
        // endpoints behind a sandbox being made. An endpoint whose network went in between is
        // left out, as it would be a moment later.
        let networks = self.networks.lock().await.clone();
        let eps = self.eps.lock().await;
        let mut sandboxes: HashMap<String, (Vec<Endpoint>, Vec<Published>)> = sandbox_ids
            .into_iter()
            .filter_map(|id| eps.sandboxes.get(id))
            .map(|sb| (sb.id.clone(), (Vec::new(), sb.ports.clone())))
            .collect();
        for e in eps.endpoints.values() {
            if let Some((mine, _)) = sandboxes.get_mut(&e.sandbox_id) {
                mine.push(e.clone());
            }
        }
        for (mine, _) in sandboxes.values_mut() {
            mine.sort_by_key(|e| {
                e.ifname
                    .trim_start_matches("eth")
                    .parse::<u32>()
                    .unwrap_or(u32::MAX)
            });
        }
        SandboxesView {
            networks,
            sandboxes,
        }
    }
}

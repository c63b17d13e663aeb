//! A read-only view of the controller's records for `network check` and `network graph`:
//! networks, sandboxes with their endpoints and published ports, and the firewall's facts as
//! berth programmed them.

use super::firewall::full_state;
use super::Controller;
use crate::endpoint::{format_mac, Endpoint};
use crate::network::Network;
use crate::portmap::Published;
use crate::reach::model::{
    ClusterView, EndpointView, NetSnapshot, NetworkView, NodeView, OverlayView, PortView,
    RemoteEndpointView, SandboxView, SubnetView,
};
use berth_cluster::EndpointRecord;
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
        overlay: crate::driver::overlay::of(n).ok().map(|c| OverlayView {
            vxlan: c.vxlan.clone(),
            vni: c.vni,
            netns: c.netns.display().to_string(),
        }),
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
        // The store is asked before any lock is taken: a slow store never holds up the
        // controller.
        let mut cluster = self.cluster_view().await;
        let nets = self.networks.lock().await;
        if let Some(c) = &mut cluster {
            for r in c.remote.iter_mut().chain(c.lost.iter_mut()) {
                if let Some(n) = nets.get(&r.network_id) {
                    r.network = n.name.clone();
                }
            }
            // Only endpoints on networks this host has: the others it cannot reach anyway.
            c.remote.retain(|r| nets.contains_key(&r.network_id));
            c.lost.retain(|r| nets.contains_key(&r.network_id));
        }
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
                            proto: p.proto.name().to_string(),
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
            cluster,
        }
    }

    /// The cluster as this host sees it: live nodes (as the node watch keeps them: a store
    /// that does not answer never holds up a check), the remote endpoints its watch holds, and
    /// those lost with their node's lease.
    async fn cluster_view(&self) -> Option<ClusterView> {
        let g = self.global()?.clone();
        let live = g.live.snapshot();
        let (nodes, nodes_error) = (live.nodes, live.unavailable);
        let nodes: Vec<NodeView> = nodes
            .into_iter()
            .map(|n| NodeView {
                addr: super::overlay::advertise_ip(&n.advertise)
                    .map(|a| a.to_string())
                    .unwrap_or(n.advertise),
                id: n.id,
                hostname: n.hostname,
            })
            .collect();
        let addrs = g.nodes.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let view = |r: &EndpointRecord| RemoteEndpointView {
            network_id: r.network_id.clone(),
            network: String::new(),
            name: r.name.clone(),
            container_id: r.container_id.clone(),
            ip: r.ip.into(),
            mac: r.mac.clone(),
            aliases: r.aliases.clone(),
            node: r.node.clone(),
            node_addr: addrs
                .get(&r.node)
                .map(|a| a.to_string())
                .unwrap_or_default(),
            hostname: nodes
                .iter()
                .find(|n| n.id == r.node)
                .map(|n| n.hostname.clone())
                .unwrap_or_default(),
        };
        let remote = g
            .remote
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(view)
            .collect();
        let lost = g
            .lost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|(_, at)| at.elapsed() < super::remote::LOST_KEEP)
            .map(|(r, _)| view(r))
            .collect();
        Some(ClusterView {
            node: g.cluster.node().id().to_string(),
            nodes,
            nodes_error,
            underlay_mtu: g.underlay_mtu,
            remote,
            lost,
        })
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

//! The topology of `/berth/topology`: what berth programmed, as one snapshot — the host, its
//! networks, every container with its endpoints and published ports, and in a cluster the
//! nodes and the other hosts' endpoints on overlay networks. One type for all its users: the
//! daemon assembles it, `network check` judges over it (berth-net's `reach`), and `network
//! graph` and the ui draw it ([`svg`], [`dot`]).

mod dot;
mod svg;

pub use dot::dot;
pub use svg::svg;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The name the CLI and the ui have always used for it.
pub type Topo = Topology;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Topology {
    pub host: HostView,
    pub networks: Vec<NetworkView>,
    pub containers: Vec<ContainerView>,
    /// The cluster this host is a node of, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostView {
    pub name: String,
    /// The host's own addresses outside berth's bridges (what `outside` connects to).
    pub addrs: Vec<IpAddr>,
    /// Whether berth manages the firewall (`--iptables`).
    pub firewall: bool,
    /// Whether bridged IP traffic also passes the inet forward hook (br_netfilter's
    /// `bridge-nf-call-iptables`): then the user chain sees traffic inside one network too.
    #[serde(default)]
    pub br_netfilter: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnetView {
    pub subnet: IpNet,
    pub gateway: IpAddr,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkView {
    pub id: String,
    pub name: String,
    pub driver: String,
    /// The bridge device; None for `host` and `none`.
    pub bridge: Option<String>,
    pub mtu: Option<u32>,
    pub subnets: Vec<SubnetView>,
    pub internal: bool,
    pub icc: bool,
    pub masquerade: bool,
    #[serde(default)]
    pub predefined: bool,
    /// An overlay network's VXLAN side on this host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay: Option<OverlayView>,
}

impl NetworkView {
    pub fn gateways(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.subnets.iter().map(|s| s.gateway)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OverlayView {
    /// The VXLAN device, a port of the network's bridge.
    pub vxlan: String,
    pub vni: u32,
    /// The namespace holding the bridge, the VXLAN device and the containers' host ends
    /// (pinned path); the host's side has only the transfer link of the bridge's name.
    pub netns: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointView {
    pub network_id: String,
    pub network: String,
    /// Inside the container: eth0, eth1, …
    pub ifname: String,
    /// The host end of the veth pair, a port of the network's bridge.
    pub host_ifname: String,
    pub mac: String,
    pub ipv4: Option<IpNet>,
    pub ipv6: Option<IpNet>,
    #[serde(default)]
    pub gateway4: Option<IpAddr>,
    #[serde(default)]
    pub gateway6: Option<IpAddr>,
    pub aliases: Vec<String>,
    #[serde(default)]
    pub default_route: bool,
}

impl EndpointView {
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        [self.ipv4, self.ipv6]
            .into_iter()
            .flatten()
            .map(|n| n.addr())
    }

    /// Its addresses with their prefixes, space-separated.
    pub fn addrs_text(&self) -> String {
        [self.ipv4, self.ipv6]
            .into_iter()
            .flatten()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortView {
    /// `tcp` or `udp`.
    pub proto: String,
    /// `0.0.0.0` / `::` for every address of the family.
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkView {
    /// The linked container's name.
    pub target: String,
    pub alias: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerView {
    pub id: String,
    pub name: String,
    pub running: bool,
    pub status: String,
    /// `bridge`, a network name, `host`, `none`, `container:NAME`.
    pub network_mode: String,
    /// Networks it asks for (by name), whether or not it runs.
    pub networks: Vec<String>,
    /// Its endpoints while it runs (empty when stopped).
    pub endpoints: Vec<EndpointView>,
    pub ports: Vec<PortView>,
    pub links: Vec<LinkView>,
    /// The pinned network namespace it runs in (not shown in the graph).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_key: Option<String>,
}

impl ContainerView {
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    /// Whether `key` names it: its name (with or without Docker's leading slash), ID or ID prefix.
    pub fn is_named(&self, key: &str) -> bool {
        let key = key.trim_start_matches('/');
        !key.is_empty() && (self.name == key || self.id.starts_with(key))
    }

    pub fn endpoint_on(&self, network_id: &str) -> Option<&EndpointView> {
        self.endpoints.iter().find(|e| e.network_id == network_id)
    }
}

/// What this host knows of its cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterView {
    /// This host's node ID.
    pub node: String,
    /// The live nodes (their lease held), this one included.
    pub nodes: Vec<NodeView>,
    /// Why the live nodes could not be listed (the store did not answer): liveness is then
    /// not judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes_error: Option<String>,
    /// The MTU of this host's underlay link (the one holding its advertise address).
    pub underlay_mtu: u32,
    /// The other hosts' endpoints on the overlay networks, as the store has them.
    pub remote: Vec<RemoteEndpointView>,
    /// Remote endpoints that went with their node's lease (kept a while, to say so).
    #[serde(default)]
    pub lost: Vec<RemoteEndpointView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeView {
    pub id: String,
    pub hostname: String,
    /// Its underlay (advertise) address.
    pub addr: String,
}

/// An endpoint of a container on another host, on an overlay network this host has too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteEndpointView {
    pub network_id: String,
    pub network: String,
    /// The endpoint's name: its container's name.
    pub name: String,
    pub container_id: String,
    pub ip: IpAddr,
    pub mac: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The node it runs on.
    pub node: String,
    /// The node's underlay address as last known (kept when the node is gone).
    #[serde(default)]
    pub node_addr: String,
    #[serde(default)]
    pub hostname: String,
}

impl RemoteEndpointView {
    /// Whether `key` names it: its name, its container's ID or an ID prefix.
    pub fn is_named(&self, key: &str) -> bool {
        let key = key.trim_start_matches('/');
        !key.is_empty() && (self.name == key || self.container_id.starts_with(key))
    }
}

impl ClusterView {
    pub fn node(&self, id: &str) -> Option<&NodeView> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Whether node `id` holds its lease (true when that could not be asked).
    pub fn live(&self, id: &str) -> bool {
        self.nodes_error.is_some() || self.node(id).is_some()
    }
}

impl Topology {
    pub fn network(&self, id: &str) -> Option<&NetworkView> {
        self.networks.iter().find(|n| n.id == id)
    }

    /// The container `key` names: exact name or ID first, then a unique ID prefix.
    pub fn container(&self, key: &str) -> Result<&ContainerView, String> {
        let key = key.trim_start_matches('/');
        if let Some(c) = self
            .containers
            .iter()
            .find(|c| c.name == key || c.id == key)
        {
            return Ok(c);
        }
        let found: Vec<&ContainerView> = self
            .containers
            .iter()
            .filter(|c| !key.is_empty() && c.id.starts_with(key))
            .collect();
        match found.len() {
            1 => Ok(found[0]),
            0 => Err(format!("No such container: {key}")),
            n => Err(format!(
                "container {key} is ambiguous ({n} containers have IDs starting with it)"
            )),
        }
    }

    /// The other hosts' endpoints `key` names (one per overlay network the container is on),
    /// and whether they are ones whose lease expired.
    pub fn remote(&self, key: &str) -> (Vec<&RemoteEndpointView>, bool) {
        let Some(c) = &self.cluster else {
            return (Vec::new(), false);
        };
        let live: Vec<&RemoteEndpointView> = c.remote.iter().filter(|r| r.is_named(key)).collect();
        if !live.is_empty() {
            return (live, false);
        }
        (c.lost.iter().filter(|r| r.is_named(key)).collect(), true)
    }

    /// The remote endpoint holding `ip`, live or lost.
    pub fn remote_by_ip(&self, ip: IpAddr) -> Option<(&RemoteEndpointView, bool)> {
        let c = self.cluster.as_ref()?;
        c.remote
            .iter()
            .find(|r| r.ip == ip)
            .map(|r| (r, false))
            .or_else(|| c.lost.iter().find(|r| r.ip == ip).map(|r| (r, true)))
    }

    /// Whether `key` names anything this host knows: a local container or a remote endpoint.
    pub fn knows(&self, key: &str) -> Result<(), String> {
        match self.container(key) {
            Ok(_) => Ok(()),
            Err(e) if self.remote(key).0.is_empty() => Err(e),
            Err(_) => Ok(()),
        }
    }
}

/// A host as the graph groups containers: this one first, then the other live nodes, then
/// nodes known only from endpoints whose lease expired.
pub(crate) struct HostGroup {
    pub label: String,
    pub gone: bool,
    id: String,
}

pub(crate) fn hosts(t: &Topology) -> Vec<HostGroup> {
    let mut out = vec![HostGroup {
        label: format!("this host {}", t.host.name),
        gone: false,
        id: t
            .cluster
            .as_ref()
            .map(|c| c.node.clone())
            .unwrap_or_default(),
    }];
    let Some(c) = &t.cluster else {
        return out;
    };
    if let Some(me) = c.node(&c.node) {
        out[0].label = format!("this host {} · {}", me.hostname, me.addr);
    }
    let mut others: Vec<&NodeView> = c.nodes.iter().filter(|n| n.id != c.node).collect();
    others.sort_by(|a, b| (&a.hostname, &a.id).cmp(&(&b.hostname, &b.id)));
    for n in others {
        out.push(HostGroup {
            label: format!("host {} · {}", n.hostname, n.addr),
            gone: false,
            id: n.id.clone(),
        });
    }
    for r in c.remote.iter().chain(&c.lost) {
        if !out.iter().any(|g| g.id == r.node) {
            out.push(HostGroup {
                label: format!("host {} · {} (lease expired)", r.hostname, r.node_addr),
                gone: true,
                id: r.node.clone(),
            });
        }
    }
    out
}

/// A container as drawn, on the host (index into [`hosts`]) it runs on.
pub(crate) struct Card {
    pub host: usize,
    pub ctr: ContainerView,
}

impl std::ops::Deref for Card {
    type Target = ContainerView;
    fn deref(&self) -> &ContainerView {
        &self.ctr
    }
}

/// This host's containers, and the other hosts' made from their overlay endpoints (one card
/// per remote container, with an interface per overlay network it is on).
pub(crate) fn cards(t: &Topology) -> Vec<Card> {
    let groups = hosts(t);
    let mut out: Vec<Card> = t
        .containers
        .iter()
        .map(|c| Card {
            host: 0,
            ctr: c.clone(),
        })
        .collect();
    let Some(cl) = &t.cluster else {
        return out;
    };
    let lost = cl.lost.iter().map(|r| (r, true));
    for (r, gone) in cl.remote.iter().map(|r| (r, false)).chain(lost) {
        let host = groups.iter().position(|g| g.id == r.node).unwrap_or(0);
        let prefix = t
            .network(&r.network_id)
            .and_then(|n| n.subnets.iter().find(|s| s.subnet.contains(&r.ip)))
            .map_or(if r.ip.is_ipv4() { 32 } else { 128 }, |s| {
                s.subnet.prefix_len()
            });
        let ep = EndpointView {
            network_id: r.network_id.clone(),
            network: r.network.clone(),
            mac: r.mac.clone(),
            ipv4: IpNet::new(r.ip, prefix).ok().filter(|_| r.ip.is_ipv4()),
            ipv6: IpNet::new(r.ip, prefix).ok().filter(|_| r.ip.is_ipv6()),
            aliases: r.aliases.clone(),
            ..EndpointView::default()
        };
        let at = out
            .iter()
            .position(|c| c.host == host && c.id == r.container_id && c.name == r.name);
        match at {
            Some(i) => out[i].ctr.endpoints.push(ep),
            None => out.push(Card {
                host,
                ctr: ContainerView {
                    id: r.container_id.clone(),
                    name: r.name.clone(),
                    running: !gone,
                    status: if gone {
                        "lease expired".into()
                    } else {
                        format!("running on {}", r.hostname)
                    },
                    network_mode: r.network.clone(),
                    networks: vec![r.network.clone()],
                    endpoints: vec![ep],
                    ..ContainerView::default()
                },
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests;

//! What berth programmed, as one snapshot: the host, its networks, and every container with its
//! endpoints and published ports. The daemon assembles it (the engine knows containers and
//! whether they run, the controller knows networks, endpoints and the firewall's facts); the
//! verdict and the graph are pure functions over it. It is also the `/berth/topology` body.

use crate::firewall::Proto;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    pub host: HostView,
    pub networks: Vec<NetworkView>,
    pub containers: Vec<ContainerView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostView {
    pub name: String,
    /// The host's own addresses outside berth's bridges (what `outside` connects to).
    pub addrs: Vec<IpAddr>,
    /// Whether berth manages the firewall (`--iptables`).
    pub firewall: bool,
    /// Whether bridged IP traffic also passes the inet forward hook (br_netfilter's
    /// `bridge-nf-call-iptables`): then the user chain sees traffic inside one network too.
    pub br_netfilter: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnetView {
    pub subnet: IpNet,
    pub gateway: IpAddr,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    pub predefined: bool,
}

impl NetworkView {
    pub fn gateways(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.subnets.iter().map(|s| s.gateway)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    pub gateway4: Option<IpAddr>,
    pub gateway6: Option<IpAddr>,
    pub aliases: Vec<String>,
    pub default_route: bool,
}

impl EndpointView {
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        [self.ipv4, self.ipv6]
            .into_iter()
            .flatten()
            .map(|n| n.addr())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortView {
    pub proto: Proto,
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

/// What the network layer itself knows of one sandbox, before the engine names its container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SandboxView {
    pub id: String,
    pub path: String,
    pub endpoints: Vec<EndpointView>,
    pub ports: Vec<PortView>,
}

/// The network layer's part of the snapshot.
#[derive(Debug, Clone, Default)]
pub struct NetSnapshot {
    pub networks: Vec<NetworkView>,
    pub sandboxes: Vec<SandboxView>,
    /// What berth's tables hold when they hold what berth programmed (computed even when
    /// berth does not manage the firewall: its published ports are then served by proxies).
    pub firewall: crate::firewall::FirewallState,
    pub firewall_enabled: bool,
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
}

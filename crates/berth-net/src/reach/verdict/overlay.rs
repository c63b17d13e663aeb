//! The overlay paths: between a container here and another host's endpoint, across the
//! network's VXLAN device — veth → bridge → vxlan → peer host (by node and underlay address)
//! → its bridge → veth. What decides on this side: isolation on the way into the overlay's
//! bridge and a peer whose lease ran out. Each crossing is recorded, for the kernel's side to be
//! checked (the VXLAN entries, and a container interface larger than the device: mtu_mismatch).

use super::{first_addr, hop, Block, Eval, Step};
use crate::driver::overlay::VXLAN_OVERHEAD;
use crate::reach::codes::Code;
use crate::reach::model::{ContainerView, EndpointView, NetworkView, RemoteEndpointView};
use std::net::IpAddr;

/// One VXLAN crossing a path depends on: on `device`, `ip` must resolve to `mac` (a permanent
/// neighbour) and `mac` must go to `node_addr` (a static FDB entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crossing {
    pub network: String,
    pub device: String,
    pub endpoint: String,
    pub ip: IpAddr,
    pub mac: String,
    pub node_addr: String,
    /// This host's end when it is on the overlay network itself: its container's name and
    /// pinned namespace, and the interface whose MTU must fit the device's.
    pub local: Option<(String, String, String)>,
}

fn peer_name(r: &RemoteEndpointView) -> &str {
    if r.hostname.is_empty() {
        &r.node[..12.min(r.node.len())]
    } else {
        &r.hostname
    }
}

impl<'a> Eval<'a> {
    /// The endpoint of `r`'s container (on the same node) on a network `fits`, else `r`.
    fn sibling(
        &self,
        r: &'a RemoteEndpointView,
        lost: bool,
        fits: impl Fn(&str) -> bool,
    ) -> &'a RemoteEndpointView {
        let Some(c) = &self.topo.cluster else {
            return r;
        };
        let all = if lost { &c.lost } else { &c.remote };
        all.iter()
            .find(|o| o.container_id == r.container_id && o.node == r.node && fits(&o.network_id))
            .unwrap_or(r)
    }

    fn overlay_of(&self, r: &RemoteEndpointView) -> Result<(&'a NetworkView, String), Block> {
        let net = self.topo.network(&r.network_id).ok_or_else(|| {
            Block(
                Code::NoCommonNetwork,
                format!(
                    "this host does not have network {} of {}",
                    r.network, r.name
                ),
            )
        })?;
        let bridge = net.bridge.clone().filter(|_| net.overlay.is_some());
        let bridge = bridge.ok_or_else(|| {
            Block(
                Code::NoCommonNetwork,
                format!("network {} is not an overlay network here", net.name),
            )
        })?;
        Ok((net, bridge))
    }

    /// The VXLAN device, the MTU it must carry, and the peer's lease.
    fn cross(
        &mut self,
        net: &NetworkView,
        bridge: &str,
        r: &RemoteEndpointView,
        lost: bool,
        local: Option<(&ContainerView, &EndpointView)>,
    ) -> Step {
        let Some(o) = &net.overlay else {
            return Ok(());
        };
        self.link_ok(&o.vxlan, Some(bridge))?;
        if let (Some(cl), Some(mtu)) = (&self.topo.cluster, net.mtu) {
            let fits = cl.underlay_mtu.saturating_sub(VXLAN_OVERHEAD);
            // Not a block: the VXLAN device does not set DF, so the underlay fragments the
            // larger packets (slower, but they arrive).
            if mtu > fits {
                self.notes.push(format!(
                    "network {} has MTU {mtu}, but its VXLAN packets cross an underlay of MTU {}: at most {fits} fits under the {VXLAN_OVERHEAD}-byte VXLAN header, larger packets are fragmented on the underlay",
                    net.name, cl.underlay_mtu
                ));
            }
        }
        self.path.push(hop(
            "vxlan",
            &o.vxlan,
            format!("VNI {} → {} ({})", o.vni, r.node_addr, r.mac),
        ));
        let live = self.topo.cluster.as_ref().is_none_or(|c| c.live(&r.node));
        if let Some(why) = self
            .topo
            .cluster
            .as_ref()
            .and_then(|c| c.nodes_error.as_ref())
        {
            let note = format!(
                "whether node {} still holds its lease is not judged: {why}",
                peer_name(r)
            );
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        }
        if lost || !live {
            let why = if lost {
                "lost its lease, and the store dropped the endpoint with it"
            } else {
                "is no longer among the cluster's live nodes"
            };
            return Err(Block(
                Code::RemoteLeaseExpired,
                format!(
                    "node {} ({}), which holds {}'s endpoint {} on {}, {why}",
                    peer_name(r),
                    r.node_addr,
                    r.name,
                    r.ip,
                    net.name
                ),
            ));
        }
        self.crossings.push(Crossing {
            network: net.name.clone(),
            device: o.vxlan.clone(),
            endpoint: r.name.clone(),
            ip: r.ip,
            mac: r.mac.clone(),
            node_addr: r.node_addr.clone(),
            local: local.and_then(|(c, e)| {
                Some((c.name.clone(), c.sandbox_key.clone()?, e.ifname.clone()))
            }),
        });
        Ok(())
    }

    /// The peer host's half of the path: its node, its bridge, the remote container.
    fn peer_hops(&mut self, net: &NetworkView, bridge: &str, r: &RemoteEndpointView) {
        let node = &r.node[..12.min(r.node.len())];
        self.path.push(hop(
            "host",
            peer_name(r),
            format!("node {node} at {}", r.node_addr),
        ));
        self.path.push(hop(
            "bridge",
            bridge,
            format!("network {} on {}", net.name, peer_name(r)),
        ));
        self.path.push(hop(
            "container",
            &r.name,
            format!("{} on {}", r.ip, peer_name(r)),
        ));
    }

    pub(super) fn container_to_remote(
        &mut self,
        s: &'a ContainerView,
        r: &'a RemoteEndpointView,
        lost: bool,
    ) -> Step {
        let r = self.sibling(r, lost, |n| s.endpoint_on(n).is_some());
        let (net, bd) = self.overlay_of(r)?;
        let dport = self.port.map(|p| p.0);
        self.target = Some((r.ip, dport));
        let local = match s.endpoint_on(&r.network_id) {
            Some(es) => {
                // Bridged inside the network's own namespace, where br_netfilter is off: no
                // chain of the host's sees the frame.
                self.leave(s, es, &bd)?;
                Some((s, es))
            }
            None => {
                self.route_out(s, &r.name, &bd, r.ip, dport)?;
                // Routed by this host into the overlay: its own bridge fits the packet.
                None
            }
        };
        self.cross(net, &bd, r, lost, local)?;
        self.peer_hops(net, &bd, r);
        Ok(())
    }

    pub(super) fn host_to_remote(&mut self, r: &'a RemoteEndpointView, lost: bool) -> Step {
        let (net, bd) = self.overlay_of(r)?;
        self.target = Some((r.ip, self.port.map(|p| p.0)));
        self.path
            .push(hop("host", "host", "routes to the bridge's subnet"));
        self.link_ok(&bd, None)?;
        self.path
            .push(hop("bridge", &bd, format!("network {}", net.name)));
        self.cross(net, &bd, r, lost, None)?;
        self.peer_hops(net, &bd, r);
        Ok(())
    }

    pub(super) fn remote_to_container(
        &mut self,
        r: &'a RemoteEndpointView,
        lost: bool,
        d: &'a ContainerView,
    ) -> Step {
        let r = self.sibling(r, lost, |n| d.endpoint_on(n).is_some());
        let Some(ed) = d.endpoint_on(&r.network_id) else {
            return Err(Block(
                Code::NoCommonNetwork,
                format!(
                    "{} (on host {}) and {} share no overlay network; what {} reaches off it is its host's to say",
                    r.name,
                    peer_name(r),
                    d.name,
                    r.name
                ),
            ));
        };
        let (net, bd) = self.overlay_of(r)?;
        self.target = first_addr(ed).map(|a| (a, self.port.map(|p| p.0)));
        self.path.push(hop(
            "container",
            &r.name,
            format!("{} on {}", r.ip, peer_name(r)),
        ));
        self.path.push(hop(
            "host",
            peer_name(r),
            format!(
                "node {} at {}",
                &r.node[..12.min(r.node.len())],
                r.node_addr
            ),
        ));
        self.cross(net, &bd, r, lost, Some((d, ed)))?;
        self.enter(d, ed, &bd)
    }
}

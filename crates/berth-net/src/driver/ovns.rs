//! An overlay network's own namespace on this host ("ovns"), the router between the overlay and
//! the host. Inside it: the bridge `ov-<12 hex>` with the network's gateway (the same address on
//! every host), its VXLAN port, and the host ends of the containers' veths. The namespace has
//! br_netfilter off and no firewall, so frames crossing the overlay pass no conntrack or nft
//! chain; the host's own firewall sees the overlay only where traffic leaves or enters it.
//!
//! A transfer veth pair joins the namespace to the daemon's: its end here takes the bridge's
//! name, so the host's firewall (masquerade, published ports, isolation, `--internal`) keys on
//! it exactly as on a bridge network's bridge. Neither end has an address: the daemon's
//! namespace routes the overlay subnet on-link out of its end, the network's namespace its
//! default route on-link out of the other (none when the network is internal), and each end
//! answers ARP for what the other side routes through it (proxy ARP, without its delay).

use super::overlay::OverlayConfig;
use super::{delete_owned, owner, owner_alias};
use crate::error::{NetError, NetResult};
use crate::network::Network;
use crate::sys::{Kernel, TransferSpec, VxlanSpec, VXLAN_PORT};
use ipnet::IpNet;
use std::sync::Arc;

/// The name of the transfer pair's end inside the network's namespace.
pub const TRANSFER_PEER: &str = "ovt0";

/// The network namespace's settings: it routes, and bridged frames skip netfilter there.
pub const SYSCTLS: &[(&str, &str)] = &[
    ("net/ipv4/ip_forward", "1"),
    ("net/bridge/bridge-nf-call-iptables", "0"),
    ("net/bridge/bridge-nf-call-ip6tables", "0"),
    ("net/bridge/bridge-nf-call-arptables", "0"),
];

const EEXIST: i32 = 17;

fn exists_is_fine(r: crate::sys::SysResult<()>) -> crate::sys::SysResult<()> {
    match r {
        Err(e) if e.errno() == EEXIST => Ok(()),
        other => other,
    }
}

/// Proxy ARP on one end of the transfer pair, answering at once (the kernel's default delays a
/// proxied answer by up to 0.8 s).
fn proxy_arp(kernel: &dyn Kernel, link: &str) -> NetResult<()> {
    for (key, value) in [
        (format!("net/ipv4/conf/{link}/proxy_arp"), "1"),
        (format!("net/ipv4/neigh/{link}/proxy_delay"), "0"),
    ] {
        kernel
            .set_sysctl(&key, value)
            .map_err(NetError::kernel(format!("set {key}")))?;
    }
    Ok(())
}

/// A handle on the network's namespace, made (with its settings) when it is not there.
pub async fn namespace(
    kernel: &dyn Kernel,
    c: &OverlayConfig,
    net: &Network,
) -> NetResult<Arc<dyn Kernel>> {
    if c.netns.as_os_str().is_empty() {
        return Err(NetError::InvalidParameter(format!(
            "overlay network {} was stored by an older berth without a namespace; remove it and create it again",
            net.name
        )));
    }
    if let Ok(ns) = kernel.enter(&c.netns).await {
        return Ok(ns);
    }
    kernel
        .create_netns_fresh(&c.netns, SYSCTLS)
        .await
        .map_err(NetError::kernel(format!(
            "create the namespace of overlay network {}",
            net.name
        )))
}

/// A handle on the network's namespace if it exists.
pub async fn enter(kernel: &dyn Kernel, c: &OverlayConfig) -> Option<Arc<dyn Kernel>> {
    if c.netns.as_os_str().is_empty() {
        return None;
    }
    kernel.enter(&c.netns).await.ok()
}

/// Makes the namespace, its bridge and VXLAN device, and the transfer pair match `net`; every
/// step is skipped where it is already done, so a build a crash cut short is finished here.
pub async fn ensure(kernel: &dyn Kernel, net: &Network, c: &OverlayConfig) -> NetResult<()> {
    let ns = namespace(kernel, c, net).await?;
    super::bridge::ensure(ns.as_ref(), net).await?;
    ensure_vxlan(kernel, ns.as_ref(), net, c).await?;
    ensure_transfer(kernel, ns.as_ref(), net, c).await
}

async fn ensure_vxlan(
    kernel: &dyn Kernel,
    ns: &dyn Kernel,
    net: &Network,
    c: &OverlayConfig,
) -> NetResult<()> {
    if let Some(link) = ns
        .link(&c.vxlan)
        .await
        .map_err(NetError::kernel(format!("look up {}", c.vxlan)))?
    {
        if owner(&link) == Some(net.id.as_str()) {
            return Ok(());
        }
        return Err(NetError::Conflict(format!(
            "interface {} already exists and berth did not create it",
            c.vxlan
        )));
    }
    let master = ns
        .link_index(&c.bridge.name)
        .await
        .map_err(NetError::kernel(format!("look up {}", c.bridge.name)))?
        .ok_or_else(|| NetError::NotFound(format!("bridge {} vanished", c.bridge.name)))?;
    let spec = VxlanSpec {
        name: c.vxlan.clone(),
        vni: c.vni,
        local: c.local,
        port: VXLAN_PORT,
        master,
        mtu: c.bridge.mtu,
        alias: owner_alias(&net.id),
        netns: Some(c.netns.clone()),
    };
    // Made from the daemon's namespace: the device's UDP socket stays on the underlay.
    kernel
        .create_vxlan(&spec)
        .await
        .map_err(NetError::kernel(format!(
            "create vxlan {} (VNI {}) for {}",
            c.vxlan, c.vni, net.name
        )))?;
    Ok(())
}

async fn ensure_transfer(
    kernel: &dyn Kernel,
    ns: &dyn Kernel,
    net: &Network,
    c: &OverlayConfig,
) -> NetResult<()> {
    let name = &c.bridge.name;
    let found = kernel
        .link(name)
        .await
        .map_err(NetError::kernel(format!("look up {name}")))?;
    let host = match found {
        Some(l) if owner(&l) == Some(net.id.as_str()) && l.kind.as_deref() == Some("veth") => {
            l.index
        }
        Some(l) if owner(&l) == Some(net.id.as_str()) => {
            // The bridge an older berth kept here for this network: the transfer takes its name.
            kernel
                .delete_link(l.index)
                .await
                .map_err(NetError::kernel(format!("delete the old bridge {name}")))?;
            create_transfer(kernel, ns, net, c).await?
        }
        Some(_) => {
            return Err(NetError::Conflict(format!(
                "interface {name} already exists and berth did not create it"
            )))
        }
        None => create_transfer(kernel, ns, net, c).await?,
    };
    let inner = ns
        .link_index(TRANSFER_PEER)
        .await
        .map_err(NetError::kernel(format!("look up {TRANSFER_PEER}")))?
        .ok_or_else(|| {
            NetError::NotFound(format!(
                "{TRANSFER_PEER} vanished from the namespace of {}",
                net.name
            ))
        })?;
    proxy_arp(ns, TRANSFER_PEER)?;
    ns.set_up(inner)
        .await
        .map_err(NetError::kernel(format!("bring up {TRANSFER_PEER}")))?;
    if !net.internal {
        let default: IpNet = "0.0.0.0/0".parse().expect("valid default route");
        exists_is_fine(ns.add_route(inner, default).await).map_err(NetError::kernel(format!(
            "route {} out of its namespace",
            net.name
        )))?;
    }
    proxy_arp(kernel, name)?;
    for s in net.subnets.iter().filter(|s| s.subnet.addr().is_ipv4()) {
        exists_is_fine(kernel.add_route(host, s.subnet).await)
            .map_err(NetError::kernel(format!("route {} to {name}", s.subnet)))?;
    }
    Ok(())
}

async fn create_transfer(
    kernel: &dyn Kernel,
    ns: &dyn Kernel,
    net: &Network,
    c: &OverlayConfig,
) -> NetResult<u32> {
    // A peer left by a build that a crash cut short (its host end gone) is in the way.
    if let Ok(Some(stale)) = ns.link_index(TRANSFER_PEER).await {
        ns.delete_link(stale)
            .await
            .map_err(NetError::kernel(format!("delete a stale {TRANSFER_PEER}")))?;
    }
    kernel
        .create_transfer(&TransferSpec {
            host_name: c.bridge.name.clone(),
            alias: owner_alias(&net.id),
            mtu: c.bridge.mtu,
            peer_name: TRANSFER_PEER.into(),
            peer_ns: c.netns.clone(),
        })
        .await
        .map_err(NetError::kernel(format!(
            "create the transfer link {} of {}",
            c.bridge.name, net.name
        )))
}

/// Removes the network's objects here: the VXLAN device first and at once (a namespace that a
/// lingering handle keeps alive would keep its VNI taken on the shared UDP port), then the
/// transfer pair, then the namespace, with the bridge and whatever else is inside.
pub async fn remove(kernel: &dyn Kernel, net: &Network, c: &OverlayConfig) -> NetResult<()> {
    if let Some(ns) = enter(kernel, c).await {
        delete_owned(ns.as_ref(), &c.vxlan, &net.id).await?;
    }
    delete_owned(kernel, &c.bridge.name, &net.id).await?;
    if !c.netns.as_os_str().is_empty() {
        kernel
            .delete_netns(&c.netns)
            .map_err(NetError::kernel(format!(
                "remove the namespace of {}",
                net.name
            )))?;
    }
    Ok(())
}

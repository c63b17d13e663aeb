//! What macvlan and ipvlan share: a parent link on the host, children of it made directly inside
//! sandboxes, and the parent's own life (an 802.1q sub-interface or a stand-in berth makes).

use super::{owner_alias, Deferred, Join, KnownIndexes, Leave};
use crate::endpoint::Endpoint;
use crate::error::{NetError, NetResult};
use crate::network::Network;
use crate::sys::{BridgeSpec, ChildKind, ChildSpec, Kernel, EOPNOTSUPP};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const OPT_PARENT: &str = "parent";

/// Who made a network's parent link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParentOrigin {
    /// The user's link, used as it is.
    Host,
    /// `parent=IFACE.VLAN`: berth makes the 802.1q sub-interface unless it exists.
    Vlan { base: String, id: u16 },
    /// No parent given: a portless bridge of berth's own stands in for Docker's dummy link (this
    /// kernel has no dummy driver), so the network's containers reach each other and nothing else.
    StandIn,
}

/// The parent of a macvlan or ipvlan network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parent {
    pub name: String,
    pub origin: ParentOrigin,
}

/// Reads `-o parent=` for network `id` of driver `driver`.
pub fn parse_parent(opts: &BTreeMap<String, String>, id: &str, driver: &str) -> NetResult<Parent> {
    let name = match opts.get(OPT_PARENT).map(String::as_str) {
        None | Some("") => {
            return Ok(Parent {
                name: format!("dm-{}", &id[..12.min(id.len())]),
                origin: ParentOrigin::StandIn,
            })
        }
        Some(n) => n,
    };
    if name == "lo" {
        return Err(NetError::InvalidParameter(format!(
            "loopback interface is not a valid {driver} parent link"
        )));
    }
    if !super::bridge::valid_ifname(name) {
        return Err(NetError::InvalidParameter(format!(
            "invalid -o parent={name:?}: an interface name has 1 to 15 characters and no '/', ':' or spaces"
        )));
    }
    let origin = match name.rsplit_once('.') {
        Some((base, vlan)) if !base.is_empty() && vlan.chars().all(|c| c.is_ascii_digit()) => {
            let id = vlan
                .parse::<u16>()
                .ok()
                .filter(|v| (1..=4094).contains(v))
                .ok_or_else(|| {
                    NetError::InvalidParameter(format!(
                        "invalid -o parent={name}: the VLAN ID {vlan} must be from 1 to 4094"
                    ))
                })?;
            ParentOrigin::Vlan {
                base: base.to_string(),
                id,
            }
        }
        _ => ParentOrigin::Host,
    };
    Ok(Parent {
        name: name.to_string(),
        origin,
    })
}

/// Makes sure the parent exists: the user's must, berth's own are made. Returns its index.
pub async fn ensure_parent(kernel: &dyn Kernel, net: &Network, parent: &Parent) -> NetResult<u32> {
    let found = kernel
        .link(&parent.name)
        .await
        .map_err(NetError::kernel(format!("look up parent {}", parent.name)))?;
    if let Some(link) = found {
        if link.kind.is_none() && link.name == "lo" {
            return Err(NetError::InvalidParameter(
                "loopback interface is not a valid parent link".into(),
            ));
        }
        return Ok(link.index);
    }
    let alias = owner_alias(&net.id);
    match &parent.origin {
        ParentOrigin::Host => Err(NetError::InvalidParameter(format!(
            "-o parent interface was not found on the host: {}",
            parent.name
        ))),
        ParentOrigin::StandIn => kernel
            .create_bridge(&BridgeSpec {
                name: parent.name.clone(),
                mtu: super::bridge::DEFAULT_MTU,
                alias,
                addrs: vec![],
                ipv6: false,
            })
            .await
            .map_err(NetError::kernel(format!(
                "create {} to stand in for the parent of {}",
                parent.name, net.name
            ))),
        ParentOrigin::Vlan { base, id } => {
            let base_index = kernel
                .link_index(base)
                .await
                .map_err(NetError::kernel(format!("look up {base}")))?
                .ok_or_else(|| {
                    NetError::InvalidParameter(format!(
                        "-o parent interface was not found on the host: {base} (for the 802.1q sub-interface {})",
                        parent.name
                    ))
                })?;
            let spec = ChildSpec {
                name: parent.name.clone(),
                parent: base_index,
                kind: ChildKind::Vlan(*id),
                mac: None,
                alias: Some(alias),
                netns: None,
                up: true,
            };
            match kernel.create_child(&spec).await {
                Ok(()) => {}
                Err(e) if e.errno() == EOPNOTSUPP => {
                    return Err(NetError::InvalidParameter(format!(
                        "cannot make the 802.1q sub-interface {} of {base} for -o parent={}: this kernel has no 802.1q VLAN support (CONFIG_VLAN_8021Q, module 8021q)",
                        parent.name, parent.name
                    )))
                }
                Err(e) => {
                    return Err(NetError::Kernel {
                        context: format!("create 802.1q sub-interface {}", parent.name),
                        source: e,
                    })
                }
            }
            kernel
                .link_index(&parent.name)
                .await
                .map_err(NetError::kernel(format!("look up {}", parent.name)))?
                .ok_or_else(|| {
                    NetError::NotFound(format!("{} vanished as it was made", parent.name))
                })
        }
    }
}

/// Removes the parent if berth made it for this network.
pub async fn remove_parent(kernel: &dyn Kernel, net: &Network, parent: &Parent) -> NetResult<()> {
    if parent.origin == ParentOrigin::Host {
        return Ok(());
    }
    super::delete_owned(kernel, &parent.name, &net.id).await
}

/// The parent's links berth owns, by name (the user's own are not listed).
pub fn owned_links(parent: &Parent) -> Vec<String> {
    match parent.origin {
        ParentOrigin::Host => vec![],
        _ => vec![parent.name.clone()],
    }
}

async fn parent_index(
    kernel: &dyn Kernel,
    known: &mut KnownIndexes,
    net: &Network,
    parent: &str,
    fresh: bool,
) -> NetResult<u32> {
    if !fresh {
        if let Some(i) = known.bridges.get(parent) {
            return Ok(*i);
        }
    }
    let i = kernel
        .link_index(parent)
        .await
        .map_err(NetError::kernel(format!("find parent {parent}")))?
        .ok_or_else(|| {
            NetError::NotFound(format!(
                "parent {parent} of network {} is missing",
                net.name
            ))
        })?;
    known.bridges.insert(parent.to_string(), i);
    Ok(i)
}

/// Makes the endpoint's child of `parent` inside its sandbox, under its final name, and sets
/// it up there. A child's MAC is `mac` (none: the parent's, as ipvlan's are).
pub async fn join(
    cx: Join<'_>,
    parent: &str,
    kind: ChildKind,
    mac: Option<[u8; 6]>,
) -> NetResult<Option<u32>> {
    let Join {
        kernel,
        inner,
        known,
        sb,
        ep,
        net,
    } = cx;
    let remembered = known.bridges.contains_key(parent);
    let mut spec = ChildSpec {
        name: ep.ifname.clone(),
        parent: parent_index(kernel, known, net, parent, false).await?,
        kind,
        mac,
        alias: None,
        netns: Some(sb.path.clone()),
        up: false,
    };
    let mut made = kernel.create_child(&spec).await;
    if made.is_err() && remembered {
        // The parent may have been made again under the same name: ask once more.
        spec.parent = parent_index(kernel, known, net, parent, true).await?;
        made = kernel.create_child(&spec).await;
    }
    made.map_err(NetError::kernel(format!(
        "create {} {} on {parent} for {}",
        kind.type_name(),
        ep.ifname,
        net.name
    )))?;
    let index = inner
        .link_index(&ep.ifname)
        .await
        .map_err(NetError::kernel(format!("find {} in sandbox", ep.ifname)))?
        .ok_or_else(|| NetError::NotFound(format!("{} vanished from the sandbox", ep.ifname)))?;
    // No way out of an internal network: no default route.
    configure_inside(inner, index, ep, ep.default_route && !net.internal).await?;
    Ok(None)
}

/// Takes the child down at once and deletes it in the background (a sandbox about to go takes
/// its children with it: then it is only taken down).
pub async fn leave(cx: Leave<'_>) -> NetResult<Option<Deferred>> {
    let Some(inner) = cx.inner else {
        return Ok(None);
    };
    let ep = cx.ep;
    let Some(index) = inner
        .link_index(&ep.ifname)
        .await
        .map_err(NetError::kernel(format!("find {} in sandbox", ep.ifname)))?
    else {
        return Ok(None);
    };
    // Down at once, also when the namespace goes next: an up child holds its MAC on the
    // parent until the kernel frees it, and a newcomer given the same address (so the same
    // MAC) could not come up meanwhile (EADDRINUSE).
    inner
        .unplug(index)
        .await
        .map_err(NetError::kernel(format!("take {} down", ep.ifname)))?;
    if cx.sandbox_gone {
        return Ok(None);
    }
    let name = ep.ifname.clone();
    Ok(Some(Box::pin(async move {
        if let Err(e) = inner.delete_link(index).await {
            tracing::warn!(link = %name, error = %e, "teardown of a sandbox link failed");
        }
    })))
}

/// Addresses, link up and (when `route`) the default routes of an endpoint's interface inside
/// its sandbox.
pub async fn configure_inside(
    inner: &dyn Kernel,
    index: u32,
    ep: &Endpoint,
    route: bool,
) -> NetResult<()> {
    let ctx = |what: String| NetError::kernel(what);
    if ep.ipv6.is_some() {
        for dev in ["lo", ep.ifname.as_str()] {
            inner
                .set_sysctl(&format!("net/ipv6/conf/{dev}/disable_ipv6"), "0")
                .map_err(ctx(format!("enable IPv6 on {dev}")))?;
        }
    }
    for addr in [ep.ipv4, ep.ipv6].into_iter().flatten() {
        inner
            .add_address(index, addr)
            .await
            .map_err(ctx(format!("add {addr} to {}", ep.ifname)))?;
    }
    inner
        .set_up(index)
        .await
        .map_err(ctx(format!("bring up {}", ep.ifname)))?;
    if route {
        for gw in [ep.gateway4, ep.gateway6].into_iter().flatten() {
            inner
                .add_default_route(index, gw)
                .await
                .map_err(ctx(format!("default route via {gw}")))?;
        }
    }
    Ok(())
}

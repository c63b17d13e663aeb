//! What macvlan and ipvlan share: a parent link on the host, children of it made directly inside
//! sandboxes, and the parent's own life (an 802.1q sub-interface or a stand-in berth makes).

use super::{owner_alias, Deferred, Join, KnownIndexes, Leave};
use crate::endpoint::Endpoint;
use crate::error::{NetError, NetResult};
use crate::network::Network;
use crate::sys::{BridgeSpec, ChildKind, ChildSpec, Kernel, EADDRINUSE, EOPNOTSUPP};
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
///
/// With `delete_when_gone` (macvlan), a child whose sandbox is about to go is not taken down
/// but deleted in the background instead: taking a macvlan child down waits for an RCU grace
/// period inside the call (`macvlan_stop`, about 10 ms here), while a deletion drops its MAC
/// from the parent within the RTNL-held part of the request and waits for RCU only after the
/// lock is let go, on the background task. Until the deletion reaches the kernel a newcomer with
/// the same MAC cannot come up: [`configure_inside`] retries that briefly.
pub async fn leave(cx: Leave<'_>, delete_when_gone: bool) -> NetResult<Option<Deferred>> {
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
    if !(cx.sandbox_gone && delete_when_gone) {
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
    }
    let name = ep.ifname.clone();
    // The task holds the sandbox's socket, and with it the namespace, until the deletion is
    // done, also when the namespace is unpinned meanwhile. The deletion goes over a socket and
    // thread of its own: the kernel waits for RCU inside the request, and on the sandbox's
    // socket that wait would stall a worker of the daemon, and whatever it was to run next.
    Ok(Some(Box::pin(async move {
        let deleted = match inner.fork().await {
            Ok(own) => own.delete_link(index).await,
            Err(e) => {
                tracing::debug!(link = %name, error = %e, "no socket of its own for a teardown");
                inner.delete_link(index).await
            }
        };
        if let Err(e) = deleted {
            tracing::warn!(link = %name, error = %e, "teardown of a sandbox link failed");
        }
    })))
}

/// How long a newcomer waits for its MAC to be let go by a child being deleted in the
/// background (see [`leave`]). The deletion reaches the kernel within a millisecond or so;
/// beyond this the MAC is held by a link berth does not delete.
const MAC_RELEASE_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// Brings `index` up, retrying while its MAC is still held on the parent by a child whose
/// deletion is under way (EADDRINUSE).
async fn set_up_when_free(inner: &dyn Kernel, index: u32) -> crate::sys::SysResult<()> {
    let start = std::time::Instant::now();
    loop {
        match inner.set_up(index).await {
            Err(e) if e.errno() == EADDRINUSE && start.elapsed() < MAC_RELEASE_WAIT => {
                tokio::time::sleep(std::time::Duration::from_micros(200)).await;
            }
            other => return other,
        }
    }
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
    set_up_when_free(inner, index)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::FakeKernel;
    use crate::sys::MacvlanMode;
    use std::path::Path;
    use std::sync::Arc;

    const MAC: [u8; 6] = [0x02, 0x42, 10, 0, 0, 2];

    fn endpoint() -> Endpoint {
        Endpoint {
            id: "e".into(),
            owner: "o".into(),
            name: "c".into(),
            network_id: "n".into(),
            sandbox_id: "s".into(),
            ifname: "eth0".into(),
            host_ifname: String::new(),
            mac: MAC,
            ipv4: Some("10.0.0.2/24".parse().unwrap()),
            ipv6: None,
            gateway4: None,
            gateway6: None,
            requested4: None,
            requested6: None,
            aliases: vec![],
            default_route: false,
        }
    }

    /// A sandbox at `path` with a macvlan child `eth0` of `parent` carrying [`MAC`], down.
    async fn sandbox_with_child(
        host: &FakeKernel,
        parent: u32,
        path: &Path,
    ) -> (Arc<dyn Kernel>, u32) {
        let inner = host.create_netns(path, &[]).await.unwrap();
        host.create_child(&ChildSpec {
            name: "eth0".into(),
            parent,
            kind: ChildKind::Macvlan(MacvlanMode::Bridge),
            mac: Some(MAC),
            alias: None,
            netns: Some(path.to_path_buf()),
            up: false,
        })
        .await
        .unwrap();
        let index = inner.link_index("eth0").await.unwrap().unwrap();
        (inner, index)
    }

    async fn leave_gone(
        host: &FakeKernel,
        inner: Arc<dyn Kernel>,
        delete_when_gone: bool,
    ) -> Option<Deferred> {
        let teardown = host.fork().await.unwrap();
        let mut known = KnownIndexes::default();
        leave(
            Leave {
                kernel: host,
                teardown: &teardown,
                inner: Some(inner),
                known: &mut known,
                ep: &endpoint(),
                sandbox_gone: true,
            },
            delete_when_gone,
        )
        .await
        .unwrap()
    }

    /// A fake host with a parent `uplink` and an up child of it in sandbox `a`.
    async fn up_child() -> (FakeKernel, u32, tempfile::TempDir, Arc<dyn Kernel>) {
        let host = FakeKernel::new();
        let parent = host.add_foreign_link("uplink", "veth");
        let dir = tempfile::tempdir().unwrap();
        let (old, old_index) = sandbox_with_child(&host, parent, &dir.path().join("a")).await;
        old.set_up(old_index).await.unwrap();
        (host, parent, dir, old)
    }

    #[tokio::test]
    async fn a_macvlan_child_whose_sandbox_goes_is_deleted_in_the_background() {
        let (host, parent, dir, old) = up_child().await;
        let (new, new_index) = sandbox_with_child(&host, parent, &dir.path().join("b")).await;
        assert_eq!(
            new.set_up(new_index).await.unwrap_err().errno(),
            EADDRINUSE,
            "two up children of a parent cannot share a MAC"
        );
        // Not taken down in the call (that waits for RCU): the deletion is left to a task.
        let rest = leave_gone(&host, old.clone(), true)
            .await
            .expect("a deletion left to the background");
        assert!(old.link("eth0").await.unwrap().unwrap().up);
        // A newcomer with the same MAC waits for the deletion instead of failing.
        let deleted = tokio::spawn(rest);
        set_up_when_free(new.as_ref(), new_index).await.unwrap();
        deleted.await.unwrap();
        assert!(old.link("eth0").await.unwrap().is_none());
        assert!(new.link("eth0").await.unwrap().unwrap().up);
    }

    #[tokio::test]
    async fn without_background_deletion_a_child_whose_sandbox_goes_is_only_taken_down() {
        let (host, _parent, _dir, old) = up_child().await;
        assert!(leave_gone(&host, old.clone(), false).await.is_none());
        let eth0 = old.link("eth0").await.unwrap().unwrap();
        assert!(!eth0.up, "down at once: its MAC is free for a newcomer");
    }
}

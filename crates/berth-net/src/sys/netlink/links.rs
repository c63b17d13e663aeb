//! Links: listing, bridges, admin state, names and marks, bridge ports.

use super::{nl_err, NetlinkKernel, EADDRNOTAVAIL, ENODEV};
use crate::sys::{BridgeSpec, Kernel, Link, SysError, SysResult};
use futures::TryStreamExt;
use netlink_packet_core::DefaultNla;
use netlink_packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, LinkProtoInfoBridge,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::{LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec};

pub(super) fn parse_link(msg: &LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        kind: None,
        alias: None,
        mtu: 0,
        up: msg.header.flags.contains(LinkFlags::Up),
        addrs: vec![],
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::IfAlias(a) => link.alias = Some(a.clone()),
            LinkAttribute::Mtu(m) => link.mtu = *m,
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(kind) = info {
                        link.kind = Some(kind_name(kind));
                    }
                }
            }
            _ => {}
        }
    }
    link
}

fn kind_name(kind: &InfoKind) -> String {
    match kind {
        InfoKind::Bridge => "bridge".into(),
        InfoKind::Veth => "veth".into(),
        other => other.to_string(),
    }
}

pub(super) async fn links(k: &NetlinkKernel) -> SysResult<Vec<Link>> {
    let mut links = Vec::new();
    {
        let _turn = k.dump.lock().await;
        let mut stream = k.handle.link().get().execute();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(|e| nl_err("list links", "", e))?
        {
            links.push(parse_link(&msg));
        }
    }
    let mut addrs = super::addresses::all(k).await?;
    for l in &mut links {
        l.addrs = addrs.remove(&l.index).unwrap_or_default();
    }
    Ok(links)
}

pub(super) async fn link(k: &NetlinkKernel, name: &str) -> SysResult<Option<Link>> {
    let Some(msg) = k.link_message(name).await? else {
        return Ok(None);
    };
    let mut link = parse_link(&msg);
    link.addrs = super::addresses::all(k)
        .await?
        .remove(&link.index)
        .unwrap_or_default();
    Ok(Some(link))
}

pub(super) async fn create_bridge(k: &NetlinkKernel, spec: &BridgeSpec) -> SysResult<u32> {
    k.handle
        .link()
        // Born down: what must be decided before it comes up (accept_dad) is set first.
        .add(
            LinkMessageBuilder::<LinkBridge>::new(&spec.name)
                .mtu(spec.mtu)
                .build(),
        )
        .execute()
        .await
        .map_err(|e| nl_err("create bridge", &spec.name, e))?;
    let link = link(k, &spec.name)
        .await?
        .ok_or_else(|| SysError::Netlink {
            op: "create bridge",
            object: spec.name.clone(),
            message: "bridge vanished right after creation".into(),
            errno: ENODEV,
        })?;
    if spec.ipv6 {
        k.set_sysctl(&format!("net/ipv6/conf/{}/accept_dad", spec.name), "0")?;
    }
    // The kernel ignores IFLA_IFALIAS on creation, so the ownership mark is a second message.
    configure(k, link.index, &spec.alias, spec.mtu).await?;
    for addr in &spec.addrs {
        super::addresses::add(k, link.index, *addr).await?;
    }
    Ok(link.index)
}

pub(super) async fn configure(
    k: &NetlinkKernel,
    index: u32,
    alias: &str,
    mtu: u32,
) -> SysResult<()> {
    k.handle
        .link()
        .set(
            LinkUnspec::new_with_index(index)
                .alias(alias)
                .mtu(mtu)
                .up()
                .build(),
        )
        .execute()
        .await
        .map_err(|e| nl_err("configure link", index.to_string(), e))
}

pub(super) async fn delete(k: &NetlinkKernel, index: u32) -> SysResult<()> {
    k.handle
        .link()
        .del(index)
        .execute()
        .await
        .map_err(|e| nl_err("delete link", index.to_string(), e))
}

pub(super) async fn park(k: &NetlinkKernel, index: u32, name: &str, alias: &str) -> SysResult<()> {
    k.handle
        .link()
        .set(LinkUnspec::new_with_index(index).down().build())
        .execute()
        .await
        .map_err(|e| nl_err("take down", index.to_string(), e))?;
    // Down, a link keeps its IPv4 addresses (IPv6 ones go with it): each is removed.
    let held: Vec<_> = {
        let _turn = k.dump.lock().await;
        k.handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(|e| nl_err("list addresses", index.to_string(), e))?
    };
    for msg in held.into_iter().filter(|m| m.header.index == index) {
        match k.handle.address().del(msg).execute().await {
            Ok(()) => {}
            // Gone meanwhile (an IPv6 address leaving with the link).
            Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == EADDRNOTAVAIL => {}
            Err(e) => return Err(nl_err("remove address", index.to_string(), e)),
        }
    }
    rename(k, index, name, alias).await
}

pub(super) async fn rename(
    k: &NetlinkKernel,
    index: u32,
    name: &str,
    alias: &str,
) -> SysResult<()> {
    k.handle
        .link()
        .set(
            LinkUnspec::new_with_index(index)
                .name(name.to_string())
                .alias(alias)
                .build(),
        )
        .execute()
        .await
        .map_err(|e| nl_err("rename link", format!("{index} to {name}"), e))
}

pub(super) async fn set_up(k: &NetlinkKernel, index: u32) -> SysResult<()> {
    k.handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| nl_err("set up", index.to_string(), e))
}

pub(super) async fn unplug(k: &NetlinkKernel, index: u32) -> SysResult<()> {
    k.handle
        .link()
        .set(
            LinkUnspec::new_with_index(index)
                .nocontroller()
                .down()
                .build(),
        )
        .execute()
        .await
        .map_err(|e| nl_err("unplug", index.to_string(), e))
}

pub(super) async fn shut_port(k: &NetlinkKernel, index: u32) -> SysResult<()> {
    // IFLA_BRPORT_* of linux/if_link.h, sent as `bridge link set` does (RTM_SETLINK for
    // AF_BRIDGE). Through RTM_NEWLINK (`ip link set … type bridge_slave`) the kernel also
    // signals NETDEV_CHANGE, and the bridge's carrier check enables the port again at once.
    const STATE: u16 = 1;
    const LEARNING: u16 = 8;
    const UNICAST_FLOOD: u16 = 9;
    const FLUSH: u16 = 24;
    const MCAST_FLOOD: u16 = 27;
    const BCAST_FLOOD: u16 = 30;
    const DISABLED: u8 = 0;
    let attr =
        |kind: u16, value: &[u8]| LinkProtoInfoBridge::Other(DefaultNla::new(kind, value.to_vec()));
    let mut msg = LinkMessage::default();
    msg.header.interface_family = AddressFamily::Bridge;
    msg.header.index = index;
    // Disabled, and also nothing flooded to it and nothing learned from it: a carrier
    // change may enable the port again, and it must still receive nothing.
    msg.attributes.push(LinkAttribute::ProtoInfoBridge(vec![
        attr(STATE, &[DISABLED]),
        attr(LEARNING, &[0]),
        attr(UNICAST_FLOOD, &[0]),
        attr(MCAST_FLOOD, &[0]),
        attr(BCAST_FLOOD, &[0]),
        attr(FLUSH, &[]),
    ]));
    let shut = k.handle.link().set(msg).execute().await;
    match shut {
        Ok(()) => Ok(()),
        // Kernel STP owns port states (EBUSY): take it off the bridge instead.
        Err(e) => {
            tracing::debug!(index, error = %e, "cannot disable bridge port; unplugging it");
            unplug(k, index).await
        }
    }
}

pub(super) async fn set_hairpin(k: &NetlinkKernel, index: u32, on: bool) -> SysResult<()> {
    k.handle
        .link()
        .set_port(LinkBridgePort::new(index).hairpin(on).build())
        .execute()
        .await
        .map_err(|e| nl_err("set hairpin", index.to_string(), e))
}

//! Links made for sandboxes: veth pairs whose peer is born inside the sandbox, and macvlan,
//! ipvlan and VLAN links stacked on a parent.

use super::{nl_err, NetlinkKernel};
use crate::sys::{
    ChildKind, ChildSpec, IpvlanFlag, IpvlanMode, Kernel, MacvlanMode, SysError, SysResult,
    VethSpec,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, IpVlanFlags, IpVlanMode, LinkAttribute, LinkMessage, MacVlanMode,
};
use rtnetlink::{LinkIpVlan, LinkMacVlan, LinkMessageBuilder, LinkUnspec, LinkVeth, LinkVlan};
use std::os::fd::AsRawFd;
use std::path::Path;

fn open_ns(path: &Path) -> SysResult<std::fs::File> {
    std::fs::File::open(path).map_err(|source| SysError::Netns {
        op: "open",
        path: path.display().to_string(),
        source,
    })
}

pub(super) async fn create_veth(k: &NetlinkKernel, spec: &VethSpec) -> SysResult<()> {
    let ns = open_ns(&spec.peer_ns)?;
    // The peer is born inside the sandbox with its final name, MAC and MTU: one message, and
    // no moment where "eth0" has to exist in this namespace.
    let peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(spec.peer_name.clone())
        .address(spec.peer_mac.to_vec())
        .mtu(spec.mtu)
        .setns_by_fd(ns.as_raw_fd())
        .build();
    let mut msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(spec.host_name.clone())
        .mtu(spec.mtu)
        .controller(spec.master);
    if k.v6_conf.is_none() {
        msg = msg.up();
    }
    k.handle
        .link()
        .add(
            msg.set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                .build(),
        )
        .execute()
        .await
        .map_err(|e| nl_err("create veth", &spec.host_name, e))?;
    drop(ns);
    if let Some(conf) = &k.v6_conf {
        // A bridge port needs no IPv6 of its own. With it, every host end would get a
        // link-local address (DAD, router solicitations and MLD sent into the container)
        // and two routes in the daemon's table, which the kernel walks on each new one:
        // a cost per veth that grows with the number of containers. Off before it is up.
        let key = format!("{}/disable_ipv6", spec.host_name);
        if let Err(e) = conf.write(&key, "1") {
            tracing::warn!(link = %spec.host_name, error = %e, "cannot turn IPv6 off on a veth");
        }
        k.handle
            .link()
            .set(LinkUnspec::new_with_name(&spec.host_name).up().build())
            .execute()
            .await
            .map_err(|e| nl_err("bring up", &spec.host_name, e))?;
    }
    Ok(())
}

pub(super) async fn veth_peer(k: &NetlinkKernel, name: &str) -> SysResult<Option<(u32, u32)>> {
    let Some(msg) = k.link_message(name).await? else {
        return Ok(None);
    };
    let peer = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::Link(i) => Some(*i),
        _ => None,
    });
    Ok(peer.map(|p| (msg.header.index, p)))
}

/// The options every stacked link shares, on the builder of its type.
fn child_message<T>(
    b: LinkMessageBuilder<T>,
    spec: &ChildSpec,
    ns: Option<&std::fs::File>,
) -> LinkMessage {
    let mut b = b;
    if let Some(mac) = spec.mac {
        b = b.address(mac.to_vec());
    }
    if let Some(alias) = &spec.alias {
        b = b.alias(alias.clone());
    }
    if let Some(f) = ns {
        b = b.setns_by_fd(f.as_raw_fd());
    }
    if spec.up {
        b = b.up();
    }
    b.build()
}

pub(super) async fn create_child(k: &NetlinkKernel, spec: &ChildSpec) -> SysResult<()> {
    let ns = spec.netns.as_deref().map(open_ns).transpose()?;
    let msg = match spec.kind {
        ChildKind::Macvlan(mode) => {
            let mode = match mode {
                MacvlanMode::Bridge => MacVlanMode::Bridge,
                MacvlanMode::Private => MacVlanMode::Private,
                MacvlanMode::Vepa => MacVlanMode::Vepa,
                MacvlanMode::Passthru => MacVlanMode::Passthrough,
            };
            child_message(
                LinkMacVlan::new(&spec.name, spec.parent, mode),
                spec,
                ns.as_ref(),
            )
        }
        ChildKind::Ipvlan(mode, flag) => {
            let mode = match mode {
                IpvlanMode::L2 => IpVlanMode::L2,
                IpvlanMode::L3 => IpVlanMode::L3,
                IpvlanMode::L3s => IpVlanMode::L3S,
            };
            let flag = match flag {
                IpvlanFlag::Bridge => IpVlanFlags::empty(),
                IpvlanFlag::Private => IpVlanFlags::Private,
                IpvlanFlag::Vepa => IpVlanFlags::Vepa,
            };
            child_message(
                LinkIpVlan::new(&spec.name, spec.parent, mode).flag(flag),
                spec,
                ns.as_ref(),
            )
        }
        ChildKind::Vlan(id) => child_message(
            LinkVlan::new(&spec.name, spec.parent, id),
            spec,
            ns.as_ref(),
        ),
    };
    k.handle.link().add(msg).execute().await.map_err(|e| {
        nl_err(
            "create link",
            format!("{} ({})", spec.name, spec.kind.type_name()),
            e,
        )
    })?;
    // The kernel ignores IFLA_IFALIAS on creation, so the ownership mark is a second message.
    if let (Some(alias), None) = (&spec.alias, &spec.netns) {
        let set = LinkUnspec::new_with_name(&spec.name)
            .alias(alias.clone())
            .build();
        if let Err(e) = k.handle.link().set(set).execute().await {
            let err = nl_err("mark", &spec.name, e);
            if let Ok(Some(i)) = k.link_index(&spec.name).await {
                if let Err(d) = k.delete_link(i).await {
                    tracing::warn!(link = %spec.name, error = %d, "cannot remove a link that could not be marked as berth's");
                }
            }
            return Err(err);
        }
    }
    Ok(())
}

//! VXLAN devices and the static entries that steer an overlay's frames: a permanent neighbour
//! (so the device answers ARP for a remote endpoint itself) and an FDB entry sending the
//! endpoint's MAC to its node's underlay address. With learning off and no default FDB entry,
//! nothing floods and nothing is learned from the wire: every remote entry is one berth made.

use super::{SysError, SysResult};
use futures::TryStreamExt;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::{Handle, LinkVxlan};
use std::net::{IpAddr, Ipv4Addr};

/// The IANA VXLAN port, as Docker's overlay uses.
pub const VXLAN_PORT: u16 = 4789;

/// What an overlay's VXLAN device must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanSpec {
    pub name: String,
    pub vni: u32,
    /// The node's advertise address: the source of encapsulated packets.
    pub local: Ipv4Addr,
    pub port: u16,
    /// The bridge the device is a port of (its index in `netns` when that is set).
    pub master: u32,
    pub mtu: u32,
    /// IFLA_IFALIAS ownership mark.
    pub alias: String,
    /// The overlay network's own namespace: the device is born there, while its UDP socket
    /// stays in the namespace that made it, on the underlay (as `ip link add … netns` does).
    pub netns: Option<std::path::PathBuf>,
}

/// The permanent entries on one VXLAN device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteTable {
    /// Permanent neighbours: (endpoint address, endpoint MAC).
    pub neighbours: Vec<(Ipv4Addr, [u8; 6])>,
    /// Static FDB entries with a remote: (endpoint MAC, node's underlay address).
    pub fdb: Vec<([u8; 6], Ipv4Addr)>,
}

fn err(op: &'static str, object: String, e: rtnetlink::Error) -> SysError {
    let errno = match &e {
        rtnetlink::Error::NetlinkError(m) => -m.raw_code(),
        _ => 0,
    };
    SysError::Netlink {
        op,
        object,
        message: match &e {
            rtnetlink::Error::NetlinkError(m) => m.to_io().to_string(),
            other => other.to_string(),
        },
        errno,
    }
}

fn mac_str(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Creates the device (learning off, ARP proxy on, a port of `spec.master`, up); its index.
pub(super) async fn create(handle: &Handle, spec: &VxlanSpec) -> SysResult<u32> {
    let mut msg = LinkVxlan::new(&spec.name, spec.vni)
        .local(spec.local)
        .port(spec.port)
        .learning(false)
        .proxy(true)
        .l2miss(false)
        .l3miss(false)
        .mtu(spec.mtu);
    let ns = match &spec.netns {
        Some(path) => Some(std::fs::File::open(path).map_err(|source| SysError::Netns {
            op: "open",
            path: path.display().to_string(),
            source,
        })?),
        None => None,
    };
    msg = match &ns {
        Some(f) => msg.setns_by_fd(std::os::fd::AsRawFd::as_raw_fd(f)),
        None => msg.controller(spec.master),
    };
    handle
        .link()
        .add(msg.build())
        .execute()
        .await
        .map_err(|e| err("create vxlan", spec.name.clone(), e))?;
    match &spec.netns {
        None => mark_up(handle, spec, None).await,
        Some(path) => {
            let rt = tokio::runtime::Handle::current();
            let (conn, inner, _) = super::netns::run_in(path, move || {
                let _ctx = rt.enter();
                rtnetlink::new_connection()
            })?;
            let task = tokio::spawn(conn);
            let done = mark_up(&inner, spec, Some(spec.master)).await;
            task.abort();
            done
        }
    }
}

/// Finds the new device, puts it on `master` when given, marks it and brings it up; a device
/// that cannot be marked is deleted again, since unmarked it would be nobody's.
async fn mark_up(handle: &Handle, spec: &VxlanSpec, master: Option<u32>) -> SysResult<u32> {
    let mut links = handle.link().get().match_name(spec.name.clone()).execute();
    let index = match links.try_next().await {
        Ok(Some(m)) => m.header.index,
        Ok(None) | Err(_) => {
            return Err(SysError::Netlink {
                op: "create vxlan",
                object: spec.name.clone(),
                message: "device vanished right after creation".into(),
                errno: 19,
            })
        }
    };
    let mut set = rtnetlink::LinkUnspec::new_with_index(index).alias(spec.alias.clone());
    if let Some(m) = master {
        set = set.controller(m);
    }
    if let Err(e) = handle.link().set(set.up().build()).execute().await {
        // The delete is best effort: the caller's undo removes the namespace anyway.
        let _ = handle.link().del(index).execute().await;
        return Err(err("mark vxlan", spec.name.clone(), e));
    }
    Ok(index)
}

pub(super) async fn add_neighbour(
    handle: &Handle,
    dev: u32,
    ip: Ipv4Addr,
    mac: [u8; 6],
) -> SysResult<()> {
    handle
        .neighbours()
        .add(dev, IpAddr::V4(ip))
        .link_layer_address(&mac)
        .state(NeighbourState::Permanent)
        .replace()
        .execute()
        .await
        .map_err(|e| err("add neighbour", format!("{ip} on {dev}"), e))
}

pub(super) async fn add_fdb(
    handle: &Handle,
    dev: u32,
    mac: [u8; 6],
    dst: Ipv4Addr,
) -> SysResult<()> {
    handle
        .neighbours()
        .add_bridge(dev, &mac)
        .destination(IpAddr::V4(dst))
        .flags(NeighbourFlags::Own)
        .state(NeighbourState::Permanent)
        .replace()
        .execute()
        .await
        .map_err(|e| err("add fdb", format!("{} on {dev}", mac_str(&mac)), e))
}

fn gone_is_fine(r: Result<(), rtnetlink::Error>) -> Result<(), rtnetlink::Error> {
    match r {
        // ENOENT: the entry is already gone, which is what was asked for.
        Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code() == -2 => Ok(()),
        other => other,
    }
}

pub(super) async fn delete_neighbour(handle: &Handle, dev: u32, ip: Ipv4Addr) -> SysResult<()> {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.ifindex = dev;
    m.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
    gone_is_fine(handle.neighbours().del(m).execute().await)
        .map_err(|e| err("delete neighbour", format!("{ip} on {dev}"), e))
}

pub(super) async fn delete_fdb(
    handle: &Handle,
    dev: u32,
    mac: [u8; 6],
    dst: Ipv4Addr,
) -> SysResult<()> {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Bridge;
    m.header.ifindex = dev;
    m.header.flags = NeighbourFlags::Own;
    m.attributes
        .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
    m.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(dst)));
    gone_is_fine(handle.neighbours().del(m).execute().await)
        .map_err(|e| err("delete fdb", format!("{} on {dev}", mac_str(&mac)), e))
}

fn lladdr(m: &NeighbourMessage) -> Option<[u8; 6]> {
    m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(l) => <[u8; 6]>::try_from(l.as_slice()).ok(),
        _ => None,
    })
}

fn dst4(m: &NeighbourMessage) -> Option<Ipv4Addr> {
    m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(*ip),
        // An AF_BRIDGE (FDB) message's NDA_DST is not decoded by family: four raw bytes.
        NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
            <[u8; 4]>::try_from(b.as_slice()).ok().map(Ipv4Addr::from)
        }
        _ => None,
    })
}

/// The permanent neighbours and remote FDB entries of `dev` (two dumps).
pub(crate) async fn table(handle: &Handle, dev: u32) -> SysResult<RemoteTable> {
    let mut out = RemoteTable::default();
    let mut neigh = handle.neighbours().get().execute();
    while let Some(m) = neigh
        .try_next()
        .await
        .map_err(|e| err("list neighbours", dev.to_string(), e))?
    {
        if m.header.ifindex != dev || m.header.state != NeighbourState::Permanent {
            continue;
        }
        match m.header.family {
            AddressFamily::Inet => {
                if let (Some(ip), Some(mac)) = (dst4(&m), lladdr(&m)) {
                    out.neighbours.push((ip, mac));
                }
            }
            AddressFamily::Bridge => {
                if let (Some(dst), Some(mac)) = (dst4(&m), lladdr(&m)) {
                    out.fdb.push((mac, dst));
                }
            }
            _ => {}
        }
    }
    let mut fdb = handle
        .neighbours()
        .get()
        .set_address_family(AddressFamily::Bridge)
        .execute();
    while let Some(m) = fdb
        .try_next()
        .await
        .map_err(|e| err("list fdb", dev.to_string(), e))?
    {
        if m.header.ifindex != dev || m.header.state != NeighbourState::Permanent {
            continue;
        }
        if let (Some(dst), Some(mac)) = (dst4(&m), lladdr(&m)) {
            if !out.fdb.contains(&(mac, dst)) {
                out.fdb.push((mac, dst));
            }
        }
    }
    Ok(out)
}

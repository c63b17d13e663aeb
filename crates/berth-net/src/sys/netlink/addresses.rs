//! Addresses: the dump behind [`crate::sys::Link::addrs`], and adding one.

use super::{nl_err, NetlinkKernel, EEXIST};
use crate::sys::SysResult;
use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use std::collections::HashMap;

/// Every address of the namespace, by link index.
pub(super) async fn all(k: &NetlinkKernel) -> SysResult<HashMap<u32, Vec<IpNet>>> {
    let _turn = k.dump.lock().await;
    let mut out: HashMap<u32, Vec<IpNet>> = HashMap::new();
    let mut stream = k.handle.address().get().execute();
    while let Some(msg) = stream
        .try_next()
        .await
        .map_err(|e| nl_err("list addresses", "", e))?
    {
        let mut local = None;
        let mut address = None;
        for attr in &msg.attributes {
            match attr {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                _ => {}
            }
        }
        if let Some(ip) = local.or(address) {
            if let Ok(net) = IpNet::new(ip, msg.header.prefix_len) {
                out.entry(msg.header.index).or_default().push(net);
            }
        }
    }
    Ok(out)
}

pub(super) async fn add(k: &NetlinkKernel, index: u32, addr: IpNet) -> SysResult<()> {
    let mut req = k
        .handle
        .address()
        .add(index, addr.addr(), addr.prefix_len());
    if addr.addr().is_ipv6() {
        let msg = req.message_mut();
        msg.header.flags |= AddressHeaderFlags::Nodad;
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    match req.execute().await {
        Ok(()) => Ok(()),
        Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == EEXIST => Ok(()),
        Err(e) => Err(nl_err("add address", addr.to_string(), e)),
    }
}

//! Addresses and routes of the fake world.

use super::{exists, gone, FakeKernel};
use crate::sys::SysResult;
use ipnet::IpNet;
use std::net::IpAddr;

pub(super) fn add_address(k: &FakeKernel, index: u32, addr: IpNet) -> SysResult<()> {
    k.with_ns(|n| match n.links.get_mut(&index) {
        Some(l) => {
            if !l.link.addrs.contains(&addr) {
                l.link.addrs.push(addr);
            }
            Ok(())
        }
        None => Err(gone("add address", addr.to_string())),
    })?
}

/// The routes added plus the prefix routes of every address, as the kernel makes them.
pub(super) fn onlink_routes(k: &FakeKernel) -> SysResult<Vec<IpNet>> {
    k.with_ns(|n| {
        let mut routes = n.routes.clone();
        for l in n.links.values() {
            routes.extend(l.link.addrs.iter().map(|a| a.trunc()));
        }
        routes
    })
}

pub(super) fn add_route(k: &FakeKernel, index: u32, dest: IpNet) -> SysResult<()> {
    k.with_ns(|n| {
        if !n.links.contains_key(&index) {
            return Err(gone("add route", index.to_string()));
        }
        if n.routes.contains(&dest) {
            return Err(exists("add route to", dest.to_string()));
        }
        n.routes.push(dest);
        Ok(())
    })?
}

pub(super) fn add_default_route(k: &FakeKernel, index: u32, gateway: IpAddr) -> SysResult<()> {
    k.with_ns(|n| {
        if !n.links.contains_key(&index) {
            return Err(gone("add default route", index.to_string()));
        }
        if !n
            .default_routes
            .iter()
            .any(|(_, g)| g.is_ipv4() == gateway.is_ipv4())
        {
            n.default_routes.push((index, gateway));
        }
        Ok(())
    })?
}

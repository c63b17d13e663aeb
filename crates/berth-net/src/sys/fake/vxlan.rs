//! VXLAN devices of the fake world and their static neighbour and FDB entries.

use super::{exists, gone, ns_key, plain, FakeKernel};
use crate::sys::{RemoteTable, SysResult, VxlanSpec};
use std::net::Ipv4Addr;

impl FakeKernel {
    fn with_remote<T>(
        &self,
        dev: u32,
        op: &'static str,
        f: impl FnOnce(&mut RemoteTable) -> T,
    ) -> SysResult<T> {
        self.with_ns(|n| match n.links.get_mut(&dev) {
            Some(l) => Ok(f(&mut l.remote)),
            None => Err(gone(op, dev.to_string())),
        })?
    }
}

/// Made here, or inside `spec.netns` (on the bridge `spec.master` there) when that is set.
pub(super) fn create(k: &FakeKernel, spec: &VxlanSpec) -> SysResult<u32> {
    let target = spec.netns.as_deref().map(ns_key);
    k.with(|w, here| {
        let ns = target.as_deref().unwrap_or(here);
        let index = w.next_index;
        let n = w
            .namespaces
            .get_mut(ns)
            .ok_or_else(|| gone("use namespace", ns.into()))?;
        if n.links.values().any(|l| l.link.name == spec.name) {
            return Err(exists("create vxlan", spec.name.clone()));
        }
        if !n.links.contains_key(&spec.master) {
            return Err(gone("create vxlan on bridge", spec.master.to_string()));
        }
        let mut l = plain(
            index,
            &spec.name,
            "vxlan",
            spec.mtu,
            true,
            vec![],
            Some(spec.alias.clone()),
        );
        l.master = Some(spec.master);
        l.vxlan = Some((spec.vni, spec.local));
        n.links.insert(index, l);
        w.next_index += 1;
        Ok(index)
    })
}

pub(super) fn add_neighbour(k: &FakeKernel, dev: u32, ip: Ipv4Addr, mac: [u8; 6]) -> SysResult<()> {
    k.with_remote(dev, "add neighbour", |t| {
        t.neighbours.retain(|(i, _)| *i != ip);
        t.neighbours.push((ip, mac));
    })
}

pub(super) fn delete_neighbour(k: &FakeKernel, dev: u32, ip: Ipv4Addr) -> SysResult<()> {
    k.with_remote(dev, "delete neighbour", |t| {
        t.neighbours.retain(|(i, _)| *i != ip)
    })
}

pub(super) fn add_fdb(k: &FakeKernel, dev: u32, mac: [u8; 6], dst: Ipv4Addr) -> SysResult<()> {
    k.with_remote(dev, "add fdb", |t| {
        if !t.fdb.contains(&(mac, dst)) {
            t.fdb.push((mac, dst));
        }
    })
}

pub(super) fn delete_fdb(k: &FakeKernel, dev: u32, mac: [u8; 6], dst: Ipv4Addr) -> SysResult<()> {
    k.with_remote(dev, "delete fdb", |t| t.fdb.retain(|e| *e != (mac, dst)))
}

pub(super) fn table(k: &FakeKernel, dev: u32) -> SysResult<RemoteTable> {
    k.with_remote(dev, "list neighbours", |t| t.clone())
}

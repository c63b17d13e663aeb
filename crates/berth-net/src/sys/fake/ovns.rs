//! An overlay network's namespace in the fake world: the transfer pair, and VXLAN devices born
//! inside another namespace (see `sys/ovns.rs`).

use super::{exists, gone, ns_key, plain, FakeKernel};
use crate::sys::{SysResult, TransferSpec, VxlanSpec};

pub(super) fn create_transfer(k: &FakeKernel, spec: &TransferSpec) -> SysResult<u32> {
    let peer_key = ns_key(&spec.peer_ns);
    k.with(|w, ns| {
        let host_index = w.next_index;
        let peer_index = w.next_index + 1;
        let host = w
            .namespaces
            .get(ns)
            .ok_or_else(|| gone("use namespace", ns.into()))?;
        if host.links.values().any(|l| l.link.name == spec.host_name) {
            return Err(exists("create transfer veth", spec.host_name.clone()));
        }
        let peer_ns = w
            .namespaces
            .get_mut(&peer_key)
            .ok_or_else(|| gone("open", peer_key.clone()))?;
        if peer_ns
            .links
            .values()
            .any(|l| l.link.name == spec.peer_name)
        {
            return Err(exists("create transfer veth", spec.peer_name.clone()));
        }
        let mut peer = plain(
            peer_index,
            &spec.peer_name,
            "veth",
            spec.mtu,
            false,
            vec![],
            None,
        );
        peer.peer = Some((ns.to_string(), host_index));
        peer_ns.links.insert(peer_index, peer);
        let mut end = plain(
            host_index,
            &spec.host_name,
            "veth",
            spec.mtu,
            true,
            vec![],
            Some(spec.alias.clone()),
        );
        end.peer = Some((peer_key.clone(), peer_index));
        if let Some(n) = w.namespaces.get_mut(ns) {
            n.links.insert(host_index, end);
        }
        w.next_index += 2;
        Ok(host_index)
    })
}

/// A VXLAN device made from this namespace into `spec.netns`, on the bridge `spec.master` there.
pub(super) fn create_vxlan_in(k: &FakeKernel, spec: &VxlanSpec) -> SysResult<u32> {
    let Some(path) = &spec.netns else {
        return super::vxlan::create(k, spec);
    };
    let key = ns_key(path);
    k.with(|w, _| {
        let index = w.next_index;
        let n = w
            .namespaces
            .get_mut(&key)
            .ok_or_else(|| gone("open", key.clone()))?;
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

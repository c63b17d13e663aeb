//! Links made for sandboxes in the fake world: veth pairs across namespaces, and links stacked
//! on a parent (with the kernel's answer for a link type it has no driver for).

use super::{exists, gone, ns_key, plain, FakeKernel};
use crate::sys::{ChildSpec, SysError, SysResult, VethSpec, EOPNOTSUPP};

pub(super) fn veth_peer(k: &FakeKernel, name: &str) -> SysResult<Option<(u32, u32)>> {
    k.with_ns(|n| {
        n.links
            .values()
            .find(|l| l.link.name == name)
            .and_then(|l| l.peer.as_ref().map(|(_, p)| (l.link.index, *p)))
    })
}

pub(super) fn create_veth(k: &FakeKernel, spec: &VethSpec) -> SysResult<()> {
    let peer_key = ns_key(&spec.peer_ns);
    k.with(|w, ns| {
        let host_index = w.next_index;
        let peer_index = w.next_index + 1;
        let host = w
            .namespaces
            .get(ns)
            .ok_or_else(|| gone("use namespace", ns.into()))?;
        if host.links.values().any(|l| l.link.name == spec.host_name) {
            return Err(exists("create veth", spec.host_name.clone()));
        }
        if !host.links.contains_key(&spec.master) {
            return Err(gone("create veth on bridge", spec.master.to_string()));
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
            return Err(exists("create veth", spec.peer_name.clone()));
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
        peer.mac = Some(spec.peer_mac);
        peer.peer = Some((ns.to_string(), host_index));
        peer_ns.links.insert(peer_index, peer);
        let mut end = plain(
            host_index,
            &spec.host_name,
            "veth",
            spec.mtu,
            true,
            vec![],
            None,
        );
        end.master = Some(spec.master);
        end.peer = Some((peer_key.clone(), peer_index));
        if let Some(h) = w.namespaces.get_mut(ns) {
            h.links.insert(host_index, end);
        }
        w.next_index += 2;
        Ok(())
    })
}

pub(super) fn create_child(k: &FakeKernel, spec: &ChildSpec) -> SysResult<()> {
    let target = spec.netns.as_deref().map(ns_key);
    k.with(|w, ns| {
        let kind = spec.kind.type_name();
        if w.unsupported.contains(kind) {
            return Err(SysError::Netlink {
                op: "create link",
                object: format!("{} ({kind})", spec.name),
                message: "Operation not supported".into(),
                errno: EOPNOTSUPP,
            });
        }
        let here = w
            .namespaces
            .get(ns)
            .ok_or_else(|| gone("use namespace", ns.into()))?;
        if !here.links.contains_key(&spec.parent) {
            return Err(gone("create link on parent", spec.parent.to_string()));
        }
        let target = target.unwrap_or_else(|| ns.to_string());
        let index = w.next_index;
        let dest = w
            .namespaces
            .get_mut(&target)
            .ok_or_else(|| gone("open", target.clone()))?;
        if dest.links.values().any(|l| l.link.name == spec.name) {
            return Err(exists("create link", spec.name.clone()));
        }
        let mut l = plain(
            index,
            &spec.name,
            kind,
            1500,
            spec.up,
            vec![],
            spec.alias.clone(),
        );
        l.mac = spec.mac;
        l.parent = Some((ns.to_string(), spec.parent));
        l.child = Some(spec.kind);
        dest.links.insert(index, l);
        w.next_index += 1;
        Ok(())
    })
}

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
    create_pair(
        k,
        Pair {
            host_name: &spec.host_name,
            master: Some(spec.master),
            alias: None,
            mtu: spec.mtu,
            peer_name: &spec.peer_name,
            peer_mac: Some(spec.peer_mac),
            peer_ns: &spec.peer_ns,
        },
    )
    .map(|_| ())
}

/// A veth pair as either kind of request describes it.
pub(super) struct Pair<'a> {
    pub host_name: &'a str,
    /// The bridge the host end joins (a sandbox's pair); none for a transfer pair.
    pub master: Option<u32>,
    pub alias: Option<String>,
    pub mtu: u32,
    pub peer_name: &'a str,
    pub peer_mac: Option<[u8; 6]>,
    pub peer_ns: &'a std::path::Path,
}

/// Makes a veth pair whose peer is in `p.peer_ns`; the host end's index.
pub(super) fn create_pair(k: &FakeKernel, p: Pair<'_>) -> SysResult<u32> {
    let peer_key = ns_key(p.peer_ns);
    k.with(|w, ns| {
        let host_index = w.next_index;
        let peer_index = w.next_index + 1;
        let host = w
            .namespaces
            .get(ns)
            .ok_or_else(|| gone("use namespace", ns.into()))?;
        if host.links.values().any(|l| l.link.name == p.host_name) {
            return Err(exists("create veth", p.host_name.to_string()));
        }
        if let Some(m) = p.master.filter(|m| !host.links.contains_key(m)) {
            return Err(gone("create veth on bridge", m.to_string()));
        }
        let peer_ns = w
            .namespaces
            .get_mut(&peer_key)
            .ok_or_else(|| gone("open", peer_key.clone()))?;
        if peer_ns.links.values().any(|l| l.link.name == p.peer_name) {
            return Err(exists("create veth", p.peer_name.to_string()));
        }
        let mut peer = plain(peer_index, p.peer_name, "veth", p.mtu, false, vec![], None);
        peer.mac = p.peer_mac;
        peer.peer = Some((ns.to_string(), host_index));
        peer_ns.links.insert(peer_index, peer);
        let mut end = plain(
            host_index,
            p.host_name,
            "veth",
            p.mtu,
            true,
            vec![],
            p.alias,
        );
        end.master = p.master;
        end.peer = Some((peer_key.clone(), peer_index));
        if let Some(h) = w.namespaces.get_mut(ns) {
            h.links.insert(host_index, end);
        }
        w.next_index += 2;
        Ok(host_index)
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

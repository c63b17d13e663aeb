//! Links of the fake world: listing, bridges, admin state (with the kernel's macvlan MAC rule),
//! names and marks, bridge ports.

use super::{exists, gone, plain, FakeKernel};
use crate::sys::{BridgeSpec, ChildKind, Link, SysError, SysResult, EADDRINUSE, EOPNOTSUPP};

impl FakeKernel {
    fn find<T>(&self, name: &str, f: impl FnOnce(&super::FakeLink) -> T) -> SysResult<Option<T>> {
        self.with_ns(|n| n.links.values().find(|l| l.link.name == name).map(f))
    }
}

pub(super) fn links(k: &FakeKernel) -> SysResult<Vec<Link>> {
    k.with_ns(|n| n.links.values().map(|l| l.link.clone()).collect())
}

pub(super) fn link(k: &FakeKernel, name: &str) -> SysResult<Option<Link>> {
    k.find(name, |l| l.link.clone())
}

pub(super) fn link_index(k: &FakeKernel, name: &str) -> SysResult<Option<u32>> {
    k.find(name, |l| l.link.index)
}

pub(super) fn create_bridge(k: &FakeKernel, spec: &BridgeSpec) -> SysResult<u32> {
    k.with(|w, ns| {
        let index = w.next_index;
        let n = w
            .namespaces
            .get_mut(ns)
            .ok_or_else(|| gone("use namespace", ns.into()))?;
        if n.links.values().any(|l| l.link.name == spec.name) {
            return Err(exists("create bridge", spec.name.clone()));
        }
        if spec.ipv6 {
            n.sysctls.insert(
                format!("net/ipv6/conf/{}/accept_dad", spec.name),
                "0".into(),
            );
        }
        n.links.insert(
            index,
            plain(
                index,
                &spec.name,
                "bridge",
                spec.mtu,
                true,
                spec.addrs.clone(),
                Some(spec.alias.clone()),
            ),
        );
        w.next_index += 1;
        Ok(index)
    })
}

pub(super) fn configure(k: &FakeKernel, index: u32, alias: &str, mtu: u32) -> SysResult<()> {
    k.with_ns(|n| match n.links.get_mut(&index) {
        Some(l) => {
            l.link.alias = Some(alias.into());
            l.link.mtu = mtu;
            l.link.up = true;
            Ok(())
        }
        None => Err(gone("configure link", index.to_string())),
    })?
}

pub(super) fn delete(k: &FakeKernel, index: u32) -> SysResult<()> {
    k.with(|w, ns| {
        let n = w
            .namespaces
            .get_mut(ns)
            .ok_or_else(|| gone("use namespace", ns.into()))?;
        let l = n
            .links
            .remove(&index)
            .ok_or_else(|| gone("delete link", index.to_string()))?;
        // A veth pair dies as one.
        if let Some((peer_ns, peer)) = l.peer {
            if let Some(pn) = w.namespaces.get_mut(&peer_ns) {
                pn.links.remove(&peer);
            }
        }
        // So do the links stacked on a parent, wherever they are.
        let parent = (ns.to_string(), index);
        for n in w.namespaces.values_mut() {
            n.links.retain(|_, c| c.parent.as_ref() != Some(&parent));
        }
        Ok(())
    })
}

pub(super) fn park(k: &FakeKernel, index: u32, name: &str, alias: &str) -> SysResult<()> {
    k.with_ns(|n| match n.links.get_mut(&index) {
        Some(l) => {
            l.link.up = false;
            l.link.addrs.clear();
            Ok(())
        }
        None => Err(gone("take down", index.to_string())),
    })??;
    rename(k, index, name, alias)
}

pub(super) fn rename(k: &FakeKernel, index: u32, name: &str, alias: &str) -> SysResult<()> {
    k.with_ns(|n| {
        if n.links
            .values()
            .any(|l| l.link.name == name && l.link.index != index)
        {
            return Err(exists("rename link", name.to_string()));
        }
        match n.links.get_mut(&index) {
            // The kernel's EBUSY: a link that is up keeps its name.
            Some(l) if l.link.up => Err(SysError::Netlink {
                op: "rename link",
                object: format!("{index} to {name}"),
                message: "Device or resource busy".into(),
                errno: 16,
            }),
            Some(l) => {
                l.link.name = name.to_string();
                l.link.alias = Some(alias.to_string());
                Ok(())
            }
            None => Err(gone("rename link", index.to_string())),
        }
    })?
}

pub(super) fn set_up(k: &FakeKernel, index: u32) -> SysResult<()> {
    k.with(|w, ns| {
        let l = w
            .namespaces
            .get(ns)
            .and_then(|n| n.links.get(&index))
            .ok_or_else(|| gone("set up", index.to_string()))?;
        // The kernel's macvlan rule: no two up children of a parent share a MAC.
        if let (Some(ChildKind::Macvlan(_)), Some(parent), Some(mac)) = (l.child, &l.parent, l.mac)
        {
            let me = (ns, index);
            let busy = w.namespaces.iter().any(|(other_ns, n)| {
                n.links.iter().any(|(i, o)| {
                    (other_ns.as_str(), *i) != me
                        && o.link.up
                        && matches!(o.child, Some(ChildKind::Macvlan(_)))
                        && o.parent.as_ref() == Some(parent)
                        && o.mac == Some(mac)
                })
            });
            if busy {
                return Err(SysError::Netlink {
                    op: "set up",
                    object: index.to_string(),
                    message: "Address already in use".into(),
                    errno: EADDRINUSE,
                });
            }
        }
        if let Some(l) = w
            .namespaces
            .get_mut(ns)
            .and_then(|n| n.links.get_mut(&index))
        {
            l.link.up = true;
        }
        Ok(())
    })
}

pub(super) fn shut_port(k: &FakeKernel, index: u32) -> SysResult<()> {
    k.with_ns(|n| match n.links.get_mut(&index) {
        Some(l) if l.master.is_some() => {
            l.link.up = false;
            Ok(())
        }
        Some(_) => Err(gone("disable bridge port", index.to_string())),
        None => Err(gone("disable bridge port", index.to_string())),
    })?
}

pub(super) fn unplug(k: &FakeKernel, index: u32) -> SysResult<()> {
    k.with_ns(|n| match n.links.get_mut(&index) {
        Some(l) => {
            l.link.up = false;
            l.master = None;
            Ok(())
        }
        None => Err(gone("unplug", index.to_string())),
    })?
}

pub(super) fn set_hairpin(k: &FakeKernel, index: u32, on: bool) -> SysResult<()> {
    k.with_ns(|n| match n.links.get_mut(&index) {
        Some(l) if l.master.is_some() => {
            l.hairpin = on;
            Ok(())
        }
        Some(_) => Err(SysError::Netlink {
            op: "set hairpin",
            object: index.to_string(),
            message: "not a bridge port".into(),
            errno: EOPNOTSUPP,
        }),
        None => Err(gone("set hairpin", index.to_string())),
    })?
}

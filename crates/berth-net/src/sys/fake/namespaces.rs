//! Namespaces of the fake world and their sysctls.

use super::{exists, gone, ns_key, plain, FakeKernel, Ns};
use crate::sys::SysResult;
use std::path::Path;

pub(super) fn set_sysctl(k: &FakeKernel, key: &str, value: &str) -> SysResult<()> {
    k.with_ns(|n| {
        n.sysctls.insert(key.into(), value.into());
    })
}

/// Makes the namespace at `path` with `sysctls` set and `lo` up.
pub(super) fn create(k: &FakeKernel, path: &Path, sysctls: &[(&str, &str)]) -> SysResult<()> {
    k.with(|w, _| {
        let key = ns_key(path);
        if w.namespaces.contains_key(&key) {
            return Err(exists("create network namespace", key));
        }
        let mut ns = Ns::default();
        for (k, v) in sysctls {
            ns.sysctls.insert(k.to_string(), v.to_string());
        }
        let index = w.next_index;
        w.next_index += 1;
        ns.links.insert(
            index,
            plain(index, "lo", "loopback", 65536, true, vec![], None),
        );
        w.namespaces.insert(key, ns);
        Ok(())
    })
}

pub(super) fn delete(k: &FakeKernel, path: &Path) -> SysResult<()> {
    k.with(|w, _| {
        if let Some(ns) = w.namespaces.remove(&ns_key(path)) {
            // Interfaces die with their namespace, and veth peers with them.
            for l in ns.links.values() {
                if let Some((peer_ns, peer)) = &l.peer {
                    if let Some(pn) = w.namespaces.get_mut(peer_ns) {
                        pn.links.remove(peer);
                    }
                }
            }
        }
        Ok(())
    })
}

pub(super) fn enter(k: &FakeKernel, path: &Path) -> SysResult<FakeKernel> {
    let key = ns_key(path);
    let known = k.with(|w, _| w.namespaces.contains_key(&key));
    if !known {
        return Err(gone("enter network namespace", key));
    }
    Ok(FakeKernel {
        world: k.world.clone(),
        ns: key,
    })
}

//! What tests set up in the fake world and look at in it: foreign links, routes, missing
//! drivers, and the state of links, namespaces and sysctls.

use super::{ns_key, plain, FakeKernel};
use crate::sys::ChildKind;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

impl FakeKernel {
    /// A handle on the namespace pinned at `path`, with the fake's own assertions.
    pub fn inside(&self, path: &Path) -> Option<FakeKernel> {
        let key = ns_key(path);
        self.with(|w, _| w.namespaces.contains_key(&key))
            .then(|| FakeKernel {
                world: self.world.clone(),
                ns: key,
            })
    }

    /// Pretends the kernel has no driver for the link type `kind` (`ipvlan`, `vlan`, …).
    pub fn without(&self, kind: &'static str) {
        self.with(|w, _| w.unsupported.insert(kind));
    }

    /// What a stacked link is and the index of its parent, for assertions.
    pub fn child(&self, name: &str) -> Option<(ChildKind, u32, Option<[u8; 6]>)> {
        self.with_ns(|n| {
            n.links
                .values()
                .find(|l| l.link.name == name)
                .and_then(|l| Some((l.child?, l.parent.as_ref()?.1, l.mac)))
        })
        .ok()
        .flatten()
    }

    /// Pretends the host has an on-link route to `net`.
    pub fn add_route(&self, net: IpNet) {
        self.with_ns(|n| n.routes.push(net))
            .expect("a test adds routes only to a fake namespace that exists");
    }

    /// Adds a link that berth did not make.
    pub fn add_foreign_link(&self, name: &str, kind: &str) -> u32 {
        self.with(|w, ns| {
            let index = w.next_index;
            w.next_index += 1;
            if let Some(n) = w.namespaces.get_mut(ns) {
                n.links
                    .insert(index, plain(index, name, kind, 1500, true, vec![], None));
            }
            index
        })
    }

    pub fn sysctl(&self, key: &str) -> Option<String> {
        self.with_ns(|n| n.sysctls.get(key).cloned()).ok().flatten()
    }

    /// Names of the namespaces that exist besides the host's.
    pub fn namespaces(&self) -> Vec<String> {
        self.with(|w, _| {
            w.namespaces
                .keys()
                .filter(|k| !k.is_empty())
                .cloned()
                .collect()
        })
    }

    /// The bridge index and MAC of a link, for assertions.
    pub fn master_and_mac(&self, name: &str) -> Option<(Option<u32>, Option<[u8; 6]>)> {
        self.with_ns(|n| {
            n.links
                .values()
                .find(|l| l.link.name == name)
                .map(|l| (l.master, l.mac))
        })
        .ok()
        .flatten()
    }

    /// Whether a link's bridge port is in hairpin mode, for assertions.
    pub fn hairpin(&self, name: &str) -> Option<bool> {
        self.with_ns(|n| {
            n.links
                .values()
                .find(|l| l.link.name == name)
                .map(|l| l.hairpin)
        })
        .ok()
        .flatten()
    }

    /// A VXLAN device's VNI and local address, for assertions.
    pub fn vxlan(&self, name: &str) -> Option<(u32, Ipv4Addr)> {
        self.with_ns(|n| n.links.values().find(|l| l.link.name == name)?.vxlan)
            .ok()
            .flatten()
    }

    /// Adds a permanent entry berth did not make (for resync tests).
    pub fn add_stray_fdb(&self, dev: u32, mac: [u8; 6], dst: Ipv4Addr) {
        let _ = self.with_ns(|n| {
            if let Some(l) = n.links.get_mut(&dev) {
                l.remote.fdb.push((mac, dst));
            }
        });
    }

    /// Default routes of this namespace as (link index, gateway).
    pub fn default_routes(&self) -> Vec<(u32, IpAddr)> {
        self.with_ns(|n| n.default_routes.clone())
            .unwrap_or_default()
    }
}

//! An in-memory kernel for unit tests of the layers above `sys`: namespaces, links, addresses,
//! routes and sysctls, with interface indexes unique across namespaces as in Linux.

use super::{BridgeSpec, ChildKind, ChildSpec, Kernel, Link, SysError, SysResult, VethSpec};
use async_trait::async_trait;
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

const HOST: &str = "";

#[derive(Debug, Clone, Default)]
struct Ns {
    links: BTreeMap<u32, FakeLink>,
    routes: Vec<IpNet>,
    default_routes: Vec<(u32, IpAddr)>,
    sysctls: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
struct FakeLink {
    link: Link,
    master: Option<u32>,
    mac: Option<[u8; 6]>,
    /// For a veth end: the namespace and index of its peer.
    peer: Option<(String, u32)>,
    hairpin: bool,
    /// For a macvlan, ipvlan or VLAN link: the namespace and index of its parent.
    parent: Option<(String, u32)>,
    /// For a stacked link: what it is.
    child: Option<ChildKind>,
    /// For a VXLAN device: its VNI and local address, and its static entries.
    vxlan: Option<(u32, std::net::Ipv4Addr)>,
    remote: super::RemoteTable,
}

#[derive(Debug)]
struct World {
    next_index: u32,
    namespaces: BTreeMap<String, Ns>,
    /// Link types this kernel has no driver for (`create_child` answers EOPNOTSUPP).
    unsupported: BTreeSet<&'static str>,
}

/// A handle on one namespace of a shared fake world.
#[derive(Debug, Clone)]
pub struct FakeKernel {
    world: Arc<Mutex<World>>,
    ns: String,
}

impl Default for FakeKernel {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeKernel {
    pub fn new() -> Self {
        let mut namespaces = BTreeMap::new();
        namespaces.insert(HOST.to_string(), Ns::default());
        FakeKernel {
            world: Arc::new(Mutex::new(World {
                next_index: 2,
                namespaces,
                unsupported: BTreeSet::new(),
            })),
            ns: HOST.into(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut World, &str) -> T) -> T {
        let mut w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut w, &self.ns)
    }

    fn with_ns<T>(&self, f: impl FnOnce(&mut Ns) -> T) -> SysResult<T> {
        self.with(|w, ns| {
            w.namespaces
                .get_mut(ns)
                .map(f)
                .ok_or_else(|| gone("use namespace", ns.to_string()))
        })
    }

    fn with_remote<T>(
        &self,
        dev: u32,
        op: &'static str,
        f: impl FnOnce(&mut super::RemoteTable) -> T,
    ) -> SysResult<T> {
        self.with_ns(|n| match n.links.get_mut(&dev) {
            Some(l) => Ok(f(&mut l.remote)),
            None => Err(gone(op, dev.to_string())),
        })?
    }

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
    pub fn vxlan(&self, name: &str) -> Option<(u32, std::net::Ipv4Addr)> {
        self.with_ns(|n| n.links.values().find(|l| l.link.name == name)?.vxlan)
            .ok()
            .flatten()
    }

    /// Adds a permanent entry berth did not make (for resync tests).
    pub fn add_stray_fdb(&self, dev: u32, mac: [u8; 6], dst: std::net::Ipv4Addr) {
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

fn plain(
    index: u32,
    name: &str,
    kind: &str,
    mtu: u32,
    up: bool,
    addrs: Vec<IpNet>,
    alias: Option<String>,
) -> FakeLink {
    FakeLink {
        link: Link {
            index,
            name: name.into(),
            kind: Some(kind.into()),
            alias,
            mtu,
            up,
            addrs,
        },
        master: None,
        mac: None,
        peer: None,
        hairpin: false,
        parent: None,
        child: None,
        vxlan: None,
        remote: super::RemoteTable::default(),
    }
}

fn gone(op: &'static str, object: String) -> SysError {
    SysError::Netlink {
        op,
        object,
        message: "No such device".into(),
        errno: 19,
    }
}

fn exists(op: &'static str, object: String) -> SysError {
    SysError::Netlink {
        op,
        object,
        message: "File exists".into(),
        errno: 17,
    }
}

fn ns_key(path: &Path) -> String {
    path.display().to_string()
}

#[async_trait]
impl Kernel for FakeKernel {
    async fn links(&self) -> SysResult<Vec<Link>> {
        self.with_ns(|n| n.links.values().map(|l| l.link.clone()).collect())
    }

    async fn link(&self, name: &str) -> SysResult<Option<Link>> {
        self.with_ns(|n| {
            n.links
                .values()
                .find(|l| l.link.name == name)
                .map(|l| l.link.clone())
        })
    }

    async fn link_index(&self, name: &str) -> SysResult<Option<u32>> {
        self.with_ns(|n| {
            n.links
                .values()
                .find(|l| l.link.name == name)
                .map(|l| l.link.index)
        })
    }

    async fn veth_peer(&self, name: &str) -> SysResult<Option<(u32, u32)>> {
        self.with_ns(|n| {
            n.links
                .values()
                .find(|l| l.link.name == name)
                .and_then(|l| l.peer.as_ref().map(|(_, p)| (l.link.index, *p)))
        })
    }

    async fn create_bridge(&self, spec: &BridgeSpec) -> SysResult<u32> {
        self.with(|w, ns| {
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

    async fn configure_link(&self, index: u32, alias: &str, mtu: u32) -> SysResult<()> {
        self.with_ns(|n| match n.links.get_mut(&index) {
            Some(l) => {
                l.link.alias = Some(alias.into());
                l.link.mtu = mtu;
                l.link.up = true;
                Ok(())
            }
            None => Err(gone("configure link", index.to_string())),
        })?
    }

    async fn add_address(&self, index: u32, addr: IpNet) -> SysResult<()> {
        self.with_ns(|n| match n.links.get_mut(&index) {
            Some(l) => {
                if !l.link.addrs.contains(&addr) {
                    l.link.addrs.push(addr);
                }
                Ok(())
            }
            None => Err(gone("add address", addr.to_string())),
        })?
    }

    async fn delete_link(&self, index: u32) -> SysResult<()> {
        self.with(|w, ns| {
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

    async fn park_link(&self, index: u32, name: &str, alias: &str) -> SysResult<()> {
        self.with_ns(|n| match n.links.get_mut(&index) {
            Some(l) => {
                l.link.up = false;
                l.link.addrs.clear();
                Ok(())
            }
            None => Err(gone("take down", index.to_string())),
        })??;
        self.rename_link(index, name, alias).await
    }

    async fn rename_link(&self, index: u32, name: &str, alias: &str) -> SysResult<()> {
        self.with_ns(|n| {
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

    async fn onlink_routes(&self) -> SysResult<Vec<IpNet>> {
        self.with_ns(|n| {
            let mut routes = n.routes.clone();
            for l in n.links.values() {
                routes.extend(l.link.addrs.iter().map(|a| a.trunc()));
            }
            routes
        })
    }

    fn set_sysctl(&self, key: &str, value: &str) -> SysResult<()> {
        self.with_ns(|n| {
            n.sysctls.insert(key.into(), value.into());
        })
    }

    async fn create_netns(
        &self,
        path: &Path,
        sysctls: &[(&str, &str)],
    ) -> SysResult<Arc<dyn Kernel>> {
        self.with(|w, _| {
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
        })?;
        self.enter(path).await
    }

    fn delete_netns(&self, path: &Path) -> SysResult<()> {
        self.with(|w, _| {
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

    async fn enter(&self, path: &Path) -> SysResult<Arc<dyn Kernel>> {
        let key = ns_key(path);
        let known = self.with(|w, _| w.namespaces.contains_key(&key));
        if !known {
            return Err(gone("enter network namespace", key));
        }
        Ok(Arc::new(FakeKernel {
            world: self.world.clone(),
            ns: key,
        }))
    }

    async fn create_veth(&self, spec: &VethSpec) -> SysResult<()> {
        let peer_key = ns_key(&spec.peer_ns);
        self.with(|w, ns| {
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

    async fn create_child(&self, spec: &ChildSpec) -> SysResult<()> {
        let target = spec.netns.as_deref().map(ns_key);
        self.with(|w, ns| {
            let kind = spec.kind.type_name();
            if w.unsupported.contains(kind) {
                return Err(SysError::Netlink {
                    op: "create link",
                    object: format!("{} ({kind})", spec.name),
                    message: "Operation not supported".into(),
                    errno: super::EOPNOTSUPP,
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

    async fn fork(&self) -> SysResult<Arc<dyn Kernel>> {
        Ok(Arc::new(self.clone()))
    }

    async fn set_up(&self, index: u32) -> SysResult<()> {
        self.with(|w, ns| {
            let l = w
                .namespaces
                .get(ns)
                .and_then(|n| n.links.get(&index))
                .ok_or_else(|| gone("set up", index.to_string()))?;
            // The kernel's macvlan rule: no two up children of a parent share a MAC.
            if let (Some(ChildKind::Macvlan(_)), Some(parent), Some(mac)) =
                (l.child, &l.parent, l.mac)
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
                        errno: super::EADDRINUSE,
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

    async fn shut_port(&self, index: u32) -> SysResult<()> {
        self.with_ns(|n| match n.links.get_mut(&index) {
            Some(l) if l.master.is_some() => {
                l.link.up = false;
                Ok(())
            }
            Some(_) => Err(gone("disable bridge port", index.to_string())),
            None => Err(gone("disable bridge port", index.to_string())),
        })?
    }

    async fn unplug(&self, index: u32) -> SysResult<()> {
        self.with_ns(|n| match n.links.get_mut(&index) {
            Some(l) => {
                l.link.up = false;
                l.master = None;
                Ok(())
            }
            None => Err(gone("unplug", index.to_string())),
        })?
    }

    async fn create_vxlan(&self, spec: &super::VxlanSpec) -> SysResult<u32> {
        self.with(|w, ns| {
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

    async fn add_neighbour(&self, dev: u32, ip: std::net::Ipv4Addr, mac: [u8; 6]) -> SysResult<()> {
        self.with_remote(dev, "add neighbour", |t| {
            t.neighbours.retain(|(i, _)| *i != ip);
            t.neighbours.push((ip, mac));
        })
    }

    async fn delete_neighbour(&self, dev: u32, ip: std::net::Ipv4Addr) -> SysResult<()> {
        self.with_remote(dev, "delete neighbour", |t| {
            t.neighbours.retain(|(i, _)| *i != ip)
        })
    }

    async fn add_fdb(&self, dev: u32, mac: [u8; 6], dst: std::net::Ipv4Addr) -> SysResult<()> {
        self.with_remote(dev, "add fdb", |t| {
            if !t.fdb.contains(&(mac, dst)) {
                t.fdb.push((mac, dst));
            }
        })
    }

    async fn delete_fdb(&self, dev: u32, mac: [u8; 6], dst: std::net::Ipv4Addr) -> SysResult<()> {
        self.with_remote(dev, "delete fdb", |t| t.fdb.retain(|e| *e != (mac, dst)))
    }

    async fn remote_table(&self, dev: u32) -> SysResult<super::RemoteTable> {
        self.with_remote(dev, "list neighbours", |t| t.clone())
    }

    async fn set_hairpin(&self, index: u32, on: bool) -> SysResult<()> {
        self.with_ns(|n| match n.links.get_mut(&index) {
            Some(l) if l.master.is_some() => {
                l.hairpin = on;
                Ok(())
            }
            Some(_) => Err(SysError::Netlink {
                op: "set hairpin",
                object: index.to_string(),
                message: "not a bridge port".into(),
                errno: 95, // EOPNOTSUPP
            }),
            None => Err(gone("set hairpin", index.to_string())),
        })?
    }

    async fn add_route(&self, index: u32, dest: IpNet) -> SysResult<()> {
        self.with_ns(|n| {
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

    async fn add_default_route(&self, index: u32, gateway: IpAddr) -> SysResult<()> {
        self.with_ns(|n| {
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

    /// Real sockets on loopback of the test's own namespace, so unit tests can query them.
    fn open_resolver(
        &self,
        _netns: &Path,
        _addr: std::net::Ipv4Addr,
        _previous: Option<[u16; 2]>,
    ) -> SysResult<super::ResolverSockets> {
        let io = |e: std::io::Error| SysError::Netns {
            op: "resolver socket in",
            path: "fake".into(),
            source: e,
        };
        let udp = std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0)).map_err(io)?;
        let tcp = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).map_err(io)?;
        let ports = [
            udp.local_addr().map_err(io)?.port(),
            tcp.local_addr().map_err(io)?.port(),
        ];
        Ok(super::ResolverSockets { udp, tcp, ports })
    }
}

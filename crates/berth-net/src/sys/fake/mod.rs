//! An in-memory kernel for unit tests of the layers above `sys`: namespaces, links, addresses,
//! routes and sysctls, with interface indexes unique across namespaces as in Linux.
//! The operations live by job as the real kernel's do (`links`, `stacked`, `addresses`,
//! `namespaces`, `vxlan`); `probes` is what tests set up and look at.

mod addresses;
mod links;
mod namespaces;
mod ovns;
mod probes;
mod stacked;
mod vxlan;

use super::{
    BridgeSpec, ChildKind, ChildSpec, Kernel, Link, RemoteTable, ResolverSockets, SysError,
    SysResult, VethSpec, VxlanSpec,
};
use async_trait::async_trait;
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
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
    vxlan: Option<(u32, Ipv4Addr)>,
    remote: RemoteTable,
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
        remote: RemoteTable::default(),
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
        links::links(self)
    }

    async fn link(&self, name: &str) -> SysResult<Option<Link>> {
        links::link(self, name)
    }

    async fn link_index(&self, name: &str) -> SysResult<Option<u32>> {
        links::link_index(self, name)
    }

    async fn veth_peer(&self, name: &str) -> SysResult<Option<(u32, u32)>> {
        stacked::veth_peer(self, name)
    }

    async fn create_bridge(&self, spec: &BridgeSpec) -> SysResult<u32> {
        links::create_bridge(self, spec)
    }

    async fn configure_link(&self, index: u32, alias: &str, mtu: u32) -> SysResult<()> {
        links::configure(self, index, alias, mtu)
    }

    async fn add_address(&self, index: u32, addr: IpNet) -> SysResult<()> {
        addresses::add_address(self, index, addr)
    }

    async fn delete_link(&self, index: u32) -> SysResult<()> {
        links::delete(self, index)
    }

    async fn park_link(&self, index: u32, name: &str, alias: &str) -> SysResult<()> {
        links::park(self, index, name, alias)
    }

    async fn rename_link(&self, index: u32, name: &str, alias: &str) -> SysResult<()> {
        links::rename(self, index, name, alias)
    }

    async fn onlink_routes(&self) -> SysResult<Vec<IpNet>> {
        addresses::onlink_routes(self)
    }

    fn set_sysctl(&self, key: &str, value: &str) -> SysResult<()> {
        namespaces::set_sysctl(self, key, value)
    }

    async fn create_netns(
        &self,
        path: &Path,
        sysctls: &[(&str, &str)],
    ) -> SysResult<Arc<dyn Kernel>> {
        namespaces::create(self, path, sysctls)?;
        self.enter(path).await
    }

    async fn create_netns_fresh(
        &self,
        path: &Path,
        sysctls: &[(&str, &str)],
    ) -> SysResult<Arc<dyn Kernel>> {
        self.create_netns(path, sysctls).await
    }

    async fn create_transfer(&self, spec: &crate::sys::TransferSpec) -> SysResult<u32> {
        ovns::create_transfer(self, spec)
    }

    fn delete_netns(&self, path: &Path) -> SysResult<()> {
        namespaces::delete(self, path)
    }

    async fn enter(&self, path: &Path) -> SysResult<Arc<dyn Kernel>> {
        Ok(Arc::new(namespaces::enter(self, path)?))
    }

    async fn create_veth(&self, spec: &VethSpec) -> SysResult<()> {
        stacked::create_veth(self, spec)
    }

    async fn create_child(&self, spec: &ChildSpec) -> SysResult<()> {
        stacked::create_child(self, spec)
    }

    async fn fork(&self) -> SysResult<Arc<dyn Kernel>> {
        Ok(Arc::new(self.clone()))
    }

    async fn set_up(&self, index: u32) -> SysResult<()> {
        links::set_up(self, index)
    }

    async fn shut_port(&self, index: u32) -> SysResult<()> {
        links::shut_port(self, index)
    }

    async fn unplug(&self, index: u32) -> SysResult<()> {
        links::unplug(self, index)
    }

    async fn create_vxlan(&self, spec: &VxlanSpec) -> SysResult<u32> {
        vxlan::create(self, spec)
    }

    async fn add_neighbour(&self, dev: u32, ip: Ipv4Addr, mac: [u8; 6]) -> SysResult<()> {
        vxlan::add_neighbour(self, dev, ip, mac)
    }

    async fn delete_neighbour(&self, dev: u32, ip: Ipv4Addr) -> SysResult<()> {
        vxlan::delete_neighbour(self, dev, ip)
    }

    async fn add_fdb(&self, dev: u32, mac: [u8; 6], dst: Ipv4Addr) -> SysResult<()> {
        vxlan::add_fdb(self, dev, mac, dst)
    }

    async fn delete_fdb(&self, dev: u32, mac: [u8; 6], dst: Ipv4Addr) -> SysResult<()> {
        vxlan::delete_fdb(self, dev, mac, dst)
    }

    async fn remote_table(&self, dev: u32) -> SysResult<RemoteTable> {
        vxlan::table(self, dev)
    }

    async fn set_hairpin(&self, index: u32, on: bool) -> SysResult<()> {
        links::set_hairpin(self, index, on)
    }

    async fn add_route(&self, index: u32, dest: IpNet) -> SysResult<()> {
        addresses::add_route(self, index, dest)
    }

    async fn add_default_route(&self, index: u32, gateway: IpAddr) -> SysResult<()> {
        addresses::add_default_route(self, index, gateway)
    }

    /// Real sockets on loopback of the test's own namespace, so unit tests can query them.
    fn open_resolver(
        &self,
        _netns: &Path,
        _addr: Ipv4Addr,
        _previous: Option<[u16; 2]>,
    ) -> SysResult<ResolverSockets> {
        let io = |e: std::io::Error| SysError::Netns {
            op: "resolver socket in",
            path: "fake".into(),
            source: e,
        };
        let udp = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io)?;
        let tcp = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io)?;
        let ports = [
            udp.local_addr().map_err(io)?.port(),
            tcp.local_addr().map_err(io)?.port(),
        ];
        Ok(ResolverSockets { udp, tcp, ports })
    }
}

//! [`Kernel`] over rtnetlink, in the namespace the daemon runs in.
//!
//! One netlink connection serves every request; each operation is a handful of messages, so a
//! bridge costs well under a millisecond of kernel time instead of a process per `ip` call.
//! The operations live by job: `links` (bridges, state, ports), `stacked` (veth pairs and
//! links on a parent), `addresses`, `routes`, `namespaces` (sysctls, namespaces, forks, the
//! resolver's sockets); neighbours and FDB entries are `sys/vxlan.rs`'s.

mod addresses;
mod links;
mod namespaces;
mod ovns;
mod routes;
mod stacked;

use super::{
    BridgeSpec, ChildSpec, Kernel, Link, RemoteTable, ResolverSockets, SysError, SysResult,
    VethSpec, VxlanSpec,
};
use async_trait::async_trait;
use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::link::LinkMessage;
use rtnetlink::Handle;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

const EEXIST: i32 = 17;
const EADDRNOTAVAIL: i32 = 99;
const ENODEV: i32 = 19;

pub struct NetlinkKernel {
    handle: Handle,
    /// The kernel runs one dump at a time per netlink socket and answers EBUSY to a second;
    /// dumps on the shared connection take turns.
    dump: tokio::sync::Mutex<()>,
    /// The pinned namespace this handle talks to; `None` for the daemon's own.
    ns: Option<std::path::PathBuf>,
    /// net/ipv6/conf of the daemon's namespace, where host ends of veths get IPv6 turned off
    /// (`None` in sandboxes, and where the kernel has no IPv6).
    v6_conf: Option<super::sysctl::SysctlDir>,
    /// Namespaces made ahead for sandboxes (used by the daemon's own namespace's handle).
    spares: super::spare_netns::Spares,
    /// A descriptor of the namespace, where known: [`Kernel::fork`] enters through it, so that
    /// a fork made after the namespace was unpinned still finds it.
    ns_file: Option<Arc<std::fs::File>>,
}

impl NetlinkKernel {
    /// Opens a netlink connection in the current namespace; must run inside a tokio runtime.
    pub fn connect() -> SysResult<Self> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(SysError::Connect)?;
        tokio::spawn(conn);
        let mut k = Self::from_handle(handle, None);
        k.v6_conf = super::sysctl::SysctlDir::open("net/ipv6/conf")?;
        Ok(k)
    }

    pub(super) fn from_handle(handle: Handle, ns: Option<std::path::PathBuf>) -> Self {
        NetlinkKernel {
            handle,
            dump: tokio::sync::Mutex::new(()),
            ns,
            v6_conf: None,
            spares: Default::default(),
            ns_file: None,
        }
    }

    /// Keeps `count` namespaces made ahead for sandboxes instead of
    /// [`super::spare_netns::CAPACITY`]; 0 makes each sandbox's namespace when asked.
    pub fn with_spares(mut self, count: usize) -> Self {
        self.spares = super::spare_netns::Spares::with_capacity(count);
        self
    }

    /// Opens a netlink connection inside the namespace pinned at `path`: the socket is made by a
    /// thread that has entered it, and keeps talking to that namespace from anywhere.
    pub fn connect_in(path: &Path) -> SysResult<Self> {
        let rt = tokio::runtime::Handle::current();
        let (conn, handle, _) = super::netns::run_in(path, move || {
            let _ctx = rt.enter();
            rtnetlink::new_connection()
        })?;
        tokio::spawn(conn);
        let mut k = Self::from_handle(handle, Some(path.to_path_buf()));
        // For forks made after the namespace is unpinned; without it they enter by path.
        k.ns_file = std::fs::File::open(path).ok().map(Arc::new);
        Ok(k)
    }

    /// The link message of `name`, if there is such a link (one request, no dump).
    async fn link_message(&self, name: &str) -> SysResult<Option<LinkMessage>> {
        let mut stream = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match stream.try_next().await {
            Ok(msg) => Ok(msg),
            Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == ENODEV => Ok(None),
            Err(e) => Err(nl_err("find link", name, e)),
        }
    }
}

fn nl_err(op: &'static str, object: impl Into<String>, e: rtnetlink::Error) -> SysError {
    let errno = match &e {
        rtnetlink::Error::NetlinkError(m) => -m.raw_code(),
        _ => 0,
    };
    let message = match &e {
        rtnetlink::Error::NetlinkError(m) => m.to_io().to_string(),
        other => other.to_string(),
    };
    SysError::Netlink {
        op,
        object: object.into(),
        message,
        errno,
    }
}

#[async_trait]
impl Kernel for NetlinkKernel {
    async fn links(&self) -> SysResult<Vec<Link>> {
        links::links(self).await
    }

    async fn link(&self, name: &str) -> SysResult<Option<Link>> {
        links::link(self, name).await
    }

    async fn link_index(&self, name: &str) -> SysResult<Option<u32>> {
        Ok(self.link_message(name).await?.map(|m| m.header.index))
    }

    async fn create_bridge(&self, spec: &BridgeSpec) -> SysResult<u32> {
        links::create_bridge(self, spec).await
    }

    async fn configure_link(&self, index: u32, alias: &str, mtu: u32) -> SysResult<()> {
        links::configure(self, index, alias, mtu).await
    }

    async fn add_address(&self, index: u32, addr: IpNet) -> SysResult<()> {
        addresses::add(self, index, addr).await
    }

    async fn delete_link(&self, index: u32) -> SysResult<()> {
        links::delete(self, index).await
    }

    async fn park_link(&self, index: u32, name: &str, alias: &str) -> SysResult<()> {
        links::park(self, index, name, alias).await
    }

    async fn rename_link(&self, index: u32, name: &str, alias: &str) -> SysResult<()> {
        links::rename(self, index, name, alias).await
    }

    async fn onlink_routes(&self) -> SysResult<Vec<IpNet>> {
        routes::onlink(self).await
    }

    fn set_sysctl(&self, key: &str, value: &str) -> SysResult<()> {
        namespaces::set_sysctl(self, key, value)
    }

    async fn create_netns(
        &self,
        path: &Path,
        sysctls: &[(&str, &str)],
    ) -> SysResult<Arc<dyn Kernel>> {
        namespaces::create(self, path, sysctls).await
    }

    async fn create_netns_fresh(
        &self,
        path: &Path,
        sysctls: &[(&str, &str)],
    ) -> SysResult<Arc<dyn Kernel>> {
        ovns::create_netns_fresh(path, sysctls).await
    }

    async fn create_transfer(&self, spec: &crate::sys::TransferSpec) -> SysResult<u32> {
        ovns::create_transfer(self, spec).await
    }

    fn refill_spares(&self) {
        self.spares.refill();
    }

    fn drain_spares(&self) {
        self.spares.drain();
    }

    fn delete_netns(&self, path: &Path) -> SysResult<()> {
        super::netns::delete(path)
    }

    async fn enter(&self, path: &Path) -> SysResult<Arc<dyn Kernel>> {
        Ok(Arc::new(NetlinkKernel::connect_in(path)?))
    }

    async fn create_child(&self, spec: &ChildSpec) -> SysResult<()> {
        stacked::create_child(self, spec).await
    }

    async fn fork(&self) -> SysResult<Arc<dyn Kernel>> {
        namespaces::fork(self).await
    }

    async fn create_veth(&self, spec: &VethSpec) -> SysResult<()> {
        stacked::create_veth(self, spec).await
    }

    async fn veth_peer(&self, name: &str) -> SysResult<Option<(u32, u32)>> {
        stacked::veth_peer(self, name).await
    }

    async fn set_up(&self, index: u32) -> SysResult<()> {
        links::set_up(self, index).await
    }

    async fn unplug(&self, index: u32) -> SysResult<()> {
        links::unplug(self, index).await
    }

    async fn shut_port(&self, index: u32) -> SysResult<()> {
        links::shut_port(self, index).await
    }

    async fn set_hairpin(&self, index: u32, on: bool) -> SysResult<()> {
        links::set_hairpin(self, index, on).await
    }

    async fn add_route(&self, index: u32, dest: IpNet) -> SysResult<()> {
        routes::add(self, index, dest).await
    }

    async fn add_default_route(&self, index: u32, gateway: IpAddr) -> SysResult<()> {
        routes::add_default(self, index, gateway).await
    }

    async fn create_vxlan(&self, spec: &VxlanSpec) -> SysResult<u32> {
        super::vxlan::create(&self.handle, spec).await
    }

    async fn add_neighbour(&self, dev: u32, ip: Ipv4Addr, mac: [u8; 6]) -> SysResult<()> {
        super::vxlan::add_neighbour(&self.handle, dev, ip, mac).await
    }

    async fn delete_neighbour(&self, dev: u32, ip: Ipv4Addr) -> SysResult<()> {
        super::vxlan::delete_neighbour(&self.handle, dev, ip).await
    }

    async fn add_fdb(&self, dev: u32, mac: [u8; 6], dst: Ipv4Addr) -> SysResult<()> {
        super::vxlan::add_fdb(&self.handle, dev, mac, dst).await
    }

    async fn delete_fdb(&self, dev: u32, mac: [u8; 6], dst: Ipv4Addr) -> SysResult<()> {
        super::vxlan::delete_fdb(&self.handle, dev, mac, dst).await
    }

    async fn remote_table(&self, dev: u32) -> SysResult<RemoteTable> {
        let _turn = self.dump.lock().await;
        super::vxlan::table(&self.handle, dev).await
    }

    fn open_resolver(
        &self,
        netns: &Path,
        addr: Ipv4Addr,
        previous: Option<[u16; 2]>,
    ) -> SysResult<ResolverSockets> {
        namespaces::open_resolver(netns, addr, previous)
    }
}

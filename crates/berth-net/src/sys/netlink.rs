//! [`Kernel`] over rtnetlink, in the namespace the daemon runs in.
//!
//! One netlink connection serves every request; each operation is a handful of messages, so a
//! bridge costs well under a millisecond of kernel time instead of a process per `ip` call.

use super::{
    BridgeSpec, ChildKind, ChildSpec, IpvlanFlag, IpvlanMode, Kernel, Link, MacvlanMode, SysError,
    SysResult, VethSpec,
};
use async_trait::async_trait;
use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_core::DefaultNla;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, IpVlanFlags, IpVlanMode, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage, LinkProtoInfoBridge, MacVlanMode,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteScope, RouteType};
use netlink_packet_route::AddressFamily;
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkIpVlan, LinkMacVlan, LinkMessageBuilder, LinkUnspec,
    LinkVeth, LinkVlan, RouteMessageBuilder,
};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;

const EEXIST: i32 = 17;
const EADDRNOTAVAIL: i32 = 99;

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
            Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == libc_enodev() => Ok(None),
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

fn parse_link(msg: &LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        kind: None,
        alias: None,
        mtu: 0,
        up: msg.header.flags.contains(LinkFlags::Up),
        addrs: vec![],
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::IfAlias(a) => link.alias = Some(a.clone()),
            LinkAttribute::Mtu(m) => link.mtu = *m,
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(kind) = info {
                        link.kind = Some(kind_name(kind));
                    }
                }
            }
            _ => {}
        }
    }
    link
}

/// The options every stacked link shares, on the builder of its type.
fn child_message<T>(
    b: LinkMessageBuilder<T>,
    spec: &ChildSpec,
    ns: Option<&std::fs::File>,
) -> LinkMessage {
    let mut b = b;
    if let Some(mac) = spec.mac {
        b = b.address(mac.to_vec());
    }
    if let Some(alias) = &spec.alias {
        b = b.alias(alias.clone());
    }
    if let Some(f) = ns {
        b = b.setns_by_fd(f.as_raw_fd());
    }
    if spec.up {
        b = b.up();
    }
    b.build()
}

fn kind_name(kind: &InfoKind) -> String {
    match kind {
        InfoKind::Bridge => "bridge".into(),
        InfoKind::Veth => "veth".into(),
        other => other.to_string(),
    }
}

impl NetlinkKernel {
    async fn addresses(&self) -> SysResult<HashMap<u32, Vec<IpNet>>> {
        let _turn = self.dump.lock().await;
        let mut out: HashMap<u32, Vec<IpNet>> = HashMap::new();
        let mut stream = self.handle.address().get().execute();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(|e| nl_err("list addresses", "", e))?
        {
            let mut local = None;
            let mut address = None;
            for attr in &msg.attributes {
                match attr {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => address = Some(*ip),
                    _ => {}
                }
            }
            if let Some(ip) = local.or(address) {
                if let Ok(net) = IpNet::new(ip, msg.header.prefix_len) {
                    out.entry(msg.header.index).or_default().push(net);
                }
            }
        }
        Ok(out)
    }

    async fn routes(
        &self,
        msg: netlink_packet_route::route::RouteMessage,
    ) -> SysResult<Vec<IpNet>> {
        let _turn = self.dump.lock().await;
        let mut out = Vec::new();
        let mut stream = self.handle.route().get(msg).execute();
        while let Some(route) = stream
            .try_next()
            .await
            .map_err(|e| nl_err("list routes", "", e))?
        {
            if route.header.scope != RouteScope::Link || route.header.kind != RouteType::Unicast {
                continue;
            }
            for attr in &route.attributes {
                if let RouteAttribute::Destination(dst) = attr {
                    let ip = match dst {
                        RouteAddress::Inet(v4) => IpAddr::V4(*v4),
                        RouteAddress::Inet6(v6) => IpAddr::V6(*v6),
                        _ => continue,
                    };
                    if let Ok(net) = IpNet::new(ip, route.header.destination_prefix_length) {
                        out.push(net);
                    }
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Kernel for NetlinkKernel {
    async fn create_vxlan(&self, spec: &super::VxlanSpec) -> SysResult<u32> {
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

    async fn remote_table(&self, dev: u32) -> SysResult<super::RemoteTable> {
        let _turn = self.dump.lock().await;
        super::vxlan::table(&self.handle, dev).await
    }

    async fn links(&self) -> SysResult<Vec<Link>> {
        let mut links = Vec::new();
        {
            let _turn = self.dump.lock().await;
            let mut stream = self.handle.link().get().execute();
            while let Some(msg) = stream
                .try_next()
                .await
                .map_err(|e| nl_err("list links", "", e))?
            {
                links.push(parse_link(&msg));
            }
        }
        let mut addrs = self.addresses().await?;
        for l in &mut links {
            l.addrs = addrs.remove(&l.index).unwrap_or_default();
        }
        Ok(links)
    }

    async fn link(&self, name: &str) -> SysResult<Option<Link>> {
        let Some(msg) = self.link_message(name).await? else {
            return Ok(None);
        };
        let mut link = parse_link(&msg);
        link.addrs = self
            .addresses()
            .await?
            .remove(&link.index)
            .unwrap_or_default();
        Ok(Some(link))
    }

    async fn link_index(&self, name: &str) -> SysResult<Option<u32>> {
        Ok(self.link_message(name).await?.map(|m| m.header.index))
    }

    async fn create_bridge(&self, spec: &BridgeSpec) -> SysResult<u32> {
        self.handle
            .link()
            // Born down: what must be decided before it comes up (accept_dad) is set first.
            .add(
                LinkMessageBuilder::<LinkBridge>::new(&spec.name)
                    .mtu(spec.mtu)
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| nl_err("create bridge", &spec.name, e))?;
        let link = self
            .link(&spec.name)
            .await?
            .ok_or_else(|| SysError::Netlink {
                op: "create bridge",
                object: spec.name.clone(),
                message: "bridge vanished right after creation".into(),
                errno: libc_enodev(),
            })?;
        if spec.ipv6 {
            self.set_sysctl(&format!("net/ipv6/conf/{}/accept_dad", spec.name), "0")?;
        }
        // The kernel ignores IFLA_IFALIAS on creation, so the ownership mark is a second message.
        self.configure_link(link.index, &spec.alias, spec.mtu)
            .await?;
        for addr in &spec.addrs {
            self.add_address(link.index, *addr).await?;
        }
        Ok(link.index)
    }

    async fn configure_link(&self, index: u32, alias: &str, mtu: u32) -> SysResult<()> {
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(index)
                    .alias(alias)
                    .mtu(mtu)
                    .up()
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| nl_err("configure link", index.to_string(), e))
    }

    async fn add_address(&self, index: u32, addr: IpNet) -> SysResult<()> {
        let mut req = self
            .handle
            .address()
            .add(index, addr.addr(), addr.prefix_len());
        if addr.addr().is_ipv6() {
            let msg = req.message_mut();
            msg.header.flags |= AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == EEXIST => Ok(()),
            Err(e) => Err(nl_err("add address", addr.to_string(), e)),
        }
    }

    async fn delete_link(&self, index: u32) -> SysResult<()> {
        self.handle
            .link()
            .del(index)
            .execute()
            .await
            .map_err(|e| nl_err("delete link", index.to_string(), e))
    }

    async fn park_link(&self, index: u32, name: &str, alias: &str) -> SysResult<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).down().build())
            .execute()
            .await
            .map_err(|e| nl_err("take down", index.to_string(), e))?;
        // Down, a link keeps its IPv4 addresses (IPv6 ones go with it): each is removed.
        let held: Vec<_> = {
            let _turn = self.dump.lock().await;
            self.handle
                .address()
                .get()
                .set_link_index_filter(index)
                .execute()
                .try_collect()
                .await
                .map_err(|e| nl_err("list addresses", index.to_string(), e))?
        };
        for msg in held.into_iter().filter(|m| m.header.index == index) {
            match self.handle.address().del(msg).execute().await {
                Ok(()) => {}
                // Gone meanwhile (an IPv6 address leaving with the link).
                Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == EADDRNOTAVAIL => {}
                Err(e) => return Err(nl_err("remove address", index.to_string(), e)),
            }
        }
        self.rename_link(index, name, alias).await
    }

    async fn rename_link(&self, index: u32, name: &str, alias: &str) -> SysResult<()> {
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(index)
                    .name(name.to_string())
                    .alias(alias)
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| nl_err("rename link", format!("{index} to {name}"), e))
    }

    async fn onlink_routes(&self) -> SysResult<Vec<IpNet>> {
        let mut v4 = self
            .routes(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .await?;
        let v6 = self
            .routes(RouteMessageBuilder::<Ipv6Addr>::new().build())
            .await?;
        v4.extend(v6);
        Ok(v4)
    }

    fn set_sysctl(&self, key: &str, value: &str) -> SysResult<()> {
        match &self.ns {
            // /proc/sys/net shows the namespace of the thread that opens it.
            Some(path) => {
                let (k, v) = (key.to_string(), value.to_string());
                super::netns::run_in(path, move || {
                    super::sysctl::write(&k, &v).map_err(std::io::Error::other)
                })
            }
            None => super::sysctl::write(key, value),
        }
    }

    async fn create_netns(
        &self,
        path: &Path,
        sysctls: &[(&str, &str)],
    ) -> SysResult<Arc<dyn Kernel>> {
        let (ns, handle) = self.spares.namespace(path, sysctls).await?;
        let mut inner = Self::from_handle(handle, Some(path.to_path_buf()));
        inner.ns_file = Some(Arc::new(ns));
        Ok(Arc::new(inner))
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

    async fn create_veth(&self, spec: &VethSpec) -> SysResult<()> {
        let ns = std::fs::File::open(&spec.peer_ns).map_err(|source| SysError::Netns {
            op: "open",
            path: spec.peer_ns.display().to_string(),
            source,
        })?;
        // The peer is born inside the sandbox with its final name, MAC and MTU: one message, and
        // no moment where "eth0" has to exist in this namespace.
        let peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(spec.peer_name.clone())
            .address(spec.peer_mac.to_vec())
            .mtu(spec.mtu)
            .setns_by_fd(ns.as_raw_fd())
            .build();
        let mut msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(spec.host_name.clone())
            .mtu(spec.mtu)
            .controller(spec.master);
        if self.v6_conf.is_none() {
            msg = msg.up();
        }
        self.handle
            .link()
            .add(
                msg.set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| nl_err("create veth", &spec.host_name, e))?;
        drop(ns);
        if let Some(conf) = &self.v6_conf {
            // A bridge port needs no IPv6 of its own. With it, every host end would get a
            // link-local address (DAD, router solicitations and MLD sent into the container)
            // and two routes in the daemon's table, which the kernel walks on each new one:
            // a cost per veth that grows with the number of containers. Off before it is up.
            let key = format!("{}/disable_ipv6", spec.host_name);
            if let Err(e) = conf.write(&key, "1") {
                tracing::warn!(link = %spec.host_name, error = %e, "cannot turn IPv6 off on a veth");
            }
            self.handle
                .link()
                .set(LinkUnspec::new_with_name(&spec.host_name).up().build())
                .execute()
                .await
                .map_err(|e| nl_err("bring up", &spec.host_name, e))?;
        }
        Ok(())
    }

    async fn create_child(&self, spec: &ChildSpec) -> SysResult<()> {
        let ns = match &spec.netns {
            Some(path) => Some(std::fs::File::open(path).map_err(|source| SysError::Netns {
                op: "open",
                path: path.display().to_string(),
                source,
            })?),
            None => None,
        };
        let msg = match spec.kind {
            ChildKind::Macvlan(mode) => {
                let mode = match mode {
                    MacvlanMode::Bridge => MacVlanMode::Bridge,
                    MacvlanMode::Private => MacVlanMode::Private,
                    MacvlanMode::Vepa => MacVlanMode::Vepa,
                    MacvlanMode::Passthru => MacVlanMode::Passthrough,
                };
                child_message(
                    LinkMacVlan::new(&spec.name, spec.parent, mode),
                    spec,
                    ns.as_ref(),
                )
            }
            ChildKind::Ipvlan(mode, flag) => {
                let mode = match mode {
                    IpvlanMode::L2 => IpVlanMode::L2,
                    IpvlanMode::L3 => IpVlanMode::L3,
                    IpvlanMode::L3s => IpVlanMode::L3S,
                };
                let flag = match flag {
                    IpvlanFlag::Bridge => IpVlanFlags::empty(),
                    IpvlanFlag::Private => IpVlanFlags::Private,
                    IpvlanFlag::Vepa => IpVlanFlags::Vepa,
                };
                child_message(
                    LinkIpVlan::new(&spec.name, spec.parent, mode).flag(flag),
                    spec,
                    ns.as_ref(),
                )
            }
            ChildKind::Vlan(id) => child_message(
                LinkVlan::new(&spec.name, spec.parent, id),
                spec,
                ns.as_ref(),
            ),
        };
        self.handle.link().add(msg).execute().await.map_err(|e| {
            nl_err(
                "create link",
                format!("{} ({})", spec.name, spec.kind.type_name()),
                e,
            )
        })?;
        // The kernel ignores IFLA_IFALIAS on creation, so the ownership mark is a second message.
        if let (Some(alias), None) = (&spec.alias, &spec.netns) {
            let set = LinkUnspec::new_with_name(&spec.name)
                .alias(alias.clone())
                .build();
            if let Err(e) = self.handle.link().set(set).execute().await {
                let err = nl_err("mark", &spec.name, e);
                if let Ok(Some(i)) = self.link_index(&spec.name).await {
                    if let Err(d) = self.delete_link(i).await {
                        tracing::warn!(link = %spec.name, error = %d, "cannot remove a link that could not be marked as berth's");
                    }
                }
                return Err(err);
            }
        }
        Ok(())
    }

    async fn fork(&self) -> SysResult<Arc<dyn Kernel>> {
        // The kernel does a request's work inside sendmsg, and unregistering a device waits
        // there for RCU (tens of milliseconds): the connection runs on a thread of its own, so
        // that wait blocks none of the daemon's workers.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(SysError::Connect)?;
        let io = rt.handle().clone();
        let connect = move || {
            let _ctx = io.enter();
            rtnetlink::new_connection()
        };
        let (conn, handle, _) = match (&self.ns_file, &self.ns) {
            (Some(file), path) => {
                let ns = file.try_clone().map_err(SysError::Connect)?;
                super::netns::run_in_file(ns, connect).map_err(|source| SysError::Netns {
                    op: "enter network namespace",
                    path: path
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    source,
                })?
            }
            (None, Some(path)) => super::netns::run_in(path, connect)?,
            (None, None) => connect().map_err(SysError::Connect)?,
        };
        std::thread::Builder::new()
            .name("berth-netlink-teardown".into())
            .spawn(move || rt.block_on(conn))
            .map_err(SysError::Connect)?;
        let mut k = Self::from_handle(handle, self.ns.clone());
        k.ns_file = self.ns_file.clone();
        if self.ns.is_none() {
            k.v6_conf = super::sysctl::SysctlDir::open("net/ipv6/conf")?;
        }
        Ok(Arc::new(k))
    }

    async fn veth_peer(&self, name: &str) -> SysResult<Option<(u32, u32)>> {
        let Some(msg) = self.link_message(name).await? else {
            return Ok(None);
        };
        let peer = msg.attributes.iter().find_map(|a| match a {
            LinkAttribute::Link(i) => Some(*i),
            _ => None,
        });
        Ok(peer.map(|p| (msg.header.index, p)))
    }

    async fn set_up(&self, index: u32) -> SysResult<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| nl_err("set up", index.to_string(), e))
    }

    async fn unplug(&self, index: u32) -> SysResult<()> {
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(index)
                    .nocontroller()
                    .down()
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| nl_err("unplug", index.to_string(), e))
    }

    async fn shut_port(&self, index: u32) -> SysResult<()> {
        // IFLA_BRPORT_* of linux/if_link.h, sent as `bridge link set` does (RTM_SETLINK for
        // AF_BRIDGE). Through RTM_NEWLINK (`ip link set … type bridge_slave`) the kernel also
        // signals NETDEV_CHANGE, and the bridge's carrier check enables the port again at once.
        const STATE: u16 = 1;
        const LEARNING: u16 = 8;
        const UNICAST_FLOOD: u16 = 9;
        const FLUSH: u16 = 24;
        const MCAST_FLOOD: u16 = 27;
        const BCAST_FLOOD: u16 = 30;
        const DISABLED: u8 = 0;
        let attr = |kind: u16, value: &[u8]| {
            LinkProtoInfoBridge::Other(DefaultNla::new(kind, value.to_vec()))
        };
        let mut msg = LinkMessage::default();
        msg.header.interface_family = AddressFamily::Bridge;
        msg.header.index = index;
        // Disabled, and also nothing flooded to it and nothing learned from it: a carrier
        // change may enable the port again, and it must still receive nothing.
        msg.attributes.push(LinkAttribute::ProtoInfoBridge(vec![
            attr(STATE, &[DISABLED]),
            attr(LEARNING, &[0]),
            attr(UNICAST_FLOOD, &[0]),
            attr(MCAST_FLOOD, &[0]),
            attr(BCAST_FLOOD, &[0]),
            attr(FLUSH, &[]),
        ]));
        let shut = self.handle.link().set(msg).execute().await;
        match shut {
            Ok(()) => Ok(()),
            // Kernel STP owns port states (EBUSY): take it off the bridge instead.
            Err(e) => {
                tracing::debug!(index, error = %e, "cannot disable bridge port; unplugging it");
                self.unplug(index).await
            }
        }
    }

    async fn set_hairpin(&self, index: u32, on: bool) -> SysResult<()> {
        self.handle
            .link()
            .set_port(LinkBridgePort::new(index).hairpin(on).build())
            .execute()
            .await
            .map_err(|e| nl_err("set hairpin", index.to_string(), e))
    }

    async fn add_route(&self, index: u32, dest: IpNet) -> SysResult<()> {
        let msg = match dest {
            IpNet::V4(d) => RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(d.network(), d.prefix_len())
                .output_interface(index)
                .scope(RouteScope::Link)
                .build(),
            IpNet::V6(d) => RouteMessageBuilder::<Ipv6Addr>::new()
                .destination_prefix(d.network(), d.prefix_len())
                .output_interface(index)
                .build(),
        };
        self.handle
            .route()
            .add(msg)
            .execute()
            .await
            .map_err(|e| nl_err("add route to", dest.to_string(), e))
    }

    async fn add_default_route(&self, index: u32, gateway: IpAddr) -> SysResult<()> {
        let msg = match gateway {
            IpAddr::V4(gw) => RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(gw)
                .output_interface(index)
                .build(),
            IpAddr::V6(gw) => RouteMessageBuilder::<Ipv6Addr>::new()
                .gateway(gw)
                .output_interface(index)
                .build(),
        };
        match self.handle.route().add(msg).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == EEXIST => Ok(()),
            Err(e) => Err(nl_err("add default route via", gateway.to_string(), e)),
        }
    }

    fn open_resolver(
        &self,
        netns: &Path,
        addr: Ipv4Addr,
        previous: Option<[u16; 2]>,
    ) -> SysResult<super::ResolverSockets> {
        let bind = move |[u, t]: [u16; 2]| -> std::io::Result<_> {
            Ok((
                std::net::UdpSocket::bind((addr, u))?,
                std::net::TcpListener::bind((addr, t))?,
            ))
        };
        // One thread in the sandbox binds the sockets and, when the ports are new, writes the
        // redirect to them over netlink there.
        let (udp, tcp, ports) = super::netns::run_in(netns, move || {
            let (again, (udp, tcp)) = match previous.map(bind) {
                Some(Ok(s)) => (true, s),
                _ => (false, bind([0, 0])?),
            };
            let ports = [udp.local_addr()?.port(), tcp.local_addr()?.port()];
            if !again {
                super::nftnl::resolver_redirect(addr, ports[0], ports[1], previous.is_some())
                    .map_err(std::io::Error::other)?;
            }
            Ok((udp, tcp, ports))
        })?;
        Ok(super::ResolverSockets { udp, tcp, ports })
    }
}

const fn libc_enodev() -> i32 {
    19
}

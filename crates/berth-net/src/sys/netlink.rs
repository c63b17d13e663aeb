//! [`Kernel`] over rtnetlink, in the namespace the daemon runs in.
//!
//! One netlink connection serves every request; each operation is a handful of messages, so a
//! bridge costs well under a millisecond of kernel time instead of a process per `ip` call.

use super::{BridgeSpec, Kernel, Link, SysError, SysResult};
use async_trait::async_trait;
use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteScope, RouteType};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, RouteMessageBuilder};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const EEXIST: i32 = 17;

pub struct NetlinkKernel {
    handle: Handle,
    /// The kernel runs one dump at a time per netlink socket and answers EBUSY to a second;
    /// dumps on the shared connection take turns.
    dump: tokio::sync::Mutex<()>,
}

impl NetlinkKernel {
    /// Opens a netlink connection in the current namespace; must run inside a tokio runtime.
    pub fn connect() -> SysResult<Self> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(SysError::Connect)?;
        tokio::spawn(conn);
        Ok(NetlinkKernel {
            handle,
            dump: tokio::sync::Mutex::new(()),
        })
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
        let mut stream = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match stream.try_next().await {
            Ok(Some(msg)) => {
                let mut link = parse_link(&msg);
                link.addrs = self
                    .addresses()
                    .await?
                    .remove(&link.index)
                    .unwrap_or_default();
                Ok(Some(link))
            }
            Ok(None) => Ok(None),
            Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == libc_enodev() => Ok(None),
            Err(e) => Err(nl_err("get link", name, e)),
        }
    }

    async fn create_bridge(&self, spec: &BridgeSpec) -> SysResult<u32> {
        self.handle
            .link()
            .add(LinkBridge::new(&spec.name).mtu(spec.mtu).build())
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
        super::sysctl::write(key, value)
    }
}

const fn libc_enodev() -> i32 {
    19
}

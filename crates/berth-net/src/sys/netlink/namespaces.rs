//! Namespaces and what runs inside one: sysctls, sandboxes' namespaces, forked connections, and
//! the embedded resolver's sockets.

use super::NetlinkKernel;
use crate::sys::{Kernel, ResolverSockets, SysError, SysResult};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

pub(super) fn set_sysctl(k: &NetlinkKernel, key: &str, value: &str) -> SysResult<()> {
    match &k.ns {
        // /proc/sys/net shows the namespace of the thread that opens it.
        Some(path) => {
            let (key, value) = (key.to_string(), value.to_string());
            crate::sys::netns::run_in(path, move || {
                crate::sys::sysctl::write(&key, &value).map_err(std::io::Error::other)
            })
        }
        None => crate::sys::sysctl::write(key, value),
    }
}

pub(super) async fn create(
    k: &NetlinkKernel,
    path: &Path,
    sysctls: &[(&str, &str)],
) -> SysResult<Arc<dyn Kernel>> {
    let (ns, handle) = k.spares.namespace(path, sysctls).await?;
    let mut inner = NetlinkKernel::from_handle(handle, Some(path.to_path_buf()));
    inner.ns_file = Some(Arc::new(ns));
    Ok(Arc::new(inner))
}

pub(super) async fn fork(k: &NetlinkKernel) -> SysResult<Arc<dyn Kernel>> {
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
    let (conn, handle, _) = match (&k.ns_file, &k.ns) {
        (Some(file), path) => {
            let ns = file.try_clone().map_err(SysError::Connect)?;
            crate::sys::netns::run_in_file(ns, connect).map_err(|source| SysError::Netns {
                op: "enter network namespace",
                path: path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                source,
            })?
        }
        (None, Some(path)) => crate::sys::netns::run_in(path, connect)?,
        (None, None) => connect().map_err(SysError::Connect)?,
    };
    std::thread::Builder::new()
        .name("berth-netlink-teardown".into())
        .spawn(move || rt.block_on(conn))
        .map_err(SysError::Connect)?;
    let mut forked = NetlinkKernel::from_handle(handle, k.ns.clone());
    forked.ns_file = k.ns_file.clone();
    if k.ns.is_none() {
        forked.v6_conf = crate::sys::sysctl::SysctlDir::open("net/ipv6/conf")?;
    }
    Ok(Arc::new(forked))
}

pub(super) fn open_resolver(
    netns: &Path,
    addr: Ipv4Addr,
    previous: Option<[u16; 2]>,
) -> SysResult<ResolverSockets> {
    let bind = move |[u, t]: [u16; 2]| -> std::io::Result<_> {
        Ok((
            std::net::UdpSocket::bind((addr, u))?,
            std::net::TcpListener::bind((addr, t))?,
        ))
    };
    // One thread in the sandbox binds the sockets and, when the ports are new, writes the
    // redirect to them over netlink there.
    let (udp, tcp, ports) = crate::sys::netns::run_in(netns, move || {
        let (again, (udp, tcp)) = match previous.map(bind) {
            Some(Ok(s)) => (true, s),
            _ => (false, bind([0, 0])?),
        };
        let ports = [udp.local_addr()?.port(), tcp.local_addr()?.port()];
        if !again {
            crate::sys::nftnl::resolver_redirect(addr, ports[0], ports[1], previous.is_some())
                .map_err(std::io::Error::other)?;
        }
        Ok((udp, tcp, ports))
    })?;
    Ok(ResolverSockets { udp, tcp, ports })
}

//! Routes: the on-link routes the host already has, and adding on-link and default routes.

use super::{nl_err, NetlinkKernel, EEXIST};
use crate::sys::SysResult;
use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteScope, RouteType,
};
use rtnetlink::RouteMessageBuilder;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Destinations of the unicast scope-link routes a dump filtered by `msg` answers.
async fn onlink_of(k: &NetlinkKernel, msg: RouteMessage) -> SysResult<Vec<IpNet>> {
    let _turn = k.dump.lock().await;
    let mut out = Vec::new();
    let mut stream = k.handle.route().get(msg).execute();
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

pub(super) async fn onlink(k: &NetlinkKernel) -> SysResult<Vec<IpNet>> {
    let mut v4 = onlink_of(k, RouteMessageBuilder::<Ipv4Addr>::new().build()).await?;
    let v6 = onlink_of(k, RouteMessageBuilder::<Ipv6Addr>::new().build()).await?;
    v4.extend(v6);
    Ok(v4)
}

pub(super) async fn add(k: &NetlinkKernel, index: u32, dest: IpNet) -> SysResult<()> {
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
    k.handle
        .route()
        .add(msg)
        .execute()
        .await
        .map_err(|e| nl_err("add route to", dest.to_string(), e))
}

pub(super) async fn add_default(k: &NetlinkKernel, index: u32, gateway: IpAddr) -> SysResult<()> {
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
    match k.handle.route().add(msg).execute().await {
        Ok(()) => Ok(()),
        Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == EEXIST => Ok(()),
        Err(e) => Err(nl_err("add default route via", gateway.to_string(), e)),
    }
}

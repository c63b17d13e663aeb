//! An overlay network's namespace over rtnetlink: made fresh with its own sysctls, and joined
//! to the daemon's namespace by the transfer veth pair.

use super::{nl_err, NetlinkKernel};
use crate::sys::{Kernel, SysError, SysResult, TransferSpec};
use futures::TryStreamExt;
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, LinkVeth};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;

pub(super) async fn create_netns_fresh(
    path: &Path,
    sysctls: &[(&str, &str)],
) -> SysResult<Arc<dyn Kernel>> {
    let (ns, handle) = crate::sys::spare_netns::fresh(path, sysctls).await?;
    let mut inner = NetlinkKernel::from_handle(handle, Some(path.to_path_buf()));
    inner.ns_file = Some(Arc::new(ns));
    Ok(Arc::new(inner))
}

pub(super) async fn create_transfer(k: &NetlinkKernel, spec: &TransferSpec) -> SysResult<u32> {
    let ns = std::fs::File::open(&spec.peer_ns).map_err(|source| SysError::Netns {
        op: "open",
        path: spec.peer_ns.display().to_string(),
        source,
    })?;
    let peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(spec.peer_name.clone())
        .mtu(spec.mtu)
        .setns_by_fd(ns.as_raw_fd())
        .build();
    let msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(spec.host_name.clone())
        .mtu(spec.mtu)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .build();
    k.handle
        .link()
        .add(msg)
        .execute()
        .await
        .map_err(|e| nl_err("create transfer veth", &spec.host_name, e))?;
    drop(ns);
    let mut links = k
        .handle
        .link()
        .get()
        .match_name(spec.host_name.clone())
        .execute();
    let index = match links.try_next().await {
        Ok(Some(m)) => m.header.index,
        Ok(None) => {
            return Err(SysError::Netlink {
                op: "create transfer veth",
                object: spec.host_name.clone(),
                message: "device vanished right after creation".into(),
                errno: super::ENODEV,
            })
        }
        Err(e) => return Err(nl_err("find transfer veth", &spec.host_name, e)),
    };
    if let Some(conf) = &k.v6_conf {
        // A point-to-point leg for IPv4 needs no link-local address, DAD or MLD.
        if let Err(e) = conf.write(&format!("{}/disable_ipv6", spec.host_name), "1") {
            tracing::warn!(link = %spec.host_name, error = %e, "cannot turn IPv6 off on a transfer veth");
        }
    }
    let set = LinkUnspec::new_with_index(index)
        .alias(spec.alias.clone())
        .up()
        .build();
    if let Err(e) = k.handle.link().set(set).execute().await {
        // Unmarked, the pair would be nobody's: take it away again (best effort; the
        // network's undo deletes its namespace, and the peer with it).
        let _ = k.handle.link().del(index).execute().await;
        return Err(nl_err("mark transfer veth", &spec.host_name, e));
    }
    Ok(index)
}

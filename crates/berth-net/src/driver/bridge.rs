//! The bridge driver: one Linux bridge per network, holding the gateway address of each subnet.
//!
//! berth marks every bridge it makes with the interface alias `berth:<network id>`. That mark, not
//! the name, is how it knows a bridge is its own: it never deletes or adopts one without it.

use super::bridge_pool::{self, BridgePool};
use super::{Deferred, DriverConfig, Join, Leave, NetworkDriver, NewNetwork};
use crate::error::{NetError, NetResult};
use crate::network::Network;
use crate::sys::{BridgeSpec, Kernel, VethSpec};
use async_trait::async_trait;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

pub const OPT_NAME: &str = "com.docker.network.bridge.name";
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
pub const OPT_MASQ: &str = "com.docker.network.bridge.enable_ip_masquerade";
pub const OPT_HOST_BINDING: &str = "com.docker.network.bridge.host_binding_ipv4";
pub const OPT_DEFAULT_BRIDGE: &str = "com.docker.network.bridge.default_bridge";
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
pub const OPT_IFACE_PREFIX: &str = "com.docker.network.container_iface_prefix";

const ALLOWED: &[&str] = &[
    OPT_NAME,
    OPT_ICC,
    OPT_MASQ,
    OPT_HOST_BINDING,
    OPT_MTU,
    OPT_IFACE_PREFIX,
];
pub const DEFAULT_MTU: u32 = 1500;

/// The bridge driver's settings of one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeConfig {
    pub name: String,
    pub mtu: u32,
    pub icc: bool,
    pub masquerade: bool,
    pub host_binding_ipv4: IpAddr,
}

use super::parse_bool;
pub use super::{owner, owner_alias};

/// Whether `name` can be a Linux interface name.
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
}

/// A bridge with Docker's defaults for network `id` (device `br-<12 hex>`).
pub fn defaults(id: &str) -> BridgeConfig {
    BridgeConfig {
        name: format!("br-{}", &id[..12.min(id.len())]),
        mtu: DEFAULT_MTU,
        icc: true,
        masquerade: true,
        host_binding_ipv4: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

/// Parses and checks bridge options; `id` names the default bridge device (`br-<12 hex>`).
pub fn parse_options(opts: &BTreeMap<String, String>, id: &str) -> NetResult<BridgeConfig> {
    let mut cfg = defaults(id);
    for (key, value) in opts {
        match key.as_str() {
            OPT_NAME => {
                if !valid_ifname(value) {
                    return Err(NetError::InvalidParameter(format!(
                        "invalid bridge name \"{value}\" in option {OPT_NAME}: an interface name has 1 to 15 characters and no '/', ':' or spaces"
                    )));
                }
                cfg.name = value.clone();
            }
            OPT_MTU => {
                cfg.mtu = match value.parse::<u32>() {
                    Ok(m) if (68..=65535).contains(&m) => m,
                    _ => {
                        return Err(NetError::InvalidParameter(format!(
                            "invalid value \"{value}\" for option {OPT_MTU}: expected an MTU from 68 to 65535"
                        )))
                    }
                }
            }
            OPT_ICC => cfg.icc = parse_bool(key, value)?,
            OPT_MASQ => cfg.masquerade = parse_bool(key, value)?,
            OPT_HOST_BINDING => {
                cfg.host_binding_ipv4 = value.parse().map_err(|_| {
                    NetError::InvalidParameter(format!(
                        "invalid value \"{value}\" for option {OPT_HOST_BINDING}: expected an IP address"
                    ))
                })?
            }
            OPT_IFACE_PREFIX => {}
            OPT_DEFAULT_BRIDGE => {
                return Err(NetError::InvalidParameter(format!(
                    "option {OPT_DEFAULT_BRIDGE} is reserved for the predefined bridge network"
                )))
            }
            other
                if other.starts_with("com.docker.network.bridge.")
                    || other.starts_with("com.docker.network.driver.") =>
            {
                return Err(NetError::InvalidParameter(format!(
                    "unknown bridge driver option \"{other}\"; supported options: {}",
                    ALLOWED.join(", ")
                )))
            }
            // Options outside the driver's namespace are the user's own metadata: kept, not read.
            _ => {}
        }
    }
    Ok(cfg)
}

/// The addresses the bridge of `net` holds: each subnet's gateway with the subnet's prefix.
pub fn bridge_addrs(net: &Network) -> Vec<IpNet> {
    net.subnets
        .iter()
        .filter_map(|s| IpNet::new(s.gateway, s.subnet.prefix_len()).ok())
        .collect()
}

/// Makes the kernel match `net`: the bridge exists, is ours, is up, has its MTU and addresses.
pub async fn ensure(kernel: &dyn Kernel, net: &Network) -> NetResult<()> {
    ensure_from(kernel, net, None).await
}

/// [`ensure`], renaming a bridge parked in `pool` where one would otherwise be made.
async fn ensure_from(
    kernel: &dyn Kernel,
    net: &Network,
    pool: Option<&BridgePool>,
) -> NetResult<()> {
    let Some(cfg) = net.driver.bridge() else {
        return Ok(());
    };
    let alias = owner_alias(&net.id);
    let addrs = bridge_addrs(net);
    if net.enable_ipv6 {
        kernel
            .set_sysctl("net/ipv6/conf/all/forwarding", "1")
            .map_err(NetError::kernel("enable IPv6 forwarding"))?;
    }
    match kernel
        .link(&cfg.name)
        .await
        .map_err(NetError::kernel(format!("look up bridge {}", cfg.name)))?
    {
        Some(link) if owner(&link) == Some(net.id.as_str()) => {
            if link.mtu != cfg.mtu || !link.up {
                kernel
                    .configure_link(link.index, &alias, cfg.mtu)
                    .await
                    .map_err(NetError::kernel(format!("configure bridge {}", cfg.name)))?;
            }
            for addr in addrs.iter().filter(|a| !link.addrs.contains(a)) {
                kernel
                    .add_address(link.index, *addr)
                    .await
                    .map_err(NetError::kernel(format!("add {addr} to bridge {}", cfg.name)))?;
            }
            Ok(())
        }
        Some(_) => Err(NetError::Conflict(format!(
            "interface {} already exists and berth did not create it; choose another name with -o {OPT_NAME}=NAME",
            cfg.name
        ))),
        None => {
            let spec = BridgeSpec {
                name: cfg.name.clone(),
                mtu: cfg.mtu,
                alias,
                addrs,
                ipv6: net.enable_ipv6,
            };
            if let Some(parked) = pool.and_then(|p| p.take(net.enable_ipv6)) {
                match bridge_pool::reuse(kernel, &parked, &spec).await {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        // A new bridge does as well; this one must not stay behind.
                        tracing::warn!(link = %parked.name, error = %e, "cannot reuse a parked bridge");
                        if let Err(d) = kernel.delete_link(parked.index).await {
                            tracing::warn!(link = %parked.name, error = %d, "cannot delete a parked bridge");
                        }
                    }
                }
            }
            if net.enable_ipv6 {
                // A new bridge inherits net.ipv6.conf.default; make sure IPv6 is on for it.
                let _ = kernel.set_sysctl("net/ipv6/conf/default/disable_ipv6", "0");
            }
            match kernel.create_bridge(&spec).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    // Do not leave a half-made bridge behind.
                    if let Ok(Some(link)) = kernel.link(&cfg.name).await {
                        if owner(&link) == Some(net.id.as_str()) || link.alias.is_none() {
                            let _ = kernel.delete_link(link.index).await;
                        }
                    }
                    Err(NetError::Kernel {
                        context: format!("create bridge {}", cfg.name),
                        source: e,
                    })
                }
            }
        }
    }
}

/// Deletes the bridge of `net` if it exists and is ours.
pub async fn remove(kernel: &dyn Kernel, net: &Network) -> NetResult<()> {
    match net.driver.bridge() {
        Some(cfg) => super::delete_owned(kernel, &cfg.name, &net.id).await,
        None => Ok(()),
    }
}

/// The bridge driver.
pub struct Bridge;

#[async_trait]
impl NetworkDriver for Bridge {
    fn name(&self) -> &'static str {
        "bridge"
    }

    fn configure(&self, new: &NewNetwork<'_>) -> NetResult<DriverConfig> {
        let cfg = parse_options(new.options, new.id)?;
        if let Some(other) = new
            .existing
            .values()
            .find(|n| n.driver.bridge().map(|b| &b.name) == Some(&cfg.name))
        {
            return Err(NetError::Conflict(format!(
                "bridge name {} is already used by network {}",
                cfg.name, other.name
            )));
        }
        Ok(DriverConfig::Bridge(cfg))
    }

    fn routes_on_host(&self) -> bool {
        true
    }

    fn publishes_ports(&self) -> bool {
        true
    }

    fn host_ifname(&self) -> Option<String> {
        Some(crate::endpoint::host_ifname())
    }

    fn host_links(&self, net: &Network) -> Vec<String> {
        net.driver
            .bridge()
            .map(|b| b.name.clone())
            .into_iter()
            .collect()
    }

    async fn create(&self, kernel: &dyn Kernel, net: &Network) -> NetResult<()> {
        ensure(kernel, net).await
    }

    async fn delete(&self, kernel: &dyn Kernel, net: &Network) -> NetResult<()> {
        remove(kernel, net).await
    }

    async fn create_pooled(
        &self,
        kernel: &dyn Kernel,
        net: &Network,
        pool: &Arc<BridgePool>,
    ) -> NetResult<()> {
        ensure_from(kernel, net, Some(pool)).await
    }

    async fn park(
        &self,
        kernel: &dyn Kernel,
        net: &Network,
        pool: &Arc<BridgePool>,
    ) -> NetResult<bool> {
        bridge_pool::park(kernel, net, pool).await
    }

    async fn join(&self, cx: Join<'_>) -> NetResult<Option<u32>> {
        plumb(cx).await.map(Some)
    }

    async fn leave(&self, cx: Leave<'_>) -> NetResult<Option<Deferred>> {
        let ep = cx.ep;
        let index = match cx.known.veths.remove(&ep.host_ifname) {
            Some(i) => Some(i),
            None => cx
                .kernel
                .link_index(&ep.host_ifname)
                .await
                .map_err(NetError::kernel(format!("find {}", ep.host_ifname)))?,
        };
        let Some(l) = index else {
            return Ok(None);
        };
        if cx.sandbox_gone {
            // Its peer's namespace goes next, so the port need not leave its bridge here.
            let _ = cx.kernel.shut_port(l).await;
            return Ok(None);
        }
        cx.kernel
            .unplug(l)
            .await
            .map_err(NetError::kernel(format!("unplug {}", ep.host_ifname)))?;
        let teardown = cx.teardown.clone();
        let name = ep.host_ifname.clone();
        Ok(Some(Box::pin(async move {
            if let Err(e) = teardown.delete_link(l).await {
                tracing::warn!(link = %name, error = %e, "veth teardown failed");
            }
        })))
    }
}

/// The kernel side of an endpoint: a veth pair from the bridge into the sandbox, addresses,
/// link up, and the default route on the sandbox's first network. Returns the host end's index.
async fn plumb(cx: Join<'_>) -> NetResult<u32> {
    let Join {
        kernel,
        inner,
        known,
        sb,
        ep,
        net,
    } = cx;
    let ctx = |what: String| NetError::kernel(what);
    let bridge = net
        .driver
        .bridge()
        .ok_or_else(|| NetError::InvalidParameter(format!("network {} has no bridge", net.name)))?;
    let find_bridge = || async {
        kernel
            .link_index(&bridge.name)
            .await
            .map_err(ctx(format!("find bridge {}", bridge.name)))?
            .ok_or_else(|| {
                NetError::NotFound(format!(
                    "bridge {} of network {} is missing",
                    bridge.name, net.name
                ))
            })
    };
    let remembered = known.bridges.remove(&bridge.name);
    let mut spec = VethSpec {
        host_name: ep.host_ifname.clone(),
        master: match remembered {
            Some(i) => i,
            None => find_bridge().await?,
        },
        mtu: bridge.mtu,
        peer_name: ep.ifname.clone(),
        peer_mac: ep.mac,
        peer_ns: sb.path.clone(),
    };
    let mut made = kernel.create_veth(&spec).await;
    if made.is_err() && remembered.is_some() {
        // The bridge may have been made again under the same name: ask once more.
        spec.master = find_bridge().await?;
        made = kernel.create_veth(&spec).await;
    }
    made.map_err(ctx(format!(
        "create veth {} for {}",
        ep.host_ifname, net.name
    )))?;
    known.bridges.insert(bridge.name.clone(), spec.master);
    let (peer, host) = inner
        .veth_peer(&ep.ifname)
        .await
        .map_err(ctx(format!("find {} in sandbox", ep.ifname)))?
        .ok_or_else(|| NetError::NotFound(format!("{} vanished from the sandbox", ep.ifname)))?;
    super::stacked::configure_inside(inner, peer, ep, ep.default_route).await?;
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "05fea7b6aa0f988f6d4ede381cf18ac0b4a3571b3ffd2043300eb624446c20a5";

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_follow_docker() {
        let c = parse_options(&BTreeMap::new(), ID).unwrap();
        assert_eq!(c.name, "br-05fea7b6aa0f");
        assert_eq!(c.mtu, 1500);
        assert!(c.icc && c.masquerade);
    }

    #[test]
    fn options_are_parsed_and_checked() {
        let c = parse_options(
            &opts(&[
                (OPT_NAME, "mybr"),
                (OPT_MTU, "1400"),
                (OPT_ICC, "false"),
                ("my.own", "x"),
            ]),
            ID,
        )
        .unwrap();
        assert_eq!((c.name.as_str(), c.mtu, c.icc), ("mybr", 1400, false));
        for (k, v, needle) in [
            (OPT_MTU, "abc", "abc"),
            (OPT_MTU, "70000", "70000"),
            (OPT_ICC, "maybe", "maybe"),
            (OPT_NAME, "this-name-is-too-long", "too-long"),
            (OPT_NAME, "a/b", "a/b"),
            ("com.docker.network.bridge.nosuch", "1", "nosuch"),
            (OPT_DEFAULT_BRIDGE, "true", "reserved"),
        ] {
            let e = parse_options(&opts(&[(k, v)]), ID).unwrap_err().to_string();
            assert!(e.contains(needle), "{k}={v}: {e}");
        }
    }
}

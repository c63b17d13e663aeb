//! The macvlan driver: each container gets a macvlan child of the parent link, with a MAC of its
//! own, straight on the parent's LAN; no NAT and no published ports.
//!
//! The kernel lets no traffic pass between a parent and its macvlan children, so the host cannot
//! reach its own containers through the parent. `-o berth.macvlan.host_link=true` gives the host
//! a macvlan link of its own on the same parent (`mh-<id>`, with the address of
//! `--aux-address host=IP`), routed to the network's `--ip-range` (or its subnet).

use super::stacked::{self, Parent, ParentOrigin};
use super::{Deferred, DriverConfig, Join, Leave, NetworkDriver, NewNetwork};
use crate::error::{NetError, NetResult};
use crate::network::Network;
use crate::sys::{ChildKind, ChildSpec, Kernel, MacvlanMode};
use async_trait::async_trait;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub const OPT_MODE: &str = "macvlan_mode";
pub const OPT_HOST_LINK: &str = "berth.macvlan.host_link";
/// The `--aux-address` name whose address the host link takes.
pub const HOST_AUX: &str = "host";
const ALLOWED: &[&str] = &[stacked::OPT_PARENT, OPT_MODE, OPT_HOST_LINK];

/// The macvlan driver's settings of one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacvlanConfig {
    pub parent: Parent,
    pub mode: MacvlanMode,
    /// The host's own macvlan link on the parent, if asked for.
    #[serde(default)]
    pub host_link: Option<String>,
}

fn parse_mode(value: &str) -> NetResult<MacvlanMode> {
    Ok(match value {
        "" | "bridge" => MacvlanMode::Bridge,
        "private" => MacvlanMode::Private,
        "vepa" => MacvlanMode::Vepa,
        "passthru" => MacvlanMode::Passthru,
        other => {
            return Err(NetError::InvalidParameter(format!(
                "requested macvlan mode '{other}' is not valid, 'bridge' mode is the macvlan driver default; allowed modes: bridge, private, vepa, passthru"
            )))
        }
    })
}

fn config(net: &Network) -> NetResult<&MacvlanConfig> {
    match &net.driver {
        DriverConfig::Macvlan(c) => Ok(c),
        _ => Err(NetError::InvalidParameter(format!(
            "network {} is not a macvlan network",
            net.name
        ))),
    }
}

/// The host link's address: `--aux-address host=IP` of the first subnet that has one.
fn host_address(net: &Network) -> Option<IpNet> {
    net.subnets.iter().find_map(|s| {
        let ip = *s.aux.get(HOST_AUX)?;
        IpNet::new(ip, if ip.is_ipv4() { 32 } else { 128 }).ok()
    })
}

/// Where the host link routes: the container range of each subnet with a host address.
fn host_routes(net: &Network) -> Vec<IpNet> {
    net.subnets
        .iter()
        .filter(|s| s.aux.contains_key(HOST_AUX))
        .map(|s| s.ip_range.unwrap_or(s.subnet))
        .collect()
}

pub struct Macvlan;

#[async_trait]
impl NetworkDriver for Macvlan {
    fn name(&self) -> &'static str {
        "macvlan"
    }

    fn configure(&self, new: &NewNetwork<'_>) -> NetResult<DriverConfig> {
        for key in new.options.keys() {
            if !ALLOWED.contains(&key.as_str()) && key.starts_with("com.docker.network.") {
                return Err(NetError::InvalidParameter(format!(
                    "unknown macvlan driver option \"{key}\"; supported options: {}",
                    ALLOWED.join(", ")
                )));
            }
        }
        let parent = stacked::parse_parent(new.options, new.id, "macvlan")?;
        let mode = parse_mode(new.options.get(OPT_MODE).map_or("", String::as_str))?;
        let host_link = match new.options.get(OPT_HOST_LINK) {
            Some(v) if super::parse_bool(OPT_HOST_LINK, v)? => {
                if !new.subnets.iter().any(|s| s.aux.contains_key(HOST_AUX)) {
                    return Err(NetError::InvalidParameter(format!(
                        "-o {OPT_HOST_LINK}=true needs the host's address on the network: add --aux-address {HOST_AUX}=IP"
                    )));
                }
                if parent.origin == ParentOrigin::StandIn {
                    return Err(NetError::InvalidParameter(format!(
                        "-o {OPT_HOST_LINK}=true needs -o parent=IFACE: a network without a parent is internal"
                    )));
                }
                Some(format!("mh-{}", &new.id[..12.min(new.id.len())]))
            }
            _ => None,
        };
        for other in new.existing.values() {
            let DriverConfig::Macvlan(o) = &other.driver else {
                continue;
            };
            if o.parent.name != parent.name {
                continue;
            }
            if mode == MacvlanMode::Passthru {
                return Err(NetError::Forbidden(format!(
                    "cannot use mode passthru, macvlan network {} is already using parent interface {}",
                    other.name, parent.name
                )));
            }
            if o.mode == MacvlanMode::Passthru {
                return Err(NetError::Forbidden(format!(
                    "macvlan network {} is already using parent interface {} in mode passthru",
                    other.name, parent.name
                )));
            }
        }
        Ok(DriverConfig::Macvlan(MacvlanConfig {
            parent,
            mode,
            host_link,
        }))
    }

    fn forces_internal(&self, cfg: &DriverConfig) -> bool {
        matches!(cfg, DriverConfig::Macvlan(c) if c.parent.origin == ParentOrigin::StandIn)
    }

    fn host_links(&self, net: &Network) -> Vec<String> {
        let Ok(c) = config(net) else {
            return vec![];
        };
        let mut v = stacked::owned_links(&c.parent);
        v.extend(c.host_link.clone());
        v
    }

    async fn create(&self, kernel: &dyn Kernel, net: &Network) -> NetResult<()> {
        let c = config(net)?;
        let parent = stacked::ensure_parent(kernel, net, &c.parent).await?;
        let Some(name) = &c.host_link else {
            return Ok(());
        };
        if kernel
            .link_index(name)
            .await
            .map_err(NetError::kernel(format!("look up {name}")))?
            .is_some()
        {
            return Ok(());
        }
        let spec = ChildSpec {
            name: name.clone(),
            parent,
            kind: ChildKind::Macvlan(c.mode),
            mac: None,
            alias: Some(super::owner_alias(&net.id)),
            netns: None,
            up: true,
        };
        kernel
            .create_child(&spec)
            .await
            .map_err(NetError::kernel(format!("create host link {name}")))?;
        let index = kernel
            .link_index(name)
            .await
            .map_err(NetError::kernel(format!("look up {name}")))?
            .ok_or_else(|| NetError::NotFound(format!("{name} vanished as it was made")))?;
        if let Some(addr) = host_address(net) {
            kernel
                .add_address(index, addr)
                .await
                .map_err(NetError::kernel(format!("add {addr} to {name}")))?;
        }
        for dest in host_routes(net) {
            kernel.add_route(index, dest).await.map_err(|e| {
                if e.errno() == 17 {
                    NetError::InvalidParameter(format!(
                        "the host already routes {dest} through another link; give the network an --ip-range for its containers so that {name} can route it"
                    ))
                } else {
                    NetError::Kernel {
                        context: format!("route {dest} through {name}"),
                        source: e,
                    }
                }
            })?;
        }
        Ok(())
    }

    async fn delete(&self, kernel: &dyn Kernel, net: &Network) -> NetResult<()> {
        let c = config(net)?;
        if let Some(name) = &c.host_link {
            super::delete_owned(kernel, name, &net.id).await?;
        }
        stacked::remove_parent(kernel, net, &c.parent).await
    }

    async fn join(&self, cx: Join<'_>) -> NetResult<Option<u32>> {
        let c = config(cx.net)?;
        let (parent, mode, mac) = (c.parent.name.clone(), c.mode, cx.ep.mac);
        stacked::join(cx, &parent, ChildKind::Macvlan(mode), Some(mac)).await
    }

    async fn leave(&self, cx: Leave<'_>) -> NetResult<Option<Deferred>> {
        stacked::leave(cx, true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_docker_s() {
        assert_eq!(parse_mode("").unwrap(), MacvlanMode::Bridge);
        assert_eq!(parse_mode("passthru").unwrap(), MacvlanMode::Passthru);
        let e = parse_mode("l2").unwrap_err().to_string();
        assert!(e.contains("'l2'") && e.contains("private"), "{e}");
    }
}

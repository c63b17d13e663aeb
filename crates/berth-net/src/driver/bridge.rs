//! The bridge driver: one Linux bridge per network, holding the gateway address of each subnet.
//!
//! berth marks every bridge it makes with the interface alias `berth:<network id>`. That mark, not
//! the name, is how it knows a bridge is its own: it never deletes or adopts one without it.

use crate::error::{NetError, NetResult};
use crate::network::Network;
use crate::sys::{BridgeSpec, Kernel, Link};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

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
const ALIAS_PREFIX: &str = "berth:";
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

/// The alias that marks a link as belonging to network `id`.
pub fn owner_alias(id: &str) -> String {
    format!("{ALIAS_PREFIX}{id}")
}

/// The network ID a link belongs to, if berth made it.
pub fn owner(link: &Link) -> Option<&str> {
    link.alias.as_deref()?.strip_prefix(ALIAS_PREFIX)
}

/// Go's strconv.ParseBool, which Docker uses for these options.
fn parse_bool(key: &str, value: &str) -> NetResult<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(NetError::InvalidParameter(format!(
            "invalid value \"{value}\" for option {key}: expected true or false"
        ))),
    }
}

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

/// Parses and checks bridge options; `id` names the default bridge device (`br-<12 hex>`).
pub fn parse_options(opts: &BTreeMap<String, String>, id: &str) -> NetResult<BridgeConfig> {
    let mut cfg = BridgeConfig {
        name: format!("br-{}", &id[..12]),
        mtu: DEFAULT_MTU,
        icc: true,
        masquerade: true,
        host_binding_ipv4: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
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
    let Some(cfg) = &net.bridge else {
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
    let Some(cfg) = &net.bridge else {
        return Ok(());
    };
    if let Some(link) = kernel
        .link(&cfg.name)
        .await
        .map_err(NetError::kernel(format!("look up bridge {}", cfg.name)))?
    {
        if owner(&link) == Some(net.id.as_str()) {
            kernel
                .delete_link(link.index)
                .await
                .map_err(NetError::kernel(format!("delete bridge {}", cfg.name)))?;
        }
    }
    Ok(())
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

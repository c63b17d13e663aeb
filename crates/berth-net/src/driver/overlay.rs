//! The overlay driver: a network spanning the hosts of a cluster. On every host the network is
//! a bridge in the daemon's namespace holding the network's gateway (so egress, published
//! ports, isolation and DNS work exactly as on a bridge network, through the host's own
//! firewall), plus a VXLAN device on that bridge carrying frames to the other hosts.
//!
//! The VXLAN device learns nothing and floods nothing: berth writes a permanent neighbour and a
//! static FDB entry for each remote endpoint (see `controller::overlay`), and the device's ARP
//! proxy answers for remote endpoints from those neighbours.

use super::bridge::{self, BridgeConfig};
use super::{Deferred, DriverConfig, Join, Leave, NetworkDriver, NewNetwork};
use crate::error::{NetError, NetResult};
use crate::network::Network;
use crate::sys::{Kernel, VxlanSpec, VXLAN_PORT};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

/// Docker's option listing a network's VNIs (shown by `network inspect`).
pub const OPT_VXLANID_LIST: &str = "com.docker.network.driver.overlay.vxlanid_list";
pub const OPT_ENCRYPTED: &str = "encrypted";
/// VXLAN over IPv4 costs 50 bytes: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14).
pub const VXLAN_OVERHEAD: u32 = 50;
const ALLOWED: &[&str] = &[bridge::OPT_MTU, OPT_ENCRYPTED, OPT_VXLANID_LIST];

/// The overlay driver's settings of one network on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayConfig {
    /// The local bridge (device `ov-<12 hex>`), as the bridge driver keeps it.
    pub bridge: BridgeConfig,
    /// The VXLAN device (`vx-<12 hex>`).
    pub vxlan: String,
    pub vni: u32,
    /// This host's advertise address: the source of the network's VXLAN packets.
    pub local: Ipv4Addr,
}

/// Whether this kernel can do IPsec ESP (what Docker's encrypted overlay needs).
pub fn kernel_has_esp() -> bool {
    if std::path::Path::new("/sys/module/esp4").exists() {
        return true;
    }
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let dir = format!("/lib/modules/{}/kernel/net/ipv4", release.trim());
    ["esp4.ko", "esp4.ko.xz", "esp4.ko.zst", "esp4.ko.gz"]
        .iter()
        .any(|f| std::path::Path::new(&dir).join(f).exists())
}

/// Checks `network create -d overlay` options; the MTU the user set, if any.
pub fn parse_options(opts: &BTreeMap<String, String>) -> NetResult<Option<u32>> {
    let mut mtu = None;
    for (key, value) in opts {
        match key.as_str() {
            bridge::OPT_MTU => {
                mtu = Some(match value.parse::<u32>() {
                    Ok(m) if (68..=65535).contains(&m) => m,
                    _ => {
                        return Err(NetError::InvalidParameter(format!(
                        "invalid value \"{value}\" for option {}: expected an MTU from 68 to 65535",
                        bridge::OPT_MTU
                    )))
                    }
                })
            }
            OPT_ENCRYPTED => {
                return Err(NetError::InvalidParameter(if kernel_has_esp() {
                    "-o encrypted: encrypted overlay networks are not supported by berth".into()
                } else {
                    "-o encrypted: encrypted overlay networks are not supported on this kernel: it lacks IPsec ESP (esp4)".into()
                }))
            }
            OPT_VXLANID_LIST => {
                return Err(NetError::InvalidParameter(format!(
                    "option {OPT_VXLANID_LIST} is chosen by the cluster and cannot be set"
                )))
            }
            other if other.starts_with("com.docker.network.") => {
                return Err(NetError::InvalidParameter(format!(
                    "unknown overlay driver option \"{other}\"; supported options: {}",
                    ALLOWED.join(", ")
                )))
            }
            _ => {}
        }
    }
    Ok(mtu)
}

/// This host's settings of a global network with VNI `vni`: devices named after its ID, the
/// MTU the user chose or the underlay's less the VXLAN overhead.
pub fn config(
    id: &str,
    vni: u32,
    local: Ipv4Addr,
    mtu: Option<u32>,
    underlay_mtu: u32,
) -> OverlayConfig {
    let short = &id[..12.min(id.len())];
    OverlayConfig {
        bridge: BridgeConfig {
            name: format!("ov-{short}"),
            mtu: mtu.unwrap_or(underlay_mtu.saturating_sub(VXLAN_OVERHEAD).max(68)),
            icc: true,
            masquerade: true,
            host_binding_ipv4: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        },
        vxlan: format!("vx-{short}"),
        vni,
        local,
    }
}

pub fn of(net: &Network) -> NetResult<&OverlayConfig> {
    match &net.driver {
        DriverConfig::Overlay(c) => Ok(c),
        _ => Err(NetError::InvalidParameter(format!(
            "network {} is not an overlay network",
            net.name
        ))),
    }
}

pub struct Overlay;

#[async_trait]
impl NetworkDriver for Overlay {
    fn name(&self) -> &'static str {
        "overlay"
    }

    fn configure(&self, _new: &NewNetwork<'_>) -> NetResult<DriverConfig> {
        // Overlay networks are made from their cluster record (controller::overlay), never here.
        Err(NetError::InvalidParameter(
            "overlay networks are created through the cluster store".into(),
        ))
    }

    fn publishes_ports(&self) -> bool {
        true
    }

    fn host_ifname(&self) -> Option<String> {
        Some(crate::endpoint::host_ifname())
    }

    fn host_links(&self, net: &Network) -> Vec<String> {
        match of(net) {
            Ok(c) => vec![c.bridge.name.clone(), c.vxlan.clone()],
            Err(_) => vec![],
        }
    }

    async fn create(&self, kernel: &dyn Kernel, net: &Network) -> NetResult<()> {
        let c = of(net)?;
        bridge::ensure(kernel, net).await?;
        let alias = super::owner_alias(&net.id);
        if let Some(link) = kernel
            .link(&c.vxlan)
            .await
            .map_err(NetError::kernel(format!("look up {}", c.vxlan)))?
        {
            if super::owner(&link) == Some(net.id.as_str()) {
                return Ok(());
            }
            return Err(NetError::Conflict(format!(
                "interface {} already exists and berth did not create it",
                c.vxlan
            )));
        }
        let master = kernel
            .link_index(&c.bridge.name)
            .await
            .map_err(NetError::kernel(format!("look up {}", c.bridge.name)))?
            .ok_or_else(|| NetError::NotFound(format!("bridge {} vanished", c.bridge.name)))?;
        let spec = VxlanSpec {
            name: c.vxlan.clone(),
            vni: c.vni,
            local: c.local,
            port: VXLAN_PORT,
            master,
            mtu: c.bridge.mtu,
            alias,
        };
        kernel
            .create_vxlan(&spec)
            .await
            .map_err(NetError::kernel(format!(
                "create vxlan {} (VNI {}) for {}",
                c.vxlan, c.vni, net.name
            )))?;
        Ok(())
    }

    async fn delete(&self, kernel: &dyn Kernel, net: &Network) -> NetResult<()> {
        let c = of(net)?;
        super::delete_owned(kernel, &c.vxlan, &net.id).await?;
        bridge::remove(kernel, net).await
    }

    async fn join(&self, cx: Join<'_>) -> NetResult<Option<u32>> {
        bridge::Bridge.join(cx).await
    }

    async fn leave(&self, cx: Leave<'_>) -> NetResult<Option<Deferred>> {
        bridge::Bridge.leave(cx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn mtu_is_the_underlay_s_less_the_overhead_unless_set() {
        let id = "0123456789abcdef";
        let c = config(id, 4096, Ipv4Addr::new(192, 0, 2, 1), None, 1500);
        assert_eq!(
            (c.bridge.mtu, c.bridge.name.as_str()),
            (1450, "ov-0123456789ab")
        );
        assert_eq!(c.vxlan, "vx-0123456789ab");
        let c = config(id, 4096, Ipv4Addr::new(192, 0, 2, 1), Some(1300), 1500);
        assert_eq!(c.bridge.mtu, 1300);
    }

    #[test]
    fn options_are_checked() {
        assert_eq!(
            parse_options(&opts(&[(bridge::OPT_MTU, "1400")])).unwrap(),
            Some(1400)
        );
        assert_eq!(parse_options(&opts(&[("mine", "x")])).unwrap(), None);
        let e = parse_options(&opts(&[(OPT_ENCRYPTED, "")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not supported"), "{e}");
        let e = parse_options(&opts(&[(bridge::OPT_MTU, "9")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"9\""), "{e}");
        let e = parse_options(&opts(&[("com.docker.network.driver.overlay.x", "1")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown overlay driver option"), "{e}");
    }
}

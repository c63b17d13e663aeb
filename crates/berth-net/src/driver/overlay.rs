//! The overlay driver: a network spanning the hosts of a cluster. On every host the network is
//! a namespace of its own (see `ovns.rs`) holding a bridge with the network's gateway and a
//! VXLAN device on it carrying frames to the other hosts; a transfer veth pair joins it to the
//! daemon's namespace, where egress, published ports and isolation go through the host's own
//! firewall as for a bridge network.
//!
//! The VXLAN device learns nothing and floods nothing: berth writes a permanent neighbour and a
//! static FDB entry for each remote endpoint (see `controller::overlay`), and the device's ARP
//! proxy answers for remote endpoints from those neighbours.

use super::bridge::{self, BridgeConfig};
use super::{Deferred, DriverConfig, Join, Leave, NetworkDriver, NewNetwork};
use crate::error::{NetError, NetResult};
use crate::network::Network;
use crate::sys::Kernel;
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
    /// The local bridge (device `ov-<12 hex>` in the network's namespace), as the bridge
    /// driver keeps it; the transfer link in the daemon's namespace has the same name.
    pub bridge: BridgeConfig,
    /// The VXLAN device (`vx-<12 hex>`).
    pub vxlan: String,
    pub vni: u32,
    /// This host's advertise address: the source of the network's VXLAN packets.
    pub local: Ipv4Addr,
    /// Where the network's namespace is pinned (`<exec-root>/ovns/<12 hex>`); empty in a
    /// record of an older berth, whose bridge was in the daemon's namespace.
    #[serde(default)]
    pub netns: std::path::PathBuf,
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

/// This host's settings of a global network with VNI `vni`: devices and its namespace (below
/// `ovns_dir`) named after its ID, the MTU the user chose or the underlay's less the VXLAN
/// overhead.
pub fn config(
    ovns_dir: &std::path::Path,
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
        netns: ovns_dir.join(short),
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
            // The transfer link; the bridge and the VXLAN device are in the network's namespace.
            Ok(c) => vec![c.bridge.name.clone()],
            Err(_) => vec![],
        }
    }

    async fn create(&self, kernel: &dyn Kernel, net: &Network) -> NetResult<()> {
        super::ovns::ensure(kernel, net, of(net)?).await
    }

    async fn delete(&self, kernel: &dyn Kernel, net: &Network) -> NetResult<()> {
        super::ovns::remove(kernel, net, of(net)?).await
    }

    async fn join(&self, cx: Join<'_>) -> NetResult<Option<u32>> {
        let c = of(cx.net)?;
        let ns = super::ovns::enter(cx.kernel, c).await.ok_or_else(|| {
            NetError::NotFound(format!(
                "the namespace of overlay network {} is missing",
                cx.net.name
            ))
        })?;
        // The host end goes onto the bridge in the network's namespace.
        bridge::Bridge
            .join(Join {
                kernel: ns.as_ref(),
                inner: cx.inner,
                known: cx.known,
                sb: cx.sb,
                ep: cx.ep,
                net: cx.net,
            })
            .await
    }

    async fn leave(&self, cx: Leave<'_>) -> NetResult<Option<Deferred>> {
        // The host end is in the network's namespace (its index, remembered at join, means
        // nothing here): the pair is taken down and deleted from the sandbox's end.
        let ep = cx.ep;
        cx.known.veths.remove(&ep.host_ifname);
        let Some(inner) = cx.inner else {
            return Ok(None);
        };
        if cx.sandbox_gone {
            // The pair goes with the sandbox's namespace.
            return Ok(None);
        }
        let Some(index) = inner
            .link_index(&ep.ifname)
            .await
            .map_err(NetError::kernel(format!(
                "find {} in the sandbox",
                ep.ifname
            )))?
        else {
            return Ok(None);
        };
        inner
            .unplug(index)
            .await
            .map_err(NetError::kernel(format!("take {} down", ep.ifname)))?;
        let name = ep.ifname.clone();
        Ok(Some(Box::pin(async move {
            if let Err(e) = inner.delete_link(index).await {
                tracing::warn!(link = %name, error = %e, "veth teardown failed");
            }
        })))
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
        let dir = std::path::Path::new("/run/berth/ovns");
        let c = config(dir, id, 4096, Ipv4Addr::new(192, 0, 2, 1), None, 1500);
        assert_eq!(
            (c.bridge.mtu, c.bridge.name.as_str()),
            (1450, "ov-0123456789ab")
        );
        assert_eq!(c.vxlan, "vx-0123456789ab");
        assert_eq!(c.netns, dir.join("0123456789ab"));
        let c = config(dir, id, 4096, Ipv4Addr::new(192, 0, 2, 1), Some(1300), 1500);
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

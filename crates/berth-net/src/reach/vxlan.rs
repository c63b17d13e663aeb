//! The kernel's side of an overlay crossing: the network's VXLAN device must hold a permanent
//! neighbour (the remote endpoint's address → its MAC, what the device's ARP proxy answers
//! with) and a static FDB entry (the MAC → its node's underlay address), and the container
//! interface the path leaves by must not be larger than the device's MTU (the bridge does not
//! fragment: a larger frame is dropped).

use super::codes::Code;
use super::verdict::Crossing;
use crate::sys::RemoteTable;

/// What the kernel showed for one crossing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub crossing: Crossing,
    /// The device's MTU and entries (None: the device does not exist).
    pub device: Option<(u32, RemoteTable)>,
    /// The MTU of this host's container interface on the path, when it is on the overlay.
    pub local_mtu: Option<u32>,
}

fn mac_text(mac: &[u8; 6]) -> String {
    crate::endpoint::format_mac(mac)
}

impl Seen {
    /// Why the crossing fails in the kernel, if it does.
    pub fn problem(&self) -> Option<(Code, String)> {
        let c = &self.crossing;
        let Some((mtu, table)) = &self.device else {
            return Some((
                Code::InterfaceDown,
                format!(
                    "VXLAN device {} of network {} does not exist",
                    c.device, c.network
                ),
            ));
        };
        if let (Some(m), Some((name, _, ifname))) = (self.local_mtu, &c.local) {
            if m > *mtu {
                return Some((
                    Code::MtuMismatch,
                    format!(
                        "{name}'s {ifname} has MTU {m}, larger than the {mtu} of VXLAN device {}: frames above {mtu} bytes are dropped on the way to {}",
                        c.device, c.endpoint
                    ),
                ));
            }
        }
        let macs: Vec<String> = table
            .neighbours
            .iter()
            .filter(|(ip, _)| std::net::IpAddr::V4(*ip) == c.ip)
            .map(|(_, m)| mac_text(m))
            .collect();
        if !macs.contains(&c.mac) {
            let have = if macs.is_empty() {
                "none".to_string()
            } else {
                macs.join(", ")
            };
            return Some((
                Code::FdbMismatch,
                format!(
                    "{} holds no permanent neighbour {} → {} for {} (it has: {have})",
                    c.device, c.ip, c.mac, c.endpoint
                ),
            ));
        }
        let dsts: Vec<String> = table
            .fdb
            .iter()
            .filter(|(m, _)| mac_text(m) == c.mac)
            .map(|(_, d)| d.to_string())
            .collect();
        if !dsts.contains(&c.node_addr) {
            let what = if dsts.is_empty() {
                format!(
                    "has no static FDB entry for it (it has {} for other MACs)",
                    table.fdb.len()
                )
            } else {
                format!("sends it to {}", dsts.join(", "))
            };
            return Some((
                Code::FdbMismatch,
                format!(
                    "{} {what}: frames for {} ({}) must go to its node at {}",
                    c.device, c.endpoint, c.mac, c.node_addr
                ),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn crossing() -> Crossing {
        Crossing {
            network: "ov".into(),
            device: "vx-1".into(),
            endpoint: "db".into(),
            ip: "10.0.9.3".parse().unwrap(),
            mac: "02:42:0a:00:09:03".into(),
            node_addr: "192.168.77.12".into(),
            local: Some(("web".into(), "/run/web".into(), "eth0".into())),
        }
    }

    const MAC: [u8; 6] = [2, 0x42, 10, 0, 9, 3];

    fn table(fdb_to: [u8; 4]) -> RemoteTable {
        RemoteTable {
            neighbours: vec![(Ipv4Addr::new(10, 0, 9, 3), MAC)],
            fdb: vec![(MAC, Ipv4Addr::from(fdb_to))],
        }
    }

    #[test]
    fn each_kernel_fault_of_a_crossing_is_named() {
        let ok = Seen {
            crossing: crossing(),
            device: Some((1450, table([192, 168, 77, 12]))),
            local_mtu: Some(1450),
        };
        assert_eq!(ok.problem(), None);
        let wrong_host = Seen {
            device: Some((1450, table([192, 168, 77, 13]))),
            ..ok.clone()
        };
        let (code, why) = wrong_host.problem().unwrap();
        assert_eq!(code, Code::FdbMismatch);
        assert!(why.contains("sends it to 192.168.77.13"), "{why}");
        let no_neigh = Seen {
            device: Some((
                1450,
                RemoteTable {
                    neighbours: vec![],
                    ..table([192, 168, 77, 12])
                },
            )),
            ..ok.clone()
        };
        assert_eq!(no_neigh.problem().map(|p| p.0), Some(Code::FdbMismatch));
        let big = Seen {
            device: Some((1400, table([192, 168, 77, 12]))),
            ..ok.clone()
        };
        let (code, why) = big.problem().unwrap();
        assert_eq!(code, Code::MtuMismatch);
        assert!(why.contains("MTU 1450, larger than the 1400"), "{why}");
        let gone = Seen { device: None, ..ok };
        assert_eq!(gone.problem().map(|p| p.0), Some(Code::InterfaceDown));
    }
}

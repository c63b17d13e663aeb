//! Sandboxes (a container's network namespace) and endpoints (its attachment to one network: a
//! veth pair, addresses, a MAC, routes), as berth stores them.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::PathBuf;

/// A network namespace pinned under the exec root; containers share it in `container:` mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    pub id: String,
    /// The pinned namespace file (Docker's `SandboxKey`).
    pub path: PathBuf,
    /// `--dns` of its container: where its embedded resolver forwards instead of the daemon's
    /// upstream servers.
    #[serde(default)]
    pub dns: Vec<IpAddr>,
    /// The embedded resolver's UDP and TCP ports inside the namespace, kept so that a restarted
    /// daemon can bind them again and leave the redirect as it is.
    #[serde(default)]
    pub resolver_ports: Option<[u16; 2]>,
    /// Published ports, leading to the address of its first network.
    #[serde(default)]
    pub ports: Vec<crate::portmap::Published>,
    /// `--link` holes in ICC isolation from its bridge ports to its targets'.
    #[serde(default)]
    pub links: Vec<crate::firewall::LinkRule>,
}

/// What the caller wants of a new endpoint.
#[derive(Debug, Clone, Default)]
pub struct EndpointOptions {
    /// Who owns it (a container ID) and its name, for `network inspect`.
    pub owner: String,
    pub name: String,
    /// `--ip` / `--ip6`.
    pub ipv4: Option<IpAddr>,
    pub ipv6: Option<IpAddr>,
    /// `--mac-address`; otherwise 02:42 and the IPv4 address.
    pub mac: Option<[u8; 6]>,
    pub aliases: Vec<String>,
}

/// What the caller wants of a new sandbox.
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// Upstream DNS servers of its embedded resolver (`--dns`); empty: the daemon's.
    pub dns: Vec<IpAddr>,
    /// Networks to attach it to from the start, in order: the first becomes eth0.
    pub networks: Vec<(String, EndpointOptions)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub network_id: String,
    pub sandbox_id: String,
    /// Inside the sandbox: eth0, eth1, …
    pub ifname: String,
    /// On the host: `veth` + 7 hex.
    pub host_ifname: String,
    pub mac: [u8; 6],
    pub ipv4: Option<IpNet>,
    pub ipv6: Option<IpNet>,
    pub gateway4: Option<IpAddr>,
    pub gateway6: Option<IpAddr>,
    /// Addresses the user asked for (Docker's `IPAMConfig`).
    pub requested4: Option<IpAddr>,
    pub requested6: Option<IpAddr>,
    pub aliases: Vec<String>,
    /// Whether this endpoint carries the sandbox's default route.
    pub default_route: bool,
}

/// `02:42:` followed by the four IPv4 bytes, as Docker; random after 02:42 without IPv4.
pub fn mac_for(ipv4: Option<IpAddr>) -> [u8; 6] {
    match ipv4 {
        Some(IpAddr::V4(v4)) => {
            let o = v4.octets();
            [0x02, 0x42, o[0], o[1], o[2], o[3]]
        }
        _ => {
            let r: [u8; 4] = rand::random();
            [0x02, 0x42, r[0], r[1], r[2], r[3]]
        }
    }
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return None;
        }
        mac[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

/// A host-side veth name: `veth` + 7 hex characters.
pub fn host_ifname() -> String {
    let n: u32 = rand::random();
    format!("veth{:07x}", n & 0x0fff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_follow_docker() {
        let m = mac_for(Some("192.168.10.10".parse().unwrap()));
        assert_eq!(format_mac(&m), "02:42:c0:a8:0a:0a");
        assert_eq!(
            parse_mac("02:00:00:aa:bb:cc"),
            Some([2, 0, 0, 0xaa, 0xbb, 0xcc])
        );
        assert_eq!(parse_mac("02:00:00:aa:bb"), None);
        assert_eq!(parse_mac("zz:00:00:aa:bb:cc"), None);
        assert_eq!(&format_mac(&mac_for(None))[..5], "02:42");
        let v = host_ifname();
        assert!(v.starts_with("veth") && v.len() == 11, "{v}");
    }
}

//! The bridge's forwarding database where a path crosses a bridge from one container's veth to
//! another's: a frame for the destination's MAC goes to the port the FDB names (or to every
//! port while it names none). One entry is asked for per MAC (RTM_GETNEIGH for that address on
//! that bridge, as `bridge fdb get` does), never a dump of the table.

use super::model::Topology;
use super::verdict::Hop;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const AF_BRIDGE: u8 = 7;
const NDA_LLADDR: u16 = 2;
const NDA_MASTER: u16 = 9;

/// On `bridge`, frames for `mac` must go out of `port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub bridge: String,
    pub mac: [u8; 6],
    pub port: String,
}

/// The port the kernel's FDB names for a need's MAC (None: no entry, the frame floods).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub need: Need,
    pub port: Option<String>,
}

impl Seen {
    pub fn problem(&self) -> Option<String> {
        let n = &self.need;
        match &self.port {
            Some(p) if *p != n.port => Some(format!(
                "bridge {} forwards frames for {} to {p}, not to {} (its forwarding database was changed)",
                n.bridge,
                crate::endpoint::format_mac(&n.mac),
                n.port
            )),
            _ => None,
        }
    }
}

fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// The FDB entries the model's path depends on: each veth → bridge → veth crossing, both ways
/// (the replies come back across the same bridge).
pub fn needs(topo: &Topology, path: &[Hop]) -> Vec<Need> {
    let mac_of = |port: &str| {
        topo.containers
            .iter()
            .flat_map(|c| c.endpoints.iter())
            .find(|e| e.host_ifname == port)
            .and_then(|e| parse_mac(&e.mac))
    };
    let mut out = Vec::new();
    for w in path.windows(3) {
        if w[0].kind != "veth" || w[1].kind != "bridge" || w[2].kind != "veth" {
            continue;
        }
        for port in [&w[2].name, &w[0].name] {
            if let Some(mac) = mac_of(port) {
                out.push(Need {
                    bridge: w[1].name.clone(),
                    mac,
                    port: port.clone(),
                });
            }
        }
    }
    out
}

fn request(seq: u32, mac: &[u8; 6], bridge: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(48);
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&RTM_GETNEIGH.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // struct ndmsg: family, 3 pad bytes, ifindex, state, flags, type.
    m.extend_from_slice(&[AF_BRIDGE, 0, 0, 0]);
    m.extend_from_slice(&0i32.to_ne_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&10u16.to_ne_bytes());
    m.extend_from_slice(&NDA_LLADDR.to_ne_bytes());
    m.extend_from_slice(mac);
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&8u16.to_ne_bytes());
    m.extend_from_slice(&NDA_MASTER.to_ne_bytes());
    m.extend_from_slice(&bridge.to_ne_bytes());
    let len = m.len() as u32;
    m[..4].copy_from_slice(&len.to_ne_bytes());
    m
}

/// The port index of a reply: Some(Ok(index)), Some(Err(errno)), or None for another message.
fn parse_reply(msg: &[u8], seq: u32) -> Option<Result<u32, i32>> {
    if msg.len() < 16 || u32::from_ne_bytes([msg[8], msg[9], msg[10], msg[11]]) != seq {
        return None;
    }
    match u16::from_ne_bytes([msg[4], msg[5]]) {
        NLMSG_ERROR => {
            let b = msg.get(16..20)?;
            Some(Err(-i32::from_ne_bytes([b[0], b[1], b[2], b[3]])))
        }
        RTM_NEWNEIGH => {
            let b = msg.get(20..24)?;
            Some(Ok(i32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as u32))
        }
        _ => None,
    }
}

/// Asks for each need's entry; `index` gives an interface's index by name, `name` the reverse.
pub fn observe(
    needs: Vec<Need>,
    index: impl Fn(&str) -> Option<u32>,
    name: impl Fn(u32) -> Option<String>,
) -> Result<Vec<Seen>, String> {
    if needs.is_empty() {
        return Ok(Vec::new());
    }
    let e = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let mut sock = Socket::new(NETLINK_ROUTE).map_err(|x| e("netlink socket", x))?;
    sock.bind_auto().map_err(|x| e("bind netlink socket", x))?;
    sock.connect(&SocketAddr::new(0, 0))
        .map_err(|x| e("connect netlink socket", x))?;
    let timeout = nix::sys::time::TimeVal::new(2, 0);
    nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::ReceiveTimeout, &timeout)
        .map_err(|x| format!("netlink socket timeout: {x}"))?;
    let mut out = Vec::with_capacity(needs.len());
    let mut buf = vec![0u8; 8192];
    for (seq, n) in (1u32..).zip(needs) {
        let Some(br) = index(&n.bridge) else {
            // The bridge is gone: the interface check reports that.
            out.push(Seen {
                need: n,
                port: None,
            });
            continue;
        };
        sock.send(&request(seq, &n.mac, br), 0)
            .map_err(|x| e("ask for an FDB entry", x))?;
        let got = loop {
            let len = sock
                .recv(&mut &mut buf[..], 0)
                .map_err(|x| e("read an FDB entry", x))?;
            if let Some(r) = parse_reply(&buf[..len], seq) {
                break r;
            }
        };
        let port = match got {
            Ok(i) => Some(name(i).unwrap_or_else(|| format!("interface {i}"))),
            // ENOENT: no entry, the bridge floods the frame to every port.
            Err(2) => None,
            Err(errno) => {
                return Err(format!(
                    "FDB entry for {} on {}: {}",
                    crate::endpoint::format_mac(&n.mac),
                    n.bridge,
                    std::io::Error::from_raw_os_error(errno)
                ))
            }
        };
        out.push(Seen { need: n, port });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(kind: &str, name: &str) -> Hop {
        Hop {
            kind: kind.into(),
            name: name.into(),
            detail: String::new(),
        }
    }

    #[test]
    fn a_crossing_needs_both_macs_on_their_ports_and_a_reply_is_read() {
        let mut topo = Topology::default();
        for (name, port, mac) in [
            ("a", "vetha", "02:42:0a:01:00:02"),
            ("b", "vethb", "02:42:0a:01:00:03"),
        ] {
            topo.containers.push(super::super::model::ContainerView {
                name: name.into(),
                endpoints: vec![super::super::model::EndpointView {
                    host_ifname: port.into(),
                    mac: mac.into(),
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        let path = [
            hop("container", "a"),
            hop("veth", "vetha"),
            hop("bridge", "br0"),
            hop("veth", "vethb"),
            hop("container", "b"),
        ];
        let n = needs(&topo, &path);
        assert_eq!(n.len(), 2);
        assert_eq!((n[0].port.as_str(), n[0].mac[5]), ("vethb", 3));
        assert_eq!((n[1].port.as_str(), n[1].mac[5]), ("vetha", 2));
        let wrong = Seen {
            need: n[0].clone(),
            port: Some("vetha".into()),
        };
        assert!(wrong
            .problem()
            .is_some_and(|p| p.contains("to vetha, not to vethb")));
        let flood = Seen {
            need: n[0].clone(),
            port: None,
        };
        assert_eq!(flood.problem(), None);

        let req = request(7, &n[0].mac, 5);
        assert_eq!(
            req.len(),
            u32::from_ne_bytes([req[0], req[1], req[2], req[3]]) as usize
        );
        let mut reply = req.clone();
        reply[4..6].copy_from_slice(&RTM_NEWNEIGH.to_ne_bytes());
        reply[20..24].copy_from_slice(&9i32.to_ne_bytes());
        assert_eq!(parse_reply(&reply, 7), Some(Ok(9)));
        assert_eq!(parse_reply(&reply, 8), None);
        assert_eq!(parse_mac("02:42:0a:01:00:03").map(|m| m[2]), Some(10));
        assert_eq!(parse_mac("02:42"), None);
    }
}

//! Published ports: what a container asks for, what it got, and the host ports berth holds.
//!
//! A published host port is reserved by a socket bound (not listening) in the daemon's
//! namespace for as long as it is published, so no other program or container can take it;
//! the traffic itself never reaches that socket, because DNAT rewrites it first. Without a
//! firewall (`iptables: false`) that socket is where a userland proxy serves the port instead
//! ([`crate::proxy`]), and the proxy goes when the port is released.

use crate::firewall::Proto;
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One container port to publish, as `-p` asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRequest {
    pub proto: Proto,
    pub container_port: u16,
    /// None: every host address (IPv4, and IPv6 when the container has an IPv6 address).
    pub host_ip: Option<IpAddr>,
    /// The first free port of this range; None: an ephemeral port.
    pub host_ports: Option<(u16, u16)>,
}

/// A port as published: what `port` and `inspect` show.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Published {
    pub proto: Proto,
    pub container_port: u16,
    /// `0.0.0.0` or `::` for every address of that family.
    pub host_ip: IpAddr,
    pub host_port: u16,
}

/// Why a host port could not be had; the caller adds the endpoint to the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// Another published port holds it (Docker's wording).
    #[error("Bind for {0} failed: port is already allocated")]
    Allocated(String),
    /// Another program holds it.
    #[error("listen {0}: bind: {1}")]
    Bind(String, String),
    #[error(
        "no free host port for {0} in the ephemeral range {1}-{2} (net.ipv4.ip_local_port_range)"
    )]
    Exhausted(String, u16, u16),
    /// A HostIp that no interface of the host has.
    #[error("invalid HostIp {0}: it is not an address of this host")]
    NotLocal(IpAddr),
}

fn addr_text(proto: Proto, ip: IpAddr, port: u16) -> String {
    let fam = if ip.is_ipv4() { "4" } else { "6" };
    format!("{}{fam} {}", proto.name(), SocketAddr::new(ip, port))
}

type Key = (Proto, IpAddr, u16);

/// A held port: its socket (None when another program took it while berth was down), and the
/// proxy serving it, if any.
struct Held {
    sock: Option<Socket>,
    proxy: Option<crate::proxy::Proxy>,
}

/// Host ports held for published ports, and where the ephemeral search goes on from.
pub struct PortReservations {
    held: BTreeMap<Key, Held>,
    next: BTreeMap<Proto, u16>,
    range: (u16, u16),
    /// Ports are served by proxies: TCP sockets listen, and bind with SO_REUSEADDR so that a
    /// port given up (or held by a daemon that restarted) can be taken again while connections
    /// it carried linger in TIME_WAIT. Without proxies they never listen, and go without it:
    /// another program's SO_REUSEADDR socket could share a port bound that way.
    proxied: bool,
}

/// The kernel's ephemeral range, as Docker uses it for published ports.
pub fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .filter(|(lo, hi)| lo <= hi && *lo > 0)
        .unwrap_or((32768, 60999))
}

fn unspecified(v6: bool) -> IpAddr {
    if v6 {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    }
}

impl PortReservations {
    pub fn new(range: (u16, u16)) -> Self {
        PortReservations {
            held: BTreeMap::new(),
            next: BTreeMap::new(),
            range,
            proxied: false,
        }
    }

    /// Reservations whose ports are served by userland proxies (see [`PortReservations::serve`]).
    pub fn proxied(mut self) -> Self {
        self.proxied = true;
        self
    }

    /// Whether berth already holds a port that `(proto, ip, port)` would clash with: the same
    /// port on the same address, or either side on every address of that family.
    fn clash(&self, proto: Proto, ip: IpAddr, port: u16) -> Option<IpAddr> {
        self.held
            .keys()
            .find(|(p, h, hp)| {
                *p == proto
                    && *hp == port
                    && h.is_ipv4() == ip.is_ipv4()
                    && (*h == ip || h.is_unspecified() || ip.is_unspecified())
            })
            .map(|(_, h, _)| *h)
    }

    fn bind(&self, proto: Proto, ip: IpAddr, port: u16) -> std::io::Result<Socket> {
        let domain = if ip.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let (ty, pr) = match proto {
            Proto::Tcp => (Type::STREAM, Protocol::TCP),
            Proto::Udp => (Type::DGRAM, Protocol::UDP),
        };
        let s = Socket::new(domain, ty.cloexec(), Some(pr))?;
        if ip.is_ipv6() {
            // `::` holds the IPv6 port only; the IPv4 one is reserved by its own socket.
            s.set_only_v6(true)?;
        }
        if self.proxied && proto == Proto::Tcp {
            s.set_reuse_address(true)?;
        }
        s.bind(&SocketAddr::new(ip, port).into())?;
        Ok(s)
    }

    /// Reserves one port of `ports` (None: the next free ephemeral port) for `proto` on `ip`.
    pub fn reserve(
        &mut self,
        proto: Proto,
        ip: IpAddr,
        ports: Option<(u16, u16)>,
    ) -> Result<u16, PortError> {
        match ports {
            Some((lo, hi)) => {
                let mut last = None;
                for port in lo..=hi {
                    match self.try_take(proto, ip, port) {
                        Ok(()) => return Ok(port),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| PortError::Allocated(format!("{ip}:{lo}"))))
            }
            None => {
                let (lo, hi) = self.range;
                let span = u32::from(hi - lo) + 1;
                let start = self.next.get(&proto).copied().unwrap_or(lo).clamp(lo, hi);
                for i in 0..span {
                    let port = (u32::from(start - lo) + i) % span + u32::from(lo);
                    let port = port as u16;
                    if self.try_take(proto, ip, port).is_ok() {
                        // Docker goes on from the last port rather than reusing the lowest,
                        // so a port just given up is not handed out again at once.
                        self.next
                            .insert(proto, if port == hi { lo } else { port + 1 });
                        return Ok(port);
                    }
                }
                Err(PortError::Exhausted(
                    format!("{}{}", ip, proto.name()),
                    lo,
                    hi,
                ))
            }
        }
    }

    fn try_take(&mut self, proto: Proto, ip: IpAddr, port: u16) -> Result<(), PortError> {
        if self.clash(proto, ip, port).is_some() {
            return Err(PortError::Allocated(SocketAddr::new(ip, port).to_string()));
        }
        let sock = self
            .bind(proto, ip, port)
            .map_err(|e| PortError::Bind(addr_text(proto, ip, port), bind_reason(&e)))?;
        self.held.insert(
            (proto, ip, port),
            Held {
                sock: Some(sock),
                proxy: None,
            },
        );
        Ok(())
    }

    /// Takes back a port published before a daemon restart. If another program took it in
    /// the meantime, berth keeps the mapping (DNAT still wins) without the reservation.
    pub fn restore(&mut self, proto: Proto, ip: IpAddr, port: u16) {
        let sock = match self.bind(proto, ip, port) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(port = %addr_text(proto, ip, port), error = %e,
                    "published port is held by another program; keeping the mapping without a reservation");
                None
            }
        };
        self.held
            .insert((proto, ip, port), Held { sock, proxy: None });
    }

    /// Serves a held port with a userland proxy to `to`, on the socket that holds it; the
    /// proxy stops when the port is released. A port held without a socket is not served.
    pub fn serve(
        &mut self,
        proto: Proto,
        ip: IpAddr,
        port: u16,
        to: SocketAddr,
    ) -> std::io::Result<()> {
        let Some(held) = self.held.get_mut(&(proto, ip, port)) else {
            return Err(std::io::Error::other(format!(
                "{} is not held",
                addr_text(proto, ip, port)
            )));
        };
        let Some(sock) = &held.sock else {
            return Ok(());
        };
        let sock = sock.try_clone()?;
        held.proxy = Some(match proto {
            Proto::Tcp => crate::proxy::tcp(sock, to)?,
            Proto::Udp => crate::proxy::udp(sock, to)?,
        });
        Ok(())
    }

    pub fn release(&mut self, proto: Proto, ip: IpAddr, port: u16) {
        self.held.remove(&(proto, ip, port));
    }

    /// Whether a fixed request would clash with a port berth holds (checked at create, so a
    /// container that cannot start is refused before it exists).
    pub fn would_clash(&self, req: &PortRequest) -> Option<String> {
        let (lo, hi) = req.host_ports?;
        if lo != hi {
            return None;
        }
        let ips: Vec<IpAddr> = match req.host_ip {
            Some(ip) => vec![ip],
            None => vec![unspecified(false)],
        };
        ips.into_iter().find_map(|ip| {
            self.clash(req.proto, ip, lo)
                .map(|_| SocketAddr::new(ip, lo).to_string())
        })
    }
}

impl PortReservations {
    /// Whether a request's host address and fixed port can be bound now, as start will bind
    /// them (checked at create): a HostIp the host does not have, or a port another program
    /// holds, is refused before a container exists. The probe socket closes at once.
    pub fn probe(&self, req: &PortRequest) -> Result<(), PortError> {
        let port = match req.host_ports {
            Some((lo, hi)) if lo == hi => lo,
            _ => 0,
        };
        let ip = match req.host_ip {
            Some(ip) => ip,
            None if port != 0 => unspecified(false),
            None => return Ok(()),
        };
        match self.bind(req.proto, ip, port) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(nix::libc::EADDRNOTAVAIL) => {
                Err(PortError::NotLocal(ip))
            }
            Err(e) => Err(PortError::Bind(
                addr_text(req.proto, ip, port),
                bind_reason(&e),
            )),
        }
    }
}

fn bind_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(nix::libc::EADDRINUSE) => "address already in use".into(),
        Some(nix::libc::EADDRNOTAVAIL) => "cannot assign requested address".into(),
        _ => e.to_string(),
    }
}

/// The host addresses a request publishes on, given the container's address families.
pub fn host_ips(req: &PortRequest, has_v4: bool, has_v6: bool) -> Vec<IpAddr> {
    match req.host_ip {
        Some(ip) => vec![ip],
        None => {
            let mut v = Vec::new();
            if has_v4 {
                v.push(unspecified(false));
            }
            if has_v6 {
                v.push(unspecified(true));
            }
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn localhost() -> IpAddr {
        Ipv4Addr::LOCALHOST.into()
    }

    #[test]
    fn a_held_port_clashes_with_any_address_and_vice_versa() {
        let mut r = PortReservations::new((40000, 40010));
        let any = unspecified(false);
        let p = r.reserve(Proto::Tcp, localhost(), None).expect("ephemeral");
        assert_eq!(
            r.reserve(Proto::Tcp, any, Some((p, p))),
            Err(PortError::Allocated(format!("0.0.0.0:{p}")))
        );
        // Another protocol is another port.
        assert!(r.reserve(Proto::Udp, any, Some((p, p))).is_ok());
        r.release(Proto::Tcp, localhost(), p);
        assert!(r.reserve(Proto::Tcp, any, Some((p, p))).is_ok());
        assert_eq!(
            r.reserve(Proto::Tcp, localhost(), Some((p, p))),
            Err(PortError::Allocated(format!("127.0.0.1:{p}")))
        );
    }

    #[test]
    fn ephemeral_ports_go_on_from_the_last_and_skip_held_ones() {
        let mut r = PortReservations::new((41000, 41003));
        let ip = localhost();
        let a = r.reserve(Proto::Tcp, ip, None).expect("a");
        let b = r.reserve(Proto::Tcp, ip, None).expect("b");
        assert_eq!(b, a + 1);
        r.release(Proto::Tcp, ip, a);
        let c = r.reserve(Proto::Tcp, ip, None).expect("c");
        assert_eq!(c, b + 1, "the port just released is not reused at once");
        // A range takes its first free port.
        let d = r.reserve(Proto::Tcp, ip, Some((a, 41003))).expect("d");
        assert_eq!(d, a);
    }

    #[test]
    fn a_port_another_program_holds_is_refused_and_skipped() {
        let other = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = other.local_addr().expect("addr").port();
        let mut r = PortReservations::new((port, port.saturating_add(1)));
        let e = r
            .reserve(Proto::Tcp, localhost(), Some((port, port)))
            .expect_err("held");
        assert_eq!(
            e,
            PortError::Bind(
                format!("tcp4 127.0.0.1:{port}"),
                "address already in use".into()
            )
        );
        // An ephemeral search steps over it.
        let got = r.reserve(Proto::Tcp, localhost(), None);
        assert!(matches!(got, Ok(p) if p != port) || got.is_err());
    }

    #[test]
    fn probe_finds_foreign_addresses_and_ports_without_holding_them() {
        let other = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = other.local_addr().expect("addr").port();
        let r = PortReservations::new((40000, 40010));
        let req = |ip: Option<IpAddr>, ports: Option<(u16, u16)>| PortRequest {
            proto: Proto::Tcp,
            container_port: 80,
            host_ip: ip,
            host_ports: ports,
        };
        assert_eq!(
            r.probe(&req(Some(localhost()), Some((port, port)))),
            Err(PortError::Bind(
                format!("tcp4 127.0.0.1:{port}"),
                "address already in use".into()
            ))
        );
        // TEST-NET-1 is never an address of this machine.
        let foreign: IpAddr = "192.0.2.1".parse().expect("ip");
        assert_eq!(
            r.probe(&req(Some(foreign), None)),
            Err(PortError::NotLocal(foreign))
        );
        // Ranges and ephemeral ports are the allocator's to find; the probe holds nothing.
        assert_eq!(r.probe(&req(None, Some((port, port + 1)))), Ok(()));
        drop(other);
        assert_eq!(r.probe(&req(Some(localhost()), Some((port, port)))), Ok(()));
        assert_eq!(r.probe(&req(Some(localhost()), Some((port, port)))), Ok(()));
    }
}

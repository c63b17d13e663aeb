//! One real connection attempt for `network check --probe`: a TCP connect, or an ICMP echo,
//! from inside the source's network namespace (or the daemon's own for `host`).

use super::ProbeResult;
use crate::firewall::Proto;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::ErrorKind;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Sends the attempt and waits up to `timeout`. Blocking: call it from a blocking task.
pub fn probe(
    netns: Option<PathBuf>,
    target: IpAddr,
    port: Option<(u16, Proto)>,
    timeout: Duration,
) -> ProbeResult {
    let (method, shown) = match port {
        Some((p, Proto::Tcp)) => ("tcp", SocketAddr::new(target, p).to_string()),
        Some((p, Proto::Udp)) => {
            return ProbeResult {
                method: "none".into(),
                target: SocketAddr::new(target, p).to_string(),
                outcome: "not probed: a UDP datagram gets no answer to tell success by".into(),
                reachable: None,
                agrees: None,
            }
        }
        None => ("icmp", target.to_string()),
    };
    let attempt = move || -> std::io::Result<(String, Option<bool>)> {
        Ok(match port {
            Some((p, _)) => tcp(SocketAddr::new(target, p), timeout),
            None => icmp(target, timeout),
        })
    };
    let result = match netns {
        Some(path) => crate::sys::netns::run_in(&path, attempt).map_err(|e| e.to_string()),
        None => attempt().map_err(|e| e.to_string()),
    };
    let (outcome, reachable) = result.unwrap_or_else(|e| (format!("not sent: {e}"), None));
    ProbeResult {
        method: method.into(),
        target: shown,
        outcome,
        reachable,
        agrees: None,
    }
}

fn tcp(to: SocketAddr, timeout: Duration) -> (String, Option<bool>) {
    match TcpStream::connect_timeout(&to, timeout) {
        Ok(_) => ("connected".into(), Some(true)),
        // A reset came back: the path works, nothing listens there.
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => (
            "refused (the path works; nothing listens)".into(),
            Some(true),
        ),
        Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock => {
            ("timeout".into(), Some(false))
        }
        Err(e) => (format!("failed: {e}"), Some(false)),
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn icmp(to: IpAddr, timeout: Duration) -> (String, Option<bool>) {
    let (domain, proto, request, reply) = match to {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, 8u8, 0u8),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, 128u8, 129u8),
    };
    // An unprivileged ping socket where ping_group_range allows it (containers' sandboxes),
    // else a raw socket (the daemon is root).
    let (sock, raw) = match Socket::new(domain, Type::DGRAM, Some(proto)) {
        Ok(s) => (s, false),
        Err(_) => match Socket::new(domain, Type::RAW, Some(proto)) {
            Ok(s) => (s, true),
            Err(e) => return (format!("not sent: cannot open an ICMP socket: {e}"), None),
        },
    };
    let id: u16 = rand::random();
    let mut msg = vec![request, 0, 0, 0];
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&1u16.to_be_bytes());
    msg.extend_from_slice(b"berth network check");
    if to.is_ipv4() {
        let c = checksum(&msg);
        msg[2..4].copy_from_slice(&c.to_be_bytes());
    }
    let dest = SockAddr::from(SocketAddr::new(to, 0));
    if let Err(e) = sock.send_to(&msg, &dest) {
        return (format!("failed: {e}"), Some(false));
    }
    let deadline = Instant::now() + timeout;
    let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
            return ("timeout".into(), Some(false));
        }
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return ("timeout".into(), Some(false))
            }
            Err(e) => return (format!("failed: {e}"), Some(false)),
        };
        // SAFETY: recv_from initialised the first n bytes.
        let data: Vec<u8> = buf[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        // Raw IPv4 sockets deliver the IP header too.
        let body = if raw && to.is_ipv4() {
            let ihl = usize::from(data.first().map_or(5, |b| b & 0x0f)) * 4;
            data.get(ihl..).unwrap_or_default().to_vec()
        } else {
            data
        };
        let from_ip = from.as_socket().map(|s| s.ip());
        if body.first() == Some(&reply) && (from_ip == Some(to) || !raw) {
            // Ping sockets match the identifier themselves; raw ones see every reply.
            if !raw || body.get(4..6) == Some(&id.to_be_bytes()[..]) {
                return ("replied".into(), Some(true));
            }
        }
        if !raw && body.first() != Some(&reply) {
            return (
                format!("ICMP type {} came back", body.first().copied().unwrap_or(0)),
                Some(false),
            );
        }
    }
}

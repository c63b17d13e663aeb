//! Probes sent from inside another network namespace (a container's): DNS queries to the
//! embedded resolver and ICMP echo. Sockets are opened on a short-lived thread that joined the
//! namespace; a socket keeps the namespace it was made in.

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

/// The embedded resolver's address inside a container.
pub const RESOLVER: &str = "127.0.0.11:53";

/// Runs `f` on a thread that has joined the network namespace at `ns`.
pub fn in_netns<T: Send>(ns: &Path, f: impl FnOnce() -> T + Send) -> T {
    let file = std::fs::File::open(ns).expect("open netns");
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns on this short-lived thread only.
            assert_eq!(
                unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
                0,
                "setns {}",
                ns.display()
            );
            f()
        })
        .join()
        .expect("netns thread")
    })
}

/// A UDP socket in the namespace at `ns`, connected to the embedded resolver.
pub fn resolver_socket(ns: &Path, timeout: Duration) -> UdpSocket {
    in_netns(ns, || {
        let sock = UdpSocket::bind("0.0.0.0:0").expect("bind");
        sock.connect(RESOLVER).expect("connect");
        sock.set_read_timeout(Some(timeout)).expect("timeout");
        sock
    })
}

/// An A query for `name`.
pub fn query(name: &str, id: u16) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(
        Name::from_ascii(name).expect("name"),
        RecordType::A,
    ));
    m.to_vec().expect("encode")
}

/// Whether `reply` is a successful answer with at least one record.
pub fn answered(reply: &[u8]) -> bool {
    Message::from_vec(reply)
        .is_ok_and(|m| m.metadata.response_code == ResponseCode::NoError && !m.answers.is_empty())
}

/// A raw ICMP socket in the namespace at `ns` (root only), receiving with `timeout`.
pub fn icmp_socket(ns: &Path, timeout: Duration) -> OwnedFd {
    in_netns(ns, || {
        // SAFETY: a plain socket(2); the fd is owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_ICMP,
            )
        };
        assert!(
            fd >= 0,
            "raw ICMP socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: fd was just returned by socket(2) and nothing else owns it.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        set_recv_timeout(&sock, timeout);
        sock
    })
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends one echo request to `to`; errors (no route yet, say) are the caller's retry.
pub fn ping_send(sock: &OwnedFd, to: Ipv4Addr, id: u16, seq: u16) {
    let mut pkt = [0u8; 16];
    pkt[0] = 8;
    pkt[4..6].copy_from_slice(&id.to_be_bytes());
    pkt[6..8].copy_from_slice(&seq.to_be_bytes());
    let c = checksum(&pkt);
    pkt[2..4].copy_from_slice(&c.to_be_bytes());
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(to).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: valid buffer and address for sendto on our own socket.
    unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            pkt.as_ptr() as *const libc::c_void,
            pkt.len(),
            libc::MSG_DONTWAIT,
            &sa as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        )
    };
}

/// Waits (up to the socket's timeout) for an echo reply from `from` with `id`.
pub fn ping_reply(sock: &OwnedFd, from: Ipv4Addr, id: u16) -> bool {
    let mut buf = [0u8; 1500];
    loop {
        let Some(n) = recv(sock, &mut buf) else {
            return false;
        };
        let p = &buf[..n];
        // A raw socket hands over the IP header too.
        let ihl = usize::from(p[0] & 0x0f) * 4;
        if p.len() < ihl + 8 {
            continue;
        }
        let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
        let icmp = &p[ihl..];
        if src == from && icmp[0] == 0 && u16::from_be_bytes([icmp[4], icmp[5]]) == id {
            return true;
        }
    }
}

/// Sets a socket's receive timeout (under a second).
pub fn set_recv_timeout(sock: &OwnedFd, timeout: Duration) {
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: timeout.as_micros().min(999_999) as libc::suseconds_t,
    };
    // SAFETY: a valid timeval for SO_RCVTIMEO on the caller's socket.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
}

/// One datagram into `buf`: its length, or None on a timeout or error.
pub fn recv(sock: &OwnedFd, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: buf is valid for its length.
    let n = unsafe {
        libc::recv(
            sock.as_raw_fd(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
            0,
        )
    };
    (n > 0).then_some(n as usize)
}

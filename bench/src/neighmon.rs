//! Watches another namespace's neighbour table through netlink notifications (RTNLGRP_NEIGH):
//! every neighbour (IPv4 → MAC) and bridge FDB entry (MAC → remote IPv4, as on a VXLAN device)
//! added or removed, stamped when the notification arrives. The benchmarks learn when the
//! kernel has an entry without polling `ip` processes.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Instant;

const RTM_NEWNEIGH: u16 = 28;
const RTM_DELNEIGH: u16 = 29;
const RTMGRP_NEIGH: u32 = 4;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const AF_BRIDGE: u8 = 7;
const NLMSG_HDR: usize = 16;
const NDMSG: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A neighbour: this address is at this MAC.
    Neigh(Ipv4Addr, [u8; 6]),
    /// A bridge FDB entry with a remote destination (a VXLAN tunnel end).
    Fdb([u8; 6], Ipv4Addr),
}

#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// Which watched namespace (the caller's index).
    pub host: usize,
    pub at: Instant,
    /// Added (or changed) rather than removed.
    pub added: bool,
    pub entry: Entry,
}

/// Stops the watching thread when dropped.
pub struct Monitor {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn parse(buf: &[u8], host: usize, at: Instant, out: &mut Vec<Event>) {
    let mut off = 0;
    while off + NLMSG_HDR <= buf.len() {
        let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap_or_default()) as usize;
        let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
        if len < NLMSG_HDR || off + len > buf.len() {
            return;
        }
        let msg = &buf[off + NLMSG_HDR..off + len];
        off += (len + 3) & !3;
        if !(kind == RTM_NEWNEIGH || kind == RTM_DELNEIGH) || msg.len() < NDMSG {
            continue;
        }
        let family = msg[0];
        let (mut dst, mut mac) = (None, None);
        let mut a = NDMSG;
        while a + 4 <= msg.len() {
            let alen = u16::from_ne_bytes([msg[a], msg[a + 1]]) as usize;
            let atype = u16::from_ne_bytes([msg[a + 2], msg[a + 3]]);
            if alen < 4 || a + alen > msg.len() {
                break;
            }
            let data = &msg[a + 4..a + alen];
            match (atype, data.len()) {
                (NDA_DST, 4) => dst = Some(Ipv4Addr::new(data[0], data[1], data[2], data[3])),
                (NDA_LLADDR, 6) => mac = data.try_into().ok(),
                _ => {}
            }
            a += (alen + 3) & !3;
        }
        let entry = match (family, dst, mac) {
            (AF_BRIDGE, Some(ip), Some(m)) => Entry::Fdb(m, ip),
            (f, Some(ip), Some(m)) if f == libc::AF_INET as u8 => Entry::Neigh(ip, m),
            (f, Some(ip), None) if f == libc::AF_INET as u8 && kind == RTM_DELNEIGH => {
                Entry::Neigh(ip, [0; 6])
            }
            _ => continue,
        };
        out.push(Event {
            host,
            at,
            added: kind == RTM_NEWNEIGH,
            entry,
        });
    }
}

/// Watches the network namespace of process `pid`, sending each entry change to `tx` tagged
/// with `host`, until the returned monitor is dropped. Returns once the subscription is in
/// place, so nothing after the call is missed.
pub fn watch(pid: u32, host: usize, tx: Sender<Event>) -> Monitor {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("open netns");
    watch_netns(ns, host, tx)
}

/// As `watch`, in the network namespace `ns` refers to (e.g. an overlay network's own).
pub fn watch_netns(ns: std::fs::File, host: usize, tx: Sender<Event>) -> Monitor {
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stopping = stop.clone();
    let thread = std::thread::spawn(move || {
        // SAFETY: setns affects this thread only; it is ours and ends with the monitor.
        assert_eq!(
            unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
            0,
            "setns"
        );
        // SAFETY: a plain socket(2); the fd is owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        assert!(fd >= 0, "netlink socket");
        // SAFETY: fd was just returned by socket(2) and nothing else owns it.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_nl is plain data; zero is a valid start.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        sa.nl_groups = RTMGRP_NEIGH;
        let rcvbuf: libc::c_int = 4 << 20;
        // SAFETY: valid pointers and sizes for bind and setsockopt on our own socket.
        unsafe {
            assert_eq!(
                libc::bind(
                    sock.as_raw_fd(),
                    &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_nl>() as u32,
                ),
                0,
                "bind netlink"
            );
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                // FORCE (root): past rmem_max, so a burst of a whole cluster's entries fits.
                libc::SO_RCVBUFFORCE,
                &rcvbuf as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            );
        }
        crate::probe::set_recv_timeout(&sock, std::time::Duration::from_millis(100));
        let _ = ready_tx.send(());
        let mut buf = vec![0u8; 1 << 16];
        let mut events = Vec::new();
        while !stopping.load(Ordering::Relaxed) {
            // None: a timeout (to look at the stop flag) or an overrun; either way, go on.
            let Some(n) = crate::probe::recv(&sock, &mut buf) else {
                continue;
            };
            let at = Instant::now();
            parse(&buf[..n], host, at, &mut events);
            for e in events.drain(..) {
                if tx.send(e).is_err() {
                    return;
                }
            }
        }
    });
    ready_rx.recv().expect("monitor thread started");
    Monitor {
        stop,
        thread: Some(thread),
    }
}

//! What a check reads back from the kernel, kept between checks for as long as the kernel says
//! nothing changed, so a check costs a read only after a change:
//!
//! - berth's tables, keyed on the nf_tables generation (one small request per check; the
//!   kernel bumps it on every commit, whoever makes it), and listed again when it moved;
//! - the host's addresses, kept while no address notification arrived on a socket subscribed
//!   to the address groups (drained before each use: the kernel queues a notification as it
//!   makes the change, so one made before the check is always seen).

use super::Facts;
use crate::firewall::generation::Generation;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::net::IpAddr;
use std::sync::Mutex;

/// RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR.
const GROUP_IPV4_IFADDR: u32 = 5;
const GROUP_IPV6_IFADDR: u32 = 9;

/// berth's tables as last read, by the generation they were read at.
pub struct Tables {
    gen: Option<Generation>,
    kept: Mutex<Option<(u32, Facts)>>,
}

impl Tables {
    /// Without an nf_tables socket (which would be odd where `nft` works), every check lists
    /// the tables.
    pub fn new() -> Tables {
        let gen = Generation::open()
            .map_err(|e| tracing::warn!(error = %e, "no nf_tables generation: checks list the ruleset each time"))
            .ok();
        Tables {
            gen,
            kept: Mutex::new(None),
        }
    }

    /// The facts berth's tables hold now. Blocking: it may run `nft`.
    pub fn facts(&self) -> Result<Facts, String> {
        let Some(g) = &self.gen else {
            return list();
        };
        // Read before listing: a commit in between makes what is kept newer than its key, and
        // the next check, seeing another generation, lists again.
        let now = g.current().map_err(|e| e.to_string())?;
        {
            let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, f)) = &*kept {
                if *at == now {
                    return Ok(f.clone());
                }
            }
        }
        let f = list()?;
        *self.kept.lock().unwrap_or_else(|p| p.into_inner()) = Some((now, f.clone()));
        Ok(f)
    }
}

impl Default for Tables {
    fn default() -> Self {
        Self::new()
    }
}

fn list() -> Result<Facts, String> {
    let (inet, bridge) = super::observe::read_tables()?;
    Facts::from_nft_json(&inet, &bridge)
}

/// Notices address changes in the namespace it was opened in.
pub struct AddrWatch {
    sock: Option<Socket>,
    state: Mutex<AddrState>,
    buf: Mutex<Vec<u8>>,
}

#[derive(Default)]
struct AddrState {
    /// Bumped each time a drain finds notifications (or lost some).
    epoch: u64,
    kept: Option<(u64, Vec<IpAddr>)>,
}

impl AddrWatch {
    pub fn new() -> AddrWatch {
        let sock = (|| -> std::io::Result<Socket> {
            let mut s = Socket::new(NETLINK_ROUTE)?;
            s.bind(&SocketAddr::new(0, 0))?;
            s.add_membership(GROUP_IPV4_IFADDR)?;
            s.add_membership(GROUP_IPV6_IFADDR)?;
            s.set_non_blocking(true)?;
            Ok(s)
        })()
        .map_err(|e| tracing::warn!(error = %e, "no address notifications: checks list addresses each time"))
        .ok();
        AddrWatch {
            sock,
            state: Mutex::new(AddrState::default()),
            buf: Mutex::new(vec![0; 64 << 10]),
        }
    }

    /// Reads every queued notification; true when there were any (or some were lost).
    fn drain(&self, sock: &Socket) -> bool {
        let mut buf = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        let mut changed = false;
        loop {
            match sock.recv(
                &mut &mut buf[..],
                nix::sys::socket::MsgFlags::MSG_DONTWAIT.bits(),
            ) {
                Ok(0) => return changed,
                Ok(_) => changed = true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return changed,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // ENOBUFS: notifications were lost, so something changed.
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => changed = true,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read address notifications");
                    return true;
                }
            }
        }
    }

    /// The addresses kept, if still current; else the epoch a fresh listing is stored under.
    pub fn kept(&self) -> Result<Vec<IpAddr>, u64> {
        let Some(sock) = &self.sock else {
            return Err(u64::MAX);
        };
        let changed = self.drain(sock);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if changed {
            st.epoch += 1;
        }
        match &st.kept {
            Some((at, addrs)) if *at == st.epoch => Ok(addrs.clone()),
            _ => Err(st.epoch),
        }
    }

    /// Keeps `addrs`, listed after [`AddrWatch::kept`] returned `epoch`; a change seen since
    /// then makes them stale at once.
    pub fn keep(&self, epoch: u64, addrs: &[IpAddr]) {
        if epoch == u64::MAX {
            return;
        }
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.kept.as_ref().is_none_or(|(at, _)| *at <= epoch) {
            st.kept = Some((epoch, addrs.to_vec()));
        }
    }
}

impl Default for AddrWatch {
    fn default() -> Self {
        Self::new()
    }
}

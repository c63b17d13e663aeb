//! Noticing when someone else changes berth's tables: nf_tables announces every committed
//! transaction to the NFNLGRP_NFTABLES multicast group, one message per object it touched and
//! a closing NEWGEN naming the writer (its netlink port and its process). berth subscribes and
//! sorts each transaction into its own writes, which it knows by port and process, and
//! foreign ones; a foreign transaction that touched `inet berth` or `bridge berth` (anything
//! but the rules of the user chain, which are the user's) means the tables must be rewritten.
//! No listing of the ruleset is ever polled.

use crate::sys::{SysError, SysResult};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
use std::os::fd::AsFd;
use std::time::Instant;

/// NFNL_SUBSYS_NFTABLES, in the high byte of nf_tables messages' type.
const SUBSYS_NFTABLES: u16 = 10;
/// NFNLGRP_NFTABLES.
const GROUP_NFTABLES: u32 = 7;
/// NFPROTO_INET and NFPROTO_BRIDGE.
const FAMILY_INET: u8 = 1;
const FAMILY_BRIDGE: u8 = 7;
/// enum nf_tables_msg_types.
const MSG_NEWRULE: u8 = 6;
const MSG_DELRULE: u8 = 8;
const MSG_NEWGEN: u8 = 15;
const MSG_DESTROYRULE: u8 = 28;
/// The table's name is attribute 1 of every object message (NFTA_TABLE_NAME,
/// NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE, ...); a
/// rule's chain is attribute 2 (NFTA_RULE_CHAIN).
const ATTR_TABLE: u16 = 1;
const ATTR_RULE_CHAIN: u16 = 2;
/// NFTA_GEN_PROC_PID.
const ATTR_GEN_PID: u16 = 2;
/// NLMSG_ERROR, NLMSG_DONE and friends are below this.
const NLMSG_MIN_TYPE: u16 = 0x10;
/// Room for a rewrite of thousands of elements announced while berth is busy writing.
const RECEIVE_BUFFER: usize = 16 << 20;

/// Who wrote a transaction berth made itself: the netlink ports of its own sockets and the
/// process IDs of the `nft` it ran.
#[derive(Debug, Default, Clone)]
pub struct Own {
    pub ports: Vec<u32>,
    pub pids: Vec<u32>,
    /// Whether one of them rewrote the whole ruleset (which repairs anything before it).
    pub full: bool,
}

/// What one notification says.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// An object of a berth table changed, other than a rule of the user chain.
    Berth,
    /// Anything else: another table, or the user chain's rules.
    Other,
    /// The end of a transaction, by its writer's netlink port and process.
    Commit { port: u32, pid: Option<u32> },
}

fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        // NLA_F_NESTED and NLA_F_NET_BYTEORDER are flags, not part of the type.
        let kind = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            return None;
        }
        let value = &b[4..len];
        b = &b[((len + 3) & !3).min(b.len())..];
        Some((kind, value))
    })
}

fn name(value: &[u8]) -> &[u8] {
    value.split(|&c| c == 0).next().unwrap_or_default()
}

/// Reads one netlink message (its header included) of the nf_tables group; None for what is
/// not an nf_tables notification.
pub fn parse(msg: &[u8]) -> Option<Event> {
    if msg.len() < 20 {
        return None;
    }
    let kind = u16::from_ne_bytes([msg[4], msg[5]]);
    if kind < NLMSG_MIN_TYPE || kind >> 8 != SUBSYS_NFTABLES {
        return None;
    }
    let port = u32::from_ne_bytes([msg[12], msg[13], msg[14], msg[15]]);
    let family = msg[16];
    let body = &msg[20..];
    let op = (kind & 0xff) as u8;
    if op == MSG_NEWGEN {
        let pid = attrs(body)
            .find(|(k, v)| *k == ATTR_GEN_PID && v.len() == 4)
            .map(|(_, v)| u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
        return Some(Event::Commit { port, pid });
    }
    if family != FAMILY_INET && family != FAMILY_BRIDGE {
        return Some(Event::Other);
    }
    let table = attrs(body)
        .find(|(k, _)| *k == ATTR_TABLE)
        .map(|(_, v)| name(v));
    if table != Some(super::ruleset::TABLE.as_bytes()) {
        return Some(Event::Other);
    }
    let rule = matches!(op, MSG_NEWRULE | MSG_DELRULE | MSG_DESTROYRULE);
    let chain = attrs(body)
        .find(|(k, _)| *k == ATTR_RULE_CHAIN)
        .map(|(_, v)| name(v));
    if rule && family == FAMILY_INET && chain == Some(b"user".as_slice()) {
        return Some(Event::Other);
    }
    Some(Event::Berth)
}

/// Sorts announced transactions as they are read.
#[derive(Debug, Default)]
pub struct Sorter {
    /// The transaction being read touched a berth table.
    touched: bool,
    /// Since when berth's tables are not what berth wrote, and when that was last seen.
    pub tampered: Option<(Instant, Instant)>,
}

impl Sorter {
    pub fn event(&mut self, e: Event, own: &Own) {
        match e {
            Event::Berth => self.touched = true,
            Event::Other => {}
            Event::Commit { port, pid } => {
                let mine = own.ports.contains(&port) || pid.is_some_and(|p| own.pids.contains(&p));
                if mine {
                    if own.full {
                        self.tampered = None;
                    }
                } else if self.touched {
                    let now = Instant::now();
                    let first = self.tampered.map_or(now, |(f, _)| f);
                    self.tampered = Some((first, now));
                }
                self.touched = false;
            }
        }
    }

    /// Notifications were lost: what they said is unknown, so the tables are suspect.
    pub fn lost(&mut self) {
        let now = Instant::now();
        let first = self.tampered.map_or(now, |(f, _)| f);
        self.tampered = Some((first, now));
    }
}

/// The subscription: a netlink socket in the nf_tables group of the daemon's namespace.
pub struct Watch {
    sock: Socket,
    buf: Vec<u8>,
    pub sorter: Sorter,
}

fn err(what: &str, e: impl std::fmt::Display) -> SysError {
    SysError::Nft {
        netns: String::new(),
        message: format!("{what}: {e}"),
    }
}

impl Watch {
    pub fn open() -> SysResult<Watch> {
        let mut sock =
            Socket::new(NETLINK_NETFILTER).map_err(|e| err("nf_tables event socket", e))?;
        sock.bind(&SocketAddr::new(0, 0))
            .map_err(|e| err("bind nf_tables event socket", e))?;
        sock.add_membership(GROUP_NFTABLES)
            .map_err(|e| err("join the nf_tables event group", e))?;
        sock.set_non_blocking(true)
            .map_err(|e| err("nf_tables event socket", e))?;
        // Root may exceed rmem_max; without it, fall back to what the system allows.
        let force = nix::sys::socket::setsockopt(
            &sock,
            nix::sys::socket::sockopt::RcvBufForce,
            &RECEIVE_BUFFER,
        );
        if force.is_err() {
            let _ = sock.set_rx_buf_sz(RECEIVE_BUFFER);
        }
        Ok(Watch {
            sock,
            buf: vec![0; 256 << 10],
            sorter: Sorter::default(),
        })
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Reads every notification queued now, sorting each transaction; `own` names the
    /// writes berth made since the last read.
    pub fn drain(&mut self, own: &Own) {
        loop {
            let n = match self.sock.recv(&mut &mut self.buf[..], libc_dontwait()) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => {
                    // The queue overflowed and notifications are gone: what they said is
                    // unknown.
                    tracing::warn!("nf_tables notifications lost: rewriting berth's tables");
                    self.sorter.lost();
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read nf_tables notifications");
                    return;
                }
            };
            let mut off = 0;
            while off + 16 <= n {
                let len = u32::from_ne_bytes([
                    self.buf[off],
                    self.buf[off + 1],
                    self.buf[off + 2],
                    self.buf[off + 3],
                ]) as usize;
                if len < 16 || off + len > n {
                    break;
                }
                if let Some(e) = parse(&self.buf[off..off + len]) {
                    self.sorter.event(e, own);
                }
                off += (len + 3) & !3;
            }
        }
    }
}

fn libc_dontwait() -> i32 {
    nix::sys::socket::MsgFlags::MSG_DONTWAIT.bits()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut v = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(value);
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
        v
    }

    fn msg(op: u8, family: u8, port: u32, attrs: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = attrs.concat();
        let mut m = ((20 + body.len()) as u32).to_ne_bytes().to_vec();
        m.extend_from_slice(&((SUBSYS_NFTABLES << 8) | op as u16).to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&port.to_ne_bytes());
        m.extend_from_slice(&[family, 0, 0, 0]);
        m.extend_from_slice(&body);
        m
    }

    fn gen(port: u32, pid: u32) -> Vec<u8> {
        msg(
            MSG_NEWGEN,
            0,
            port,
            &[attr(1, &7u32.to_be_bytes()), attr(2, &pid.to_be_bytes())],
        )
    }

    #[test]
    fn events_name_berth_tables_but_not_the_user_chain_rules() {
        let delrule = |family, table: &[u8], chain: &[u8]| {
            msg(MSG_DELRULE, family, 9, &[attr(1, table), attr(2, chain)])
        };
        assert_eq!(
            parse(&delrule(FAMILY_INET, b"berth\0", b"filter_forward\0")),
            Some(Event::Berth)
        );
        assert_eq!(
            parse(&delrule(FAMILY_INET, b"berth\0", b"user\0")),
            Some(Event::Other)
        );
        assert_eq!(
            parse(&delrule(FAMILY_BRIDGE, b"berth\0", b"forward\0")),
            Some(Event::Berth)
        );
        assert_eq!(
            parse(&delrule(FAMILY_INET, b"mine\0", b"forward\0")),
            Some(Event::Other)
        );
        // An `ip berth` table is somebody else's.
        assert_eq!(
            parse(&delrule(2, b"berth\0", b"forward\0")),
            Some(Event::Other)
        );
        // Deleting the table, a set or its elements.
        for op in [2, 5, 11, 14] {
            assert_eq!(
                parse(&msg(op, FAMILY_INET, 9, &[attr(1, b"berth\0")])),
                Some(Event::Berth)
            );
        }
        assert_eq!(
            parse(&gen(9, 1234)),
            Some(Event::Commit {
                port: 9,
                pid: Some(1234)
            })
        );
        // Truncated or foreign messages are not misread.
        assert_eq!(parse(&[0u8; 10]), None);
        let mut error = gen(9, 1);
        error[4] = 2;
        error[5] = 0;
        assert_eq!(parse(&error), None);
        let mut bad = msg(MSG_DELRULE, FAMILY_INET, 9, &[attr(1, b"berth\0")]);
        bad[20] = 200;
        assert_eq!(parse(&bad), Some(Event::Other));
    }

    #[test]
    fn foreign_transactions_on_berth_tables_are_tampering_and_own_ones_are_not() {
        let mut s = Sorter::default();
        let own = Own {
            ports: vec![100],
            pids: vec![4242],
            full: false,
        };
        // berth's own element change, by its socket's port.
        s.event(Event::Berth, &own);
        s.event(
            Event::Commit {
                port: 100,
                pid: Some(1),
            },
            &own,
        );
        assert!(s.tampered.is_none());
        // berth's own nft, by its process.
        s.event(Event::Berth, &own);
        s.event(
            Event::Commit {
                port: 555,
                pid: Some(4242),
            },
            &own,
        );
        assert!(s.tampered.is_none());
        // Someone's own table, or the user chain.
        s.event(Event::Other, &own);
        s.event(
            Event::Commit {
                port: 7,
                pid: Some(7),
            },
            &own,
        );
        assert!(s.tampered.is_none());
        // Someone deletes a rule of berth's.
        s.event(Event::Berth, &own);
        s.event(
            Event::Commit {
                port: 7,
                pid: Some(7),
            },
            &own,
        );
        assert!(s.tampered.is_some());
        // An element change of berth's does not repair it; a full rewrite does.
        s.event(Event::Berth, &own);
        s.event(
            Event::Commit {
                port: 100,
                pid: None,
            },
            &own,
        );
        assert!(s.tampered.is_some());
        let full = Own { full: true, ..own };
        s.event(Event::Berth, &full);
        s.event(
            Event::Commit {
                port: 100,
                pid: None,
            },
            &full,
        );
        assert!(s.tampered.is_none());
    }
}

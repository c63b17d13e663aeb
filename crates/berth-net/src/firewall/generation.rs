//! The nf_tables generation: a counter the kernel bumps on every committed transaction of the
//! namespace's ruleset, whoever makes it. Asking for it is one small netlink request
//! (NFT_MSG_GETGEN), so a reader of the ruleset can keep what it read keyed on the generation
//! and read again only when the counter moved: what it keeps is never stale.

use crate::sys::{SysError, SysResult};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
use std::sync::Mutex;

/// NFNL_SUBSYS_NFTABLES, in the high byte of nf_tables messages' type.
const SUBSYS_NFTABLES: u16 = 10;
/// enum nf_tables_msg_types.
const MSG_NEWGEN: u16 = 15;
const MSG_GETGEN: u16 = 16;
/// NFTA_GEN_ID.
const ATTR_GEN_ID: u16 = 1;
const NLM_F_REQUEST: u16 = 1;
const NLMSG_ERROR: u16 = 2;

fn err(what: &str, e: impl std::fmt::Display) -> SysError {
    SysError::Nft {
        netns: String::new(),
        message: format!("{what}: {e}"),
    }
}

/// A netlink socket in the namespace it was opened in, kept to ask for the generation.
pub struct Generation {
    sock: Mutex<(Socket, u32)>,
}

/// The GETGEN request with sequence number `seq`.
fn request(seq: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(20);
    m.extend_from_slice(&20u32.to_ne_bytes());
    m.extend_from_slice(&((SUBSYS_NFTABLES << 8) | MSG_GETGEN).to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // struct nfgenmsg: AF_UNSPEC, NFNETLINK_V0, res_id 0.
    m.extend_from_slice(&[0, 0, 0, 0]);
    m
}

/// What one reply message says: Some(Ok(id)) for NEWGEN, Some(Err(errno)) for an error, None
/// for anything else (another sequence number, say).
fn parse_reply(msg: &[u8], seq: u32) -> Option<Result<u32, i32>> {
    if msg.len() < 16 {
        return None;
    }
    let kind = u16::from_ne_bytes([msg[4], msg[5]]);
    let got = u32::from_ne_bytes([msg[8], msg[9], msg[10], msg[11]]);
    if got != seq {
        return None;
    }
    if kind == NLMSG_ERROR {
        let code = msg
            .get(16..20)
            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))?;
        return Some(Err(-code));
    }
    if kind != (SUBSYS_NFTABLES << 8) | MSG_NEWGEN || msg.len() < 20 {
        return None;
    }
    let mut b = &msg[20..];
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let attr = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        if attr == ATTR_GEN_ID && len == 8 {
            return Some(Ok(u32::from_be_bytes([b[4], b[5], b[6], b[7]])));
        }
        b = &b[((len + 3) & !3).min(b.len())..];
    }
    None
}

impl Generation {
    /// Opens the socket in the calling thread's namespace.
    pub fn open() -> SysResult<Generation> {
        let mut sock = Socket::new(NETLINK_NETFILTER).map_err(|e| err("nf_tables socket", e))?;
        sock.bind_auto()
            .map_err(|e| err("bind nf_tables socket", e))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| err("connect nf_tables socket", e))?;
        // The kernel always answers; the timeout only keeps a caller from hanging if it
        // somehow does not.
        let timeout = nix::sys::time::TimeVal::new(2, 0);
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::ReceiveTimeout, &timeout)
            .map_err(|e| err("nf_tables socket timeout", e))?;
        Ok(Generation {
            sock: Mutex::new((sock, 0)),
        })
    }

    /// The generation now. Blocks for one kernel round trip.
    pub fn current(&self) -> SysResult<u32> {
        let mut guard = self.sock.lock().unwrap_or_else(|p| p.into_inner());
        let (sock, seq) = &mut *guard;
        *seq = seq.wrapping_add(1);
        let seq = *seq;
        sock.send(&request(seq), 0)
            .map_err(|e| err("ask for the nf_tables generation", e))?;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = match sock.recv(&mut &mut buf[..], 0) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(err("read the nf_tables generation", e)),
            };
            let mut off = 0;
            while off + 16 <= n {
                let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
                    as usize;
                if len < 16 || off + len > n {
                    break;
                }
                match parse_reply(&buf[off..off + len], seq) {
                    Some(Ok(id)) => return Ok(id),
                    Some(Err(errno)) => {
                        return Err(err(
                            "ask for the nf_tables generation",
                            std::io::Error::from_raw_os_error(errno),
                        ))
                    }
                    // A late reply to an earlier request that gave up: skip it.
                    None => {}
                }
                off += (len + 3) & !3;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn newgen(seq: u32, id: u32) -> Vec<u8> {
        let mut m = 32u32.to_ne_bytes().to_vec();
        m.extend_from_slice(&((SUBSYS_NFTABLES << 8) | MSG_NEWGEN).to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        // NFTA_GEN_PROC_PID first, then NFTA_GEN_ID: the order does not matter.
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&77u32.to_be_bytes());
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&ATTR_GEN_ID.to_ne_bytes());
        m.extend_from_slice(&id.to_be_bytes());
        m
    }

    #[test]
    fn a_reply_gives_the_id_of_its_own_request_only() {
        assert_eq!(parse_reply(&newgen(5, 1234), 5), Some(Ok(1234)));
        assert_eq!(parse_reply(&newgen(4, 1234), 5), None);
        let mut error = newgen(5, 0);
        error[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        error[16..20].copy_from_slice(&(-1i32).to_ne_bytes());
        assert_eq!(parse_reply(&error, 5), Some(Err(1)));
        assert_eq!(parse_reply(&newgen(5, 1)[..10], 5), None);
        assert_eq!(request(9).len(), 20);
    }
}

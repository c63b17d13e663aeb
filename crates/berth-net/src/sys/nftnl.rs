//! Set and map elements over nf_tables netlink, without running `nft`: publishing a port or
//! adding a network is one batch (one kernel transaction) of element changes, costing
//! microseconds instead of a process start, however many elements the sets already hold.

use super::{SysError, SysResult};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST};
use netlink_packet_netfilter::nftables::{
    DataAttribute, ListAttribute, NfTablesMessage, SetElementAttribute, SetElementList,
    SetElementMessage,
};
use netlink_packet_netfilter::none::ControlMessage;
use netlink_packet_netfilter::{NetfilterHeader, NetfilterMessage, NetfilterProtoFamily};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

/// NFNL_SUBSYS_NFTABLES: batch messages name the subsystem they carry.
const SUBSYS_NFTABLES: u16 = 10;

/// One element: a key, and for maps the value it maps to (both in nft's register layout).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Element {
    pub key: Vec<u8>,
    pub data: Option<Vec<u8>>,
}

/// The table families berth uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Inet,
    Bridge,
}

/// Adding or deleting elements of one set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetChange {
    pub family: Family,
    pub table: String,
    pub set: String,
    pub add: bool,
    pub elements: Vec<Element>,
}

fn err(message: String) -> SysError {
    SysError::Nft {
        netns: String::new(),
        message,
    }
}

/// Applies `changes` as one transaction in the calling thread's network namespace. Adding an
/// element that exists or deleting one that does not is an error from the kernel, so callers
/// keep their own record of what is there.
pub fn apply(changes: &[SetChange]) -> SysResult<()> {
    let changes: Vec<&SetChange> = changes.iter().filter(|c| !c.elements.is_empty()).collect();
    if changes.is_empty() {
        return Ok(());
    }
    let mut msgs: Vec<NetlinkMessage<NetfilterMessage>> = Vec::new();
    let control = |m: ControlMessage| {
        NetlinkMessage::from(NetfilterMessage::new(
            NetfilterHeader::new(NetfilterProtoFamily::Unspec, 0, SUBSYS_NFTABLES),
            m,
        ))
    };
    msgs.push(control(ControlMessage::BatchBegin));
    for c in &changes {
        let elements = c
            .elements
            .iter()
            .map(|e| {
                let mut attrs = vec![SetElementAttribute::Key(DataAttribute::Value(
                    e.key.clone(),
                ))];
                if let Some(d) = &e.data {
                    attrs.push(SetElementAttribute::Data(DataAttribute::Value(d.clone())));
                }
                ListAttribute::Element(attrs)
            })
            .collect();
        let body = SetElementMessage {
            attributes: vec![
                SetElementList::Table(c.table.clone()),
                SetElementList::Set(c.set.clone()),
                SetElementList::Elements(elements),
            ],
        };
        let inner = if c.add {
            NfTablesMessage::NewSetElement(body)
        } else {
            NfTablesMessage::DeleteSetElement(body)
        };
        let mut m = NetlinkMessage::from(NetfilterMessage::new(
            NetfilterHeader::new(
                match c.family {
                    Family::Inet => NetfilterProtoFamily::Inet,
                    Family::Bridge => NetfilterProtoFamily::Bridge,
                },
                0,
                0,
            ),
            inner,
        ));
        m.header.flags = NLM_F_REQUEST | NLM_F_ACK | if c.add { NLM_F_CREATE } else { 0 };
        msgs.push(m);
    }
    msgs.push(control(ControlMessage::BatchEnd));
    let mut buf = Vec::new();
    for (seq, m) in msgs.iter_mut().enumerate() {
        if m.header.flags == 0 {
            m.header.flags = NLM_F_REQUEST;
        }
        m.header.sequence_number = seq as u32 + 1;
        m.finalize();
        let start = buf.len();
        buf.resize(start + m.buffer_len(), 0);
        m.serialize(&mut buf[start..]);
    }
    let mut sock =
        Socket::new(NETLINK_NETFILTER).map_err(|e| err(format!("netlink socket: {e}")))?;
    sock.bind_auto()
        .map_err(|e| err(format!("bind netlink socket: {e}")))?;
    sock.connect(&SocketAddr::new(0, 0))
        .map_err(|e| err(format!("connect netlink socket: {e}")))?;
    sock.send(&buf, 0)
        .map_err(|e| err(format!("send nftables batch: {e}")))?;
    // One ACK (or error) per element message.
    let mut pending = changes.len();
    let mut first_error: Option<String> = None;
    let mut rbuf = vec![0u8; 65536];
    while pending > 0 {
        let n = sock
            .recv(&mut &mut rbuf[..], 0)
            .map_err(|e| err(format!("receive nftables reply: {e}")))?;
        let mut off = 0;
        while off < n {
            let msg = NetlinkMessage::<NetfilterMessage>::deserialize(&rbuf[off..n])
                .map_err(|e| err(format!("parse nftables reply: {e}")))?;
            let len = msg.header.length as usize;
            if let NetlinkPayload::Error(e) = &msg.payload {
                pending = pending.saturating_sub(1);
                if let Some(code) = e.code {
                    let seq = msg.header.sequence_number as usize;
                    let what = seq
                        .checked_sub(2)
                        .and_then(|i| changes.get(i))
                        .map(|c| {
                            format!(
                                "{} elements of {} {}",
                                if c.add { "add" } else { "delete" },
                                c.table,
                                c.set
                            )
                        })
                        .unwrap_or_default();
                    first_error.get_or_insert(format!(
                        "{what}: {}",
                        std::io::Error::from_raw_os_error(-code.get())
                    ));
                }
            }
            if len == 0 {
                break;
            }
            off += (len + 3) & !3;
        }
    }
    match first_error {
        Some(e) => Err(err(e)),
        None => Ok(()),
    }
}

/// nft's layout of concatenated keys: each field padded to a 4-byte register.
pub fn concat(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        out.extend_from_slice(f);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    }
    out
}

/// An interface name as an `ifname` key (16 bytes, zero padded).
pub fn ifname(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.resize(16, 0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_use_nft_register_layout() {
        // As `nft --debug=netlink` shows `tcp . 8080 : 10.0.0.2 . 80`.
        let key = concat(&[&[6], &8080u16.to_be_bytes()]);
        assert_eq!(key, vec![6, 0, 0, 0, 0x1f, 0x90, 0, 0]);
        let data = concat(&[&[10, 0, 0, 2], &80u16.to_be_bytes()]);
        assert_eq!(data, vec![10, 0, 0, 2, 0, 0x50, 0, 0]);
        assert_eq!(ifname("br-x").len(), 16);
    }
}

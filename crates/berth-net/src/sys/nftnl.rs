//! nf_tables over netlink, without running `nft`: publishing a port or adding a network is one
//! batch (one kernel transaction) of element changes, and a sandbox's DNS redirect is one batch
//! of a table, a chain and four rules. Each costs microseconds instead of a process start, and
//! does not grow with the daemon (no fork of a large process) or with the sets' sizes.

use super::{SysError, SysResult};
use netlink_packet_core::{
    DefaultNla, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE,
    NLM_F_REQUEST,
};
use netlink_packet_netfilter::nftables::{
    ChainAttribute, ChainMessage, ChecksumFlags, ChecksumType, Cmp, DataAttribute, Expressions,
    Hook, Immediate, InetHookNumber, ListAttribute, Meta, MetaKey, NfTablesMessage, Operator,
    Payload, Register, RuleAttribute, RuleMessage, SetElementAttribute, SetElementList,
    SetElementMessage, TableAttribute, TableMessage,
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

/// A netlink socket that writes nf_tables transactions, opened in the calling thread's network
/// namespace and kept for the next one. Closing a nf_tables socket waits for the kernel to
/// free the objects of earlier transactions (an RCU grace period, 10 ms here): a socket per
/// transaction made every `network rm` pay that.
pub struct Writer {
    sock: Socket,
    port: u32,
}

impl Writer {
    /// Opens a writer in the calling thread's network namespace.
    pub fn open() -> SysResult<Writer> {
        let mut sock =
            Socket::new(NETLINK_NETFILTER).map_err(|e| err(format!("netlink socket: {e}")))?;
        let local = sock
            .bind_auto()
            .map_err(|e| err(format!("bind netlink socket: {e}")))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| err(format!("connect netlink socket: {e}")))?;
        Ok(Writer {
            port: local.port_number(),
            sock,
        })
    }

    /// The socket's netlink port: nf_tables names it in the notifications of its transactions.
    pub fn port(&self) -> u32 {
        self.port
    }
}

/// Applies `changes` as one transaction in the calling thread's network namespace. Adding an
/// element that exists or deleting one that does not is an error from the kernel, so callers
/// keep their own record of what is there.
pub fn apply(changes: &[SetChange]) -> SysResult<()> {
    apply_on(&mut Writer::open()?, changes)
}

/// `apply` through `writer`. After an error the writer may hold unread replies: drop it.
pub fn apply_on(writer: &mut Writer, changes: &[SetChange]) -> SysResult<()> {
    let changes: Vec<&SetChange> = changes.iter().filter(|c| !c.elements.is_empty()).collect();
    if changes.is_empty() {
        return Ok(());
    }
    let mut msgs = Vec::new();
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
        let family = match c.family {
            Family::Inet => NetfilterProtoFamily::Inet,
            Family::Bridge => NetfilterProtoFamily::Bridge,
        };
        msgs.push(request(family, inner, c.add));
    }
    transact(writer, msgs, |i| {
        changes
            .get(i)
            .map(|c| {
                format!(
                    "{} elements of {} {}",
                    if c.add { "add" } else { "delete" },
                    c.table,
                    c.set
                )
            })
            .unwrap_or_default()
    })
}

/// One request of a batch, acknowledged; `create` for additions.
fn request(
    family: NetfilterProtoFamily,
    inner: NfTablesMessage,
    create: bool,
) -> NetlinkMessage<NetfilterMessage> {
    let mut m = NetlinkMessage::from(NetfilterMessage::new(
        NetfilterHeader::new(family, 0, 0),
        inner,
    ));
    m.header.flags = NLM_F_REQUEST | NLM_F_ACK | if create { NLM_F_CREATE } else { 0 };
    m
}

/// Sends `msgs` as one batch, one kernel transaction, through `writer`, and waits for each
/// one's acknowledgement. `what(i)` names request `i` in errors.
fn transact(
    writer: &mut Writer,
    mut msgs: Vec<NetlinkMessage<NetfilterMessage>>,
    what: impl Fn(usize) -> String,
) -> SysResult<()> {
    let control = |m: ControlMessage| {
        NetlinkMessage::from(NetfilterMessage::new(
            NetfilterHeader::new(NetfilterProtoFamily::Unspec, 0, SUBSYS_NFTABLES),
            m,
        ))
    };
    let requests = msgs.len();
    msgs.insert(0, control(ControlMessage::BatchBegin));
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
    let sock = &mut writer.sock;
    sock.send(&buf, 0)
        .map_err(|e| err(format!("send nftables batch: {e}")))?;
    // One ACK (or error) per request.
    let mut pending = requests;
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
                    // Requests are numbered from 2: the batch's start is 1.
                    let seq = msg.header.sequence_number as usize;
                    let name = seq.checked_sub(2).map(&what).unwrap_or_default();
                    first_error.get_or_insert(format!(
                        "{name}: {}",
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

/// Expression building blocks, as `nft --debug=netlink` shows them.
mod expr {
    use super::*;

    /// NFT_PAYLOAD_NETWORK_HEADER and NFT_PAYLOAD_TRANSPORT_HEADER.
    pub const NETWORK: u32 = 1;
    pub const TRANSPORT: u32 = 2;

    pub fn load(base: u32, offset: u32, len: u32) -> Expressions {
        Expressions::Payload(vec![
            Payload::DestinationRegister(Register::Reg1),
            Payload::Base(base),
            Payload::Offset(offset),
            Payload::Len(len),
        ])
    }

    pub fn equals(value: &[u8]) -> Expressions {
        Expressions::Cmp(vec![
            Cmp::SourceRegister(Register::Reg1),
            Cmp::Op(Operator::Equal),
            Cmp::Data(DataAttribute::Value(value.to_vec())),
        ])
    }

    pub fn l4proto() -> Expressions {
        Expressions::Meta(vec![
            Meta::DestinationRegister(Register::Reg1),
            Meta::Key(MetaKey::L4Proto),
        ])
    }

    pub fn notrack() -> Expressions {
        Expressions::Other {
            expression_type: "notrack".into(),
            attributes: Vec::<DefaultNla>::new(),
        }
    }

    pub fn immediate(value: &[u8]) -> Expressions {
        Expressions::Immediate(vec![
            Immediate::DestinationRegister(Register::Reg1),
            Immediate::Data(DataAttribute::Value(value.to_vec())),
        ])
    }

    /// Writes register 1 over the transport header at `offset`, fixing the checksum at
    /// `csum_offset` (the ports are not in the pseudo-header, so no pseudo-header flag).
    pub fn write(offset: u32, len: u32, csum_offset: u32) -> Expressions {
        Expressions::Payload(vec![
            Payload::SourceRegister(Register::Reg1),
            Payload::Base(TRANSPORT),
            Payload::Offset(offset),
            Payload::Len(len),
            Payload::CsumType(ChecksumType::Inet),
            Payload::CsumOffset(csum_offset),
            Payload::CsumFlags(ChecksumFlags::empty()),
        ])
    }
}

/// The table that sends a sandbox's port 53 on `addr` to the resolver's real ports, made in
/// the calling thread's network namespace:
///
/// ```text
/// table ip berth_dns {
///     chain output {
///         type filter hook output priority raw; policy accept;
///         ip daddr ADDR udp dport 53 notrack udp dport set UDP
///         ip saddr ADDR udp sport UDP notrack udp sport set 53
///         ip daddr ADDR tcp dport 53 notrack tcp dport set TCP
///         ip saddr ADDR tcp sport TCP notrack tcp sport set 53
///     }
/// }
/// ```
///
/// The rewrite is stateless (`notrack` at raw priority, ports rewritten both ways), so
/// queries cost no conntrack entries: a busy container cannot fill the conntrack table with DNS
/// flows as it can under Docker's DNAT. `replace` swaps an existing table in the same
/// transaction (as nft's `table …; delete table …; table … {…}`).
pub fn resolver_redirect(
    addr: std::net::Ipv4Addr,
    udp: u16,
    tcp: u16,
    replace: bool,
) -> SysResult<()> {
    const TABLE: &str = "berth_dns";
    const CHAIN: &str = "output";
    const NF_ACCEPT: u32 = 1;
    const PRIORITY_RAW: i32 = -300;
    const IPPROTO_TCP: u8 = 6;
    const IPPROTO_UDP: u8 = 17;
    let ip = NetfilterProtoFamily::IPv4;
    let table = || TableMessage {
        attributes: vec![TableAttribute::Name(TABLE.into())],
    };
    let mut msgs = Vec::new();
    let mut names = Vec::new();
    if replace {
        msgs.push(request(ip, NfTablesMessage::NewTable(table()), true));
        msgs.push(request(ip, NfTablesMessage::DeleteTable(table()), false));
        names.extend(["declare table", "delete table"]);
    }
    msgs.push(request(ip, NfTablesMessage::NewTable(table()), true));
    msgs.push(request(
        ip,
        NfTablesMessage::NewChain(ChainMessage {
            attributes: vec![
                ChainAttribute::Table(TABLE.into()),
                ChainAttribute::Name(CHAIN.into()),
                ChainAttribute::Hook(vec![
                    Hook::Number(InetHookNumber::LocalOut.into()),
                    Hook::Priority(PRIORITY_RAW as u32),
                ]),
                ChainAttribute::Policy(NF_ACCEPT),
                ChainAttribute::Type("filter".into()),
            ],
        }),
        true,
    ));
    names.extend(["add table", "add chain"]);
    // (address at: daddr 16 / saddr 12, protocol, port matched at: dport 2 / sport 0, port
    // matched, port written, checksum offset in the transport header)
    let rules = [
        (16, IPPROTO_UDP, 2, 53, udp, 6),
        (12, IPPROTO_UDP, 0, udp, 53, 6),
        (16, IPPROTO_TCP, 2, 53, tcp, 16),
        (12, IPPROTO_TCP, 0, tcp, 53, 16),
    ];
    for (addr_at, proto, port_at, from, to, csum) in rules {
        let exprs = [
            expr::load(expr::NETWORK, addr_at, 4),
            expr::equals(&addr.octets()),
            expr::l4proto(),
            expr::equals(&[proto]),
            expr::load(expr::TRANSPORT, port_at, 2),
            expr::equals(&from.to_be_bytes()),
            expr::notrack(),
            expr::immediate(&to.to_be_bytes()),
            expr::write(port_at, 2, csum),
        ];
        let mut m = request(
            ip,
            NfTablesMessage::NewRule(RuleMessage {
                attributes: vec![
                    RuleAttribute::Table(TABLE.into()),
                    RuleAttribute::Chain(CHAIN.into()),
                    RuleAttribute::Expressions(exprs.into_iter().map(Into::into).collect()),
                ],
            }),
            true,
        );
        // Appended, in this order (without it each rule would go first).
        m.header.flags |= NLM_F_APPEND;
        msgs.push(m);
        names.push("add rule");
    }
    transact(&mut Writer::open()?, msgs, |i| {
        format!("{} ip {TABLE}", names.get(i).copied().unwrap_or("request"))
    })
}

//! Turning one query into a reply from the records, or deciding it goes upstream.

use super::records::{Found, Records};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::net::IpAddr;

/// TTL of local answers, as Docker's (600 s).
pub const TTL: u32 = 600;
/// The classic UDP payload limit when the client does not advertise EDNS.
const UDP_MIN: usize = 512;
/// What berth advertises and accepts as its own EDNS payload size.
const EDNS_PAYLOAD: u16 = 1232;

/// What to do with a packet.
#[derive(Debug)]
pub enum Reply {
    /// Send these bytes back.
    Local(Vec<u8>),
    /// Not a local name: forward the packet as it is. The parsed request is kept to build an
    /// error reply if no upstream answers.
    Forward(Box<Message>),
    /// Not a query worth answering (malformed, or a response): say nothing.
    Drop,
}

/// The largest reply a client accepts over UDP.
pub fn udp_limit(req: &Message) -> usize {
    req.edns
        .as_ref()
        .map(|e| usize::from(e.max_payload()).max(UDP_MIN))
        .unwrap_or(UDP_MIN)
}

fn response_to(req: &Message, code: ResponseCode) -> Message {
    let mut m = Message::response(req.metadata.id, req.metadata.op_code);
    m.metadata.recursion_desired = req.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    m.metadata.response_code = code;
    m.add_queries(req.queries.iter().cloned());
    if req.edns.is_some() {
        let mut e = Edns::new();
        e.set_max_payload(EDNS_PAYLOAD);
        m.set_edns(e);
    }
    m
}

/// Encodes `m`; over UDP a reply larger than `limit` goes out empty with TC set, so the client
/// asks again over TCP.
pub fn encode(m: &Message, limit: Option<usize>) -> Option<Vec<u8>> {
    let bytes = m.to_vec().ok()?;
    match limit {
        Some(max) if bytes.len() > max => m.truncate().to_vec().ok(),
        _ => Some(bytes),
    }
}

/// A SERVFAIL for `req`, when no upstream answered.
pub fn servfail(req: &Message) -> Option<Vec<u8>> {
    encode(&response_to(req, ResponseCode::ServFail), None)
}

/// Answers `packet` from `records` as the sandbox `sandbox_id` sees them; `udp` applies the
/// client's UDP size limit.
pub fn answer(records: &Records, sandbox_id: &str, packet: &[u8], udp: bool) -> Reply {
    let Ok(req) = Message::from_vec(packet) else {
        return Reply::Drop;
    };
    if req.metadata.message_type != MessageType::Query {
        return Reply::Drop;
    }
    let limit = udp.then(|| udp_limit(&req));
    if req.metadata.op_code != OpCode::Query {
        return local(&response_to(&req, ResponseCode::NotImp), limit);
    }
    if req.queries.len() != 1 {
        return local(&response_to(&req, ResponseCode::FormErr), limit);
    }
    let q = &req.queries[0];
    let qname = q.name().clone();
    let name = qname.to_ascii();
    let qtype = q.query_type();
    if qtype == RecordType::PTR {
        let ptr = arpa_addr(&qname).and_then(|ip| records.reverse(sandbox_id, ip));
        return match ptr.and_then(|p| Name::from_ascii(p).ok()) {
            Some(target) => {
                let mut m = response_to(&req, ResponseCode::NoError);
                m.add_answer(Record::from_rdata(qname, TTL, RData::PTR(PTR(target))));
                local(&m, limit)
            }
            None => Reply::Forward(Box::new(req)),
        };
    }
    match records.lookup(sandbox_id, &name) {
        Some(found) => {
            let mut m = response_to(&req, ResponseCode::NoError);
            for r in address_records(&qname, qtype, &found) {
                m.add_answer(r);
            }
            local(&m, limit)
        }
        None => Reply::Forward(Box::new(req)),
    }
}

fn local(m: &Message, limit: Option<usize>) -> Reply {
    encode(m, limit).map_or(Reply::Drop, Reply::Local)
}

/// A and AAAA records of a local name; other types of a local name get an empty answer.
fn address_records(name: &Name, qtype: RecordType, found: &Found) -> Vec<Record> {
    let mut out = Vec::new();
    if matches!(qtype, RecordType::A | RecordType::ANY) {
        out.extend(
            found
                .v4
                .iter()
                .map(|ip| Record::from_rdata(name.clone(), TTL, RData::A(A(*ip)))),
        );
    }
    if matches!(qtype, RecordType::AAAA | RecordType::ANY) {
        out.extend(
            found
                .v6
                .iter()
                .map(|ip| Record::from_rdata(name.clone(), TTL, RData::AAAA(AAAA(*ip)))),
        );
    }
    out
}

/// Whether a reply from upstream fits a UDP client; if not, the truncated form to send.
pub fn fit_for_udp(req: &Message, reply: Vec<u8>) -> Option<Vec<u8>> {
    if reply.len() <= udp_limit(req) {
        return Some(reply);
    }
    let m = Message::from_vec(&reply).ok()?;
    m.truncate().to_vec().ok()
}

/// The address an `in-addr.arpa`/`ip6.arpa` name stands for.
pub fn arpa_addr(name: &Name) -> Option<IpAddr> {
    name.parse_arpa_name()
        .ok()
        .filter(|n| n.prefix_len() == n.max_prefix_len())
        .map(|n| n.addr())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::records::EndpointRecord;
    use hickory_proto::op::Query;

    fn records() -> Records {
        let mut r = Records::default();
        for (id, sb, name, ip) in [
            ("e1", "s1", "a1", "10.0.0.2"),
            ("e2", "s2", "a2", "10.0.0.3"),
        ] {
            r.add(EndpointRecord {
                endpoint_id: id,
                sandbox_id: sb,
                network_id: "n1",
                network_name: "mynet",
                internal: false,
                names: vec![name.into(), "svc".into()],
                v4: ip.parse().ok(),
                v6: None,
            });
        }
        r
    }

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::new(4242, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        m.to_vec().unwrap()
    }

    fn local_reply(r: Reply) -> Message {
        match r {
            Reply::Local(b) => Message::from_vec(&b).unwrap(),
            other => panic!("expected a local reply, got {other:?}"),
        }
    }

    #[test]
    fn a_record_with_docker_ttl_and_flags() {
        let m = local_reply(answer(&records(), "s1", &query("a2.", RecordType::A), true));
        assert_eq!(m.metadata.id, 4242);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.recursion_available && m.metadata.recursion_desired);
        assert!(!m.metadata.authoritative);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].ttl, TTL);
        assert_eq!(m.answers[0].data, RData::A(A("10.0.0.3".parse().unwrap())));
    }

    #[test]
    fn aaaa_of_v4_only_name_is_empty_noerror() {
        let m = local_reply(answer(
            &records(),
            "s1",
            &query("a2", RecordType::AAAA),
            true,
        ));
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.answers.is_empty());
    }

    #[test]
    fn ptr_names_the_container_on_its_network() {
        let m = local_reply(answer(
            &records(),
            "s1",
            &query("3.0.0.10.in-addr.arpa.", RecordType::PTR),
            true,
        ));
        assert_eq!(
            m.answers[0].data,
            RData::PTR(PTR(Name::from_ascii("a2.mynet.").unwrap()))
        );
    }

    #[test]
    fn unknown_names_and_foreign_ptrs_go_upstream_and_garbage_is_dropped() {
        let r = records();
        assert!(matches!(
            answer(&r, "s1", &query("example.com.", RecordType::A), true),
            Reply::Forward(_)
        ));
        assert!(matches!(
            answer(
                &r,
                "s1",
                &query("1.1.168.192.in-addr.arpa.", RecordType::PTR),
                true
            ),
            Reply::Forward(_)
        ));
        assert!(matches!(
            answer(&r, "s1", b"\x01\x02garbage", true),
            Reply::Drop
        ));
        assert!(matches!(answer(&r, "s1", &[], true), Reply::Drop));
    }

    #[test]
    fn oversized_udp_answers_are_truncated() {
        let mut r = Records::default();
        for i in 0..60u8 {
            let id = format!("e{i}");
            let sb = format!("s{i}");
            r.add(EndpointRecord {
                endpoint_id: &id,
                sandbox_id: &sb,
                network_id: "n1",
                network_name: "mynet",
                internal: false,
                names: vec![format!("c{i}"), "many".into()],
                v4: Some([10, 0, 1, i].into()),
                v6: None,
            });
        }
        let m = local_reply(answer(&r, "s0", &query("many.", RecordType::A), true));
        assert!(m.metadata.truncation);
        assert!(m.answers.is_empty());
        let m = local_reply(answer(&r, "s0", &query("many.", RecordType::A), false));
        assert_eq!(m.answers.len(), 60);
    }
}

//! The embedded resolver's answer path: any packet a container sends to 127.0.0.11 gets a
//! reply, a forward or silence, and a local reply always parses and fits the client's limit.
#![no_main]

use berth_net::dns::answer::{answer, udp_limit, Reply};
use hickory_proto::op::Message;
use berth_net::dns::{EndpointRecord, Records};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn records() -> &'static Records {
    static R: OnceLock<Records> = OnceLock::new();
    R.get_or_init(|| {
        let mut r = Records::default();
        for (i, name) in ["web", "db", "x-very-long-name-of-a-container-0123456789"]
            .iter()
            .enumerate()
        {
            r.add(EndpointRecord {
                endpoint_id: &format!("ep{i}"),
                sandbox_id: "s1",
                network_id: "n1",
                network_name: "mynet",
                internal: false,
                names: vec![name.to_string(), format!("alias{i}"), format!("abcdef12345{i}")],
                v4: Some(std::net::Ipv4Addr::new(10, 0, 0, 2 + i as u8)),
                v6: Some(format!("fd00::{}", i + 2).parse().expect("v6")),
            });
        }
        r
    })
}

fuzz_target!(|data: &[u8]| {
    for udp in [true, false] {
        if let Reply::Local(bytes) = answer(records(), "s1", data, udp) {
            let reply = Message::from_vec(&bytes);
            assert!(reply.is_ok(), "a local reply does not parse: {bytes:?}");
            if udp {
                let req = Message::from_vec(data).expect("answered, so it parsed");
                assert!(bytes.len() <= udp_limit(&req), "reply over the UDP limit");
            }
        }
    }
    let _ = answer(records(), "unknown-sandbox", data, true);
});

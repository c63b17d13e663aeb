//! Subnets that would break the host are refused with 400, naming the value, and change
//! nothing (issue 16): multicast, loopback, link-local, no usable address, stray whitespace,
//! and a subnet the host already reaches through one of its own links.

mod common;

use common::{fails, ok, Host};

fn create(h: &Host, body: &str) -> (u16, serde_json::Value) {
    h.api("POST", "/v1.43/networks/create", Some(body))
}

fn links(h: &Host) -> Vec<String> {
    let mut l = h.links();
    l.sort();
    l
}

#[test]
fn subnets_that_break_the_host_are_refused_and_change_nothing() {
    let h = Host::new();
    // One of the host's own links, on 10.123.0.0/24.
    h.sh("ip link add hostlan type veth peer name hostlan2 && \
          ip addr add 10.123.0.1/24 dev hostlan && ip link set hostlan up && ip link set hostlan2 up");
    let before = links(&h);
    let nets = ok(h.berth(&["network", "ls", "-q"]));
    for (subnet, extra, needle) in [
        ("224.0.0.0/4", "", "multicast"),
        ("239.255.0.0/16", "", "multicast"),
        ("127.0.0.0/8", "", "loopback"),
        ("169.254.0.0/16", "", "link-local"),
        ("10.9.9.9/32", "", "no address for containers"),
        (
            "10.9.9.8/31",
            r#","AuxiliaryAddresses":{"x":"10.9.9.9"}"#,
            "no address for containers",
        ),
        ("10.50.0.0/24\n", "", "whitespace"),
        ("10.123.0.0/24", "", "reaches through one of its own links"),
        ("10.123.0.128/25", "", "10.123.0.0/24"),
    ] {
        let json_subnet = serde_json::to_string(subnet).unwrap();
        let (status, body) = create(
            &h,
            &format!(r#"{{"Name":"x","IPAM":{{"Config":[{{"Subnet":{json_subnet}{extra}}}]}}}}"#),
        );
        let msg = body["message"].as_str().unwrap_or_default().to_string();
        assert_eq!(status, 400, "{subnet:?}: {body}");
        assert!(msg.contains(needle), "{subnet:?}: {msg}");
        assert!(
            msg.contains(subnet.trim()),
            "{subnet:?} is not named: {msg}"
        );
        assert_eq!(links(&h), before, "{subnet:?}: nothing made");
        assert_eq!(
            ok(h.berth(&["network", "ls", "-q"])),
            nets,
            "{subnet:?}: nothing stored"
        );
    }
    // The same refusals through both CLIs.
    let (_, err) = fails(h.docker(&["network", "create", "--subnet", "224.0.0.0/4", "m"]));
    assert!(
        err.contains("224.0.0.0/4") && err.contains("multicast"),
        "{err}"
    );
    let (_, err) = fails(h.berth(&["network", "create", "--subnet", "127.0.0.0/8", "l"]));
    assert!(
        err.contains("127.0.0.0/8") && err.contains("loopback"),
        "{err}"
    );
    // A macvlan network lives on its parent's LAN: the host's subnet there is the point.
    ok(h.berth(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "10.123.0.0/24",
        "-o",
        "parent=hostlan",
        "onlan",
    ]));
    // A subnet freed by a network just removed is free again at once, while its bridge is
    // still being unregistered.
    for _ in 0..3 {
        ok(h.berth(&["network", "create", "--subnet", "10.124.0.0/24", "again"]));
        ok(h.berth(&["network", "rm", "again"]));
    }
}

//! The verdict across an overlay: a container here and endpoints on other hosts, live, on a
//! node whose lease went, on another overlay network, and from a bridge network.

use super::facts::Facts;
use super::model::*;
use super::tests::{code, ctr, ep, net, verdict_of, world};
use crate::firewall::NetRule;

fn remote(name: &str, network: &str, ip: &str, node: &str, host: &str) -> RemoteEndpointView {
    RemoteEndpointView {
        network_id: format!("id-{network}"),
        network: network.into(),
        name: name.into(),
        container_id: format!("{:0<64}", format!("{name}id")),
        ip: ip.parse().unwrap(),
        mac: "02:42:0a:00:09:09".into(),
        aliases: vec![],
        node: node.into(),
        node_addr: format!("192.168.77.{}", 11 + host[1..].parse::<u8>().unwrap()),
        hostname: host.into(),
    }
}

fn node(id: &str, host: &str) -> NodeView {
    NodeView {
        id: id.into(),
        hostname: host.into(),
        addr: format!("192.168.77.{}", 11 + host[1..].parse::<u8>().unwrap()),
    }
}

fn overlay_net(name: &str, subnet: &str, mtu: u32) -> NetworkView {
    let mut n = net(name, &format!("ov-{name}"), subnet, false, true);
    n.driver = "overlay".into();
    n.mtu = Some(mtu);
    n.overlay = Some(OverlayView {
        vxlan: format!("vx-{name}"),
        vni: 4096,
        ..Default::default()
    });
    n
}

/// The bridge world, plus overlays `ov` and `ov2` spanning hosts h0 (this one), h1, h2.
fn cluster_world() -> (Topology, Facts) {
    let (mut topo, mut fw) = world();
    for n in [
        overlay_net("ov", "10.0.9.0/24", 1450),
        overlay_net("ov2", "10.0.8.0/24", 1450),
    ] {
        fw.networks.push(NetRule {
            bridge: n.bridge.clone().unwrap(),
            internal: false,
            masquerade: true,
            icc: true,
        });
        topo.networks.push(n);
    }
    topo.containers.push(ctr(
        "front",
        vec![ep("ov", "vfront", "eth0", "10.0.9.2/24", true)],
    ));
    topo.containers.push(ctr(
        "front2",
        vec![ep("ov2", "vfront2", "eth0", "10.0.8.2/24", true)],
    ));
    topo.cluster = Some(ClusterView {
        node: "N0".into(),
        nodes: vec![node("N0", "h0"), node("N1", "h1")],
        nodes_error: None,
        underlay_mtu: 1500,
        remote: vec![
            remote("db", "ov", "10.0.9.3", "N1", "h1"),
            remote("db2", "ov2", "10.0.8.3", "N1", "h1"),
            // Its node is no longer live, though the watch has not dropped it yet.
            remote("stale", "ov", "10.0.9.5", "N2", "h2"),
        ],
        lost: vec![remote("gone", "ov", "10.0.9.4", "N2", "h2")],
    });
    let facts = Facts::from_model(&fw);
    (topo, facts)
}

#[test]
fn a_remote_endpoint_is_reached_across_vxlan_to_its_host() {
    let (topo, facts) = cluster_world();
    let v = verdict_of(&topo, &facts, "front", "db", Some("80"));
    assert!(v.reachable, "{v:?}");
    let kinds: Vec<&str> = v.path.iter().map(|h| h.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "container",
            "veth",
            "bridge",
            "vxlan",
            "host",
            "bridge",
            "container"
        ]
    );
    assert_eq!(v.path[3].name, "vx-ov");
    assert!(
        v.path[3].detail.contains("192.168.77.12"),
        "{:?}",
        v.path[3]
    );
    assert_eq!(
        (v.path[4].name.as_str(), v.path[4].detail.as_str()),
        ("h1", "node N1 at 192.168.77.12")
    );
    assert_eq!(v.target, Some(("10.0.9.3".parse().unwrap(), Some(80))));
    assert_eq!(v.crossings.len(), 1);
    let c = &v.crossings[0];
    assert_eq!(
        (c.device.as_str(), c.node_addr.as_str()),
        ("vx-ov", "192.168.77.12")
    );
    // By address too, and the other way round.
    assert_eq!(code(&topo, &facts, "front", "10.0.9.3", None), None);
    let back = verdict_of(&topo, &facts, "db", "front", None);
    assert!(back.reachable, "{back:?}");
    assert_eq!(back.path.last().map(|h| h.name.as_str()), Some("front"));
    assert_eq!(code(&topo, &facts, "host", "db", None), None);
}

#[test]
fn a_peer_without_its_lease_is_named() {
    let (topo, facts) = cluster_world();
    let v = verdict_of(&topo, &facts, "front", "gone", None);
    assert_eq!(v.code.map(|c| c.as_str()), Some("remote_lease_expired"));
    let why = v.reason.unwrap_or_default();
    assert!(
        why.contains("node h2 (192.168.77.13)") && why.contains("lost its lease"),
        "{why}"
    );
    assert_eq!(
        code(&topo, &facts, "front", "stale", None),
        Some("remote_lease_expired")
    );
    assert_eq!(
        code(&topo, &facts, "front", "10.0.9.4", None),
        Some("remote_lease_expired")
    );
}

#[test]
fn with_the_store_unavailable_liveness_is_not_judged_and_the_note_says_why() {
    let (mut topo, facts) = cluster_world();
    if let Some(c) = &mut topo.cluster {
        c.nodes_error = Some("cluster store unavailable: connection refused".into());
    }
    // The endpoint whose node is not listed is not blocked on a list that may be stale.
    let v = verdict_of(&topo, &facts, "front", "stale", Some("80"));
    assert!(v.reachable, "{v:?}");
    assert!(
        v.notes
            .iter()
            .any(|n| n.contains("not judged") && n.contains("connection refused")),
        "{:?}",
        v.notes
    );
    // With the store answering there is no such note.
    let (topo, facts) = cluster_world();
    let v = verdict_of(&topo, &facts, "front", "db", Some("80"));
    assert!(
        !v.notes.iter().any(|n| n.contains("not judged")),
        "{:?}",
        v.notes
    );
}

#[test]
fn overlays_are_isolated_from_bridges_and_from_each_other() {
    let (topo, facts) = cluster_world();
    assert_eq!(
        code(&topo, &facts, "b1", "db", None),
        Some("networks_isolated")
    );
    assert_eq!(
        code(&topo, &facts, "front", "db2", None),
        Some("networks_isolated")
    );
    assert_eq!(code(&topo, &facts, "front2", "db2", None), None);
    assert_eq!(
        code(&topo, &facts, "db", "b1", None),
        Some("no_common_network")
    );
}

#[test]
fn an_mtu_the_vxlan_header_does_not_fit_under_is_noted() {
    let (mut topo, facts) = cluster_world();
    for n in topo.networks.iter_mut().filter(|n| n.name == "ov") {
        n.mtu = Some(1500);
    }
    // The underlay fragments what does not fit: reachable, with a note saying so.
    let v = verdict_of(&topo, &facts, "front", "db", None);
    assert!(v.reachable, "{v:?}");
    assert!(
        v.notes.iter().any(|n| n.contains("at most 1450 fits")),
        "{:?}",
        v.notes
    );
}

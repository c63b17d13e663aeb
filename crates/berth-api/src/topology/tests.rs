//! The pictures over a fixed topology: one host, and a cluster of three with remote endpoints.

use super::*;

pub fn sample() -> Topo {
    serde_json::from_value(serde_json::json!({
        "host": {"name": "h1", "addrs": ["10.99.0.1"], "firewall": true},
        "networks": [
            {"id": "n1", "name": "front", "driver": "bridge", "bridge": "br-front", "subnets": [{"subnet": "10.1.0.0/24", "gateway": "10.1.0.1"}], "icc": true, "masquerade": true},
            {"id": "n2", "name": "vault", "driver": "bridge", "bridge": "br-vault", "subnets": [{"subnet": "10.2.0.0/24", "gateway": "10.2.0.1"}], "internal": true, "icc": false, "masquerade": true},
            {"id": "n3", "name": "host", "driver": "host"}
        ],
        "containers": [
            {"id": "c1", "name": "web", "running": true, "status": "running", "network_mode": "front",
             "endpoints": [{"network_id": "n1", "network": "front", "ifname": "eth0", "ipv4": "10.1.0.2/24", "aliases": ["www"]},
                           {"network_id": "n2", "network": "vault", "ifname": "eth1", "ipv4": "10.2.0.2/24"}],
             "ports": [{"proto": "tcp", "host_ip": "0.0.0.0", "host_port": 8080, "container_port": 80}],
             "links": [{"target": "db", "alias": "database"}]},
            {"id": "c2", "name": "db", "running": true, "status": "running", "network_mode": "vault",
             "endpoints": [{"network_id": "n2", "network": "vault", "ifname": "eth0", "ipv4": "10.2.0.3/24"}]},
            {"id": "c3", "name": "old<&>", "running": false, "status": "exited", "network_mode": "front", "networks": ["front"]}
        ]
    }))
    .unwrap()
}

#[test]
fn svg_names_everything_and_escapes() {
    let s = svg(&sample());
    for want in [
        "front",
        "vault",
        "10.1.0.0/24 gw 10.1.0.1",
        "internal",
        "ICC off",
        "eth0 10.1.0.2/24",
        "aka www",
        "⇢ 0.0.0.0:8080 → 80/tcp",
        "link db as database",
        "old&lt;&amp;&gt; (exited)",
        "legend",
        "--link database",
    ] {
        assert!(s.contains(want), "{want} missing");
    }
    assert!(!s.contains("old<&>"));
    assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
}

#[test]
fn dot_has_a_node_per_network_and_container_and_an_edge_per_interface() {
    let d = dot(&sample());
    assert!(d.starts_with("graph berth {"));
    assert_eq!(d.matches("shape=box").count(), 2);
    assert_eq!(d.matches("shape=component").count(), 3);
    assert!(
        d.contains("\"ctr:web\" -- \"net:vault\" [label=\"eth1 10.2.0.2/24\"]"),
        "{d}"
    );
    assert!(d.contains("style=dashed, dir=forward"));
}

fn cluster_sample() -> Topo {
    let mut t = sample();
    t.networks.push(
        serde_json::from_value(serde_json::json!({
            "id": "ov1", "name": "ov", "driver": "overlay", "bridge": "ov-ov1",
            "subnets": [{"subnet": "10.0.9.0/24", "gateway": "10.0.9.1"}], "icc": true, "masquerade": true,
            "overlay": {"vxlan": "vx-ov1", "vni": 4096}
        }))
        .unwrap(),
    );
    t.cluster = Some(
        serde_json::from_value(serde_json::json!({
            "node": "N0", "underlay_mtu": 1500,
            "nodes": [{"id": "N0", "hostname": "h0", "addr": "192.168.77.11"},
                      {"id": "N1", "hostname": "h1", "addr": "192.168.77.12"}],
            "remote": [{"network_id": "ov1", "network": "ov", "name": "db2", "container_id": "c9", "ip": "10.0.9.3",
                        "mac": "02:42:00:00:00:09", "node": "N1", "node_addr": "192.168.77.12", "hostname": "h1"}],
            "lost": [{"network_id": "ov1", "network": "ov", "name": "gone", "container_id": "c8", "ip": "10.0.9.4",
                      "mac": "02:42:00:00:00:08", "node": "N2", "node_addr": "192.168.77.13", "hostname": "h2"}]
        }))
        .unwrap(),
    );
    t
}

#[test]
fn a_cluster_groups_containers_by_host_and_shows_remote_endpoints() {
    let t = cluster_sample();
    let g = hosts(&t);
    let labels: Vec<&str> = g.iter().map(|h| h.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "this host h0 · 192.168.77.11",
            "host h1 · 192.168.77.12",
            "host h2 · 192.168.77.13 (lease expired)"
        ]
    );
    let c = cards(&t);
    let db2 = c.iter().find(|c| c.name == "db2").unwrap();
    assert_eq!((db2.host, db2.running), (1, true));
    assert_eq!(db2.endpoints[0].addrs_text(), "10.0.9.3/24");
    let gone = c.iter().find(|c| c.name == "gone").unwrap();
    assert_eq!((gone.host, gone.running), (2, false));

    let s = svg(&t);
    for want in [
        "this host h0 · 192.168.77.11",
        "host h1 · 192.168.77.12",
        "ov 10.0.9.3/24",
        "VNI 4096 over vx-ov1",
        "a cluster node",
    ] {
        assert!(s.contains(want), "{want} missing from the SVG");
    }
    let d = dot(&t);
    assert_eq!(d.matches("subgraph \"cluster_host").count(), 3, "{d}");
    assert!(
        d.contains("\"ctr:db2\" -- \"net:ov\" [label=\"ov 10.0.9.3/24\"]"),
        "{d}"
    );
    // The JSON carries the same: what the ui renders.
    let back: Topo = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(back, t);
}

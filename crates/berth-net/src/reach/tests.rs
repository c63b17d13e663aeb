//! The verdict over a fixed topology: every code, the path, firewall off, and the model against
//! a kernel whose ruleset lost a rule or an element.

use super::facts::{Dnat, Facts, Rule};
use super::model::*;
use super::verdict::{LinkObs, Links};
use super::*;
use crate::firewall::{FirewallState, LinkRule, NetRule, PortRule, Proto};
use std::net::IpAddr;

pub(super) fn net(
    name: &str,
    bridge: &str,
    subnet: &str,
    internal: bool,
    icc: bool,
) -> NetworkView {
    let sn: ipnet::IpNet = subnet.parse().unwrap();
    let gw = match sn.network() {
        IpAddr::V4(v) => IpAddr::from(std::net::Ipv4Addr::from(u32::from(v) + 1)),
        v6 => v6,
    };
    NetworkView {
        id: format!("id-{name}"),
        name: name.into(),
        driver: "bridge".into(),
        bridge: Some(bridge.into()),
        mtu: Some(1500),
        subnets: vec![SubnetView {
            subnet: sn,
            gateway: gw,
        }],
        internal,
        icc,
        masquerade: true,
        predefined: name == "bridge",
        overlay: None,
    }
}

pub(super) fn ep(
    netname: &str,
    veth: &str,
    ifname: &str,
    addr: &str,
    default_route: bool,
) -> EndpointView {
    let a: ipnet::IpNet = addr.parse().unwrap();
    let gw = match a.trunc().network() {
        IpAddr::V4(v) => IpAddr::from(std::net::Ipv4Addr::from(u32::from(v) + 1)),
        v6 => v6,
    };
    EndpointView {
        network_id: format!("id-{netname}"),
        network: netname.into(),
        ifname: ifname.into(),
        host_ifname: veth.into(),
        mac: "02:42:00:00:00:00".into(),
        ipv4: Some(a),
        ipv6: None,
        gateway4: Some(gw),
        gateway6: None,
        aliases: vec![],
        default_route,
    }
}

pub(super) fn ctr(name: &str, eps: Vec<EndpointView>) -> ContainerView {
    ContainerView {
        id: format!("{:0<64}", format!("{name}id")),
        name: name.into(),
        running: true,
        status: "running".into(),
        network_mode: eps
            .first()
            .map(|e| e.network.clone())
            .unwrap_or_else(|| "none".into()),
        networks: eps.iter().map(|e| e.network.clone()).collect(),
        endpoints: eps,
        ports: vec![],
        links: vec![],
        sandbox_key: None,
    }
}

/// The matrix of the integration test, without a kernel.
pub(super) fn world() -> (Topology, FirewallState) {
    let networks = vec![
        net("bridge", "berth0", "172.17.0.0/16", false, true),
        net("n1", "br-n1", "10.1.0.0/24", false, true),
        net("n2", "br-n2", "10.2.0.0/24", false, true),
        net("secret", "br-secret", "10.3.0.0/24", true, true),
        net("quiet", "br-quiet", "10.4.0.0/24", false, false),
    ];
    let mut web = ctr(
        "web",
        vec![ep("bridge", "vweb", "eth0", "172.17.0.3/16", true)],
    );
    web.ports.push(PortView {
        proto: "tcp".into(),
        host_ip: "0.0.0.0".parse().unwrap(),
        host_port: 8080,
        container_port: 80,
    });
    let mut lo = ctr(
        "lo",
        vec![ep("bridge", "vlo", "eth0", "172.17.0.4/16", true)],
    );
    lo.ports.push(PortView {
        proto: "tcp".into(),
        host_ip: "127.0.0.1".parse().unwrap(),
        host_port: 9090,
        container_port: 80,
    });
    let mut stopped = ctr("stopped", vec![]);
    stopped.running = false;
    stopped.status = "exited".into();
    stopped.network_mode = "n1".into();
    let containers = vec![
        ctr("a", vec![ep("bridge", "va", "eth0", "172.17.0.2/16", true)]),
        web,
        lo,
        ctr("b1", vec![ep("n1", "vb1", "eth0", "10.1.0.2/24", true)]),
        ctr("b2", vec![ep("n1", "vb2", "eth0", "10.1.0.3/24", true)]),
        ctr("c", vec![ep("n2", "vc", "eth0", "10.2.0.2/24", true)]),
        ctr(
            "both",
            vec![
                ep("n1", "vboth1", "eth0", "10.1.0.4/24", true),
                ep("n2", "vboth2", "eth1", "10.2.0.4/24", false),
            ],
        ),
        ctr("i1", vec![ep("secret", "vi1", "eth0", "10.3.0.2/24", true)]),
        ctr("i2", vec![ep("secret", "vi2", "eth0", "10.3.0.3/24", true)]),
        ctr("q1", vec![ep("quiet", "vq1", "eth0", "10.4.0.2/24", true)]),
        ctr("q2", vec![ep("quiet", "vq2", "eth0", "10.4.0.3/24", true)]),
        stopped,
        ctr("nonet", vec![]),
    ];
    let fw = FirewallState {
        networks: networks
            .iter()
            .map(|n| NetRule {
                bridge: n.bridge.clone().unwrap(),
                internal: n.internal,
                masquerade: true,
                icc: n.icc,
            })
            .collect(),
        isolated_ports: vec!["vq1".into(), "vq2".into()],
        ports: vec![
            PortRule {
                proto: Proto::Tcp,
                host_ip: None,
                host_port: 8080,
                container_ip: "172.17.0.3".parse().unwrap(),
                container_port: 80,
            },
            PortRule {
                proto: Proto::Tcp,
                host_ip: Some("127.0.0.1".parse().unwrap()),
                host_port: 9090,
                container_ip: "172.17.0.4".parse().unwrap(),
                container_port: 80,
            },
        ],
        links: vec![LinkRule {
            from: "vq1".into(),
            to: "vq2".into(),
            proto: Proto::Tcp,
            port: 6379,
        }],
    };
    let topo = Topology {
        host: HostView {
            name: "h".into(),
            addrs: vec!["10.99.0.1".parse().unwrap()],
            firewall: true,
            br_netfilter: true,
        },
        networks,
        containers,
        cluster: None,
    };
    (topo, fw)
}

pub(super) fn q(src: &str, dst: &str, port: Option<&str>) -> Query {
    Query {
        src: Party::parse(src),
        dst: Party::parse(dst),
        port: port.map(|p| parse_port(p).unwrap()),
    }
}

pub(super) fn verdict_of(
    topo: &Topology,
    facts: &Facts,
    src: &str,
    dst: &str,
    port: Option<&str>,
) -> Verdict {
    evaluate(topo, facts, None, &q(src, dst, port)).unwrap()
}

pub(super) fn code(
    topo: &Topology,
    facts: &Facts,
    src: &str,
    dst: &str,
    port: Option<&str>,
) -> Option<&'static str> {
    let v = verdict_of(topo, facts, src, dst, port);
    assert_eq!(v.reachable, v.code.is_none(), "{src} → {dst}: {v:?}");
    v.code.map(|c| c.as_str())
}

#[test]
fn the_matrix_of_verdicts() {
    let (topo, fw) = world();
    let f = Facts::from_model(&fw);
    let cases: &[(&str, &str, Option<&str>, Option<&str>)] = &[
        ("b1", "b2", None, None),
        ("b1", "b2", Some("80"), None),
        ("b1", "c", None, Some("networks_isolated")),
        ("a", "b1", Some("80/tcp"), Some("networks_isolated")),
        ("both", "c", None, None),
        ("both", "b1", None, None),
        ("c", "both", None, None),
        ("b1", "b1", None, None),
        ("i1", "i2", None, None),
        ("i1", "outside", None, Some("internal_network")),
        ("i1", "b1", None, Some("internal_network")),
        ("b1", "i1", None, Some("internal_network")),
        ("host", "i1", None, None),
        ("q1", "q2", None, Some("icc_disabled")),
        ("q1", "q2", Some("6379"), None),
        ("q2", "q1", Some("6379"), Some("icc_disabled")),
        ("a", "web", None, None),
        ("outside", "web", Some("8080"), None),
        (
            "outside",
            "web",
            Some("8080/udp"),
            Some("port_not_published"),
        ),
        ("outside", "web", Some("80"), Some("port_not_published")),
        ("outside", "web", None, Some("port_not_published")),
        (
            "outside",
            "172.17.0.3",
            Some("80"),
            Some("port_not_published"),
        ),
        ("outside", "10.99.0.1", Some("8080"), None),
        (
            "outside",
            "lo",
            Some("9090"),
            Some("host_address_not_bound"),
        ),
        (
            "outside",
            "10.99.0.1",
            Some("9090"),
            Some("host_address_not_bound"),
        ),
        ("host", "127.0.0.1", Some("9090"), None),
        ("host", "web", Some("80"), None),
        ("b1", "10.99.0.1", Some("8080"), None),
        ("b1", "host", None, None),
        ("i1", "10.3.0.1", None, None),
        ("i1", "10.99.0.1", Some("8080"), Some("internal_network")),
        ("a", "outside", None, None),
        ("a", "8.8.8.8", Some("53/udp"), None),
        ("stopped", "b1", None, Some("container_not_running")),
        ("b1", "stopped", None, Some("container_not_running")),
        ("nonet", "b1", None, Some("no_common_network")),
        ("b1", "nonet", None, Some("no_common_network")),
        ("10.1.0.2", "10.1.0.3", None, None),
        ("b1", "10.2.0.4", None, Some("networks_isolated")),
        ("host", "outside", None, None),
    ];
    for (src, dst, port, want) in cases {
        assert_eq!(
            code(&topo, &f, src, dst, *port),
            *want,
            "{src} → {dst} port {port:?}"
        );
    }
}

#[test]
fn the_path_is_named_hop_by_hop() {
    let (topo, fw) = world();
    let f = Facts::from_model(&fw);
    let v = verdict_of(&topo, &f, "b1", "b2", None);
    let names: Vec<&str> = v.path.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["b1", "vb1", "br-n1", "vb2", "b2"]);
    let v = verdict_of(&topo, &f, "outside", "web", Some("8080"));
    let kinds: Vec<&str> = v.path.iter().map(|h| h.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["outside", "host", "dnat", "bridge", "veth", "container"]
    );
    assert_eq!(v.target, Some(("172.17.0.3".parse().unwrap(), Some(80))));
    let v = verdict_of(&topo, &f, "b1", "c", None);
    assert!(
        v.reason
            .as_deref()
            .unwrap_or_default()
            .contains("oifname @bridges drop"),
        "{v:?}"
    );
}

#[test]
fn unknown_names_and_bad_ports_are_bad_input() {
    let (topo, fw) = world();
    let f = Facts::from_model(&fw);
    let e = evaluate(&topo, &f, None, &q("nosuch", "b1", None)).unwrap_err();
    assert!(e.contains("No such container: nosuch"), "{e}");
    assert!(parse_port("0").is_err());
    assert!(parse_port("80/sctp").unwrap_err().contains("sctp"));
    assert!(parse_port("http").unwrap_err().contains("http"));
    assert_eq!(parse_port("53/udp").unwrap(), (53, Proto::Udp));
}

#[test]
fn without_the_firewall_everything_routes() {
    let (mut topo, fw) = world();
    topo.host.firewall = false;
    let f = Facts::from_model(&fw);
    for (s, d) in [("b1", "c"), ("q1", "q2"), ("i1", "outside")] {
        assert_eq!(code(&topo, &f, s, d, None), None, "{s} → {d}");
    }
    // Published ports are still served (by the proxy).
    assert_eq!(code(&topo, &f, "outside", "web", Some("8080")), None);
}

#[test]
fn user_chain_rules_decide_first() {
    let (topo, fw) = world();
    let mut f = Facts::from_model(&fw);
    let json = serde_json::json!([
        {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.1.0.2"}},
        {"drop": null}
    ]);
    f.user.push(userchain::parse_user_rule(
        json.as_array().unwrap(),
        "ip saddr 10.1.0.2 drop",
    ));
    assert_eq!(code(&topo, &f, "b1", "b2", None), Some("user_chain_drop"));
    assert_eq!(code(&topo, &f, "b2", "b1", None), None);
    assert_eq!(
        code(&topo, &f, "b1", "outside", None),
        Some("user_chain_drop")
    );
}

#[test]
fn the_kernel_losing_a_rule_or_element_is_a_disagreement() {
    let (topo, fw) = world();
    let model = Facts::from_model(&fw);
    let all_up = |t: &Topology| -> Links {
        let mut l = Links::new();
        for n in &t.networks {
            l.insert(
                n.bridge.clone().unwrap(),
                Some(LinkObs {
                    up: true,
                    master: None,
                }),
            );
        }
        for c in &t.containers {
            for e in &c.endpoints {
                let b = t.network(&e.network_id).and_then(|n| n.bridge.clone());
                l.insert(
                    e.host_ifname.clone(),
                    Some(LinkObs {
                        up: true,
                        master: b,
                    }),
                );
            }
        }
        l
    };
    let same = Observed {
        facts: model.clone(),
        links: all_up(&topo),
        routes: vec![],
        fdb: vec![],
        vxlan: vec![],
    };
    let r = check(
        &topo,
        &model,
        Ok(Some(&same)),
        &q("b1", "c", None),
        ("b1", "c", None),
    )
    .unwrap();
    assert!(
        r.kernel.checked && r.kernel.agrees && r.kernel.differences.is_empty(),
        "{r:?}"
    );

    let mut k = model.clone();
    k.rules.remove(&Rule::IsolateDrop);
    let obs = Observed {
        facts: k,
        links: all_up(&topo),
        routes: vec![],
        fdb: vec![],
        vxlan: vec![],
    };
    let r = check(
        &topo,
        &model,
        Ok(Some(&obs)),
        &q("b1", "c", None),
        ("b1", "c", None),
    )
    .unwrap();
    assert!(
        !r.reachable && !r.kernel.agrees && r.kernel.reachable,
        "{r:?}"
    );
    assert!(
        r.kernel
            .differences
            .iter()
            .any(|d| d.contains("oifname @bridges drop")),
        "{r:?}"
    );

    let mut k = model.clone();
    k.internal.remove("br-secret");
    let obs = Observed {
        facts: k,
        links: all_up(&topo),
        routes: vec![],
        fdb: vec![],
        vxlan: vec![],
    };
    let r = check(
        &topo,
        &model,
        Ok(Some(&obs)),
        &q("i1", "outside", None),
        ("i1", "outside", None),
    )
    .unwrap();
    assert_eq!(r.code, Some(Code::InternalNetwork));
    // Forwarded now, though not masqueraded (internal networks never are).
    assert!(
        !r.kernel.agrees && r.kernel.code == Some(Code::MasqueradeOff),
        "{r:?}"
    );

    let mut k = model.clone();
    k.dnat.retain(|d: &Dnat| d.host_port != 8080);
    let obs = Observed {
        facts: k,
        links: all_up(&topo),
        routes: vec![],
        fdb: vec![],
        vxlan: vec![],
    };
    let r = check(
        &topo,
        &model,
        Ok(Some(&obs)),
        &q("outside", "web", Some("8080")),
        ("outside", "web", Some("8080")),
    )
    .unwrap();
    assert!(
        r.reachable && r.kernel.code == Some(Code::PortNotPublished),
        "{r:?}"
    );

    let mut links = all_up(&topo);
    links.insert(
        "vb2".into(),
        Some(LinkObs {
            up: false,
            master: Some("br-n1".into()),
        }),
    );
    let obs = Observed {
        facts: model.clone(),
        links,
        routes: vec![],
        fdb: vec![],
        vxlan: vec![],
    };
    let r = check(
        &topo,
        &model,
        Ok(Some(&obs)),
        &q("b1", "b2", None),
        ("b1", "b2", None),
    )
    .unwrap();
    assert!(
        r.reachable && r.kernel.code == Some(Code::InterfaceDown),
        "{r:?}"
    );
    assert!(
        r.kernel
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("vb2"),
        "{r:?}"
    );

    let mut links = all_up(&topo);
    links.insert("vb2".into(), None);
    let obs = Observed {
        facts: model.clone(),
        links,
        routes: vec![],
        fdb: vec![],
        vxlan: vec![],
    };
    let r = check(
        &topo,
        &model,
        Ok(Some(&obs)),
        &q("b1", "b2", None),
        ("b1", "b2", None),
    )
    .unwrap();
    assert!(
        r.kernel
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("vb2 (bridge br-n1) does not exist"),
        "{r:?}"
    );
    let mut links = all_up(&topo);
    links.insert(
        "vb1".into(),
        Some(LinkObs {
            up: true,
            master: Some("br-n2".into()),
        }),
    );
    let obs = Observed {
        facts: model.clone(),
        links,
        routes: vec![],
        fdb: vec![],
        vxlan: vec![],
    };
    let r = check(
        &topo,
        &model,
        Ok(Some(&obs)),
        &q("b1", "b2", None),
        ("b1", "b2", None),
    )
    .unwrap();
    assert!(
        r.kernel
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("vb1 (bridge br-n1) is not a port of its bridge"),
        "{r:?}"
    );
    // Interfaces that were not read are not judged.
    let obs = Observed {
        facts: model.clone(),
        links: Links::new(),
        routes: vec![],
        fdb: vec![],
        vxlan: vec![],
    };
    let r = check(
        &topo,
        &model,
        Ok(Some(&obs)),
        &q("b1", "b2", None),
        ("b1", "b2", None),
    )
    .unwrap();
    assert!(r.kernel.agrees, "{r:?}");
}

#[test]
fn facts_read_back_from_nft_json_equal_the_model() {
    // testdata/*.json: `nft -j list table …` after applying firewall/testdata/full.nft and one
    // user rule (`ip saddr 172.17.0.2 tcp dport 80 drop`).
    let inet = include_str!("testdata/inet.json");
    let bridge = include_str!("testdata/bridge.json");
    let got = Facts::from_nft_json(inet, bridge).unwrap();
    let fw = FirewallState {
        networks: vec![
            NetRule {
                bridge: "berth0".into(),
                internal: false,
                masquerade: true,
                icc: true,
            },
            NetRule {
                bridge: "br-secret".into(),
                internal: true,
                masquerade: true,
                icc: false,
            },
        ],
        isolated_ports: vec!["veth1234567".into()],
        ports: vec![
            PortRule {
                proto: Proto::Tcp,
                host_ip: None,
                host_port: 8080,
                container_ip: "172.17.0.2".parse().unwrap(),
                container_port: 80,
            },
            PortRule {
                proto: Proto::Udp,
                host_ip: Some("127.0.0.1".parse().unwrap()),
                host_port: 5353,
                container_ip: "172.17.0.3".parse().unwrap(),
                container_port: 53,
            },
            PortRule {
                proto: Proto::Tcp,
                host_ip: None,
                host_port: 8080,
                container_ip: "fd00::2".parse().unwrap(),
                container_port: 80,
            },
        ],
        links: vec![LinkRule {
            from: "veth7654321".into(),
            to: "veth1234567".into(),
            proto: Proto::Tcp,
            port: 6379,
        }],
    };
    let model = Facts::from_model(&fw);
    assert_eq!(Facts::differences(&model, &got), Vec::<String>::new());
    assert_eq!(got.rules, model.rules);
    assert_eq!(got.user.len(), 1);
    assert!(!got.user[0].opaque);
    assert!(Facts::from_nft_json("", "").unwrap().rules.is_empty());
    assert!(Facts::from_nft_json("{", "").unwrap_err().contains("inet"));
}

//! berth's nftables ruleset as text for `nft -f`, and the element keys the netlink fast path
//! uses. The rules never change with the number of networks or ports; only elements do.

use super::{FirewallState, LinkRule, NetRule, PortRule};
use crate::sys::nftnl::{concat, ifname, Element, Family, SetChange};

pub const TABLE: &str = "berth";

/// The sets of the `inet berth` table and what each holds.
const INET_SETS: &[(&str, &str)] = &[
    ("bridges", "set inet berth bridges { type ifname; }"),
    ("same", "set inet berth same { type ifname . ifname; }"),
    ("internal", "set inet berth internal { type ifname; }"),
    ("masq", "set inet berth masq { type ifname; }"),
    (
        "hairpin4",
        "set inet berth hairpin4 { type ipv4_addr . ipv4_addr; }",
    ),
    (
        "hairpin6",
        "set inet berth hairpin6 { type ipv6_addr . ipv6_addr; }",
    ),
    (
        "ports4",
        "map inet berth ports4 { type inet_proto . inet_service : ipv4_addr . inet_service; }",
    ),
    (
        "hostports4",
        "map inet berth hostports4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }",
    ),
    (
        "ports6",
        "map inet berth ports6 { type inet_proto . inet_service : ipv6_addr . inet_service; }",
    ),
    (
        "hostports6",
        "map inet berth hostports6 { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }",
    ),
];

const CHAINS: &[(&str, &str)] = &[
    (
        "filter_forward",
        "{ type filter hook forward priority filter; policy accept; }",
    ),
    (
        "nat_prerouting",
        "{ type nat hook prerouting priority dstnat; policy accept; }",
    ),
    // nft 1.0.6 refuses `priority dstnat` on the output hook.
    (
        "nat_output",
        "{ type nat hook output priority -100; policy accept; }",
    ),
    (
        "nat_postrouting",
        "{ type nat hook postrouting priority srcnat; policy accept; }",
    ),
    ("publish", ""),
];

const RULES: &[(&str, &str)] = &[
    // The user's chain first, as Docker's DOCKER-USER.
    ("filter_forward", "jump user"),
    ("filter_forward", "ct state established,related accept"),
    ("filter_forward", "iifname . oifname @same accept"),
    ("filter_forward", "iifname @internal drop"),
    ("filter_forward", "oifname @internal drop"),
    ("filter_forward", "oifname @bridges ct status dnat accept"),
    // Isolation: nothing else enters a network from outside it, another network included.
    ("filter_forward", "oifname @bridges drop"),
    ("nat_prerouting", "fib daddr type local jump publish"),
    ("nat_output", "fib daddr type local jump publish"),
    // A mapping on one host address wins over one on every address.
    (
        "publish",
        "meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @hostports4",
    ),
    (
        "publish",
        "meta nfproto ipv4 dnat ip to meta l4proto . th dport map @ports4",
    ),
    (
        "publish",
        "meta nfproto ipv6 dnat ip6 to ip6 daddr . meta l4proto . th dport map @hostports6",
    ),
    (
        "publish",
        "meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @ports6",
    ),
    // Hairpin: a container reaching a published port of its own network through the host.
    (
        "nat_postrouting",
        "ct status dnat iifname . oifname @same masquerade",
    ),
    // A container reaching its own published port: it would drop a packet from its own
    // address. Bridged (br_netfilter) traffic has no input interface here, so the rule above
    // cannot see it; one element per publishing container does.
    (
        "nat_postrouting",
        "ct status dnat ip saddr . ip daddr @hairpin4 masquerade",
    ),
    (
        "nat_postrouting",
        "ct status dnat ip6 saddr . ip6 daddr @hairpin6 masquerade",
    ),
    // The host's 127.0.0.1 reaching a published port (the bridge has route_localnet).
    (
        "nat_postrouting",
        "oifname @bridges ip saddr 127.0.0.0/8 masquerade",
    ),
    (
        "nat_postrouting",
        "iifname @masq oifname != @bridges masquerade",
    ),
];

fn quoted(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("\"{n}\"")).collect()
}

/// The map a port goes into, and its element as nft text.
fn port_text(p: &PortRule) -> (&'static str, String) {
    let value = format!("{} . {}", p.container_ip, p.container_port);
    let v6 = p.container_ip.is_ipv6();
    match p.host_ip {
        Some(ip) => (
            if v6 { "hostports6" } else { "hostports4" },
            format!("{ip} . {} . {} : {value}", p.proto.name(), p.host_port),
        ),
        None => (
            if v6 { "ports6" } else { "ports4" },
            format!("{} . {} : {value}", p.proto.name(), p.host_port),
        ),
    }
}

/// The containers that publish, each once: the `hairpin4`/`hairpin6` set and its element.
fn hairpin_targets(ports: &[PortRule]) -> Vec<(&'static str, std::net::IpAddr)> {
    let mut v: Vec<(&'static str, std::net::IpAddr)> = Vec::new();
    for p in ports {
        let set = if p.container_ip.is_ipv6() {
            "hairpin6"
        } else {
            "hairpin4"
        };
        if !v.contains(&(set, p.container_ip)) {
            v.push((set, p.container_ip));
        }
    }
    v
}

fn ip_bytes(ip: &std::net::IpAddr) -> Vec<u8> {
    match ip {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The whole ruleset holding `state`, as one `nft -f` transaction that leaves the user chain
/// alone and the rest exactly as berth wants it.
pub fn full(state: &FirewallState) -> String {
    let mut out = String::new();
    out.push_str("add table inet berth\nadd chain inet berth user\n");
    for (_, decl) in INET_SETS {
        out.push_str(&format!("add {decl}\n"));
    }
    for (name, spec) in CHAINS {
        let line = format!("add chain inet berth {name} {spec}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for (name, _) in CHAINS {
        out.push_str(&format!("flush chain inet berth {name}\n"));
    }
    for (name, decl) in INET_SETS {
        let kind = if decl.starts_with("map") {
            "map"
        } else {
            "set"
        };
        out.push_str(&format!("flush {kind} inet berth {name}\n"));
    }
    for (chain, rule) in RULES {
        out.push_str(&format!("add rule inet berth {chain} {rule}\n"));
    }
    let nets = &state.networks;
    let pick = |f: &dyn Fn(&NetRule) -> bool| -> Vec<&str> {
        nets.iter()
            .filter(|n| f(n))
            .map(|n| n.bridge.as_str())
            .collect()
    };
    let element = |set: &str, items: Vec<String>, out: &mut String| {
        if !items.is_empty() {
            out.push_str(&format!(
                "add element inet berth {set} {{ {} }}\n",
                items.join(", ")
            ));
        }
    };
    let all = pick(&|_| true);
    element("bridges", quoted(&all), &mut out);
    element(
        "same",
        all.iter().map(|b| format!("\"{b}\" . \"{b}\"")).collect(),
        &mut out,
    );
    let internal = pick(&|n| n.internal);
    element("internal", quoted(&internal), &mut out);
    let masq = pick(&|n| n.masquerade && !n.internal);
    element("masq", quoted(&masq), &mut out);
    let texts: Vec<_> = state.ports.iter().map(port_text).collect();
    for map in ["ports4", "hostports4", "ports6", "hostports6"] {
        let items = texts
            .iter()
            .filter(|(m, _)| *m == map)
            .map(|(_, t)| t.clone())
            .collect();
        element(map, items, &mut out);
    }
    let hairpins = hairpin_targets(&state.ports);
    for set in ["hairpin4", "hairpin6"] {
        let items = hairpins
            .iter()
            .filter(|(s, _)| *s == set)
            .map(|(_, ip)| format!("{ip} . {ip}"))
            .collect();
        element(set, items, &mut out);
    }
    // ICC off: the bridge drops IP between the ports of such networks, without br_netfilter
    // (this kernel has no `meta ibrname`, so the set holds the containers' bridge ports);
    // `--link` opens the target's exposed ports to the linking container, and their answers.
    out.push_str(
        "add table bridge berth\n\
         add set bridge berth no_icc { type ifname; }\n\
         add set bridge berth links { type ifname . ifname . inet_proto . inet_service; }\n\
         add chain bridge berth forward { type filter hook forward priority 0; policy accept; }\n\
         flush chain bridge berth forward\n\
         flush set bridge berth no_icc\n\
         flush set bridge berth links\n\
         add rule bridge berth forward iifname . oifname . meta l4proto . th dport @links accept\n\
         add rule bridge berth forward oifname . iifname . meta l4proto . th sport @links accept\n\
         add rule bridge berth forward iifname @no_icc oifname @no_icc ether type { ip, ip6 } drop\n",
    );
    let ports: Vec<&str> = state.isolated_ports.iter().map(String::as_str).collect();
    if !ports.is_empty() {
        out.push_str(&format!(
            "add element bridge berth no_icc {{ {} }}\n",
            quoted(&ports).join(", ")
        ));
    }
    if !state.links.is_empty() {
        let items: Vec<String> = state
            .links
            .iter()
            .map(|l| {
                format!(
                    "\"{}\" . \"{}\" . {} . {}",
                    l.from,
                    l.to,
                    l.proto.name(),
                    l.port
                )
            })
            .collect();
        out.push_str(&format!(
            "add element bridge berth links {{ {} }}\n",
            items.join(", ")
        ));
    }
    out
}

fn set(family: Family, name: &str, add: bool, elements: Vec<Element>) -> SetChange {
    SetChange {
        family,
        table: TABLE.into(),
        set: name.into(),
        add,
        elements,
    }
}

fn key(bytes: Vec<u8>) -> Element {
    Element {
        key: bytes,
        data: None,
    }
}

/// The element changes that add or remove a network.
pub fn network_elements(n: &NetRule, add: bool) -> Vec<SetChange> {
    let b = ifname(&n.bridge);
    let mut v = vec![
        set(Family::Inet, "bridges", add, vec![key(b.clone())]),
        set(Family::Inet, "same", add, vec![key(concat(&[&b, &b]))]),
    ];
    if n.internal {
        v.push(set(Family::Inet, "internal", add, vec![key(b.clone())]));
    } else if n.masquerade {
        v.push(set(Family::Inet, "masq", add, vec![key(b.clone())]));
    }
    v
}

/// The element changes that put a bridge port into, or take it out of, ICC isolation.
pub fn isolated_port_elements(veth: &str, add: bool) -> Vec<SetChange> {
    vec![set(Family::Bridge, "no_icc", add, vec![key(ifname(veth))])]
}

/// The element changes that open or close `--link` holes in ICC isolation.
pub fn link_elements(links: &[LinkRule], add: bool) -> Vec<SetChange> {
    let elements = links
        .iter()
        .map(|l| {
            key(concat(&[
                &ifname(&l.from),
                &ifname(&l.to),
                &[l.proto.number()],
                &l.port.to_be_bytes(),
            ]))
        })
        .collect();
    vec![set(Family::Bridge, "links", add, elements)]
}

/// The element changes that publish or withdraw ports.
pub fn port_elements(ports: &[PortRule], add: bool) -> Vec<SetChange> {
    let mut maps: Vec<(&'static str, Vec<Element>)> = Vec::new();
    for p in ports {
        let proto = [p.proto.number()];
        let hport = p.host_port.to_be_bytes();
        let data = Some(concat(&[
            &ip_bytes(&p.container_ip),
            &p.container_port.to_be_bytes(),
        ]));
        let key = match p.host_ip {
            Some(ip) => concat(&[&ip_bytes(&ip), &proto, &hport]),
            None => concat(&[&proto, &hport]),
        };
        let (map, _) = port_text(p);
        match maps.iter_mut().find(|(m, _)| *m == map) {
            Some((_, v)) => v.push(Element { key, data }),
            None => maps.push((map, vec![Element { key, data }])),
        }
    }
    for (name, ip) in hairpin_targets(ports) {
        let b = ip_bytes(&ip);
        let e = Element {
            key: concat(&[&b, &b]),
            data: None,
        };
        match maps.iter_mut().find(|(m, _)| *m == name) {
            Some((_, v)) => v.push(e),
            None => maps.push((name, vec![e])),
        }
    }
    maps.into_iter()
        .map(|(m, elements)| set(Family::Inet, m, add, elements))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::Proto;

    #[test]
    fn full_ruleset_matches_golden() {
        let state = FirewallState {
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
                    container_ip: std::net::Ipv4Addr::new(172, 17, 0, 2).into(),
                    container_port: 80,
                },
                PortRule {
                    proto: Proto::Udp,
                    host_ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
                    host_port: 5353,
                    container_ip: std::net::Ipv4Addr::new(172, 17, 0, 3).into(),
                    container_port: 53,
                },
                PortRule {
                    proto: Proto::Tcp,
                    host_ip: None,
                    host_port: 8080,
                    container_ip: "fd00::2".parse().expect("v6"),
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
        let got = full(&state);
        if std::env::var_os("BERTH_UPDATE_GOLDEN").is_some() {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/firewall/testdata/full.nft"
            );
            std::fs::write(path, &got).expect("write golden file");
        }
        let golden = include_str!("testdata/full.nft");
        assert_eq!(
            got, golden,
            "if the change is intended, rerun with BERTH_UPDATE_GOLDEN=1"
        );
    }
}

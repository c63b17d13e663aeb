//! DOT of `network graph` for graphviz: the host and networks, containers grouped by the host
//! they run on (a `cluster_` subgraph per node in a cluster), an edge per interface.

use super::svg::{buses, net_flags, net_label};
use super::{cards, hosts, Topology};
use std::fmt::Write as _;

fn dot_id(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// DOT for graphviz: networks and containers as nodes, an edge per interface, links dashed;
/// in a cluster each node's containers in a subgraph of their own.
pub fn dot(t: &Topology) -> String {
    let mut s = String::from("graph berth {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    let _ = writeln!(
        s,
        "  host [shape=house, label={}];",
        dot_id(&format!(
            "host {}\\n{}",
            t.host.name,
            t.host
                .addrs
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join("\\n")
        ))
    );
    for n in buses(t) {
        let style = if n.internal { ", style=dashed" } else { "" };
        let _ = writeln!(
            s,
            "  {} [shape=box{style}, label={}];\n  host -- {} [style=dotted];",
            dot_id(&format!("net:{}", n.name)),
            dot_id(&format!("{}\\n{}\\n{}", n.name, net_label(n), net_flags(n))),
            dot_id(&format!("net:{}", n.name)),
        );
    }
    let all = cards(t);
    let framed = t.cluster.is_some();
    for (h, g) in hosts(t).iter().enumerate() {
        let mine: Vec<&super::Card> = all.iter().filter(|c| c.host == h).collect();
        if mine.is_empty() {
            continue;
        }
        if framed {
            let style = if g.gone { " style=dashed;" } else { "" };
            let _ = writeln!(
                s,
                "  subgraph {} {{\n    label={};{style}",
                dot_id(&format!("cluster_host{h}")),
                dot_id(&g.label)
            );
        }
        for c in &mine {
            let _ = writeln!(s, "  {}", container_node(c));
        }
        if framed {
            s.push_str("  }\n");
        }
    }
    for c in &all {
        edges(&mut s, c);
    }
    s.push_str("}\n");
    s
}

fn container_node(c: &super::ContainerView) -> String {
    let mut label = vec![if c.running {
        c.name.clone()
    } else {
        format!("{} ({})", c.name, c.status)
    }];
    label.extend(c.ports.iter().map(|p| {
        format!(
            "{}:{} -> {}/{}",
            p.host_ip, p.host_port, p.container_port, p.proto
        )
    }));
    let style = if c.running { "" } else { ", style=dashed" };
    format!(
        "  {} [shape=component{style}, label={}];",
        dot_id(&format!("ctr:{}", c.name)),
        dot_id(&label.join("\\n"))
    )
}

fn edges(s: &mut String, c: &super::ContainerView) {
    for e in &c.endpoints {
        let ifname = if e.ifname.is_empty() {
            &e.network
        } else {
            &e.ifname
        };
        let mut l = format!("{ifname} {}", e.addrs_text());
        if !e.aliases.is_empty() {
            l.push_str(&format!("\\naka {}", e.aliases.join(", ")));
        }
        let _ = writeln!(
            s,
            "  {} -- {} [label={}];",
            dot_id(&format!("ctr:{}", c.name)),
            dot_id(&format!("net:{}", e.network)),
            dot_id(&l)
        );
    }
    for l in &c.links {
        let _ = writeln!(
            s,
            "  {} -- {} [style=dashed, dir=forward, label={}];",
            dot_id(&format!("ctr:{}", c.name)),
            dot_id(&format!("ctr:{}", l.target)),
            dot_id(&format!("--link {}", l.alias))
        );
    }
}

//! The SVG of `network graph`, laid out here: networks as horizontal buses, containers as
//! cards below them with a drop to each network they are on, grouped by the host they run on
//! (in a cluster, the other hosts' containers on overlay networks too), published ports,
//! links, aliases, and a legend.

use super::{hosts, Card, ContainerView, NetworkView, Topology};
use std::fmt::Write as _;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

/// The networks drawn as buses: bridge networks (host and none have no bus).
pub(super) fn buses(t: &Topology) -> Vec<&NetworkView> {
    t.networks.iter().filter(|n| n.bridge.is_some()).collect()
}

pub(super) fn net_label(n: &NetworkView) -> String {
    let subnets: Vec<String> = n
        .subnets
        .iter()
        .map(|s| format!("{} gw {}", s.subnet, s.gateway))
        .collect();
    subnets.join(", ")
}

pub(super) fn net_flags(n: &NetworkView) -> String {
    let mut f = vec![format!(
        "{} · {}",
        n.driver,
        n.bridge.clone().unwrap_or_default()
    )];
    if n.internal {
        f.push("internal".into());
    }
    if !n.icc {
        f.push("ICC off".into());
    }
    if !n.masquerade && !n.internal {
        f.push("no masquerade".into());
    }
    if let Some(o) = &n.overlay {
        f.push(format!("VNI {} over {}", o.vni, o.vxlan));
    }
    f.join(" · ")
}

/// The lines of a container's card, below its name.
fn card_lines(c: &ContainerView) -> Vec<(String, Option<usize>)> {
    let mut lines = Vec::new();
    for (i, e) in c.endpoints.iter().enumerate() {
        let addr = e.addrs_text();
        // Another host's endpoint: its interface name is that host's to know.
        let ifname = if e.ifname.is_empty() {
            &e.network
        } else {
            &e.ifname
        };
        lines.push((format!("{ifname} {addr}"), Some(i)));
        if !e.aliases.is_empty() {
            lines.push((format!("  aka {}", e.aliases.join(", ")), Some(i)));
        }
    }
    if c.endpoints.is_empty() {
        let mode = if c.running {
            format!("--network {}", c.network_mode)
        } else {
            format!("wants {}", c.networks.join(", "))
        };
        lines.push((mode, None));
    }
    for p in &c.ports {
        lines.push((
            format!(
                "⇢ {}:{} → {}/{}",
                p.host_ip, p.host_port, p.container_port, p.proto
            ),
            None,
        ));
    }
    for l in &c.links {
        lines.push((format!("link {} as {}", l.target, l.alias), None));
    }
    lines
}

const CARD_W: usize = 190;
const GAP: usize = 24;
const LEFT: usize = 250;
const BUS_DY: usize = 44;
const LINE_H: usize = 15;

/// The SVG, laid out in layers: title and host, one bus per network, then the containers'
/// cards in one row (grouped by host, then by their first network) with a drop from each
/// interface to its network's bus, a frame around each host's cards in a cluster, links as
/// dashed arcs under the cards, and a legend.
pub fn svg(t: &Topology) -> String {
    let nets = buses(t);
    let color = |id: &str| {
        nets.iter()
            .position(|n| n.id == id)
            .map(|i| PALETTE[i % PALETTE.len()])
            .unwrap_or("#777")
    };
    let bus_y = |id: &str| {
        nets.iter()
            .position(|n| n.id == id)
            .map(|i| 110 + i * BUS_DY)
    };
    let mut ctrs: Vec<Card> = super::cards(t);
    let first_net = |c: &ContainerView| {
        c.endpoints
            .first()
            .and_then(|e| nets.iter().position(|n| n.id == e.network_id))
            .unwrap_or(usize::MAX)
    };
    ctrs.sort_by_key(|c| (c.host, first_net(c), !c.running, c.name.clone()));
    let groups = hosts(t);
    // In a cluster the cards sit in host frames, each with a title line above its cards.
    let framed = t.cluster.is_some();
    let cards_top = 110 + nets.len().max(1) * BUS_DY + if framed { 56 } else { 30 };
    let heights: Vec<usize> = ctrs
        .iter()
        .map(|c| 30 + card_lines(c).len() * LINE_H + 6)
        .collect();
    let tallest = heights.iter().copied().max().unwrap_or(40);
    let links_top = cards_top + tallest + 20;
    let has_links = ctrs.iter().any(|c| !c.links.is_empty());
    let legend_top = links_top + if has_links { 70 } else { 10 };
    let width =
        (LEFT + ctrs.len().max(3) * (CARD_W + GAP) + 20).max(if framed { 1040 } else { 920 });
    let height = legend_top + if framed { 130 } else { 120 };
    let x_of = |i: usize| LEFT + i * (CARD_W + GAP);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="20" y="30" font-size="18" font-weight="bold">berth network topology</text>"#
    );
    let host = format!(
        "host {} · {} · firewall {}",
        if t.host.name.is_empty() {
            "(unnamed)"
        } else {
            &t.host.name
        },
        if t.host.addrs.is_empty() {
            "no other addresses".to_string()
        } else {
            t.host
                .addrs
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        },
        if t.host.firewall { "on" } else { "off" }
    );
    let _ = writeln!(
        s,
        r##"<rect x="20" y="46" width="{}" height="30" rx="6" fill="#f4f4f4" stroke="#444"/><text x="32" y="66">{}</text>"##,
        width - 40,
        esc(&host)
    );
    for (i, n) in nets.iter().enumerate() {
        let y = 110 + i * BUS_DY;
        let c = PALETTE[i % PALETTE.len()];
        let dash = if n.internal {
            r#" stroke-dasharray="8 5""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r##"<text x="20" y="{}" font-weight="bold" fill="{c}">{}</text><text x="20" y="{}" font-size="10" fill="#333">{}</text><text x="20" y="{}" font-size="10" fill="#333">{}</text>"##,
            y - 10,
            esc(&n.name),
            y + 3,
            esc(&net_label(n)),
            y + 15,
            esc(&net_flags(n)),
        );
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{c}" stroke-width="4"{dash}/>"#,
            LEFT - 20,
            width - 20
        );
        // The host sits on every bridge through its gateway address.
        let _ = writeln!(
            s,
            r##"<line x1="{}" y1="76" x2="{}" y2="{y}" stroke="#444" stroke-width="1"/><circle cx="{}" cy="{y}" r="4" fill="#444"/>"##,
            LEFT - 30 + i * 3,
            LEFT - 30 + i * 3,
            LEFT - 30 + i * 3
        );
    }
    if framed {
        // One frame per host around its run of cards (hosts without containers get none).
        for (h, g) in groups.iter().enumerate() {
            let mine: Vec<usize> = (0..ctrs.len()).filter(|&k| ctrs[k].host == h).collect();
            let (Some(&a), Some(&b)) = (mine.first(), mine.last()) else {
                continue;
            };
            let (x1, x2) = (x_of(a) - 8, x_of(b) + CARD_W + 8);
            let (fill, dash) = if g.gone {
                ("#f3f3f3", r#" stroke-dasharray="6 4""#)
            } else {
                ("#f7fbff", "")
            };
            let _ = writeln!(
                s,
                r##"<rect x="{x1}" y="{}" width="{}" height="{}" rx="8" fill="{fill}" stroke="#6b7b8c"{dash}/><text x="{}" y="{}" font-size="11" font-weight="bold" fill="#334">{}</text>"##,
                cards_top - 26,
                x2 - x1,
                tallest + 34,
                x1 + 8,
                cards_top - 10,
                esc(&g.label)
            );
        }
    }
    for (i, c) in ctrs.iter().enumerate() {
        let x = x_of(i);
        let h = heights[i];
        let (fill, stroke, dash) = if c.running {
            ("#fffdf5", "#333", "")
        } else {
            ("#eeeeee", "#999", r#" stroke-dasharray="4 3""#)
        };
        let lines = card_lines(c);
        // Drops first, so the card covers their ends.
        for (k, e) in c.endpoints.iter().enumerate() {
            if let Some(by) = bus_y(&e.network_id) {
                let dx = x + 16 + k * 14;
                let col = color(&e.network_id);
                let _ = writeln!(
                    s,
                    r#"<line x1="{dx}" y1="{by}" x2="{dx}" y2="{cards_top}" stroke="{col}" stroke-width="2"/><circle cx="{dx}" cy="{by}" r="5" fill="{col}"/>"#
                );
            }
        }
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{cards_top}" width="{CARD_W}" height="{h}" rx="6" fill="{fill}" stroke="{stroke}"{dash}/>"#
        );
        let title = if c.running {
            c.name.clone()
        } else {
            format!("{} ({})", c.name, c.status)
        };
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-weight="bold">{}</text>"#,
            x + 8,
            cards_top + 18,
            esc(&title)
        );
        for (j, (text, ep)) in lines.iter().enumerate() {
            let col = ep
                .and_then(|k| c.endpoints.get(k))
                .map(|e| color(&e.network_id))
                .unwrap_or("#333");
            let weight = if text.starts_with('⇢') {
                r#" font-weight="bold""#
            } else {
                ""
            };
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" font-size="11" fill="{col}"{weight}>{}</text>"#,
                x + 8,
                cards_top + 36 + j * LINE_H,
                esc(text)
            );
        }
    }
    let pos = |name: &str| ctrs.iter().position(|c| c.name == name);
    for (i, c) in ctrs.iter().enumerate() {
        for l in &c.links {
            let Some(j) = pos(&l.target) else { continue };
            let (x1, x2) = (x_of(i) + CARD_W / 2, x_of(j) + CARD_W / 2);
            let top = cards_top + heights[i].max(heights[j]);
            let depth = links_top + 40;
            let _ = writeln!(
                s,
                r##"<path d="M {x1} {top} C {x1} {depth}, {x2} {depth}, {x2} {} " fill="none" stroke="#555" stroke-dasharray="5 4" marker-end="url(#arrow)"/><text x="{}" y="{}" font-size="10" fill="#555">--link {}</text>"##,
                cards_top + heights[j],
                (x1 + x2) / 2 - 20,
                depth - 4,
                esc(&l.alias)
            );
        }
    }
    let _ = writeln!(
        s,
        r##"<defs><marker id="arrow" markerWidth="10" markerHeight="8" refX="8" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>"##
    );
    let ly = legend_top;
    let _ = writeln!(
        s,
        r##"<g font-size="11"><rect x="20" y="{ly}" width="{}" height="{}" rx="6" fill="#fafafa" stroke="#bbb"/><text x="32" y="{}" font-weight="bold">legend</text>
<line x1="32" y1="{}" x2="80" y2="{}" stroke="#1f77b4" stroke-width="4"/><text x="88" y="{}">bridge network (bus): name, subnet and gateway, driver and bridge</text>
<line x1="32" y1="{}" x2="80" y2="{}" stroke="#1f77b4" stroke-width="4" stroke-dasharray="8 5"/><text x="88" y="{}">internal network (nothing in or out)</text>
<circle cx="56" cy="{}" r="5" fill="#1f77b4"/><text x="88" y="{}">an interface of the container on that network (card: ethN and address)</text>
<rect x="560" y="{}" width="40" height="16" rx="3" fill="#eeeeee" stroke="#999" stroke-dasharray="4 3"/><text x="608" y="{}">stopped container</text>
<text x="560" y="{}" font-weight="bold">⇢</text><text x="576" y="{}">published port: host address:port → container port</text>
<line x1="560" y1="{}" x2="600" y2="{}" stroke="#555" stroke-dasharray="5 4"/><text x="608" y="{}">--link (linker → target, alias)</text>{}</g>"##,
        if framed { 1000 } else { 880 },
        if framed { 106 } else { 96 },
        ly + 18,
        ly + 34,
        ly + 34,
        ly + 38,
        ly + 54,
        ly + 54,
        ly + 58,
        ly + 74,
        ly + 78,
        ly + 26,
        ly + 38,
        ly + 58,
        ly + 58,
        ly + 74,
        ly + 74,
        ly + 78,
        if framed {
            format!(
                r##"<rect x="560" y="{}" width="40" height="14" rx="4" fill="#f7fbff" stroke="#6b7b8c"/><text x="608" y="{}">a cluster node and the containers on it (dashed: its lease expired)</text>"##,
                ly + 84,
                ly + 95
            )
        } else {
            String::new()
        },
    );
    s.push_str("</svg>\n");
    s
}

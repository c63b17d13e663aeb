//! The firewall's facts in one shape, whether they come from berth's records (what it
//! programmed) or are read back from the kernel (`nft -j list table …`): which fixed rules
//! exist, what each set and map holds, and the user's own chain. The verdict is evaluated over
//! either, and the two answers compared.

use super::userchain::{parse_user_rule, UserRule};
use crate::firewall::{FirewallState, Proto};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The fixed rules of berth's tables that decide reachability, by what they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// `filter_forward jump user`
    JumpUser,
    /// `filter_forward ct state established,related accept`
    Established,
    /// `filter_forward iifname . oifname @same accept`
    SameAccept,
    /// `filter_forward iifname @internal drop`
    InternalFrom,
    /// `filter_forward oifname @internal drop`
    InternalTo,
    /// `filter_forward oifname @bridges ct status dnat accept`
    DnatAccept,
    /// `filter_forward oifname @bridges drop`
    IsolateDrop,
    /// `nat_prerouting fib daddr type local jump publish`
    PublishPrerouting,
    /// `nat_output fib daddr type local jump publish`
    PublishOutput,
    /// The four `publish` DNAT rules.
    PublishHost4,
    PublishAny4,
    PublishHost6,
    PublishAny6,
    /// `nat_postrouting iifname @masq oifname != @bridges masquerade`
    Masquerade,
    /// `bridge berth forward … @links accept` (both directions)
    LinksForward,
    LinksReply,
    /// `bridge berth forward iifname @no_icc oifname @no_icc … drop`
    NoIccDrop,
}

impl Rule {
    pub const ALL: [Rule; 17] = [
        Rule::JumpUser,
        Rule::Established,
        Rule::SameAccept,
        Rule::InternalFrom,
        Rule::InternalTo,
        Rule::DnatAccept,
        Rule::IsolateDrop,
        Rule::PublishPrerouting,
        Rule::PublishOutput,
        Rule::PublishHost4,
        Rule::PublishAny4,
        Rule::PublishHost6,
        Rule::PublishAny6,
        Rule::Masquerade,
        Rule::LinksForward,
        Rule::LinksReply,
        Rule::NoIccDrop,
    ];

    /// The rule as `nft list` shows it, to name it in a report.
    pub fn text(self) -> &'static str {
        match self {
            Rule::JumpUser => "inet berth filter_forward: jump user",
            Rule::Established => "inet berth filter_forward: ct state established,related accept",
            Rule::SameAccept => "inet berth filter_forward: iifname . oifname @same accept",
            Rule::InternalFrom => "inet berth filter_forward: iifname @internal drop",
            Rule::InternalTo => "inet berth filter_forward: oifname @internal drop",
            Rule::DnatAccept => "inet berth filter_forward: oifname @bridges ct status dnat accept",
            Rule::IsolateDrop => "inet berth filter_forward: oifname @bridges drop",
            Rule::PublishPrerouting => "inet berth nat_prerouting: fib daddr type local jump publish",
            Rule::PublishOutput => "inet berth nat_output: fib daddr type local jump publish",
            Rule::PublishHost4 => "inet berth publish: dnat ip to ip daddr . meta l4proto . th dport map @hostports4",
            Rule::PublishAny4 => "inet berth publish: dnat ip to meta l4proto . th dport map @ports4",
            Rule::PublishHost6 => "inet berth publish: dnat ip6 to ip6 daddr . meta l4proto . th dport map @hostports6",
            Rule::PublishAny6 => "inet berth publish: dnat ip6 to meta l4proto . th dport map @ports6",
            Rule::Masquerade => "inet berth nat_postrouting: iifname @masq oifname != @bridges masquerade",
            Rule::LinksForward => "bridge berth forward: iifname . oifname . meta l4proto . th dport @links accept",
            Rule::LinksReply => "bridge berth forward: oifname . iifname . meta l4proto . th sport @links accept",
            Rule::NoIccDrop => "bridge berth forward: iifname @no_icc oifname @no_icc drop",
        }
    }
}

/// One DNAT entry: (host address or None for any local address, proto, host port) → target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dnat {
    pub host_ip: Option<IpAddr>,
    pub proto: Proto,
    pub host_port: u16,
    pub to: IpAddr,
    pub to_port: u16,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub rules: BTreeSet<Rule>,
    pub bridges: BTreeSet<String>,
    /// Bridges whose `b . b` element is in `same`.
    pub same: BTreeSet<String>,
    pub internal: BTreeSet<String>,
    pub masq: BTreeSet<String>,
    pub no_icc: BTreeSet<String>,
    /// `from-veth . to-veth . proto . port`
    pub links: BTreeSet<(String, String, Proto, u16)>,
    pub dnat: BTreeSet<Dnat>,
    /// The user chain, in order (berth never writes it; both sides read it from the kernel).
    pub user: Vec<UserRule>,
}

impl Facts {
    /// What berth's tables hold when they hold exactly what berth programmed.
    pub fn from_model(st: &FirewallState) -> Facts {
        let mut f = Facts {
            rules: Rule::ALL.into_iter().collect(),
            ..Facts::default()
        };
        for n in &st.networks {
            f.bridges.insert(n.bridge.clone());
            f.same.insert(n.bridge.clone());
            if n.internal {
                f.internal.insert(n.bridge.clone());
            }
            // An internal network's traffic never leaves, so it is never masqueraded.
            if n.masquerade && !n.internal {
                f.masq.insert(n.bridge.clone());
            }
        }
        f.no_icc = st.isolated_ports.iter().cloned().collect();
        f.links = st
            .links
            .iter()
            .map(|l| (l.from.clone(), l.to.clone(), l.proto, l.port))
            .collect();
        f.dnat = st
            .ports
            .iter()
            .map(|p| Dnat {
                host_ip: p.host_ip,
                proto: p.proto,
                host_port: p.host_port,
                to: p.container_ip,
                to_port: p.container_port,
            })
            .collect();
        f
    }

    /// Reads the facts back from `nft -j list table inet berth` and `… bridge berth`. A
    /// missing table (empty text) is simply a table with nothing in it.
    pub fn from_nft_json(inet: &str, bridge: &str) -> Result<Facts, String> {
        let mut f = Facts::default();
        for (family, text) in [("inet", inet), ("bridge", bridge)] {
            if text.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(text)
                .map_err(|e| format!("cannot parse nft's JSON for table {family} berth: {e}"))?;
            let items = v["nftables"].as_array().cloned().unwrap_or_default();
            for item in &items {
                if let Some(set) = item.get("set").or_else(|| item.get("map")) {
                    f.read_set(family, set);
                } else if let Some(rule) = item.get("rule") {
                    f.read_rule(family, rule);
                }
            }
        }
        Ok(f)
    }

    fn read_set(&mut self, family: &str, set: &Value) {
        let name = set["name"].as_str().unwrap_or_default();
        let elems = set["elem"].as_array().cloned().unwrap_or_default();
        let strings = |e: &Value| -> Vec<String> {
            match e.get("concat").and_then(Value::as_array) {
                Some(parts) => parts.iter().map(scalar).collect(),
                None => vec![scalar(e)],
            }
        };
        for e in &elems {
            // Elements with timeouts or comments come as {"elem": {"val": …}}.
            let e = e.get("elem").and_then(|x| x.get("val")).unwrap_or(e);
            match (family, name) {
                ("inet", "bridges") => {
                    self.bridges.insert(scalar(e));
                }
                ("inet", "internal") => {
                    self.internal.insert(scalar(e));
                }
                ("inet", "masq") => {
                    self.masq.insert(scalar(e));
                }
                ("inet", "same") => {
                    let p = strings(e);
                    if p.len() == 2 && p[0] == p[1] {
                        self.same.insert(p[0].clone());
                    }
                }
                ("bridge", "no_icc") => {
                    self.no_icc.insert(scalar(e));
                }
                ("bridge", "links") => {
                    let p = strings(e);
                    if let (4, Some(proto), Ok(port)) = (
                        p.len(),
                        proto_of(p.get(2)),
                        p.get(3).map_or(Ok(0), |s| s.parse()),
                    ) {
                        self.links.insert((p[0].clone(), p[1].clone(), proto, port));
                    }
                }
                ("inet", "ports4" | "ports6" | "hostports4" | "hostports6") => {
                    if let Some(d) = dnat_of(name.starts_with("host"), e) {
                        self.dnat.insert(d);
                    }
                }
                _ => {}
            }
        }
    }

    fn read_rule(&mut self, family: &str, rule: &Value) {
        let chain = rule["chain"].as_str().unwrap_or_default();
        let exprs = rule["expr"].as_array().cloned().unwrap_or_default();
        let sig = exprs.iter().map(render).collect::<Vec<_>>().join(" ; ");
        let has = |s: &str| sig.contains(s);
        let accept = has("accept");
        let drop = has("drop");
        let found = match (family, chain) {
            ("inet", "user") => {
                self.user.push(parse_user_rule(&exprs, &sig));
                None
            }
            ("inet", "filter_forward") => {
                if has("jump user") {
                    Some(Rule::JumpUser)
                } else if has("ct state") && has("established") && accept {
                    Some(Rule::Established)
                } else if has("iifname . oifname == @same") && accept {
                    Some(Rule::SameAccept)
                } else if has("iifname == @internal") && drop {
                    Some(Rule::InternalFrom)
                } else if has("oifname == @internal") && drop {
                    Some(Rule::InternalTo)
                } else if has("oifname == @bridges") && has("ct status") && accept {
                    Some(Rule::DnatAccept)
                } else if has("oifname == @bridges") && drop && !has("ct status") {
                    Some(Rule::IsolateDrop)
                } else {
                    None
                }
            }
            ("inet", "nat_prerouting") if has("jump publish") => Some(Rule::PublishPrerouting),
            ("inet", "nat_output") if has("jump publish") => Some(Rule::PublishOutput),
            ("inet", "publish") => [
                ("@hostports4", Rule::PublishHost4),
                ("@ports4", Rule::PublishAny4),
                ("@hostports6", Rule::PublishHost6),
                ("@ports6", Rule::PublishAny6),
            ]
            .into_iter()
            .find(|(set, _)| sig.contains(&format!("{set} ")) || sig.ends_with(set))
            .map(|(_, r)| r),
            ("inet", "nat_postrouting") if has("iifname == @masq") && has("masquerade") => {
                Some(Rule::Masquerade)
            }
            ("bridge", "forward") if has("@links") && accept && has("dport") => {
                Some(Rule::LinksForward)
            }
            ("bridge", "forward") if has("@links") && accept && has("sport") => {
                Some(Rule::LinksReply)
            }
            ("bridge", "forward") if has("@no_icc") && drop => Some(Rule::NoIccDrop),
            _ => None,
        };
        if let Some(r) = found {
            self.rules.insert(r);
        }
    }

    /// What the kernel has that the model does not, and the other way round: one line each,
    /// worded for a person. The user chain is left out (berth never writes it).
    pub fn differences(model: &Facts, kernel: &Facts) -> Vec<String> {
        let mut out = Vec::new();
        for r in &model.rules {
            if !kernel.rules.contains(r) {
                out.push(format!("rule missing from the kernel: {}", r.text()));
            }
        }
        fn sets<T: Ord + std::fmt::Debug>(
            out: &mut Vec<String>,
            what: &str,
            m: &BTreeSet<T>,
            k: &BTreeSet<T>,
            show: impl Fn(&T) -> String,
        ) {
            for x in m.difference(k) {
                out.push(format!(
                    "element missing from the kernel's {what}: {}",
                    show(x)
                ));
            }
            for x in k.difference(m) {
                out.push(format!(
                    "element in the kernel's {what} that berth did not add: {}",
                    show(x)
                ));
            }
        }
        let s = |x: &String| x.clone();
        sets(
            &mut out,
            "inet berth bridges",
            &model.bridges,
            &kernel.bridges,
            s,
        );
        sets(
            &mut out,
            "inet berth same",
            &model.same,
            &kernel.same,
            |x| format!("{x} . {x}"),
        );
        sets(
            &mut out,
            "inet berth internal",
            &model.internal,
            &kernel.internal,
            s,
        );
        sets(&mut out, "inet berth masq", &model.masq, &kernel.masq, s);
        sets(
            &mut out,
            "bridge berth no_icc",
            &model.no_icc,
            &kernel.no_icc,
            s,
        );
        sets(
            &mut out,
            "bridge berth links",
            &model.links,
            &kernel.links,
            |(a, b, p, n)| format!("{a} . {b} . {} . {n}", p.name()),
        );
        sets(
            &mut out,
            "published-port maps",
            &model.dnat,
            &kernel.dnat,
            |d| {
                let host = d.host_ip.map(|i| format!("{i} . ")).unwrap_or_default();
                format!(
                    "{host}{} . {} : {} . {}",
                    d.proto.name(),
                    d.host_port,
                    d.to,
                    d.to_port
                )
            },
        );
        out
    }
}

fn proto_of(v: Option<&String>) -> Option<Proto> {
    match v.map(String::as_str) {
        Some("tcp") | Some("6") => Some(Proto::Tcp),
        Some("udp") | Some("17") => Some(Proto::Udp),
        _ => None,
    }
}

/// A map element `[key, value]` of the published-port maps.
fn dnat_of(with_host: bool, e: &Value) -> Option<Dnat> {
    let pair = e.as_array()?;
    let parts = |v: &Value| -> Vec<String> {
        v.get("concat")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(scalar).collect())
            .unwrap_or_default()
    };
    let key = parts(pair.first()?);
    let val = parts(pair.get(1)?);
    let (host_ip, rest) = if with_host {
        (Some(key.first()?.parse().ok()?), &key[1..])
    } else {
        (None, &key[..])
    };
    Some(Dnat {
        host_ip,
        proto: proto_of(rest.first())?,
        host_port: rest.get(1)?.parse().ok()?,
        to: val.first()?.parse().ok()?,
        to_port: val.get(1)?.parse().ok()?,
    })
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => render(other),
    }
}

/// A compact text form of one nft JSON expression, close to `nft list`'s own, so that rules
/// are recognised by what they say rather than by their exact JSON.
pub fn render(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(render).collect::<Vec<_>>().join(","),
        Value::Object(m) => {
            let Some((k, inner)) = m.iter().next() else {
                return String::new();
            };
            match k.as_str() {
                "match" => {
                    let op = match inner["op"].as_str().unwrap_or("==") {
                        "in" => "==",
                        o => o,
                    };
                    format!(
                        "{} {op} {}",
                        render(&inner["left"]),
                        render(&inner["right"])
                    )
                }
                "meta" => inner["key"].as_str().unwrap_or_default().to_string(),
                "payload" => format!(
                    "{} {}",
                    inner["protocol"].as_str().unwrap_or_default(),
                    inner["field"].as_str().unwrap_or_default()
                ),
                "ct" => format!("ct {}", inner["key"].as_str().unwrap_or_default()),
                "concat" => inner
                    .as_array()
                    .map(|a| a.iter().map(render).collect::<Vec<_>>().join(" . "))
                    .unwrap_or_default(),
                "set" => format!("{{ {} }}", render(inner)),
                "prefix" => format!("{}/{}", render(&inner["addr"]), render(&inner["len"])),
                "range" => inner
                    .as_array()
                    .map(|a| a.iter().map(render).collect::<Vec<_>>().join("-"))
                    .unwrap_or_default(),
                "jump" | "goto" => format!("{k} {}", inner["target"].as_str().unwrap_or_default()),
                "dnat" | "snat" => format!("{k} {}", render(&inner["addr"])),
                "map" => format!("{} map {}", render(&inner["key"]), render(&inner["data"])),
                "counter" => "counter".into(),
                other => other.to_string(),
            }
        }
    }
}

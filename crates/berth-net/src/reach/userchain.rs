//! The user's chain (`inet berth user`, like DOCKER-USER): berth never writes it, so its rules
//! are read back from the kernel and evaluated for the packet in question. Matches on
//! interfaces, addresses, protocol and ports are understood; a rule with anything else is
//! reported as one that could not be evaluated rather than guessed at.

use crate::firewall::Proto;
use ipnet::IpNet;
use serde_json::Value;
use std::net::IpAddr;

/// One packet as the forward hook sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub iif: String,
    pub oif: String,
    pub saddr: IpAddr,
    pub daddr: IpAddr,
    /// None: an ICMP echo.
    pub proto: Option<Proto>,
    pub dport: Option<u16>,
}

#[derive(Debug, Clone, PartialEq)]
enum Cond {
    Iif(Vec<String>, bool),
    Oif(Vec<String>, bool),
    Saddr(Vec<IpNet>, bool),
    Daddr(Vec<IpNet>, bool),
    /// `meta l4proto tcp`, `ip protocol icmp`…: the protocol's name.
    Proto(Vec<String>, bool),
    Dport(Vec<(u16, u16)>, bool),
    Sport(Vec<(u16, u16)>, bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserVerdict {
    Accept,
    Drop,
    Reject,
    Return,
    /// Counters and logs only: evaluation goes on.
    Continue,
    /// A jump elsewhere or a statement berth does not evaluate.
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserRule {
    /// The rule as text (close to `nft list`'s).
    pub text: String,
    conds: Vec<Cond>,
    pub verdict: UserVerdict,
    /// Some match was not understood.
    pub opaque: bool,
}

/// What the user chain does with a packet.
#[derive(Debug, Clone, PartialEq)]
pub enum UserOutcome {
    /// No verdict (or `return`, or `accept`): the base chain goes on or accepts.
    Pass,
    /// A rule drops or rejects it.
    Blocked(String),
}

fn names(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Number(n) => vec![n.to_string()],
        Value::Object(m) if m.contains_key("set") => m["set"]
            .as_array()
            .map(|a| a.iter().flat_map(names).collect())
            .unwrap_or_default(),
        _ => vec![],
    }
}

fn nets(v: &Value) -> Option<Vec<IpNet>> {
    match v {
        Value::String(s) => {
            let ip: IpAddr = s.parse().ok()?;
            Some(vec![IpNet::from(ip)])
        }
        Value::Object(m) if m.contains_key("prefix") => {
            let p = &m["prefix"];
            let ip: IpAddr = p["addr"].as_str()?.parse().ok()?;
            let len = u8::try_from(p["len"].as_u64()?).ok()?;
            Some(vec![IpNet::new(ip, len).ok()?.trunc()])
        }
        Value::Object(m) if m.contains_key("set") => {
            let mut out = Vec::new();
            for x in m["set"].as_array()? {
                out.extend(nets(x)?);
            }
            Some(out)
        }
        _ => None,
    }
}

fn ports(v: &Value) -> Option<Vec<(u16, u16)>> {
    match v {
        Value::Number(n) => {
            let p = u16::try_from(n.as_u64()?).ok()?;
            Some(vec![(p, p)])
        }
        Value::Object(m) if m.contains_key("range") => {
            let r = m["range"].as_array()?;
            let lo = u16::try_from(r.first()?.as_u64()?).ok()?;
            let hi = u16::try_from(r.get(1)?.as_u64()?).ok()?;
            Some(vec![(lo, hi)])
        }
        Value::Object(m) if m.contains_key("set") => {
            let mut out = Vec::new();
            for x in m["set"].as_array()? {
                out.extend(ports(x)?);
            }
            Some(out)
        }
        _ => None,
    }
}

fn cond_of(m: &Value) -> Option<Vec<Cond>> {
    let neg = m["op"].as_str() == Some("!=");
    if !matches!(m["op"].as_str(), Some("==" | "!=" | "in")) {
        return None;
    }
    let left = &m["left"];
    let right = &m["right"];
    if let Some(key) = left.get("meta").and_then(|x| x["key"].as_str()) {
        return match key {
            "iifname" => Some(vec![Cond::Iif(names(right), neg)]),
            "oifname" => Some(vec![Cond::Oif(names(right), neg)]),
            "l4proto" => Some(vec![Cond::Proto(names(right), neg)]),
            "nfproto" => Some(vec![]),
            _ => None,
        };
    }
    let p = left.get("payload")?;
    let (proto, field) = (p["protocol"].as_str()?, p["field"].as_str()?);
    match (proto, field) {
        ("ip" | "ip6", "saddr") => Some(vec![Cond::Saddr(nets(right)?, neg)]),
        ("ip" | "ip6", "daddr") => Some(vec![Cond::Daddr(nets(right)?, neg)]),
        ("ip", "protocol") | ("ip6", "nexthdr") => Some(vec![Cond::Proto(names(right), neg)]),
        ("tcp" | "udp" | "th", "dport" | "sport") => {
            let mut v = Vec::new();
            if proto != "th" {
                v.push(Cond::Proto(vec![proto.to_string()], false));
            }
            let range = ports(right)?;
            v.push(if field == "dport" {
                Cond::Dport(range, neg)
            } else {
                Cond::Sport(range, neg)
            });
            Some(v)
        }
        _ => None,
    }
}

/// Reads one rule of the user chain from nft's JSON.
pub fn parse_user_rule(exprs: &[Value], text: &str) -> UserRule {
    let mut rule = UserRule {
        text: text.replace(" ; ", " "),
        conds: Vec::new(),
        verdict: UserVerdict::Continue,
        opaque: false,
    };
    for e in exprs {
        let Some((k, inner)) = e.as_object().and_then(|m| m.iter().next()) else {
            continue;
        };
        match k.as_str() {
            "match" => match cond_of(inner) {
                Some(c) => rule.conds.extend(c),
                None => rule.opaque = true,
            },
            "accept" => rule.verdict = UserVerdict::Accept,
            "drop" => rule.verdict = UserVerdict::Drop,
            "reject" => rule.verdict = UserVerdict::Reject,
            "return" => rule.verdict = UserVerdict::Return,
            "counter" | "log" | "limit" => {}
            _ => rule.verdict = UserVerdict::Unknown,
        }
    }
    rule
}

fn proto_name(p: Option<Proto>, daddr: IpAddr) -> &'static str {
    match (p, daddr) {
        (Some(p), _) => p.name(),
        (None, IpAddr::V4(_)) => "icmp",
        (None, IpAddr::V6(_)) => "ipv6-icmp",
    }
}

impl UserRule {
    /// Whether every understood match holds for `p`.
    fn matches(&self, p: &Packet) -> bool {
        let has = |v: &[(u16, u16)], port: Option<u16>| {
            port.is_some_and(|x| v.iter().any(|(lo, hi)| (*lo..=*hi).contains(&x)))
        };
        self.conds.iter().all(|c| match c {
            Cond::Iif(n, neg) => n.contains(&p.iif) != *neg,
            Cond::Oif(n, neg) => n.contains(&p.oif) != *neg,
            Cond::Saddr(n, neg) => n.iter().any(|x| x.contains(&p.saddr)) != *neg,
            Cond::Daddr(n, neg) => n.iter().any(|x| x.contains(&p.daddr)) != *neg,
            Cond::Proto(n, neg) => {
                let name = proto_name(p.proto, p.daddr);
                let num = p.proto.map(|x| x.number().to_string());
                (n.iter().any(|x| x == name || Some(x) == num.as_ref())) != *neg
            }
            Cond::Dport(v, neg) => has(v, p.dport) != *neg,
            // A connection attempt's source port is an ephemeral one: a sport match does not
            // hold for the first packet unless it covers that whole range.
            Cond::Sport(_, neg) => *neg,
        })
    }
}

/// Runs the user chain over `p`. Rules that could not be evaluated are listed in `unsure`.
pub fn evaluate(rules: &[UserRule], p: &Packet, unsure: &mut Vec<String>) -> UserOutcome {
    for (i, r) in rules.iter().enumerate() {
        if r.opaque {
            if matches!(r.verdict, UserVerdict::Drop | UserVerdict::Reject) {
                unsure.push(format!(
                    "user chain rule {} (`{}`) matches on something berth does not evaluate; it may drop this traffic",
                    i + 1,
                    r.text
                ));
            }
            continue;
        }
        if !r.matches(p) {
            continue;
        }
        match r.verdict {
            UserVerdict::Drop | UserVerdict::Reject => {
                return UserOutcome::Blocked(format!("user chain rule {}: {}", i + 1, r.text))
            }
            UserVerdict::Accept | UserVerdict::Return => return UserOutcome::Pass,
            UserVerdict::Continue => {}
            UserVerdict::Unknown => unsure.push(format!(
                "user chain rule {} (`{}`) has a verdict berth does not evaluate",
                i + 1,
                r.text
            )),
        }
    }
    UserOutcome::Pass
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pkt(saddr: &str, daddr: &str, proto: Option<Proto>, dport: Option<u16>) -> Packet {
        Packet {
            iif: "br-a".into(),
            oif: "br-b".into(),
            saddr: saddr.parse().unwrap(),
            daddr: daddr.parse().unwrap(),
            proto,
            dport,
        }
    }

    fn rule(exprs: Value) -> UserRule {
        let a = exprs.as_array().unwrap().clone();
        parse_user_rule(&a, "r")
    }

    #[test]
    fn address_port_and_interface_matches_decide() {
        let r = rule(json!([
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "172.17.0.2"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}},
            {"drop": null}
        ]));
        let mut unsure = vec![];
        let hit = pkt("172.17.0.2", "10.0.0.1", Some(Proto::Tcp), Some(80));
        assert!(matches!(
            evaluate(std::slice::from_ref(&r), &hit, &mut unsure),
            UserOutcome::Blocked(_)
        ));
        for miss in [
            pkt("172.17.0.3", "10.0.0.1", Some(Proto::Tcp), Some(80)),
            pkt("172.17.0.2", "10.0.0.1", Some(Proto::Tcp), Some(81)),
            pkt("172.17.0.2", "10.0.0.1", Some(Proto::Udp), Some(80)),
            pkt("172.17.0.2", "10.0.0.1", None, None),
        ] {
            assert_eq!(
                evaluate(std::slice::from_ref(&r), &miss, &mut unsure),
                UserOutcome::Pass,
                "{miss:?}"
            );
        }
        let iface = rule(json!([
            {"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "br-b"}},
            {"reject": {"type": "icmp"}}
        ]));
        assert_eq!(
            evaluate(std::slice::from_ref(&iface), &hit, &mut unsure),
            UserOutcome::Pass
        );
        let mut other = hit.clone();
        other.oif = "eth0".into();
        assert!(matches!(
            evaluate(&[iface], &other, &mut unsure),
            UserOutcome::Blocked(_)
        ));
        assert!(unsure.is_empty());
    }

    #[test]
    fn sets_prefixes_ranges_and_protocols() {
        let r = rule(json!([
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
              "right": {"set": [{"prefix": {"addr": "10.1.0.0", "len": 16}}, "10.2.0.1"]}}},
            {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "icmp"}},
            {"counter": {"packets": 0, "bytes": 0}},
            {"drop": null}
        ]));
        let mut u = vec![];
        assert!(matches!(
            evaluate(
                std::slice::from_ref(&r),
                &pkt("1.1.1.1", "10.1.9.9", None, None),
                &mut u
            ),
            UserOutcome::Blocked(_)
        ));
        assert!(matches!(
            evaluate(
                std::slice::from_ref(&r),
                &pkt("1.1.1.1", "10.2.0.1", None, None),
                &mut u
            ),
            UserOutcome::Blocked(_)
        ));
        assert_eq!(
            evaluate(
                std::slice::from_ref(&r),
                &pkt("1.1.1.1", "10.2.0.2", None, None),
                &mut u
            ),
            UserOutcome::Pass
        );
        assert_eq!(
            evaluate(
                &[r],
                &pkt("1.1.1.1", "10.1.0.1", Some(Proto::Tcp), Some(1)),
                &mut u
            ),
            UserOutcome::Pass
        );
        let range = rule(json!([
            {"match": {"op": "==", "left": {"payload": {"protocol": "th", "field": "dport"}}, "right": {"range": [1000, 2000]}}},
            {"drop": null}
        ]));
        assert!(matches!(
            evaluate(
                std::slice::from_ref(&range),
                &pkt("1.1.1.1", "2.2.2.2", Some(Proto::Udp), Some(1500)),
                &mut u
            ),
            UserOutcome::Blocked(_)
        ));
        assert_eq!(
            evaluate(
                &[range],
                &pkt("1.1.1.1", "2.2.2.2", Some(Proto::Udp), Some(999)),
                &mut u
            ),
            UserOutcome::Pass
        );
    }

    #[test]
    fn accept_and_return_end_the_chain_and_unknowns_are_reported() {
        let accept = rule(
            json!([{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "br-a"}}, {"accept": null}]),
        );
        let drop_all = rule(json!([{"drop": null}]));
        let mut u = vec![];
        let p = pkt("1.1.1.1", "2.2.2.2", None, None);
        assert_eq!(
            evaluate(&[accept, drop_all.clone()], &p, &mut u),
            UserOutcome::Pass
        );
        assert!(matches!(
            evaluate(std::slice::from_ref(&drop_all), &p, &mut u),
            UserOutcome::Blocked(_)
        ));
        let odd = rule(
            json!([{"match": {"op": "==", "left": {"ct": {"key": "mark"}}, "right": 1}}, {"drop": null}]),
        );
        assert!(odd.opaque);
        assert_eq!(evaluate(&[odd], &p, &mut u), UserOutcome::Pass);
        assert_eq!(u.len(), 1, "{u:?}");
        let jump = rule(json!([{"jump": {"target": "mine"}}]));
        assert_eq!(
            evaluate(&[jump, drop_all], &p, &mut u).clone(),
            UserOutcome::Blocked("user chain rule 2: r".into())
        );
        assert_eq!(u.len(), 2);
    }
}

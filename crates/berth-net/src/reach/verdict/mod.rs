//! The verdict: can SRC reach DST (on PORT)? Evaluated over a topology and one set of firewall
//! facts (berth's records or the kernel's), hop by hop, following the rules in the order the
//! kernel applies them. Pure: the caller reads the kernel.

mod host;
mod overlay;

pub use overlay::Crossing;

use super::codes::Code;
use super::facts::{Facts, Rule};
use super::model::{ContainerView, EndpointView, RemoteEndpointView, Topology};
use super::userchain::{self, Packet, UserOutcome};
use crate::firewall::Proto;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// One side of the question, as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    Container(String),
    Host,
    Outside,
    Ip(IpAddr),
}

impl Party {
    pub fn parse(text: &str) -> Party {
        match text {
            "host" => Party::Host,
            "outside" => Party::Outside,
            t => match t.parse::<IpAddr>() {
                Ok(ip) => Party::Ip(ip),
                Err(_) => Party::Container(t.to_string()),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub src: Party,
    pub dst: Party,
    pub port: Option<(u16, Proto)>,
}

/// `PORT` or `PORT/PROTO`.
pub fn parse_port(text: &str) -> Result<(u16, Proto), String> {
    let (num, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        other => {
            return Err(format!(
                "invalid protocol \"{other}\" in port {text}: use tcp or udp"
            ))
        }
    };
    match num.parse::<u16>() {
        Ok(p) if p > 0 => Ok((p, proto)),
        _ => Err(format!(
            "invalid port \"{num}\" in {text}: a port is a number from 1 to 65535"
        )),
    }
}

/// What the kernel shows of an interface on the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkObs {
    pub up: bool,
    /// The bridge it is a port of.
    pub master: Option<String>,
}

/// Interfaces by name as read back: None for one that does not exist. Names not in the map
/// were not read, and are not judged.
pub type Links = BTreeMap<String, Option<LinkObs>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub reachable: bool,
    pub code: Option<Code>,
    /// The one element that decides, when unreachable.
    pub reason: Option<String>,
    pub path: Vec<Hop>,
    /// Where a connection is really made (after DNAT): what a probe tries.
    pub target: Option<(IpAddr, Option<u16>)>,
    pub notes: Vec<String>,
    /// The overlay crossings on the path, for the kernel's VXLAN entries to be checked.
    #[serde(skip)]
    pub crossings: Vec<Crossing>,
}

/// An end after resolving names and addresses.
#[derive(Debug, Clone, Copy)]
enum End<'a> {
    Container(&'a ContainerView, Option<IpAddr>),
    Host(Option<IpAddr>),
    Outside(Option<IpAddr>),
    /// Another host's endpoint on an overlay network; true when its node's lease went.
    Remote(&'a RemoteEndpointView, bool),
}

struct Eval<'a> {
    topo: &'a Topology,
    facts: &'a Facts,
    links: Option<&'a Links>,
    port: Option<(u16, Proto)>,
    path: Vec<Hop>,
    notes: Vec<String>,
    target: Option<(IpAddr, Option<u16>)>,
    crossings: Vec<Crossing>,
}

struct Block(Code, String);

type Step = Result<(), Block>;

/// Resolves the names of a query; an unknown container is bad input (the caller's exit 2).
pub fn evaluate(
    topo: &Topology,
    facts: &Facts,
    links: Option<&Links>,
    q: &Query,
) -> Result<Verdict, String> {
    let src = resolve(topo, &q.src)?;
    let dst = resolve(topo, &q.dst)?;
    let mut ev = Eval {
        topo,
        facts,
        links,
        port: q.port,
        path: Vec::new(),
        notes: Vec::new(),
        target: None,
        crossings: Vec::new(),
    };
    let result = ev.run(src, dst);
    let (reachable, code, reason) = match result {
        Ok(()) => (true, None, None),
        Err(Block(c, r)) => (false, Some(c), Some(r)),
    };
    Ok(Verdict {
        reachable,
        code,
        reason,
        path: ev.path,
        target: ev.target,
        notes: ev.notes,
        crossings: ev.crossings,
    })
}

fn resolve<'a>(topo: &'a Topology, p: &Party) -> Result<End<'a>, String> {
    Ok(match p {
        Party::Host => End::Host(None),
        Party::Outside => End::Outside(None),
        Party::Container(key) => match topo.container(key) {
            Ok(c) if c.network_mode == "host" => End::Host(None),
            Ok(c) => End::Container(c, None),
            Err(e) => match topo.remote(key) {
                (found, lost) if !found.is_empty() => End::Remote(found[0], lost),
                _ => return Err(e),
            },
        },
        Party::Ip(ip) => {
            if let Some(c) = topo
                .containers
                .iter()
                .find(|c| c.endpoints.iter().any(|e| e.addrs().any(|a| a == *ip)))
            {
                End::Container(c, Some(*ip))
            } else if let Some((r, lost)) = topo.remote_by_ip(*ip) {
                End::Remote(r, lost)
            } else if ip.is_loopback()
                || topo.host.addrs.contains(ip)
                || topo.networks.iter().any(|n| n.gateways().any(|g| g == *ip))
            {
                End::Host(Some(*ip))
            } else {
                End::Outside(Some(*ip))
            }
        }
    })
}

fn hop(kind: &str, name: &str, detail: impl Into<String>) -> Hop {
    Hop {
        kind: kind.into(),
        name: name.into(),
        detail: detail.into(),
    }
}

fn no_network(c: &ContainerView) -> Block {
    Block(
        Code::NoCommonNetwork,
        format!(
            "container {} has no network (--network {})",
            c.name, c.network_mode
        ),
    )
}

fn first_addr(ep: &EndpointView) -> Option<IpAddr> {
    ep.ipv4.or(ep.ipv6).map(|n| n.addr())
}

impl<'a> Eval<'a> {
    fn run(&mut self, src: End<'a>, dst: End<'a>) -> Step {
        for end in [src, dst] {
            if let End::Container(c, _) = end {
                if !c.running {
                    return Err(Block(
                        Code::ContainerNotRunning,
                        format!("container {} is {}", c.name, c.status),
                    ));
                }
            }
        }
        match (src, dst) {
            (End::Container(s, _), End::Container(d, addr)) => {
                self.container_to_container(s, d, addr)
            }
            (End::Container(s, _), End::Host(addr)) => self.container_to_host(s, addr),
            (End::Container(s, _), End::Outside(addr)) => self.container_to_outside(s, addr),
            (End::Host(_), End::Container(d, addr)) => self.host_to_container(d, addr),
            (End::Host(_), End::Host(addr)) => self.host_to_host(addr),
            (End::Outside(_), End::Container(d, addr)) => self.outside_to_container(d, addr),
            (End::Outside(_), End::Host(addr)) => self.outside_to_host(addr),
            (End::Container(s, _), End::Remote(r, lost)) => self.container_to_remote(s, r, lost),
            (End::Host(_), End::Remote(r, lost)) => self.host_to_remote(r, lost),
            (End::Remote(r, lost), End::Container(d, _)) => self.remote_to_container(r, lost, d),
            (End::Outside(_), End::Remote(r, _)) => Err(Block(
                Code::PortNotPublished,
                format!(
                    "{} runs on host {} ({}): a client outside reaches it only through a port it publishes there; check on that host",
                    r.name, r.hostname, r.node_addr
                ),
            )),
            (End::Remote(r, _), _) => Err(Block(
                Code::NoCommonNetwork,
                format!(
                    "{} runs on host {} ({}): what it reaches there is that host's to say; run the check on it",
                    r.name, r.hostname, r.node_addr
                ),
            )),
            (End::Host(_) | End::Outside(_), End::Outside(_)) => {
                self.path.push(hop(
                    "route",
                    "host",
                    "the host's own routing; berth adds no rule here",
                ));
                self.notes.push(
                    "traffic that does not touch berth's networks is not berth's to decide".into(),
                );
                Ok(())
            }
        }
    }

    fn firewall(&self) -> bool {
        self.topo.host.firewall
    }

    fn has(&self, r: Rule) -> bool {
        self.facts.rules.contains(&r)
    }

    /// In the kernel's view, an interface on the path must exist, be up, and sit on its bridge.
    fn link_ok(&self, name: &str, master: Option<&str>) -> Step {
        let Some(links) = self.links else {
            return Ok(());
        };
        let what = match links.get(name) {
            None => return Ok(()),
            Some(None) => "does not exist",
            Some(Some(l)) if !l.up => "is down",
            Some(Some(l)) if master.is_some() && l.master.as_deref() != master => {
                "is not a port of its bridge"
            }
            Some(Some(_)) => return Ok(()),
        };
        let on = master.map(|m| format!(" (bridge {m})")).unwrap_or_default();
        Err(Block(
            Code::InterfaceDown,
            format!("interface {name}{on} {what}"),
        ))
    }

    fn bridge_of(&self, ep: &EndpointView) -> Result<String, Block> {
        self.topo
            .network(&ep.network_id)
            .and_then(|n| n.bridge.clone())
            .ok_or_else(|| {
                Block(
                    Code::NoCommonNetwork,
                    format!("network {} has no bridge", ep.network),
                )
            })
    }

    fn network_name(&self, bridge: &str) -> String {
        self.topo
            .networks
            .iter()
            .find(|n| n.bridge.as_deref() == Some(bridge))
            .map(|n| n.name.clone())
            .unwrap_or_else(|| bridge.to_string())
    }

    fn packet(
        &self,
        iif: &str,
        oif: &str,
        saddr: IpAddr,
        daddr: IpAddr,
        dport: Option<u16>,
    ) -> Packet {
        Packet {
            iif: iif.into(),
            oif: oif.into(),
            saddr,
            daddr,
            proto: self.port.map(|(_, p)| p),
            dport,
        }
    }

    /// The inet forward hook, rule by rule as berth's table orders it.
    fn forward(&mut self, p: &Packet, dnat: bool) -> Step {
        if !self.firewall() {
            return Ok(());
        }
        let f = self.facts;
        if self.has(Rule::JumpUser) {
            let mut unsure = Vec::new();
            let out = userchain::evaluate(&f.user, p, &mut unsure);
            self.notes.extend(unsure);
            if let UserOutcome::Blocked(rule) = out {
                return Err(Block(Code::UserChainDrop, rule));
            }
        }
        if self.has(Rule::SameAccept) && p.iif == p.oif && f.same.contains(&p.iif) {
            return Ok(());
        }
        for (rule, dev) in [(Rule::InternalFrom, &p.iif), (Rule::InternalTo, &p.oif)] {
            if self.has(rule) && f.internal.contains(dev) {
                return Err(Block(
                    Code::InternalNetwork,
                    format!(
                        "{} (network {} is internal)",
                        rule.text(),
                        self.network_name(dev)
                    ),
                ));
            }
        }
        if self.has(Rule::DnatAccept) && f.bridges.contains(&p.oif) && dnat {
            return Ok(());
        }
        if self.has(Rule::IsolateDrop) && f.bridges.contains(&p.oif) {
            let text = format!("{} ({} → {})", Rule::IsolateDrop.text(), p.iif, p.oif);
            return Err(if f.bridges.contains(&p.iif) || self.is_bridge(&p.iif) {
                Block(Code::NetworksIsolated, text)
            } else {
                Block(Code::PortNotPublished, text)
            });
        }
        Ok(())
    }

    fn is_bridge(&self, name: &str) -> bool {
        self.topo
            .networks
            .iter()
            .any(|n| n.bridge.as_deref() == Some(name))
    }

    /// The bridge family: ICC off drops IP between two isolated ports, unless a link opens it.
    fn bridge_filter(&self, from: &str, to: &str) -> Step {
        if !self.firewall() {
            return Ok(());
        }
        let f = self.facts;
        if !(self.has(Rule::NoIccDrop) && f.no_icc.contains(from) && f.no_icc.contains(to)) {
            return Ok(());
        }
        if let Some((port, proto)) = self.port {
            if self.has(Rule::LinksForward)
                && f.links.contains(&(from.into(), to.into(), proto, port))
            {
                return Ok(());
            }
        }
        Err(Block(
            Code::IccDisabled,
            format!(
                "{} ({from} and {to} are both in no_icc)",
                Rule::NoIccDrop.text()
            ),
        ))
    }

    fn dst_endpoint(
        &self,
        s: Option<&ContainerView>,
        d: &'a ContainerView,
        addr: Option<IpAddr>,
    ) -> Result<&'a EndpointView, Block> {
        if let Some(a) = addr {
            if let Some(e) = d.endpoints.iter().find(|e| e.addrs().any(|x| x == a)) {
                return Ok(e);
            }
        }
        if let Some(s) = s {
            for es in &s.endpoints {
                if let Some(ed) = d.endpoint_on(&es.network_id) {
                    return Ok(ed);
                }
            }
        }
        d.endpoints
            .iter()
            .find(|e| e.ipv4.is_some())
            .or_else(|| d.endpoints.first())
            .ok_or_else(|| no_network(d))
    }

    fn default_endpoint(&self, s: &'a ContainerView) -> Result<&'a EndpointView, Block> {
        s.endpoints.iter().find(|e| e.default_route).ok_or_else(|| {
            Block(
                Code::NoCommonNetwork,
                format!(
                    "container {} has no default route (--network {})",
                    s.name, s.network_mode
                ),
            )
        })
    }

    fn leave(&mut self, c: &ContainerView, ep: &EndpointView, bridge: &str) -> Step {
        self.path.push(hop(
            "container",
            &c.name,
            format!(
                "{} {}",
                ep.ifname,
                first_addr(ep).map(|a| a.to_string()).unwrap_or_default()
            ),
        ));
        self.link_ok(&ep.host_ifname, Some(bridge))?;
        self.link_ok(bridge, None)?;
        self.path.push(hop("veth", &ep.host_ifname, ""));
        self.path
            .push(hop("bridge", bridge, format!("network {}", ep.network)));
        Ok(())
    }

    fn enter(&mut self, c: &ContainerView, ep: &EndpointView, bridge: &str) -> Step {
        self.link_ok(bridge, None)?;
        self.link_ok(&ep.host_ifname, Some(bridge))?;
        if self.path.last().map(|h| h.name.as_str()) != Some(bridge) {
            self.path
                .push(hop("bridge", bridge, format!("network {}", ep.network)));
        }
        self.path.push(hop("veth", &ep.host_ifname, ""));
        self.path.push(hop(
            "container",
            &c.name,
            format!(
                "{} {}",
                ep.ifname,
                first_addr(ep).map(|a| a.to_string()).unwrap_or_default()
            ),
        ));
        Ok(())
    }

    /// From `s`, which shares no network with the destination (`dst`, at `daddr` behind
    /// bridge `bd`), out of its default route and through the host's forward hook.
    fn route_out(
        &mut self,
        s: &'a ContainerView,
        dst: &str,
        bd: &str,
        daddr: IpAddr,
        dport: Option<u16>,
    ) -> Result<&'a EndpointView, Block> {
        if s.endpoints.is_empty() {
            return Err(no_network(s));
        }
        let er = self.default_endpoint(s).map_err(|_| {
            Block(
                Code::NoCommonNetwork,
                format!(
                    "{} and {dst} share no network, and {} has no default route",
                    s.name, s.name
                ),
            )
        })?;
        let bs = self.bridge_of(er)?;
        let saddr = first_addr(er).unwrap_or(daddr);
        self.leave(s, er, &bs)?;
        self.path.push(hop("route", "host", format!("{bs} → {bd}")));
        let p = self.packet(&bs, bd, saddr, daddr, dport);
        self.forward(&p, false).map_err(|Block(c, r)| match c {
            Code::NetworksIsolated => {
                Block(c, format!("{r}: {} and {dst} share no network", s.name))
            }
            _ => Block(c, r),
        })?;
        Ok(er)
    }

    fn container_to_container(
        &mut self,
        s: &'a ContainerView,
        d: &'a ContainerView,
        addr: Option<IpAddr>,
    ) -> Step {
        if s.id == d.id {
            self.path.push(hop(
                "container",
                &s.name,
                "its own address: loopback inside the container",
            ));
            return Ok(());
        }
        let ed = self.dst_endpoint(Some(s), d, addr)?;
        let daddr = addr.or_else(|| first_addr(ed)).ok_or_else(|| {
            Block(
                Code::NoCommonNetwork,
                format!("{} has no address on {}", d.name, ed.network),
            )
        })?;
        let dport = self.port.map(|p| p.0);
        self.target = Some((daddr, dport));
        let bd = self.bridge_of(ed)?;
        if let Some(es) = s.endpoint_on(&ed.network_id) {
            let saddr = first_addr(es).unwrap_or(daddr);
            self.leave(s, es, &bd)?;
            // An overlay's bridge is in the network's own namespace: neither berth's bridge
            // table nor (br_netfilter is off there) its inet chains see the frames.
            let overlay = self
                .topo
                .network(&ed.network_id)
                .is_some_and(|n| n.overlay.is_some());
            if !overlay {
                self.bridge_filter(&es.host_ifname, &ed.host_ifname)?;
            }
            if self.topo.host.br_netfilter && !overlay {
                let p = self.packet(&bd, &bd, saddr, daddr, dport);
                self.forward(&p, false)?;
            }
            return self.enter(d, ed, &bd);
        }
        self.route_out(s, &d.name, &bd, daddr, dport)?;
        self.enter(d, ed, &bd)
    }
}

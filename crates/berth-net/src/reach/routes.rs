//! The routes a path needs inside the containers at its ends: the source must send the
//! destination's address out of the interface the path leaves by, and the destination must
//! send its replies back out of one too. What berth programmed says which interface (the one
//! whose subnet holds the address, else the one with the default route); the kernel's own
//! lookup inside the sandbox (RTM_GETROUTE for that address, the answer the stack itself would
//! use) says what happens.

use super::model::{ContainerView, Topology};
use super::verdict::{Party, Query, Verdict};
use futures::TryStreamExt;
use netlink_packet_route::route::RouteAttribute;
use rtnetlink::RouteMessageBuilder;
use std::net::IpAddr;
use std::path::Path;

/// Stands for "an address off every network": only looked up, never sent to.
const OFF_NET4: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

/// Inside `container`, traffic to `to` must leave through `dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub container: String,
    pub sandbox: String,
    pub to: IpAddr,
    pub dev: String,
}

/// What the kernel's lookup gave for a need: the interface, or None for no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub need: Need,
    pub dev: Option<String>,
}

impl Seen {
    /// Why the path fails here, if it does.
    pub fn problem(&self) -> Option<String> {
        let n = &self.need;
        match &self.dev {
            Some(d) if *d == n.dev => None,
            Some(d) => Some(format!(
                "inside {}, traffic to {} leaves through {d}, not {} (a route berth made is missing or another one takes precedence)",
                n.container, n.to, n.dev
            )),
            None => Some(format!(
                "inside {}, there is no route to {} (berth's route through {} is missing)",
                n.container, n.to, n.dev
            )),
        }
    }
}

/// The interface berth's routes send `to` through inside `c`.
fn expected_dev(c: &ContainerView, to: IpAddr) -> Option<String> {
    let on_link = c.endpoints.iter().find(|e| {
        [e.ipv4, e.ipv6]
            .iter()
            .flatten()
            .any(|n| n.trunc().contains(&to))
    });
    on_link
        .or_else(|| c.endpoints.iter().find(|e| e.default_route))
        .map(|e| e.ifname.clone())
}

fn need(c: &ContainerView, to: IpAddr) -> Option<Need> {
    if c.network_mode == "host" || !c.running {
        return None;
    }
    Some(Need {
        container: c.name.clone(),
        sandbox: c.sandbox_key.clone()?,
        to,
        dev: expected_dev(c, to)?,
    })
}

fn container_of<'a>(topo: &'a Topology, p: &Party) -> Option<&'a ContainerView> {
    match p {
        Party::Container(key) => topo.container(key).ok(),
        Party::Ip(ip) => topo
            .containers
            .iter()
            .find(|c| c.endpoints.iter().any(|e| e.addrs().any(|a| a == *ip))),
        _ => None,
    }
}

/// The address `c` sends from towards `to`: its own on the interface it uses.
fn source_addr(c: &ContainerView, to: IpAddr) -> Option<IpAddr> {
    let dev = expected_dev(c, to)?;
    let ep = c.endpoints.iter().find(|e| e.ifname == dev)?;
    if to.is_ipv4() {
        ep.ipv4.map(|n| n.addr())
    } else {
        ep.ipv6.map(|n| n.addr())
    }
}

/// The routes the model's path `m` for `q` depends on (none when it does not reach).
pub fn needs(topo: &Topology, q: &Query, m: &Verdict) -> Vec<Need> {
    if !m.reachable {
        return Vec::new();
    }
    let src = container_of(topo, &q.src);
    let dst = container_of(topo, &q.dst);
    // Where the source sends: the address asked for, the destination container's, the
    // gateway of the interface it leaves by (the host), or anywhere off-net (outside).
    let sent_to = match (&q.dst, dst) {
        (Party::Ip(ip), _) => Some(*ip),
        (_, Some(d)) if src.map(|s| s.id != d.id).unwrap_or(true) => m.target.map(|t| t.0),
        // Another host's endpoint: the verdict's target is its address.
        (Party::Container(_), None) => m.target.map(|t| t.0),
        (Party::Host, _) => src.and_then(|s| {
            let dev = expected_dev(s, OFF_NET4)?;
            let ep = s.endpoints.iter().find(|e| e.ifname == dev)?;
            ep.gateway4.or(ep.gateway6)
        }),
        (Party::Outside, _) => Some(OFF_NET4),
        _ => None,
    };
    let mut out = Vec::new();
    if let (Some(s), Some(to)) = (src, sent_to) {
        out.extend(need(s, to));
    }
    // The replies: to the source container's address, the host's gateway address on the
    // destination's network, or an outside client.
    let reached = m
        .target
        .and_then(|(ip, _)| {
            topo.containers
                .iter()
                .find(|c| c.endpoints.iter().any(|e| e.addrs().any(|a| a == ip)))
        })
        .or(dst);
    if let Some(d) = reached.filter(|d| src.is_none_or(|s| s.id != d.id)) {
        let back = match (&q.src, src) {
            (_, Some(s)) => sent_to.and_then(|to| source_addr(s, to)),
            // Another host's endpoint on the destination's network: the replies go to it.
            (Party::Container(key), None) if !topo.remote(key).0.is_empty() => {
                let (eps, _) = topo.remote(key);
                eps.iter()
                    .find(|r| d.endpoint_on(&r.network_id).is_some())
                    .or(eps.first())
                    .map(|r| r.ip)
            }
            (Party::Outside, _) => Some(OFF_NET4),
            (Party::Ip(ip), _) => Some(*ip),
            // The host reaches a container from its gateway address on that network.
            _ => m.target.and_then(|(ip, _)| {
                d.endpoints
                    .iter()
                    .find(|e| e.addrs().any(|a| a == ip))
                    .and_then(|e| e.gateway4.or(e.gateway6))
            }),
        };
        if let Some(back) = back {
            out.extend(need(d, back));
        }
    }
    out
}

/// Asks the kernel inside each need's sandbox which interface it routes the address through.
pub async fn observe(needs: Vec<Need>) -> Result<Vec<Seen>, String> {
    let mut out = Vec::with_capacity(needs.len());
    for n in needs {
        let dev = lookup(Path::new(&n.sandbox), n.to).await?;
        out.push(Seen { need: n, dev });
    }
    Ok(out)
}

/// An rtnetlink connection inside the namespace pinned at `netns`, and its task (abort it
/// when done).
pub(super) fn connect_in(
    netns: &Path,
) -> Result<(rtnetlink::Handle, tokio::task::JoinHandle<()>), String> {
    let rt = tokio::runtime::Handle::current();
    let (conn, handle, _) = crate::sys::netns::run_in(netns, move || {
        let _ctx = rt.enter();
        rtnetlink::new_connection()
    })
    .map_err(|e| e.to_string())?;
    Ok((handle, tokio::spawn(conn)))
}

/// The name of the interface the namespace at `netns` routes `to` through.
async fn lookup(netns: &Path, to: IpAddr) -> Result<Option<String>, String> {
    let (handle, task) = connect_in(netns)?;
    let result = async {
        let msg = match to {
            IpAddr::V4(v4) => RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                .destination_prefix(v4, 32)
                .build(),
            IpAddr::V6(v6) => RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                .destination_prefix(v6, 128)
                .build(),
        };
        let mut replies = handle.route().get(msg).execute();
        let oif = match replies.try_next().await {
            Ok(Some(r)) => r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(i) => Some(*i),
                _ => None,
            }),
            Ok(None) => None,
            // ENETUNREACH / EHOSTUNREACH: the kernel has no route.
            Err(rtnetlink::Error::NetlinkError(m)) if matches!(-m.raw_code(), 101 | 113) => None,
            Err(e) => return Err(format!("route lookup for {to} in {}: {e}", netns.display())),
        };
        let Some(oif) = oif else {
            return Ok(None);
        };
        let mut links = handle.link().get().match_index(oif).execute();
        let name = match links.try_next().await {
            Ok(Some(l)) => l.attributes.iter().find_map(|a| match a {
                netlink_packet_route::link::LinkAttribute::IfName(n) => Some(n.clone()),
                _ => None,
            }),
            _ => None,
        };
        Ok(Some(name.unwrap_or_else(|| format!("interface {oif}"))))
    }
    .await;
    task.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reach::model::EndpointView;

    fn ctr(name: &str, eps: &[(&str, &str, &str, bool)]) -> ContainerView {
        ContainerView {
            id: format!("{name}-id"),
            name: name.into(),
            running: true,
            network_mode: "n".into(),
            sandbox_key: Some(format!("/run/{name}")),
            endpoints: eps
                .iter()
                .map(|(ifname, addr, gw, default_route)| EndpointView {
                    ifname: (*ifname).into(),
                    ipv4: addr.parse().ok(),
                    gateway4: gw.parse().ok(),
                    default_route: *default_route,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn reached(target: &str) -> Verdict {
        Verdict {
            reachable: true,
            code: None,
            reason: None,
            path: vec![],
            target: Some((target.parse().unwrap(), None)),
            notes: vec![],
            crossings: vec![],
        }
    }

    #[test]
    fn each_end_needs_its_way_there_and_back() {
        let topo = Topology {
            containers: vec![
                ctr("a", &[("eth0", "10.1.0.2/24", "10.1.0.1", true)]),
                ctr(
                    "both",
                    &[
                        ("eth0", "10.1.0.3/24", "10.1.0.1", true),
                        ("eth1", "10.2.0.3/24", "10.2.0.1", false),
                    ],
                ),
                ctr("c", &[("eth0", "10.2.0.4/24", "10.2.0.1", true)]),
            ],
            ..Default::default()
        };
        let q = |s: &str, d: &str| Query {
            src: Party::parse(s),
            dst: Party::parse(d),
            port: None,
        };
        let got = |n: &[Need]| -> Vec<(String, String, String)> {
            n.iter()
                .map(|n| (n.container.clone(), n.to.to_string(), n.dev.clone()))
                .collect()
        };
        let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        // c reaches both on their shared network: on-link both ways, through both's eth1.
        assert_eq!(
            got(&needs(&topo, &q("c", "both"), &reached("10.2.0.3"))),
            [s("c", "10.2.0.3", "eth0"), s("both", "10.2.0.4", "eth1")]
        );
        // Anywhere off-net leaves by the default route; nothing comes back to check.
        let mut out = reached("10.1.0.2");
        out.target = None;
        assert_eq!(
            got(&needs(&topo, &q("a", "outside"), &out)),
            [s("a", "192.0.2.1", "eth0")]
        );
        // From the host: the reply goes to the gateway on the destination's network.
        assert_eq!(
            got(&needs(&topo, &q("host", "both"), &reached("10.2.0.3"))),
            [s("both", "10.2.0.1", "eth1")]
        );
        // An unreachable verdict needs nothing.
        let mut no = reached("10.2.0.4");
        no.reachable = false;
        assert!(needs(&topo, &q("a", "c"), &no).is_empty());
        // What the kernel answered, judged.
        let n = Need {
            container: "a".into(),
            sandbox: String::new(),
            to: "192.0.2.1".parse().unwrap(),
            dev: "eth0".into(),
        };
        let seen = |dev: Option<&str>| Seen {
            need: n.clone(),
            dev: dev.map(str::to_string),
        };
        assert_eq!(seen(Some("eth0")).problem(), None);
        assert!(seen(None)
            .problem()
            .is_some_and(|p| p.contains("no route to 192.0.2.1")));
        assert!(seen(Some("eth1"))
            .problem()
            .is_some_and(|p| p.contains("through eth1, not eth0")));
    }
}

//! Reads back what the kernel holds for a check: berth's two nftables tables (`nft -j`, listed
//! again only when the nf_tables generation moved: see [`super::readback`]) and the interfaces
//! on the path (rtnetlink, one request per interface rather than a dump, so the cost does not
//! grow with the number of containers).

use super::model::Topology;
use super::verdict::{LinkObs, Links, Party, Query};
use super::{Facts, Observed};
use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use std::collections::BTreeMap;
use std::process::Command;

/// `nft -j list table inet berth` and `… bridge berth`, run side by side. A table that does not
/// exist reads as empty (and every rule berth expects is then reported missing).
pub fn read_tables() -> Result<(String, String), String> {
    let list = |family: &'static str| {
        std::thread::spawn(move || -> Result<String, String> {
            let out = Command::new("nft")
                .args(["-j", "list", "table", family, "berth"])
                .output()
                .map_err(|e| format!("cannot run nft: {e}"))?;
            if out.status.success() {
                return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
            }
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("No such file or directory") {
                Ok(String::new())
            } else {
                Err(format!("nft -j list table {family} berth: {}", err.trim()))
            }
        })
    };
    let inet = list("inet");
    let bridge = list("bridge");
    let join = |h: std::thread::JoinHandle<Result<String, String>>| {
        h.join()
            .unwrap_or_else(|_| Err("nft reader thread panicked".into()))
    };
    let inet = join(inet)?;
    let bridge = join(bridge)?;
    Ok((inet, bridge))
}

/// One link by name or index through `handle`'s namespace (None: no such interface).
async fn get_on(
    handle: &rtnetlink::Handle,
    name: Option<&str>,
    index: Option<u32>,
) -> Result<Option<LinkMessage>, String> {
    let mut req = handle.link().get();
    if let Some(n) = name {
        req = req.match_name(n.to_string());
    }
    if let Some(i) = index {
        req = req.match_index(i);
    }
    let mut stream = req.execute();
    match stream.try_next().await {
        Ok(m) => Ok(m),
        // ENODEV: no such interface.
        Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == 19 => Ok(None),
        Err(e) => Err(format!("read link {}: {e}", name.unwrap_or_default())),
    }
}

/// A netlink connection in the daemon's namespace, kept for the daemon's life.
pub struct Observer {
    handle: rtnetlink::Handle,
    tables: std::sync::Arc<super::readback::Tables>,
    addrs: super::readback::AddrWatch,
}

impl Observer {
    /// Must run inside a tokio runtime.
    pub fn connect() -> std::io::Result<Observer> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        Ok(Observer {
            handle,
            tables: std::sync::Arc::new(super::readback::Tables::new()),
            addrs: super::readback::AddrWatch::new(),
        })
    }

    /// berth's tables as the kernel holds them now.
    pub async fn tables(&self) -> Result<Facts, String> {
        let tables = self.tables.clone();
        tokio::task::spawn_blocking(move || tables.facts())
            .await
            .map_err(|e| format!("nft reader: {e}"))?
    }

    /// Every address of the namespace, without loopback and link-local ones; listed again only
    /// after the kernel announced an address change.
    pub async fn addresses(&self) -> Result<Vec<std::net::IpAddr>, String> {
        let epoch = match self.addrs.kept() {
            Ok(addrs) => return Ok(addrs),
            Err(epoch) => epoch,
        };
        let out = self.list_addresses().await?;
        self.addrs.keep(epoch, &out);
        Ok(out)
    }

    async fn list_addresses(&self) -> Result<Vec<std::net::IpAddr>, String> {
        let mut out = Vec::new();
        let mut stream = self.handle.address().get().execute();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(|e| format!("list addresses: {e}"))?
        {
            let ip = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let ip = ip.or_else(|| {
                msg.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            });
            if let Some(ip) = ip {
                let link_local =
                    matches!(ip, std::net::IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
                if !ip.is_loopback() && !link_local {
                    out.push(ip);
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// A VXLAN device's MTU and permanent entries (None: no such device).
    async fn vxlan_device(
        handle: &rtnetlink::Handle,
        name: &str,
    ) -> Result<Option<(u32, crate::sys::RemoteTable)>, String> {
        let Some(m) = get_on(handle, Some(name), None).await? else {
            return Ok(None);
        };
        let table = crate::sys::vxlan::table(handle, m.header.index)
            .await
            .map_err(|e| format!("read {name}'s entries: {e}"))?;
        Ok(Some((mtu_of(&m).unwrap_or_default(), table)))
    }

    /// The state of each named interface (None: it does not exist).
    pub async fn links(&self, names: &[String]) -> Result<Links, String> {
        Ok(self.links_indexed(names).await?.0)
    }

    /// [`Observer::links`], and the index of each interface found (its bridge's too).
    async fn links_indexed(
        &self,
        names: &[String],
    ) -> Result<(Links, BTreeMap<u32, String>), String> {
        links_on(&self.handle, names).await
    }
}

/// [`Observer::links_indexed`] through `handle`'s namespace.
async fn links_on(
    handle: &rtnetlink::Handle,
    names: &[String],
) -> Result<(Links, BTreeMap<u32, String>), String> {
    {
        let mut msgs = BTreeMap::new();
        for n in names {
            if let Some(m) = get_on(handle, Some(n), None).await? {
                msgs.insert(n.clone(), m);
            }
        }
        let mut by_index: BTreeMap<u32, String> = msgs
            .iter()
            .map(|(n, m)| (m.header.index, n.clone()))
            .collect();
        let mut out: Links = names.iter().map(|n| (n.clone(), None)).collect();
        for (name, m) in &msgs {
            let master = m.attributes.iter().find_map(|a| match a {
                LinkAttribute::Controller(i) => Some(*i),
                _ => None,
            });
            let master = match master {
                None => None,
                Some(i) => match by_index.get(&i) {
                    Some(n) => Some(n.clone()),
                    None => {
                        let found = get_on(handle, None, Some(i)).await?.and_then(|mm| {
                            mm.attributes.iter().find_map(|a| match a {
                                LinkAttribute::IfName(n) => Some(n.clone()),
                                _ => None,
                            })
                        });
                        if let Some(n) = &found {
                            by_index.insert(i, n.clone());
                        }
                        found
                    }
                },
            };
            out.insert(
                name.clone(),
                Some(LinkObs {
                    up: m.header.flags.contains(LinkFlags::Up),
                    master,
                }),
            );
        }
        Ok((out, by_index))
    }
}

/// Whether bridged IP traffic passes the inet hooks in this namespace (br_netfilter).
pub fn br_netfilter() -> bool {
    std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables")
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
}

/// The kernel's ruleset, and the interfaces this question can touch: every bridge, the two
/// ends' veths, and those on the model's path (one netlink request each, so the cost does not
/// grow with the number of containers).
pub async fn for_question(
    obs: &Observer,
    topo: &Topology,
    model: &Facts,
    q: &Query,
) -> Result<Observed, String> {
    let facts = obs.tables().await?;
    let mut names: Vec<String> = topo
        .networks
        .iter()
        .filter_map(|n| n.bridge.clone())
        .collect();
    for p in [&q.src, &q.dst] {
        let c = match p {
            Party::Container(key) => topo.container(key).ok(),
            Party::Ip(ip) => topo
                .containers
                .iter()
                .find(|c| c.endpoints.iter().any(|e| e.addrs().any(|a| a == *ip))),
            _ => None,
        };
        names.extend(
            c.into_iter()
                .flat_map(|c| c.endpoints.iter().map(|e| e.host_ifname.clone())),
        );
    }
    let mut needs = Vec::new();
    let mut fdb_needs = Vec::new();
    let mut crossings = Vec::new();
    if let Ok(v) = super::evaluate(topo, model, None, q) {
        crossings = v.crossings.clone();
        fdb_needs = super::fdb::needs(topo, &v.path);
        names.extend(
            v.path
                .iter()
                .filter(|h| h.kind == "veth")
                .map(|h| h.name.clone()),
        );
        needs = super::routes::needs(topo, q, &v);
    }
    names.sort();
    names.dedup();
    // An overlay network's bridge, VXLAN device and containers' host ends are in its own
    // namespace: those are read there (the host has only the transfer link of the bridge's name).
    let homes = overlay_homes(topo);
    let (here, mut away): (Vec<String>, Vec<String>) =
        names.into_iter().partition(|n| !homes.contains_key(n));
    // A crossing's VXLAN device is read through a handle on its namespace.
    away.extend(
        crossings
            .iter()
            .filter(|c| homes.contains_key(&c.device))
            .map(|c| c.device.clone()),
    );
    away.sort();
    away.dedup();
    let (mut links, by_index) = obs.links_indexed(&here).await?;
    let mut elsewhere: BTreeMap<&str, (rtnetlink::Handle, tokio::task::JoinHandle<()>)> =
        BTreeMap::new();
    let mut by_ns: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for n in away {
        if let Some(ns) = homes.get(&n) {
            by_ns.entry(ns.as_str()).or_default().push(n);
        }
    }
    let mut away_index: BTreeMap<&str, BTreeMap<u32, String>> = BTreeMap::new();
    for (ns, group) in &by_ns {
        let (handle, task) = super::routes::connect_in(std::path::Path::new(ns))?;
        let (l, idx) = links_on(&handle, group).await?;
        links.extend(l);
        away_index.insert(ns, idx);
        elsewhere.insert(ns, (handle, task));
    }
    let routes = super::routes::observe(needs).await?;
    let (fdb_here, fdb_away): (Vec<_>, Vec<_>) = fdb_needs
        .into_iter()
        .partition(|n: &super::fdb::Need| !homes.contains_key(&n.bridge));
    let mut fdb = tokio::task::spawn_blocking(move || {
        let by_name: BTreeMap<&str, u32> = by_index.iter().map(|(i, n)| (n.as_str(), *i)).collect();
        super::fdb::observe(
            fdb_here,
            |n| by_name.get(n).copied(),
            |i| by_index.get(&i).cloned(),
        )
    })
    .await
    .map_err(|e| format!("FDB reader: {e}"))??;
    for need in fdb_away {
        let Some(ns) = homes.get(&need.bridge) else {
            continue;
        };
        let mut idx = away_index.get(ns.as_str()).cloned().unwrap_or_default();
        if let Some((handle, _)) = elsewhere.get(ns.as_str()) {
            for port in [&need.bridge, &need.port] {
                if !idx.values().any(|n| n == port) {
                    if let Some(m) = get_on(handle, Some(port), None).await? {
                        idx.insert(m.header.index, port.clone());
                    }
                }
            }
        }
        // The FDB is asked on a socket opened inside the network's namespace.
        let path = std::path::PathBuf::from(ns);
        let seen = crate::sys::netns::run_in(&path, move || {
            let by_name: BTreeMap<&str, u32> = idx.iter().map(|(i, n)| (n.as_str(), *i)).collect();
            super::fdb::observe(
                vec![need],
                |n| by_name.get(n).copied(),
                |i| idx.get(&i).cloned(),
            )
            .map_err(std::io::Error::other)
        })
        .map_err(|e| e.to_string())?;
        fdb.extend(seen);
    }
    let mut vxlan = Vec::with_capacity(crossings.len());
    for c in crossings {
        let device = match homes
            .get(&c.device)
            .and_then(|ns| elsewhere.get(ns.as_str()))
        {
            Some((handle, _)) => Observer::vxlan_device(handle, &c.device).await?,
            None => Observer::vxlan_device(&obs.handle, &c.device).await?,
        };
        let local_mtu = match &c.local {
            Some((_, netns, ifname)) => link_mtu(std::path::Path::new(netns), ifname).await?,
            None => None,
        };
        vxlan.push(super::vxlan::Seen {
            crossing: c,
            device,
            local_mtu,
        });
    }
    for (_, (_, task)) in elsewhere {
        task.abort();
    }
    Ok(Observed {
        facts,
        links,
        routes,
        fdb,
        vxlan,
    })
}

/// The interfaces that live in an overlay network's own namespace, with its pinned path: the
/// bridge, the VXLAN device, and the host ends of the containers' veths on it.
fn overlay_homes(topo: &Topology) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for n in &topo.networks {
        let Some(o) = n.overlay.as_ref().filter(|o| !o.netns.is_empty()) else {
            continue;
        };
        if let Some(b) = &n.bridge {
            out.insert(b.clone(), o.netns.clone());
        }
        out.insert(o.vxlan.clone(), o.netns.clone());
        for e in topo
            .containers
            .iter()
            .flat_map(|c| c.endpoints.iter())
            .filter(|e| e.network_id == n.id)
        {
            out.insert(e.host_ifname.clone(), o.netns.clone());
        }
    }
    out
}

fn mtu_of(m: &LinkMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Mtu(v) => Some(*v),
        _ => None,
    })
}

/// The MTU of interface `ifname` inside the namespace pinned at `netns` (None: no such one).
async fn link_mtu(netns: &std::path::Path, ifname: &str) -> Result<Option<u32>, String> {
    let (handle, task) = super::routes::connect_in(netns)?;
    let mut req = handle.link().get().match_name(ifname.to_string()).execute();
    let got = match req.try_next().await {
        Ok(m) => Ok(m.as_ref().and_then(mtu_of)),
        Err(rtnetlink::Error::NetlinkError(e)) if -e.raw_code() == 19 => Ok(None),
        Err(e) => Err(format!("read {ifname} in {}: {e}", netns.display())),
    };
    task.abort();
    got
}

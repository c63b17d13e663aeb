//! The names the embedded resolver answers for: per network, each endpoint's container name,
//! aliases and short ID, and the reverse mapping of its addresses. Kept in step with the
//! controller's endpoints, so a change is visible to the next query.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One endpoint as DNS sees it.
#[derive(Debug, Clone)]
struct Entry {
    network_id: String,
    names: Vec<String>,
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
    /// `name.network.`, the PTR answer.
    ptr: String,
}

#[derive(Debug, Default)]
struct NetRecords {
    name: String,
    internal: bool,
    /// Lower-case name → endpoint IDs, in attach order.
    by_name: HashMap<String, Vec<String>>,
    by_ip: HashMap<IpAddr, String>,
}

/// What a sandbox's resolver sees: its user-defined networks in attach order, and upstream
/// servers set by `--dns` for this sandbox.
#[derive(Debug, Default, Clone)]
struct View {
    networks: Vec<String>,
    upstreams: Option<Vec<SocketAddr>>,
}

/// Addresses found for a name. `found` with empty lists means the name exists without an
/// address of the asked family: an empty NOERROR answer, not a forward.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub v4: Vec<Ipv4Addr>,
    pub v6: Vec<Ipv6Addr>,
}

/// How a sandbox's unknown names are handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// Forward to these servers.
    Servers(Vec<SocketAddr>),
    /// Only internal networks: nothing leaves.
    None,
}

/// Endpoint description handed in by the controller.
#[derive(Debug, Clone)]
pub struct EndpointRecord<'a> {
    pub endpoint_id: &'a str,
    pub sandbox_id: &'a str,
    pub network_id: &'a str,
    pub network_name: &'a str,
    pub internal: bool,
    /// Container name, aliases and short ID.
    pub names: Vec<String>,
    pub v4: Option<Ipv4Addr>,
    pub v6: Option<Ipv6Addr>,
}

#[derive(Debug, Default)]
pub struct Records {
    networks: HashMap<String, NetRecords>,
    entries: HashMap<String, Entry>,
    views: HashMap<String, View>,
    /// Which sandbox owns each endpoint, to drop it from views.
    owner: HashMap<String, String>,
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Records {
    /// Adds an endpoint on a user-defined network.
    pub fn add(&mut self, ep: EndpointRecord<'_>) {
        self.remove(ep.endpoint_id);
        let net = self.networks.entry(ep.network_id.to_string()).or_default();
        net.name = ep.network_name.to_string();
        net.internal = ep.internal;
        let mut names: Vec<String> = Vec::new();
        for n in ep.names.iter().map(|n| norm(n)).filter(|n| !n.is_empty()) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        for n in &names {
            net.by_name
                .entry(n.clone())
                .or_default()
                .push(ep.endpoint_id.to_string());
        }
        for ip in [ep.v4.map(IpAddr::V4), ep.v6.map(IpAddr::V6)]
            .into_iter()
            .flatten()
        {
            net.by_ip.insert(ip, ep.endpoint_id.to_string());
        }
        let first = names.first().cloned().unwrap_or_default();
        self.entries.insert(
            ep.endpoint_id.to_string(),
            Entry {
                network_id: ep.network_id.to_string(),
                names,
                v4: ep.v4,
                v6: ep.v6,
                ptr: format!("{first}.{}.", ep.network_name),
            },
        );
        let view = self.views.entry(ep.sandbox_id.to_string()).or_default();
        if !view.networks.iter().any(|n| n == ep.network_id) {
            view.networks.push(ep.network_id.to_string());
        }
        self.owner
            .insert(ep.endpoint_id.to_string(), ep.sandbox_id.to_string());
    }

    /// Removes an endpoint; its names stop resolving at once.
    pub fn remove(&mut self, endpoint_id: &str) {
        let Some(e) = self.entries.remove(endpoint_id) else {
            return;
        };
        if let Some(net) = self.networks.get_mut(&e.network_id) {
            for n in &e.names {
                if let Some(ids) = net.by_name.get_mut(n) {
                    ids.retain(|id| id != endpoint_id);
                    if ids.is_empty() {
                        net.by_name.remove(n);
                    }
                }
            }
            for ip in [e.v4.map(IpAddr::V4), e.v6.map(IpAddr::V6)]
                .into_iter()
                .flatten()
            {
                if net.by_ip.get(&ip).map(String::as_str) == Some(endpoint_id) {
                    net.by_ip.remove(&ip);
                }
            }
            if net.by_name.is_empty() && net.by_ip.is_empty() {
                self.networks.remove(&e.network_id);
            }
        }
        // A sandbox has at most one endpoint per network.
        if let Some(sb) = self.owner.remove(endpoint_id) {
            if let Some(view) = self.views.get_mut(&sb) {
                view.networks.retain(|n| *n != e.network_id);
            }
        }
    }

    /// Forgets a sandbox and its endpoints.
    pub fn remove_sandbox(&mut self, sandbox_id: &str) {
        let mine: Vec<String> = self
            .owner
            .iter()
            .filter(|(_, s)| *s == sandbox_id)
            .map(|(id, _)| id.clone())
            .collect();
        for id in mine {
            self.remove(&id);
        }
        self.views.remove(sandbox_id);
    }

    /// `--dns` given to the container: the sandbox's resolver forwards there instead.
    pub fn set_upstreams(&mut self, sandbox_id: &str, servers: Option<Vec<SocketAddr>>) {
        self.views
            .entry(sandbox_id.to_string())
            .or_default()
            .upstreams = servers;
    }

    /// Whether the sandbox is on a user-defined network (and so has a resolver).
    pub fn has_view(&self, sandbox_id: &str) -> bool {
        self.views
            .get(sandbox_id)
            .is_some_and(|v| !v.networks.is_empty())
    }

    /// Addresses of `name` as seen from `sandbox_id`: the first of its networks (in attach
    /// order) that knows the name, bare or as `name.network`.
    pub fn lookup(&self, sandbox_id: &str, name: &str) -> Option<Found> {
        let view = self.views.get(sandbox_id)?;
        let q = norm(name);
        for nid in &view.networks {
            let Some(net) = self.networks.get(nid) else {
                continue;
            };
            let key = match q.strip_suffix(&net.name) {
                Some(rest) if rest.ends_with('.') && rest.len() > 1 => &rest[..rest.len() - 1],
                _ => q.as_str(),
            };
            let ids = net.by_name.get(key).or_else(|| net.by_name.get(&q));
            if let Some(ids) = ids {
                let mut found = Found::default();
                for e in ids.iter().filter_map(|id| self.entries.get(id)) {
                    found.v4.extend(e.v4);
                    found.v6.extend(e.v6);
                }
                return Some(found);
            }
        }
        None
    }

    /// `name.network.` for an address on one of the sandbox's networks.
    pub fn reverse(&self, sandbox_id: &str, ip: IpAddr) -> Option<String> {
        let view = self.views.get(sandbox_id)?;
        view.networks.iter().find_map(|nid| {
            let id = self.networks.get(nid)?.by_ip.get(&ip)?;
            self.entries.get(id).map(|e| e.ptr.clone())
        })
    }

    /// Where the sandbox's other queries go: its own `--dns`, else `default`, and nowhere when
    /// every network it is on is internal.
    pub fn upstream(&self, sandbox_id: &str, default: &[SocketAddr]) -> Upstream {
        let Some(view) = self.views.get(sandbox_id) else {
            return Upstream::None;
        };
        let all_internal = !view.networks.is_empty()
            && view
                .networks
                .iter()
                .all(|n| self.networks.get(n).is_some_and(|n| n.internal));
        if all_internal {
            return Upstream::None;
        }
        Upstream::Servers(view.upstreams.clone().unwrap_or_else(|| default.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep<'a>(
        id: &'a str,
        sb: &'a str,
        net: &'a str,
        names: &[&str],
        v4: &str,
    ) -> EndpointRecord<'a> {
        EndpointRecord {
            endpoint_id: id,
            sandbox_id: sb,
            network_id: net,
            network_name: if net == "n1" { "mynet" } else { "other" },
            internal: false,
            names: names.iter().map(|s| s.to_string()).collect(),
            v4: v4.parse().ok(),
            v6: None,
        }
    }

    #[test]
    fn names_aliases_and_network_suffix_resolve_only_on_shared_networks() {
        let mut r = Records::default();
        r.add(ep("e1", "s1", "n1", &["a1", "0123456789ab"], "10.0.0.2"));
        r.add(ep("e2", "s2", "n1", &["A2", "web"], "10.0.0.3"));
        r.add(ep("e3", "s3", "n2", &["b1", "web"], "10.1.0.2"));
        let a2 = Found {
            v4: vec!["10.0.0.3".parse().unwrap()],
            v6: vec![],
        };
        assert_eq!(r.lookup("s1", "a2"), Some(a2));
        assert!(r.lookup("s1", "a2.mynet.").is_some());
        assert!(r.lookup("s1", "A2.MYNET").is_some());
        assert!(r.lookup("s1", "web").is_some());
        assert_eq!(r.lookup("s1", "web").unwrap().v4.len(), 1);
        assert!(
            r.lookup("s1", "b1").is_none(),
            "b1 is on a network s1 is not on"
        );
        assert!(r.lookup("s2", "0123456789ab").is_some());
        assert_eq!(
            r.reverse("s1", "10.0.0.3".parse().unwrap()).as_deref(),
            Some("a2.mynet.")
        );
        assert_eq!(r.reverse("s1", "10.1.0.2".parse().unwrap()), None);
    }

    #[test]
    fn shared_alias_gives_every_address_and_removal_is_immediate() {
        let mut r = Records::default();
        r.add(ep("e1", "s1", "n1", &["c1", "svc"], "10.0.0.2"));
        r.add(ep("e2", "s2", "n1", &["c2", "svc"], "10.0.0.3"));
        assert_eq!(r.lookup("s1", "svc").unwrap().v4.len(), 2);
        r.remove_sandbox("s2");
        assert_eq!(r.lookup("s1", "svc").unwrap().v4.len(), 1);
        assert!(r.lookup("s1", "c2").is_none());
        r.remove("e1");
        assert!(!r.has_view("s1"));
        assert!(r.networks.is_empty());
    }

    #[test]
    fn internal_only_sandboxes_do_not_forward() {
        let mut r = Records::default();
        let mut e = ep("e1", "s1", "n1", &["c1"], "10.0.0.2");
        e.internal = true;
        r.add(e);
        let up: Vec<SocketAddr> = vec!["10.9.9.9:53".parse().unwrap()];
        assert_eq!(r.upstream("s1", &up), Upstream::None);
        r.add(ep("e2", "s1", "n2", &["c1"], "10.1.0.2"));
        assert_eq!(r.upstream("s1", &up), Upstream::Servers(up.clone()));
        let own: Vec<SocketAddr> = vec!["10.8.8.8:53".parse().unwrap()];
        r.set_upstreams("s1", Some(own.clone()));
        assert_eq!(r.upstream("s1", &up), Upstream::Servers(own));
    }
}

//! The engine's part of `network check` and `network graph`: every container with its running
//! state, joined to the network layer's sandboxes. Read-only.

use super::{Engine, Status};
use berth_net::reach::model::{ContainerView, LinkView, Topology};

impl Engine {
    /// The topology and the firewall's facts as berth programmed them, from one snapshot.
    pub async fn reach_state(&self) -> (Topology, berth_net::firewall::FirewallState) {
        let net = self.ctl.reach_snapshot().await;
        // Sandboxes by ID and by path, found once: a scan per container made this quadratic,
        // and every check and graph builds it.
        let mut by_id = std::collections::HashMap::new();
        let mut by_path = std::collections::HashMap::new();
        for s in &net.sandboxes {
            by_id.entry(s.id.as_str()).or_insert(s);
            by_path.entry(s.path.as_str()).or_insert(s);
        }
        // Viewed under the lock rather than cloned out first: a clone copied every
        // container's whole spec only to read a few fields of it.
        let st = self.state.lock().await;
        let mut views: Vec<ContainerView> = st
            .containers
            .values()
            .map(|c| {
                let running = c.state.status == Status::Running;
                // Its own sandbox, or the one it joined (`container:` mode shares the path).
                let sb = c
                    .sandbox_id
                    .as_deref()
                    .and_then(|id| by_id.get(id))
                    .or_else(|| {
                        (!c.sandbox_key.is_empty())
                            .then(|| by_path.get(c.sandbox_key.as_str()))
                            .flatten()
                    })
                    .copied();
                let mode = match c.spec.network_mode.as_str() {
                    "" | "default" => "bridge".to_string(),
                    m => m.to_string(),
                };
                ContainerView {
                    id: c.id.clone(),
                    name: c.name.trim_start_matches('/').to_string(),
                    running,
                    status: c.state.status.as_str().to_string(),
                    network_mode: mode,
                    networks: c.spec.networks.iter().map(|(n, _)| n.clone()).collect(),
                    endpoints: sb
                        .filter(|_| running)
                        .map(|s| s.endpoints.clone())
                        .unwrap_or_default(),
                    ports: sb
                        .filter(|_| running && c.sandbox_id.is_some())
                        .map(|s| s.ports.clone())
                        .unwrap_or_default(),
                    links: c
                        .spec
                        .links
                        .iter()
                        .map(|(target, alias)| LinkView {
                            target: target.trim_start_matches('/').to_string(),
                            alias: alias.clone(),
                        })
                        .collect(),
                    sandbox_key: (running && !c.sandbox_key.is_empty())
                        .then(|| c.sandbox_key.clone()),
                }
            })
            .collect();
        drop(st);
        views.sort_by(|a, b| a.name.cmp(&b.name));
        let topo = Topology {
            host: berth_net::reach::model::HostView {
                firewall: net.firewall_enabled,
                ..Default::default()
            },
            networks: net.networks,
            containers: views,
            cluster: net.cluster,
        };
        (topo, net.firewall)
    }
}

//! Reconcile at start: networks loaded (older records migrated), the predefined ones made
//! sure of, and the kernel made to match the store: what is missing is made again, and what
//! berth marked as its own that no record explains is removed.

use super::{Controller, EndpointState, ENDPOINTS, NETWORKS, SANDBOXES};
use crate::driver::bridge::{self, BridgeConfig};
use crate::driver::{self, DriverConfig};
use crate::endpoint::{Endpoint, Sandbox};
use crate::error::{NetError, NetResult};
use crate::ipam::SubnetPool;
use crate::network::{is_legacy_record, new_id, Network};
use berth_store::Change;
use berth_store::Store;
use chrono::Utc;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The stored networks; records of an older berth are written back in today's shape.
pub(super) fn load_networks(store: &Store) -> NetResult<BTreeMap<String, Network>> {
    let mut out = BTreeMap::new();
    for (id, raw) in store.list::<serde_json::Value>(NETWORKS)? {
        let legacy = is_legacy_record(&raw);
        let net: Network = match serde_json::from_value(raw) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(network = %id, error = %e, "cannot read a stored network; ignoring it");
                continue;
            }
        };
        if legacy {
            tracing::info!(network = %net.name, "migrating a network record to the driver-config shape");
            store.put(NETWORKS, &id, &net)?;
        }
        out.insert(id, net);
    }
    Ok(out)
}

impl Controller {
    /// The default bridge from the configuration, keeping the ID and creation time it had.
    pub(super) fn default_bridge(&self, previous: Option<&Network>) -> NetResult<Network> {
        let bip = self.cfg.bip;
        let id = previous.map(|n| n.id.clone()).unwrap_or_else(new_id);
        let created = previous.map(|n| n.created).unwrap_or_else(Utc::now);
        let options: BTreeMap<String, String> = [
            (bridge::OPT_DEFAULT_BRIDGE, "true".to_string()),
            (bridge::OPT_ICC, self.cfg.default_icc.to_string()),
            (bridge::OPT_MASQ, "true".into()),
            (bridge::OPT_HOST_BINDING, "0.0.0.0".into()),
            (bridge::OPT_NAME, self.cfg.default_bridge_name.clone()),
            (bridge::OPT_MTU, self.cfg.default_mtu.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let mut pool = SubnetPool::new(bip.trunc(), bip.addr(), true);
        if let Some(prev) = previous.and_then(|p| p.subnets.first()) {
            if prev.subnet == pool.subnet && prev.gateway == pool.gateway {
                pool = prev.clone();
            }
        }
        Ok(Network {
            id,
            created,
            subnets: vec![pool],
            options,
            driver: DriverConfig::Bridge(BridgeConfig {
                name: self.cfg.default_bridge_name.clone(),
                mtu: self.cfg.default_mtu,
                icc: self.cfg.default_icc,
                masquerade: true,
                host_binding_ipv4: IpAddr::from([0, 0, 0, 0]),
            }),
            ..Self::simple_predefined("bridge", DriverConfig::Null)
        })
    }

    fn simple_predefined(name: &str, driver: DriverConfig) -> Network {
        Network {
            id: new_id(),
            name: name.into(),
            driver,
            created: Utc::now(),
            scope: "local".into(),
            enable_ipv4: true,
            enable_ipv6: false,
            internal: false,
            attachable: false,
            ipam_driver: "default".into(),
            ipam_options: BTreeMap::new(),
            subnets: vec![],
            options: BTreeMap::new(),
            labels: BTreeMap::new(),
            predefined: true,
        }
    }

    pub(super) async fn ensure_predefined(
        &self,
        networks: &mut BTreeMap<String, Network>,
    ) -> NetResult<()> {
        let find = |nets: &BTreeMap<String, Network>, name: &str| {
            nets.values()
                .find(|n| n.predefined && n.name == name)
                .cloned()
        };
        let previous = find(networks, "bridge");
        let wanted = self.default_bridge(previous.as_ref())?;
        if previous.as_ref() != Some(&wanted) {
            if let Some(prev) = &previous {
                // bip or the device name changed: the old bridge goes, the new one is made below.
                if prev.driver != wanted.driver || prev.subnets != wanted.subnets {
                    bridge::remove(self.kernel.as_ref(), prev).await?;
                }
            }
            self.store.put(NETWORKS, &wanted.id, &wanted)?;
            networks.insert(wanted.id.clone(), wanted);
        }
        for (name, driver) in [("host", DriverConfig::Host), ("none", DriverConfig::Null)] {
            if find(networks, name).is_none() {
                let n = Self::simple_predefined(name, driver);
                self.store.put(NETWORKS, &n.id, &n)?;
                networks.insert(n.id.clone(), n);
            }
        }
        Ok(())
    }

    /// Removes links berth marked as a network's that no network explains, then makes every
    /// network's kernel objects match its record.
    pub(super) async fn reconcile(&self, networks: &BTreeMap<String, Network>) -> NetResult<()> {
        let links = self
            .kernel
            .links()
            .await
            .map_err(NetError::kernel("list links"))?;
        for link in &links {
            let Some(owner) = driver::owner(link) else {
                continue;
            };
            let explained = networks
                .get(owner)
                .is_some_and(|n| driver::of(&n.driver).host_links(n).contains(&link.name));
            if !explained {
                tracing::info!(link = %link.name, network = owner, "removing orphaned berth link");
                self.kernel
                    .delete_link(link.index)
                    .await
                    .map_err(NetError::kernel(format!(
                        "delete orphaned link {}",
                        link.name
                    )))?;
            }
        }
        self.sweep_overlay_namespaces(networks);
        for net in networks.values() {
            if let Err(e) = driver::of(&net.driver)
                .create(self.kernel.as_ref(), net)
                .await
            {
                // One broken network must not keep the daemon (and every other network) down.
                tracing::error!(network = %net.name, error = %e, "cannot restore network");
            }
        }
        Ok(())
    }

    /// At start: keeps sandboxes whose namespace is still alive and their endpoints, drops the
    /// rest, rebuilds IPAM allocations from the endpoints that remain, and unpins namespaces in
    /// berth's directory that no sandbox explains.
    pub(super) async fn reconcile_endpoints(
        &self,
        networks: &BTreeMap<String, Network>,
    ) -> NetResult<EndpointState> {
        let mut st = EndpointState::default();
        let mut changes = Vec::new();
        for (id, sb) in self.store.list::<Sandbox>(SANDBOXES)? {
            if self.kernel.enter(&sb.path).await.is_ok() {
                st.sandboxes.insert(id, sb);
            } else {
                tracing::warn!(sandbox = %id, "sandbox namespace is gone; forgetting it");
                if let Err(e) = self.kernel.delete_netns(&sb.path) {
                    tracing::debug!(sandbox = %id, error = %e, "unpin a sandbox whose namespace is gone");
                }
                changes.push(Change::delete(SANDBOXES, id));
            }
        }
        for (id, ep) in self.store.list::<Endpoint>(ENDPOINTS)? {
            if st.sandboxes.contains_key(&ep.sandbox_id) && networks.contains_key(&ep.network_id) {
                st.endpoints.insert(id, ep);
            } else {
                changes.push(Change::delete(ENDPOINTS, id));
            }
        }
        let mut held = st.endpoints.values().flat_map(|e| {
            [e.ipv4, e.ipv6]
                .into_iter()
                .flatten()
                .map(|a| (e.network_id.clone(), a.addr()))
        });
        st.ipam.rebuild(&mut held);
        if let Ok(dir) = std::fs::read_dir(&self.cfg.netns_dir) {
            for entry in dir.flatten() {
                let path = entry.path();
                if !st.sandboxes.values().any(|s| s.path == path) {
                    tracing::info!(path = %path.display(), "removing orphaned sandbox namespace");
                    if let Err(e) = self.kernel.delete_netns(&path) {
                        tracing::warn!(path = %path.display(), error = %e, "cannot remove an orphaned sandbox namespace");
                    }
                }
            }
        }
        if !changes.is_empty() {
            self.store.apply(changes)?;
        }
        Ok(st)
    }
}

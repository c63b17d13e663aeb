//! The network controller: the one owner of networks. It validates requests, decides subnets,
//! writes intent to the store before touching the kernel, and at start makes the kernel match
//! the store (recreating what is missing, removing what is berth's and unexplained).

use crate::driver::{self, bridge, NewNetwork};
use crate::error::{NetError, NetResult};
use crate::firewall::Firewall;
use crate::ipam::plan::{self, Plan};
use crate::ipam::{self, PoolSpec, SubnetPool};
use crate::network::{new_id, Network, PREDEFINED};
use crate::portmap::{ephemeral_range, PortReservations};
use crate::sys::Kernel;
use berth_store::{Store, Table};
use chrono::Utc;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

mod dns;
mod endpoints;
mod filters;
mod firewall;
mod overlay;
mod ports;
mod reconcile;
mod remote;
mod snapshot;
mod wire;

pub use crate::ipam::plan::SubnetRequest;
pub use endpoints::{EndpointState, NewSandbox};
use filters::{check_filter_keys, label_filters_match, matches_filters, parse_until};
pub use snapshot::SandboxesView;

const NETWORKS: Table = Table("networks");
const SANDBOXES: Table = Table("sandboxes");
const ENDPOINTS: Table = Table("endpoints");

/// Daemon settings the controller needs.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// `bip`: the default bridge's gateway address and prefix.
    pub bip: IpNet,
    /// Device name of the default bridge.
    pub default_bridge_name: String,
    pub default_mtu: u32,
    pub v4_pools: Vec<PoolSpec>,
    pub v6_pools: Vec<PoolSpec>,
    /// Turn on `net.ipv4.ip_forward` at start (daemon.json `ip-forward`).
    pub ip_forward: bool,
    /// Where sandboxes' network namespaces are pinned (`<exec-root>/netns`). Overlay networks'
    /// namespaces are pinned beside it, in `ovns/` of the same parent: one directory names all
    /// of a daemon's pins, so two controllers never share one (each test host has its own).
    pub netns_dir: std::path::PathBuf,
    /// Where the embedded resolver forwards names it does not know (daemon.json `dns`, else the
    /// daemon's own resolv.conf), queried from the daemon's namespace.
    pub dns_upstreams: Vec<std::net::SocketAddr>,
    /// Whether berth manages the firewall (daemon.json `iptables`); off, the firewall handed
    /// to the controller is `Disabled` and bridges get no firewall sysctls either.
    pub firewall: bool,
    /// ICC on the default bridge (daemon `--icc`); user networks set their own.
    pub default_icc: bool,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            bip: "172.17.0.1/16".parse().expect("valid default bip"),
            default_bridge_name: "berth0".into(),
            default_mtu: bridge::DEFAULT_MTU,
            v4_pools: ipam::default_v4_pools(),
            v6_pools: ipam::default_v6_pools(),
            ip_forward: true,
            netns_dir: "/run/berth/netns".into(),
            dns_upstreams: Vec::new(),
            firewall: true,
            default_icc: true,
        }
    }
}

/// A `network create`, independent of the API's wire shape.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    pub name: String,
    pub driver: String,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub config_only: bool,
    pub config_from: String,
    pub scope: String,
    pub enable_ipv4: Option<bool>,
    pub enable_ipv6: bool,
    pub ipam_driver: String,
    pub ipam_options: BTreeMap<String, String>,
    pub subnets: Vec<SubnetRequest>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

pub type Filters = BTreeMap<String, Vec<String>>;

pub struct Controller {
    kernel: Arc<dyn Kernel>,
    store: Arc<Store>,
    cfg: ControllerConfig,
    /// The daemon's namespace on a netlink socket of its own, for deletions: unregistering a
    /// netdev waits for RCU grace periods (about 40 ms here), and on the shared socket every
    /// request behind it would wait too.
    teardown_kernel: Arc<dyn Kernel>,
    /// Networks by ID. The lock serialises every change so IPAM decisions see a settled state.
    networks: Mutex<BTreeMap<String, Network>>,
    /// Links of removed networks and endpoints still being unregistered by the kernel, by
    /// device name (`sandbox:<id>:<ifname>` inside sandboxes): `remove` answers once the record
    /// is gone and this finishes in the background; a new user of the name waits for it.
    teardown: std::sync::Mutex<BTreeMap<String, JoinHandle<()>>>,
    /// Bridges of removed networks kept for the next create (see `driver/bridge_pool.rs`).
    pool: Arc<driver::BridgePool>,
    /// Sandboxes and endpoints; locked after `networks` when both are needed.
    eps: Mutex<EndpointState>,
    /// An open netlink handle per sandbox. Its socket pins the namespace, so it is dropped
    /// before the sandbox is removed.
    handles: std::sync::Mutex<BTreeMap<String, Arc<dyn Kernel>>>,
    /// The embedded DNS server of sandboxes on user-defined networks.
    dns: crate::dns::Resolver,
    firewall: Arc<dyn Firewall>,
    /// Host ports held for published ports.
    ports: std::sync::Mutex<PortReservations>,
    /// The cluster, once [`Controller::attach_cluster`] joined it (global networks).
    global: std::sync::OnceLock<Arc<overlay::Global>>,
    /// Set once the daemon is configured for a cluster, before it has joined: overlay requests
    /// meanwhile are "unavailable", not "start berthd with --cluster-store".
    cluster_expected: std::sync::atomic::AtomicBool,
}

fn bad(msg: impl Into<String>) -> NetError {
    NetError::InvalidParameter(msg.into())
}

/// Docker's rule for network names.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl Controller {
    /// Loads networks from the store, makes sure the predefined ones exist, sets the sysctls berth
    /// relies on, and reconciles the kernel with the store.
    pub async fn start(
        kernel: Arc<dyn Kernel>,
        firewall: Arc<dyn Firewall>,
        store: Arc<Store>,
        cfg: ControllerConfig,
    ) -> NetResult<Controller> {
        let networks = reconcile::load_networks(&store)?;
        let teardown_kernel = kernel
            .fork()
            .await
            .map_err(NetError::kernel("open a netlink socket for teardown"))?;
        let dns_upstreams = cfg.dns_upstreams.clone();
        // Without a firewall, published ports are served by proxies on their reservations.
        let ports = match cfg.firewall {
            true => PortReservations::new(ephemeral_range()),
            false => PortReservations::new(ephemeral_range()).proxied(),
        };
        let mut networks = networks;
        let ctl = Controller {
            kernel,
            pool: driver::BridgePool::new(teardown_kernel.clone()),
            teardown_kernel,
            store,
            cfg,
            networks: Mutex::new(BTreeMap::new()),
            teardown: std::sync::Mutex::new(BTreeMap::new()),
            eps: Mutex::new(EndpointState::default()),
            handles: std::sync::Mutex::new(BTreeMap::new()),
            dns: crate::dns::Resolver::new(dns_upstreams),
            firewall,
            ports: std::sync::Mutex::new(ports),
            global: std::sync::OnceLock::new(),
            cluster_expected: Default::default(),
        };
        ctl.ensure_predefined(&mut networks).await?;
        if ctl.cfg.ip_forward {
            ctl.kernel
                .set_sysctl("net/ipv4/ip_forward", "1")
                .map_err(NetError::kernel("enable IPv4 forwarding"))?;
        }
        ctl.reconcile(&networks).await?;
        let mut eps = ctl.reconcile_endpoints(&networks).await?;
        ctl.restore_dns(&networks, &mut eps)?;
        ctl.restore_firewall(&networks, &eps)?;
        // BERTH_FIREWALL_HEAL=0 leaves tampering in place: for looking at what a changed
        // ruleset does (and for `network check`'s tests of exactly that).
        if std::env::var_os("BERTH_FIREWALL_HEAL").is_some_and(|v| v == "0") {
            tracing::warn!("BERTH_FIREWALL_HEAL=0: berth's tables are not watched; changes by others stay until SIGHUP");
        } else if let Err(e) = ctl.firewall.clone().watch() {
            tracing::warn!(error = %e, "cannot watch the firewall: tables changed by others stay changed until SIGHUP");
        }
        *ctl.networks.lock().await = networks;
        *ctl.eps.lock().await = eps;
        Ok(ctl)
    }

    fn lookup<'a>(nets: &'a BTreeMap<String, Network>, key: &str) -> NetResult<&'a Network> {
        if key.is_empty() {
            return Err(NetError::NotFound("No such network: ".into()));
        }
        if let Some(n) = nets.get(key) {
            return Ok(n);
        }
        if let Some(n) = nets.values().find(|n| n.name == key) {
            return Ok(n);
        }
        let matches: Vec<&Network> = nets.values().filter(|n| n.id.starts_with(key)).collect();
        match matches.len() {
            1 => Ok(matches[0]),
            0 => Err(NetError::NotFound(format!("network {key} not found"))),
            n => Err(bad(format!(
                "network {key} is ambiguous ({n} matches found based on ID prefix)"
            ))),
        }
    }

    /// The network named by full ID, name, or unique ID prefix.
    pub async fn get(&self, key: &str) -> NetResult<Network> {
        Self::lookup(&*self.networks.lock().await, key).cloned()
    }

    /// Networks matching Docker's `network ls` filters, sorted by name.
    pub async fn list(&self, filters: &Filters) -> NetResult<Vec<Network>> {
        check_filter_keys(
            filters,
            &["dangling", "driver", "id", "label", "name", "scope", "type"],
        )?;
        let nets = self.networks.lock().await;
        let used: std::collections::BTreeSet<String> = {
            let eps = self.eps.lock().await;
            eps.endpoints
                .values()
                .map(|e| e.network_id.clone())
                .collect()
        };
        let mut out = Vec::new();
        for n in nets.values() {
            if matches_filters(n, filters, used.contains(&n.id))? {
                out.push(n.clone());
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Creates a network: validate everything, store it, then build it in the kernel. A kernel
    /// failure removes the record again, so a refused create changes nothing.
    pub async fn create(&self, req: CreateNetwork) -> NetResult<Network> {
        let clustered = self.global().is_some()
            || self
                .cluster_expected
                .load(std::sync::atomic::Ordering::SeqCst);
        if req.driver == "overlay" && clustered {
            return self.create_global(req).await;
        }
        let mut nets = self.networks.lock().await;
        let net = self.plan(&nets, req).await?;
        let drv = driver::of(&net.driver);
        for name in drv.host_links(&net) {
            self.wait_teardown(&name).await;
        }
        self.store.put(NETWORKS, &net.id, &net)?;
        let made = drv
            .create_pooled(self.kernel.as_ref(), &net, &self.pool)
            .await;
        if let Err(e) = made.and_then(|()| self.firewall_add_network(&net)) {
            self.store.delete(NETWORKS, &net.id)?;
            if let Err(undo) = drv.delete(self.kernel.as_ref(), &net).await {
                // The record is gone: the next start removes what is left as an orphan.
                tracing::warn!(network = %net.name, error = %undo, "cannot undo a failed create");
            }
            return Err(e);
        }
        tracing::info!(network = %net.name, id = %net.short_id(), "network created");
        nets.insert(net.id.clone(), net.clone());
        Ok(net)
    }

    async fn plan(
        &self,
        nets: &BTreeMap<String, Network>,
        req: CreateNetwork,
    ) -> NetResult<Network> {
        if req.name.is_empty() {
            return Err(bad("network name is required"));
        }
        if PREDEFINED.contains(&req.name.as_str()) {
            return Err(NetError::Forbidden(format!(
                "operation is not permitted on predefined {} network",
                req.name
            )));
        }
        if !valid_name(&req.name) {
            return Err(bad(format!(
                "invalid network name \"{}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                req.name
            )));
        }
        if nets.values().any(|n| n.name == req.name) {
            return Err(NetError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let drv = driver::for_create(&req.driver)?;
        if !matches!(req.scope.as_str(), "" | "local") {
            return Err(bad(format!(
                "invalid scope \"{}\": berth networks are local (swarm and global scopes are not supported)",
                req.scope
            )));
        }
        if req.ingress || req.config_only || !req.config_from.is_empty() {
            return Err(bad(
                "ingress, config-only and config-from networks are swarm features that berth does not support",
            ));
        }
        if !matches!(req.ipam_driver.as_str(), "" | "default") {
            return Err(NetError::NotFound(format!(
                "plugin \"{}\" not found: the only IPAM driver is \"default\"",
                req.ipam_driver
            )));
        }
        let enable_ipv4 = req.enable_ipv4.unwrap_or(true);
        if !enable_ipv4 && !req.enable_ipv6 {
            return Err(bad("a network needs IPv4 or IPv6: both are disabled"));
        }
        let id = new_id();
        let subnets = self
            .plan_subnets(nets, &req, enable_ipv4, drv.routes_on_host())
            .await?;
        let config = drv.configure(&NewNetwork {
            id: &id,
            name: &req.name,
            options: &req.options,
            internal: req.internal,
            subnets: &subnets,
            existing: nets,
        })?;
        let internal = req.internal || drv.forces_internal(&config);
        Ok(Network {
            id,
            name: req.name,
            driver: config,
            created: Utc::now(),
            scope: "local".into(),
            enable_ipv4,
            enable_ipv6: req.enable_ipv6,
            internal,
            attachable: req.attachable,
            ipam_driver: "default".into(),
            ipam_options: req.ipam_options,
            subnets,
            options: req.options,
            labels: req.labels,
            predefined: false,
        })
    }

    async fn plan_subnets(
        &self,
        nets: &BTreeMap<String, Network>,
        req: &CreateNetwork,
        enable_ipv4: bool,
        refuse_host_routes: bool,
    ) -> NetResult<Vec<SubnetPool>> {
        let in_use: Vec<(IpNet, String)> = nets
            .values()
            .flat_map(|n| n.subnets.iter().map(move |s| (s.subnet, n.name.clone())))
            .collect();
        let mut settled = false;
        loop {
            let routes = self
                .kernel
                .onlink_routes()
                .await
                .map_err(NetError::kernel("list host routes"))?;
            let planned = plan::plan(Plan {
                name: &req.name,
                subnets: &req.subnets,
                enable_ipv4,
                enable_ipv6: req.enable_ipv6,
                in_use: &in_use,
                host_routes: &routes,
                refuse_host_routes,
                v4_pools: &self.cfg.v4_pools,
                v6_pools: &self.cfg.v6_pools,
            });
            match planned {
                // A removed network's bridge may still hold its route while it goes: the
                // answer counts once every teardown has finished.
                Err(_) if !settled && !self.lock_teardown().is_empty() => {
                    self.finish_teardowns().await;
                    settled = true;
                }
                other => return other,
            }
        }
    }

    /// Removes a user-defined network: its record first, then its bridge (parked for the next
    /// create, or deleted in the background). If the kernel step fails, the next start removes
    /// the bridge as an orphan.
    pub async fn remove(&self, key: &str) -> NetResult<Network> {
        let mut nets = self.networks.lock().await;
        let net = Self::lookup(&nets, key)
            .map_err(|e| match e {
                NetError::NotFound(_) => NetError::NotFound(format!("No such network: {key}")),
                other => other,
            })?
            .clone();
        if net.predefined {
            return Err(NetError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                net.name
            )));
        }
        let drv = driver::of(&net.driver);
        let links = drv.host_links(&net);
        let active = {
            let mut eps = self.eps.lock().await;
            for name in &links {
                eps.indexes.bridges.remove(name);
            }
            eps.endpoints
                .values()
                .filter(|e| e.network_id == net.id)
                .count()
        };
        if active > 0 {
            return Err(NetError::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints ({active} attached)",
                net.name, net.id
            )));
        }
        if net.scope == "global" {
            self.remove_global(&net).await?;
            self.forget_remote_names(&net.id);
        }
        self.store.delete(NETWORKS, &net.id)?;
        nets.remove(&net.id);
        self.eps.lock().await.ipam.forget(&net.id);
        self.firewall_remove_network(&net);
        let parked = match drv.park(self.kernel.as_ref(), &net, &self.pool).await {
            Ok(parked) => parked,
            Err(e) => {
                tracing::warn!(network = %net.name, error = %e, "cannot park the network's bridge; deleting it");
                false
            }
        };
        if !parked {
            let kernel = self.teardown_kernel.clone();
            let gone = net.clone();
            let task = tokio::spawn(async move {
                if let Err(e) = driver::of(&gone.driver)
                    .delete(kernel.as_ref(), &gone)
                    .await
                {
                    // The record is gone, so the next start removes its links as orphans.
                    tracing::warn!(network = %gone.name, error = %e, "network teardown failed");
                }
            });
            // Filed under its first link's name: a bridge name is the one a new network may
            // reuse (the names of other drivers' links hold the network's own ID).
            let key = links
                .first()
                .cloned()
                .unwrap_or_else(|| format!("network:{}", net.id));
            self.lock_teardown().insert(key, task);
        }
        tracing::info!(network = %net.name, id = %net.short_id(), "network removed");
        Ok(net)
    }

    fn lock_teardown(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, JoinHandle<()>>> {
        self.teardown.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn wait_teardown(&self, bridge_name: &str) {
        let task = self.lock_teardown().remove(bridge_name);
        if let Some(t) = task {
            let _ = t.await;
        }
    }

    /// Waits until every removed network's links are gone from the kernel, parked bridges
    /// included (at shutdown, and for callers that need the kernel settled).
    pub async fn settle(&self) {
        self.finish_teardowns().await;
        self.pool.drain().await;
        self.kernel.drain_spares();
    }

    /// Waits for the deletions under way.
    async fn finish_teardowns(&self) {
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.lock_teardown())
            .into_values()
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Removes every unused user-defined network that matches the filters; returns their names.
    pub async fn prune(&self, filters: &Filters) -> NetResult<Vec<String>> {
        check_filter_keys(filters, &["label", "label!", "until"])?;
        let until = match filters.get("until").and_then(|v| v.first()) {
            Some(u) => Some(parse_until(u)?),
            None => None,
        };
        let candidates: Vec<Network> = {
            let nets = self.networks.lock().await;
            nets.values()
                .filter(|n| !n.predefined)
                .filter(|n| until.is_none_or(|t| n.created < t))
                .filter(|n| label_filters_match(n, filters))
                .cloned()
                .collect()
        };
        let mut removed = Vec::new();
        for n in candidates {
            match self.remove(&n.id).await {
                Ok(_) => removed.push(n.name),
                // In use (active endpoints) or already gone: not prunable.
                Err(NetError::NotFound(_)) | Err(NetError::Forbidden(_)) => {}
                Err(e) => return Err(e),
            }
        }
        removed.sort();
        Ok(removed)
    }
}

#[cfg(test)]
mod driver_tests;
#[cfg(test)]
mod overlay_tests;
#[cfg(test)]
mod pool_tests;
#[cfg(test)]
mod tests;

//! The network controller: the one owner of networks. It validates requests, decides subnets,
//! writes intent to the store before touching the kernel, and at start makes the kernel match
//! the store (recreating what is missing, removing what is berth's and unexplained).

use crate::driver::bridge::{self, BridgeConfig};
use crate::driver::DriverKind;
use crate::error::{NetError, NetResult};
use crate::firewall::Firewall;
use crate::ipam::{self, PoolSpec, SubnetPool};
use crate::network::{new_id, Network, PREDEFINED};
use crate::portmap::{ephemeral_range, PortReservations};
use crate::sys::Kernel;
use berth_store::{Store, Table};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

mod dns;
mod endpoints;
mod firewall;
mod snapshot;

pub use endpoints::EndpointState;

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
    /// Where sandboxes' network namespaces are pinned (`<exec-root>/netns`).
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

/// One subnet of a create request, as the user wrote it.
#[derive(Debug, Clone, Default)]
pub struct SubnetRequest {
    pub subnet: String,
    pub gateway: String,
    pub ip_range: String,
    pub aux_addresses: BTreeMap<String, String>,
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
    /// Networks by ID. The lock serialises every change so IPAM decisions see a settled state.
    networks: Mutex<BTreeMap<String, Network>>,
    /// Bridges of removed networks still being unregistered by the kernel, by device name.
    /// Unregistering a netdev waits for RCU grace periods (about 40 ms here), so `remove`
    /// answers once the record is gone and this finishes in the background.
    teardown: std::sync::Mutex<BTreeMap<String, JoinHandle<()>>>,
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

fn parse_subnet(text: &str) -> NetResult<IpNet> {
    IpNet::from_str(text.trim())
        .map(|n| n.trunc())
        .map_err(|_| {
            bad(format!(
                "Invalid subnet {text} : invalid CIDR address: {text}"
            ))
        })
}

fn parse_ip(what: &str, text: &str) -> NetResult<IpAddr> {
    IpAddr::from_str(text.trim())
        .map_err(|_| bad(format!("invalid {what} address {text}: not an IP address")))
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
        let mut networks: BTreeMap<String, Network> =
            store.list::<Network>(NETWORKS)?.into_iter().collect();
        let dns_upstreams = cfg.dns_upstreams.clone();
        // Without a firewall, published ports are served by proxies on their reservations.
        let ports = match cfg.firewall {
            true => PortReservations::new(ephemeral_range()),
            false => PortReservations::new(ephemeral_range()).proxied(),
        };
        let ctl = Controller {
            kernel,
            store,
            cfg,
            networks: Mutex::new(BTreeMap::new()),
            teardown: std::sync::Mutex::new(BTreeMap::new()),
            eps: Mutex::new(EndpointState::default()),
            handles: std::sync::Mutex::new(BTreeMap::new()),
            dns: crate::dns::Resolver::new(dns_upstreams),
            firewall,
            ports: std::sync::Mutex::new(ports),
        };
        ctl.ensure_predefined(&mut networks).await?;
        if ctl.cfg.ip_forward {
            ctl.kernel
                .set_sysctl("net/ipv4/ip_forward", "1")
                .map_err(NetError::kernel("enable IPv4 forwarding"))?;
        }
        ctl.reconcile(&networks).await?;
        let mut eps = ctl.reconcile_endpoints(&mut networks).await?;
        ctl.restore_dns(&networks, &mut eps)?;
        ctl.restore_firewall(&networks, &eps)?;
        *ctl.networks.lock().await = networks;
        *ctl.eps.lock().await = eps;
        Ok(ctl)
    }

    /// The default bridge from the configuration, keeping the ID and creation time it had.
    fn default_bridge(&self, previous: Option<&Network>) -> NetResult<Network> {
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
            bridge: Some(BridgeConfig {
                name: self.cfg.default_bridge_name.clone(),
                mtu: self.cfg.default_mtu,
                icc: self.cfg.default_icc,
                masquerade: true,
                host_binding_ipv4: IpAddr::from([0, 0, 0, 0]),
            }),
            ..Self::simple_predefined("bridge", DriverKind::Bridge)
        })
    }

    fn simple_predefined(name: &str, driver: DriverKind) -> Network {
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
            bridge: None,
        }
    }

    async fn ensure_predefined(&self, networks: &mut BTreeMap<String, Network>) -> NetResult<()> {
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
                if prev.bridge != wanted.bridge || prev.subnets != wanted.subnets {
                    bridge::remove(self.kernel.as_ref(), prev).await?;
                }
            }
            self.store.put(NETWORKS, &wanted.id, &wanted)?;
            networks.insert(wanted.id.clone(), wanted);
        }
        for (name, driver) in [("host", DriverKind::Host), ("none", DriverKind::Null)] {
            if find(networks, name).is_none() {
                let n = Self::simple_predefined(name, driver);
                self.store.put(NETWORKS, &n.id, &n)?;
                networks.insert(n.id.clone(), n);
            }
        }
        Ok(())
    }

    async fn reconcile(&self, networks: &BTreeMap<String, Network>) -> NetResult<()> {
        let links = self
            .kernel
            .links()
            .await
            .map_err(NetError::kernel("list links"))?;
        for link in &links {
            let Some(owner) = bridge::owner(link) else {
                continue;
            };
            let explained = networks.get(owner).and_then(|n| n.bridge.as_ref());
            if explained.map(|b| b.name.as_str()) != Some(link.name.as_str()) {
                tracing::info!(link = %link.name, network = owner, "removing orphaned berth bridge");
                self.kernel
                    .delete_link(link.index)
                    .await
                    .map_err(NetError::kernel(format!(
                        "delete orphaned bridge {}",
                        link.name
                    )))?;
            }
        }
        for net in networks.values() {
            if let Err(e) = bridge::ensure(self.kernel.as_ref(), net).await {
                // One broken network must not keep the daemon (and every other network) down.
                tracing::error!(network = %net.name, error = %e, "cannot restore network");
            }
        }
        Ok(())
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
        let mut nets = self.networks.lock().await;
        let net = self.plan(&nets, req).await?;
        if let Some(b) = &net.bridge {
            self.wait_teardown(&b.name).await;
        }
        self.store.put(NETWORKS, &net.id, &net)?;
        let made = bridge::ensure(self.kernel.as_ref(), &net).await;
        if let Err(e) = made.and_then(|()| self.firewall_add_network(&net)) {
            self.store.delete(NETWORKS, &net.id)?;
            let _ = bridge::remove(self.kernel.as_ref(), &net).await;
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
        let driver = DriverKind::for_create(&req.driver)?;
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
        let bridge_cfg = bridge::parse_options(&req.options, &id)?;
        if let Some(other) = nets
            .values()
            .find(|n| n.bridge.as_ref().map(|b| &b.name) == Some(&bridge_cfg.name))
        {
            return Err(NetError::Conflict(format!(
                "bridge name {} is already used by network {}",
                bridge_cfg.name, other.name
            )));
        }
        let subnets = self.plan_subnets(nets, &req, enable_ipv4).await?;
        Ok(Network {
            id,
            name: req.name,
            driver,
            created: Utc::now(),
            scope: "local".into(),
            enable_ipv4,
            enable_ipv6: req.enable_ipv6,
            internal: req.internal,
            attachable: req.attachable,
            ipam_driver: "default".into(),
            ipam_options: req.ipam_options,
            subnets,
            options: req.options,
            labels: req.labels,
            predefined: false,
            bridge: Some(bridge_cfg),
        })
    }

    async fn plan_subnets(
        &self,
        nets: &BTreeMap<String, Network>,
        req: &CreateNetwork,
        enable_ipv4: bool,
    ) -> NetResult<Vec<SubnetPool>> {
        let mut in_use: Vec<(IpNet, String)> = nets
            .values()
            .flat_map(|n| n.subnets.iter().map(move |s| (s.subnet, n.name.clone())))
            .collect();
        let mut pools = Vec::new();
        for s in &req.subnets {
            if s.subnet.trim().is_empty() {
                if !s.gateway.is_empty() || !s.ip_range.is_empty() || !s.aux_addresses.is_empty() {
                    return Err(bad(
                        "every ip-range or gateway must have a corresponding subnet",
                    ));
                }
                continue;
            }
            let subnet = parse_subnet(&s.subnet)?;
            if subnet.addr().is_ipv6() && !req.enable_ipv6 {
                return Err(bad(format!(
                    "subnet {subnet} is IPv6 but IPv6 is not enabled on this network (add --ipv6)"
                )));
            }
            if subnet.addr().is_ipv4() && !enable_ipv4 {
                return Err(bad(format!(
                    "subnet {subnet} is IPv4 but IPv4 is disabled on this network"
                )));
            }
            if let Some((used, owner)) = in_use.iter().find(|(u, _)| ipam::overlaps(u, &subnet)) {
                return Err(NetError::Forbidden(format!(
                    "Pool overlaps with other one on this address space: {subnet} overlaps {used} of network {owner}"
                )));
            }
            let (gateway, given) = if s.gateway.trim().is_empty() {
                (SubnetPool::first_host(&subnet), false)
            } else {
                let gw = parse_ip("gateway", &s.gateway)?;
                if !subnet.contains(&gw) {
                    return Err(bad(format!("no matching subnet for gateway {}", s.gateway)));
                }
                (gw, true)
            };
            if gateway == subnet.network() && subnet.prefix_len() < subnet.max_prefix_len() - 1
                || (gateway.is_ipv4() && gateway == subnet.broadcast() && subnet.prefix_len() < 31)
            {
                return Err(bad(format!(
                    "invalid gateway {gateway}: it is the network or broadcast address of {subnet}"
                )));
            }
            let mut pool = SubnetPool::new(subnet, gateway, given);
            if !s.ip_range.trim().is_empty() {
                let range = IpNet::from_str(s.ip_range.trim())
                    .map_err(|_| bad(format!("invalid ip-range {}: not a CIDR", s.ip_range)))?;
                if !subnet.contains(&range) {
                    return Err(bad(format!("no matching subnet for range {}", s.ip_range)));
                }
                pool.ip_range = Some(range.trunc());
            }
            for (name, addr) in &s.aux_addresses {
                let ip = parse_ip("auxiliary", addr)?;
                if !subnet.contains(&ip) {
                    return Err(bad(format!(
                        "no matching subnet for aux-address {name}={addr}"
                    )));
                }
                pool.aux.insert(name.clone(), ip);
            }
            in_use.push((subnet, req.name.clone()));
            pools.push(pool);
        }
        let has_v4 = pools.iter().any(|p| p.subnet.addr().is_ipv4());
        let has_v6 = pools.iter().any(|p| p.subnet.addr().is_ipv6());
        let need_v4 = enable_ipv4 && !has_v4;
        let need_v6 = req.enable_ipv6 && !has_v6;
        if need_v4 || need_v6 {
            let mut taken: Vec<IpNet> = in_use.iter().map(|(n, _)| *n).collect();
            taken.extend(
                self.kernel
                    .onlink_routes()
                    .await
                    .map_err(NetError::kernel("list host routes"))?,
            );
            for (need, v6, pools_cfg) in [
                (need_v4, false, &self.cfg.v4_pools),
                (need_v6, true, &self.cfg.v6_pools),
            ] {
                if !need {
                    continue;
                }
                let subnet = ipam::next_free_subnet(pools_cfg, &taken, v6).ok_or_else(|| {
                    bad(format!(
                        "could not find an available, non-overlapping IPv{} address pool among the defaults to assign to the network ({} pools configured, all in use or overlapping host routes)",
                        if v6 { 6 } else { 4 },
                        pools_cfg.iter().filter(|p| p.base.addr().is_ipv6() == v6).count()
                    ))
                })?;
                taken.push(subnet);
                let mut pool = SubnetPool::new(subnet, SubnetPool::first_host(&subnet), false);
                pool.auto = true;
                pools.push(pool);
            }
        }
        pools.sort_by_key(|p| p.subnet.addr().is_ipv6());
        Ok(pools)
    }

    /// Removes a user-defined network: its record first, then its bridge. If the kernel step
    /// fails, the next start removes the bridge as an orphan.
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
        let active = {
            let mut eps = self.eps.lock().await;
            if let Some(b) = &net.bridge {
                eps.indexes.bridges.remove(&b.name);
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
        self.store.delete(NETWORKS, &net.id)?;
        nets.remove(&net.id);
        self.firewall_remove_network(&net);
        if let Some(b) = &net.bridge {
            let kernel = self.kernel.clone();
            let gone = net.clone();
            let task = tokio::spawn(async move {
                if let Err(e) = bridge::remove(kernel.as_ref(), &gone).await {
                    // The record is gone, so the next start removes the bridge as an orphan.
                    tracing::warn!(network = %gone.name, error = %e, "bridge teardown failed");
                }
            });
            self.lock_teardown().insert(b.name.clone(), task);
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

    /// Waits until every removed network's bridge is gone from the kernel (at shutdown, and for
    /// callers that need the kernel settled).
    pub async fn settle(&self) {
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

fn check_filter_keys(filters: &Filters, allowed: &[&str]) -> NetResult<()> {
    for key in filters.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(bad(format!(
                "invalid filter '{key}'; allowed filters: {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

fn label_matches(n: &Network, spec: &str) -> bool {
    match spec.split_once('=') {
        Some((k, v)) => n.labels.get(k).is_some_and(|have| have == v),
        None => n.labels.contains_key(spec),
    }
}

fn label_filters_match(n: &Network, filters: &Filters) -> bool {
    filters
        .get("label")
        .is_none_or(|want| want.iter().all(|l| label_matches(n, l)))
        && filters
            .get("label!")
            .is_none_or(|deny| !deny.iter().any(|l| label_matches(n, l)))
}

fn matches_filters(n: &Network, filters: &Filters, in_use: bool) -> NetResult<bool> {
    let any = |key: &str, pred: &dyn Fn(&str) -> bool| -> bool {
        filters
            .get(key)
            .is_none_or(|vals| vals.is_empty() || vals.iter().any(|v| pred(v)))
    };
    if let Some(types) = filters.get("type") {
        for t in types {
            if t != "custom" && t != "builtin" {
                return Err(bad(format!(
                    "invalid filter: 'type'='{t}'; allowed types are custom and builtin"
                )));
            }
        }
    }
    if let Some(d) = filters.get("dangling") {
        for v in d {
            if !matches!(v.as_str(), "true" | "false" | "1" | "0") {
                return Err(bad(format!(
                    "invalid filter 'dangling={v}': expected true or false"
                )));
            }
        }
    }
    Ok(any("driver", &|v| n.driver.name() == v)
        && any("id", &|v| n.id.starts_with(v))
        && any("name", &|v| n.name.contains(v))
        && any("scope", &|v| n.scope == v)
        && any("type", &|v| (v == "builtin") == n.predefined)
        // Docker's dangling: user-defined and without endpoints.
        && any("dangling", &|v| matches!(v, "true" | "1") == (!n.predefined && !in_use))
        && label_filters_match(n, filters))
}

/// Docker's `until` filter: a duration back from now (`24h`, `90m`), a Unix time, or RFC 3339.
fn parse_until(text: &str) -> NetResult<DateTime<Utc>> {
    let err = || {
        bad(format!(
            "invalid until filter '{text}': expected a duration (10m, 24h), a Unix timestamp or an RFC 3339 time"
        ))
    };
    if let Some((num, unit)) = text
        .char_indices()
        .last()
        .map(|(i, c)| (&text[..i], c))
        .filter(|(_, c)| matches!(c, 's' | 'm' | 'h'))
    {
        if let Ok(n) = num.parse::<i64>() {
            let secs = match unit {
                's' => n,
                'm' => n * 60,
                _ => n * 3600,
            };
            return Ok(Utc::now() - chrono::Duration::seconds(secs));
        }
    }
    if let Ok(secs) = text.parse::<i64>() {
        return DateTime::from_timestamp(secs, 0).ok_or_else(err);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| err())
}

#[cfg(test)]
mod tests;

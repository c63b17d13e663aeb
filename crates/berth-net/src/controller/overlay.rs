//! Global (overlay) networks: the cluster store holds them, every host mirrors them into its
//! own network table and kernel, and endpoints are claimed cluster-wide. Each host watches the
//! other hosts' endpoints and keeps its VXLAN devices' static entries and its resolver's names
//! in step (see [`super::remote`]).

use super::{bad, valid_name, Controller, CreateNetwork, NETWORKS};
use crate::driver::{self, overlay};
use crate::endpoint::EndpointOptions;
use crate::error::{NetError, NetResult};
use crate::ipam::SubnetPool;
use crate::network::{new_id, Network, PREDEFINED};
use berth_cluster::{
    Cluster, ClusterError, EndpointRecord, EndpointSpec, NetworkRecord, NetworkSpec,
};
use chrono::{TimeZone, Utc};
use ipnet::{IpNet, Ipv4Net};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What the controller knows of its cluster.
pub(super) struct Global {
    pub cluster: Arc<Cluster>,
    /// The live nodes as the node watch keeps them (check, graph and topology read this).
    pub live: Arc<berth_cluster::LiveNodes>,
    /// This node's advertise address.
    pub local: Ipv4Addr,
    /// The MTU of the link holding the advertise address.
    pub underlay_mtu: u32,
    /// Where overlay networks' namespaces are pinned.
    pub ovns_dir: std::path::PathBuf,
    /// Handles on overlay networks' namespaces, by network ID, for the remote entries. A
    /// handle's socket keeps its namespace alive: dropped when the network goes.
    pub ns_handles: std::sync::Mutex<BTreeMap<String, Arc<dyn crate::sys::Kernel>>>,
    /// Other nodes' endpoints as the store has them, by (network ID, endpoint name).
    pub remote: std::sync::Mutex<BTreeMap<(String, String), EndpointRecord>>,
    /// Advertise addresses of nodes, by node ID.
    pub nodes: std::sync::Mutex<BTreeMap<String, Ipv4Addr>>,
    /// Remote endpoints that went because their node's lease did (not released by it), and
    /// when: `network check` names them rather than not knowing them.
    pub lost: std::sync::Mutex<BTreeMap<(String, String), (EndpointRecord, std::time::Instant)>>,
    /// The watch tasks; they end with the controller.
    pub tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Set when this node's claims in the store may not match its endpoints: a release the
    /// store did not answer, a claim whose answer was lost, a lease that expired. The resync
    /// reconciles them once the store answers.
    pub claims_stale: AtomicBool,
    /// Global networks not built on this host because their subnet overlaps a local network,
    /// by network ID: the message `/info` shows as a warning.
    pub conflicts: std::sync::Mutex<BTreeMap<String, String>>,
}

impl Drop for Global {
    fn drop(&mut self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

/// The network layer's error for a cluster one; the message is the cluster's own ("cluster
/// store unavailable: …" when etcd does not answer).
pub(super) fn cluster_err(e: ClusterError) -> NetError {
    match e {
        ClusterError::NotFound(m) => NetError::NotFound(m),
        ClusterError::Conflict(m) => NetError::Conflict(m),
        ClusterError::Invalid(m) => NetError::InvalidParameter(m),
        e @ ClusterError::Unavailable(_) => NetError::Unavailable(e.to_string()),
        other => NetError::Cluster(other.to_string()),
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn overlap(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The IPv4 subnets of this host's local (not global) networks, with their names.
fn local_v4_subnets(nets: &BTreeMap<String, Network>) -> Vec<(Ipv4Net, String)> {
    nets.values()
        .filter(|n| n.scope != "global")
        .flat_map(|n| {
            n.subnets.iter().filter_map(move |s| match s.subnet {
                IpNet::V4(v4) => Some((v4, n.name.clone())),
                IpNet::V6(_) => None,
            })
        })
        .collect()
}

/// The first IP address of an advertise string (`IP`, `IP:PORT`).
pub(super) fn advertise_ip(advertise: &str) -> Option<Ipv4Addr> {
    advertise
        .parse()
        .ok()
        .or_else(|| advertise.rsplit_once(':')?.0.parse().ok())
}

fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub(super) fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    parts.try_into().ok()
}

/// A random locally administered unicast MAC: chosen before the address is (the claim records
/// both at once), unique enough across a cluster.
fn random_mac() -> [u8; 6] {
    let r: [u8; 4] = rand::random();
    [0x02, 0x42, r[0], r[1], r[2], r[3]]
}

/// This host's copy of a global network.
pub(super) fn local_network(rec: &NetworkRecord, g: &Global) -> Network {
    let mut options = rec.options.clone();
    options.insert(overlay::OPT_VXLANID_LIST.into(), rec.vni.to_string());
    let cfg = overlay::config(
        &g.ovns_dir,
        &rec.id,
        rec.vni,
        g.local,
        rec.mtu,
        g.underlay_mtu,
    );
    Network {
        id: rec.id.clone(),
        name: rec.name.clone(),
        driver: driver::DriverConfig::Overlay(cfg),
        created: Utc
            .timestamp_opt(rec.created, 0)
            .single()
            .unwrap_or_else(Utc::now),
        scope: "global".into(),
        enable_ipv4: true,
        enable_ipv6: false,
        internal: rec.internal,
        attachable: rec.attachable,
        ipam_driver: "default".into(),
        ipam_options: BTreeMap::new(),
        subnets: vec![SubnetPool {
            subnet: IpNet::V4(rec.subnet),
            gateway: IpAddr::V4(rec.gateway),
            gateway_given: true,
            // Addresses come from the cluster and reach the local allocator as requested ones.
            auto: false,
            ip_range: rec.ip_range.map(IpNet::V4),
            aux: BTreeMap::new(),
        }],
        options,
        labels: rec.labels.clone(),
        predefined: false,
    }
}

fn parse_v4<T: std::str::FromStr>(what: &str, value: &str) -> NetResult<Option<T>> {
    if value.is_empty() {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| {
        bad(format!(
            "invalid {what} \"{value}\": overlay networks take IPv4 only"
        ))
    })
}

/// The cluster's request for `network create -d overlay`, checked.
fn spec(req: &CreateNetwork) -> NetResult<NetworkSpec> {
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
    if !matches!(req.scope.as_str(), "" | "global") {
        return Err(bad(format!(
            "invalid scope \"{}\" for an overlay network: overlay networks are global",
            req.scope
        )));
    }
    if req.enable_ipv6 || req.enable_ipv4 == Some(false) {
        return Err(bad("overlay networks are IPv4 only in berth"));
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
    if req.subnets.len() > 1 {
        return Err(bad("an overlay network has one IPv4 subnet"));
    }
    let mtu = overlay::parse_options(&req.options)?;
    let mut s = NetworkSpec {
        id: new_id(),
        name: req.name.clone(),
        attachable: req.attachable,
        internal: req.internal,
        mtu,
        options: req.options.clone(),
        labels: req.labels.clone(),
        ..NetworkSpec::default()
    };
    if let Some(r) = req.subnets.first() {
        if !r.aux_addresses.is_empty() {
            return Err(bad("--aux-address is not supported on overlay networks"));
        }
        s.subnet = parse_v4::<Ipv4Net>("subnet", &r.subnet)?.map(|n| n.trunc());
        s.gateway = parse_v4::<Ipv4Addr>("gateway", &r.gateway)?;
        s.ip_range = parse_v4::<Ipv4Net>("ip-range", &r.ip_range)?;
    }
    Ok(s)
}

impl Controller {
    /// Where overlay networks' namespaces are pinned: beside the sandboxes' directory, whose
    /// sweep at start would take them for orphaned sandboxes.
    pub(super) fn ovns_dir(&self) -> std::path::PathBuf {
        self.cfg.netns_dir.with_file_name("ovns")
    }

    /// A handle on overlay network `net`'s namespace (kept for the next call), or None while
    /// it is not there.
    pub(super) async fn ns_kernel(&self, net: &Network) -> Option<Arc<dyn crate::sys::Kernel>> {
        let g = self.global()?;
        if let Some(k) = lock(&g.ns_handles).get(&net.id) {
            return Some(k.clone());
        }
        let k = overlay::of(net)
            .ok()
            .map(|c| crate::driver::ovns::enter(self.kernel.as_ref(), c));
        let k = k?.await?;
        lock(&g.ns_handles).insert(net.id.clone(), k.clone());
        Some(k)
    }

    /// Lets go of the handle on `id`'s namespace (its network was built again or removed).
    pub(super) fn forget_ns_kernel(&self, id: &str) {
        if let Some(g) = self.global() {
            lock(&g.ns_handles).remove(id);
        }
    }

    /// At start: unpins overlay namespaces that no stored network explains (a crash between
    /// a network's removal and its namespace's).
    pub(super) fn sweep_overlay_namespaces(&self, networks: &BTreeMap<String, Network>) {
        let Ok(dir) = std::fs::read_dir(self.ovns_dir()) else {
            return;
        };
        for entry in dir.flatten() {
            let path = entry.path();
            let explained = networks
                .values()
                .filter_map(|n| overlay::of(n).ok())
                .any(|c| c.netns == path);
            if !explained {
                tracing::info!(path = %path.display(), "removing an orphaned overlay namespace");
                if let Err(e) = self.kernel.delete_netns(&path) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove an orphaned overlay namespace");
                }
            }
        }
    }

    pub(super) fn global(&self) -> Option<&Arc<Global>> {
        self.global.get()
    }

    fn need_global(&self) -> NetResult<&Arc<Global>> {
        self.global().ok_or_else(|| {
            if self.cluster_expected.load(Ordering::SeqCst) {
                NetError::Unavailable(
                    "cluster store unavailable: this daemon has not joined its cluster yet (see berth info)".into(),
                )
            } else {
                bad("overlay networks need a cluster: start berthd with --cluster-store etcd://HOST:PORT and --cluster-advertise IP")
            }
        })
    }

    /// `network create -d overlay`: the record goes to the cluster (name, subnet and VNI are
    /// claimed there in one transaction), then this host builds its copy at once; the others
    /// build theirs when their watch sees it.
    pub(super) async fn create_global(&self, req: CreateNetwork) -> NetResult<Network> {
        let g = self.need_global()?.clone();
        let mut spec = spec(&req)?;
        let mut nets = self.networks.lock().await;
        if let Some(n) = nets.values().find(|n| n.name == req.name) {
            return Err(NetError::Conflict(format!(
                "network with name {} already exists",
                n.name
            )));
        }
        // The overlay subnet is routed on this host: it may not meet a local network's, and a
        // subnet the cluster chooses skips them.
        let local = local_v4_subnets(&nets);
        if let Some(subnet) = spec.subnet {
            if let Some((used, owner)) = local.iter().find(|(l, _)| overlap(*l, subnet)) {
                return Err(NetError::Forbidden(format!(
                    "Pool overlaps with other one on this address space: {subnet} overlaps {used} of local network {owner}"
                )));
            }
        }
        spec.avoid = local.iter().map(|(s, _)| *s).collect();
        let rec = g.cluster.create_network(&spec).await.map_err(cluster_err)?;
        let net = local_network(&rec, &g);
        if let Err(e) = self.materialize(&mut nets, &net).await {
            if let Err(undo) = g.cluster.remove_network(&rec.id).await {
                tracing::warn!(network = %rec.name, error = %undo, "cannot undo a global network this host failed to build");
            }
            return Err(e);
        }
        tracing::info!(network = %net.name, vni = rec.vni, "global network created");
        Ok(net)
    }

    /// Builds this host's copy of a global network (record, kernel, firewall) and programs the
    /// remote endpoints already known on it.
    pub(super) async fn materialize(
        &self,
        nets: &mut BTreeMap<String, Network>,
        net: &Network,
    ) -> NetResult<()> {
        if nets.contains_key(&net.id) {
            return Ok(());
        }
        if let Some(msg) = self.overlap_note(nets, net) {
            return Err(NetError::Forbidden(msg));
        }
        let drv = driver::of(&net.driver);
        for name in drv.host_links(net) {
            self.wait_teardown(&name).await;
        }
        self.store.put(NETWORKS, &net.id, net)?;
        self.forget_ns_kernel(&net.id);
        let made = drv.create(self.kernel.as_ref(), net).await;
        if let Err(e) = made.and_then(|()| self.firewall_add_network(net)) {
            self.store.delete(NETWORKS, &net.id)?;
            if let Err(undo) = drv.delete(self.kernel.as_ref(), net).await {
                tracing::warn!(network = %net.name, error = %undo, "cannot undo a failed overlay build");
            }
            return Err(e);
        }
        nets.insert(net.id.clone(), net.clone());
        self.program_network(net).await;
        Ok(())
    }

    /// Takes this host's copy of a global network away (the cluster record is gone).
    pub(super) async fn unmaterialize(&self, nets: &mut BTreeMap<String, Network>, id: &str) {
        let Some(net) = nets.get(id).cloned() else {
            return;
        };
        let active = self
            .eps
            .lock()
            .await
            .endpoints
            .values()
            .any(|e| e.network_id == net.id);
        if active {
            tracing::warn!(network = %net.name, "global network removed from the cluster while this host has endpoints on it; keeping it here");
            return;
        }
        if let Err(e) = self.store.delete(NETWORKS, &net.id) {
            tracing::warn!(network = %net.name, error = %e, "cannot forget a removed global network");
            return;
        }
        nets.remove(&net.id);
        self.forget_ns_kernel(&net.id);
        self.eps.lock().await.ipam.forget(&net.id);
        self.firewall_remove_network(&net);
        self.forget_remote_names(&net.id);
        if let Err(e) = driver::of(&net.driver)
            .delete(self.teardown_kernel.as_ref(), &net)
            .await
        {
            tracing::warn!(network = %net.name, error = %e, "overlay teardown failed");
        }
        tracing::info!(network = %net.name, "global network removed");
    }

    /// `network rm` of a global network: the cluster refuses while any host has endpoints.
    pub(super) async fn remove_global(&self, net: &Network) -> NetResult<()> {
        let g = self.need_global()?;
        match g.cluster.remove_network(&net.id).await {
            Ok(_) | Err(ClusterError::NotFound(_)) => Ok(()),
            Err(ClusterError::Conflict(m)) => Err(NetError::Forbidden(format!(
                "error while removing network: {m}"
            ))),
            Err(e) => Err(cluster_err(e)),
        }
    }

    /// For an endpoint joining a global network: claims its address cluster-wide and hands it
    /// (with the MAC) to the local allocator as a requested one. Other networks pass through.
    pub(super) async fn claim_global(
        &self,
        net: Option<&Network>,
        mut opts: EndpointOptions,
    ) -> NetResult<(EndpointOptions, Option<(String, String)>)> {
        let Some(net) = net.filter(|n| n.scope == "global") else {
            return Ok((opts, None));
        };
        let g = self.need_global()?.clone();
        let ip = match opts.ipv4 {
            Some(IpAddr::V4(v4)) => Some(v4),
            Some(IpAddr::V6(v6)) => {
                return Err(bad(format!(
                    "invalid address {v6}: overlay network {} is IPv4 only",
                    net.name
                )))
            }
            None => None,
        };
        if opts.ipv6.is_some() {
            return Err(bad(format!("overlay network {} is IPv4 only", net.name)));
        }
        let mac = opts.mac.unwrap_or_else(random_mac);
        let rec = g
            .cluster
            .claim_endpoint(
                &net.id,
                &EndpointSpec {
                    name: opts.name.clone(),
                    aliases: opts.aliases.clone(),
                    mac: mac_string(&mac),
                    container_id: opts.owner.clone(),
                    ip,
                },
            )
            .await
            .map_err(|e| match e {
                ClusterError::Conflict(m) if ip.is_none() => NetError::Forbidden(format!(
                    "endpoint with name {} already exists in network {}: {m}",
                    opts.name, net.name
                )),
                other => {
                    // An unanswered claim may still have been applied.
                    if matches!(other, ClusterError::Unavailable(_)) {
                        g.claims_stale.store(true, Ordering::SeqCst);
                    }
                    cluster_err(other)
                }
            })?;
        opts.ipv4 = Some(IpAddr::V4(rec.ip));
        opts.mac = Some(mac);
        Ok((opts, Some((net.id.clone(), rec.name))))
    }

    /// Gives back a cluster claim (a failed attach, a detach, a removed sandbox). A failure
    /// is logged: the claim lives under this node's lease, and the next start takes back what
    /// its local state does not explain.
    pub(super) async fn release_global(&self, claim: Option<(String, String)>) {
        let (Some((net, name)), Some(g)) = (claim, self.global()) else {
            return;
        };
        match g.cluster.release_endpoint(&net, &name).await {
            Ok(_) | Err(ClusterError::NotFound(_)) => {}
            Err(e) => {
                g.claims_stale.store(true, Ordering::SeqCst);
                tracing::warn!(network = %net, endpoint = %name, error = %e, "cannot release a cluster endpoint claim; released when the store answers");
            }
        }
    }

    /// Reconciles this node's claims with its endpoints when they may differ (see
    /// [`Global::claims_stale`]); a pass the store does not answer is tried again later.
    pub(super) async fn reconcile_claims_if_stale(&self) {
        let Some(g) = self.global().cloned() else {
            return;
        };
        if !g.claims_stale.swap(false, Ordering::SeqCst) {
            return;
        }
        if let Err(e) = self.reconcile_claims().await {
            g.claims_stale.store(true, Ordering::SeqCst);
            tracing::warn!(error = %e, "cannot reconcile this node's cluster claims yet");
        }
    }

    /// Makes this node's claims in the store match its endpoints on global networks: claims
    /// no local endpoint explains are released, endpoints whose claim the store lost (an
    /// expired lease) are claimed again.
    pub(super) async fn reconcile_claims(&self) -> NetResult<()> {
        let Some(g) = self.global().cloned() else {
            return Ok(());
        };
        // Both locks for the whole pass: a run claims before it records its endpoint, under
        // these locks, so an unexplained claim seen here is one no operation is still making.
        let nets = self.networks.lock().await;
        let eps = self.eps.lock().await;
        let stored = g.cluster.endpoints(None).await.map_err(cluster_err)?;
        let me = g.cluster.node().id().to_string();
        let mine: Vec<&EndpointRecord> = stored.iter().filter(|r| r.node == me).collect();
        for rec in &mine {
            let explained = eps
                .endpoints
                .values()
                .any(|e| e.network_id == rec.network_id && e.name == rec.name);
            if !explained {
                tracing::info!(network = %rec.network_id, endpoint = %rec.name, "releasing a cluster claim no local endpoint explains");
                match g.cluster.release_endpoint(&rec.network_id, &rec.name).await {
                    Ok(_) | Err(ClusterError::NotFound(_)) => {}
                    Err(e) => return Err(cluster_err(e)),
                }
            }
        }
        for ep in eps.endpoints.values() {
            let Some(net) = nets.get(&ep.network_id).filter(|n| n.scope == "global") else {
                continue;
            };
            if mine
                .iter()
                .any(|r| r.network_id == ep.network_id && r.name == ep.name)
            {
                continue;
            }
            let opts = EndpointOptions {
                owner: ep.owner.clone(),
                name: ep.name.clone(),
                ipv4: ep.ipv4.map(|a| a.addr()),
                ipv6: None,
                mac: Some(ep.mac),
                aliases: ep.aliases.clone(),
            };
            tracing::info!(network = %net.name, endpoint = %ep.name, "claiming a local endpoint the cluster lost");
            if let Err(e) = self.claim_global(Some(net), opts).await {
                if matches!(e, NetError::Unavailable(_)) {
                    return Err(e);
                }
                tracing::warn!(endpoint = %ep.name, network = %net.name, error = %e, "cannot claim a local endpoint again");
            }
        }
        Ok(())
    }

    /// Why a global network cannot be built here, if its subnet overlaps a local network's
    /// (the host would route one subnet to two bridges). Said once per network in the log, and
    /// kept for `/info`'s warnings until the overlap is gone.
    fn overlap_note(&self, nets: &BTreeMap<String, Network>, net: &Network) -> Option<String> {
        let g = self.global()?;
        let subnet = net.subnets.first().and_then(|s| match s.subnet {
            IpNet::V4(v4) => Some(v4),
            IpNet::V6(_) => None,
        })?;
        let Some((used, owner)) = local_v4_subnets(nets)
            .into_iter()
            .find(|(l, _)| overlap(*l, subnet))
        else {
            lock(&g.conflicts).remove(&net.id);
            return None;
        };
        let msg = format!(
            "global network {} ({subnet}) is not available on this host: its subnet overlaps {used} of local network {owner}; remove {owner} (or the global network) to use it here",
            net.name
        );
        if lock(&g.conflicts)
            .insert(net.id.clone(), msg.clone())
            .is_none()
        {
            tracing::error!(network = %net.name, local = %owner, %subnet, "{msg}");
        }
        Some(msg)
    }

    /// Tries again to build the global networks an overlap kept off this host (the local
    /// network may be gone now), and forgets those the cluster no longer has.
    pub(super) async fn retry_conflicts(&self) {
        let Some(g) = self.global().cloned() else {
            return;
        };
        if lock(&g.conflicts).is_empty() {
            return;
        }
        let records = match g.cluster.networks().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list global networks to retry overlapping ones");
                return;
            }
        };
        lock(&g.conflicts).retain(|id, _| records.iter().any(|r| &r.id == id));
        let mut nets = self.networks.lock().await;
        for rec in records
            .iter()
            .filter(|r| lock(&g.conflicts).contains_key(&r.id))
        {
            let net = local_network(rec, &g);
            if self.materialize(&mut nets, &net).await.is_ok() {
                tracing::info!(network = %rec.name, "global network built here now that nothing overlaps it");
            }
        }
    }

    /// Global networks this host could not build, and why (for `/info`'s warnings).
    pub fn overlay_warnings(&self) -> Vec<String> {
        self.global()
            .map(|g| lock(&g.conflicts).values().cloned().collect())
            .unwrap_or_default()
    }

    /// The claim key of a local endpoint, if its network is global.
    pub(super) fn global_claim_of(
        nets: &BTreeMap<String, Network>,
        ep: &crate::endpoint::Endpoint,
    ) -> Option<(String, String)> {
        nets.get(&ep.network_id)
            .filter(|n| n.scope == "global")
            .map(|n| (n.id.clone(), ep.name.clone()))
    }

    /// Node IDs and advertise addresses of the hosts with endpoints on a global network, for
    /// `network inspect`'s `Peers`.
    pub async fn peers(&self, network_id: &str) -> NetResult<Vec<(String, String)>> {
        let Some(g) = self.global() else {
            return Ok(Vec::new());
        };
        let ids = g.cluster.peers(network_id).await.map_err(cluster_err)?;
        let nodes = g.cluster.nodes().await.map_err(cluster_err)?;
        Ok(ids
            .into_iter()
            .map(|id| {
                let addr = nodes
                    .iter()
                    .find(|n| n.id == id)
                    .map(|n| n.advertise.clone())
                    .unwrap_or_default();
                let name = nodes
                    .iter()
                    .find(|n| n.id == id)
                    .map(|n| n.hostname.clone())
                    .unwrap_or(id);
                (name, addr)
            })
            .collect())
    }
}

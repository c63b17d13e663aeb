//! The other hosts' endpoints, kept in this host's kernel and resolver: each remote endpoint of
//! a global network is a permanent neighbour and a static FDB entry (to its node's advertise
//! address) on the network's VXLAN device, and a name in the embedded resolver. Two watches
//! drive it (networks, endpoints); a periodic resync repairs anything missed and removes
//! permanent entries the store does not explain.

use super::overlay::{advertise_ip, cluster_err, local_network, parse_mac, Global};
use super::Controller;
use crate::dns::EndpointRecord as DnsRecord;
use crate::driver::overlay;
use crate::error::{NetError, NetResult};
use crate::network::Network;
use crate::sys::RemoteTable;
use berth_cluster::{Change, Cluster, EndpointRecord, NetworkRecord};
use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the full sets are listed again and the kernel compared with them.
pub const RESYNC_EVERY: Duration = Duration::from_secs(10);

/// The sandbox ID remote endpoints' names are filed under (no local sandbox has it).
const REMOTE_SANDBOX: &str = "remote";

fn dns_id(net: &str, name: &str) -> String {
    format!("remote:{net}/{name}")
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Controller {
    /// Joins the controller to its cluster: mirrors the global networks, programs the other
    /// hosts' endpoints, and keeps both in step from then on. `local` is this node's advertise
    /// address.
    pub async fn attach_cluster(self: &Arc<Self>, cluster: Arc<Cluster>) -> NetResult<()> {
        let local = advertise_ip(&cluster.node().record().advertise).ok_or_else(|| {
            NetError::InvalidParameter(format!(
                "the cluster advertise address \"{}\" is not an IPv4 address; overlay networks need one",
                cluster.node().record().advertise
            ))
        })?;
        let links = self
            .kernel
            .links()
            .await
            .map_err(NetError::kernel("list links"))?;
        let underlay_mtu = links
            .iter()
            .find(|l| l.addrs.iter().any(|a| a.addr() == IpAddr::V4(local)))
            .map_or(crate::driver::bridge::DEFAULT_MTU, |l| l.mtu);
        // The live-node cache answers check and graph without asking the store; its task goes
        // with the Global (dropped, and so aborted, if a listing below fails).
        let (live, live_task) = cluster
            .follow_live_nodes(berth_cluster::live::PROBE_EVERY)
            .await
            .map_err(cluster_err)?;
        let g = Arc::new(Global {
            cluster: cluster.clone(),
            live,
            local,
            underlay_mtu,
            ovns_dir: self.ovns_dir(),
            ns_handles: Default::default(),
            remote: Default::default(),
            nodes: Default::default(),
            lost: Default::default(),
            tasks: Default::default(),
            claims_stale: Default::default(),
            conflicts: Default::default(),
        });
        lock(&g.tasks).push(live_task);
        // Both listings first: a store that does not answer leaves the controller as it was.
        let (net_watch, nets_now) = cluster.watch_networks().await.map_err(cluster_err)?;
        let (ep_watch, eps_now) = cluster
            .watch_remote_endpoints()
            .await
            .map_err(cluster_err)?;
        if self.global.set(g.clone()).is_err() {
            return Err(NetError::Conflict(
                "the controller already has a cluster".into(),
            ));
        }
        self.refresh_nodes().await;
        for ep in eps_now {
            lock(&g.remote).insert((ep.network_id.clone(), ep.name.clone()), ep);
        }
        self.sync_networks(&nets_now).await;
        // Networks this host kept from a previous life were not built again, so nothing has
        // put their remote endpoints' names in the resolver yet (kernel entries are replaced).
        for net in &self.global_networks().await {
            self.program_network(net).await;
        }
        self.reclaim_own().await;
        let me = Arc::downgrade(self);
        let t1 = tokio::spawn(watch_networks(me.clone(), net_watch));
        let t2 = tokio::spawn(watch_endpoints(
            me,
            ep_watch,
            cluster.node().lease_changes(),
        ));
        lock(&g.tasks).extend([t1, t2]);
        Ok(())
    }

    /// Attaches the cluster once the daemon has joined it (`joined` turns Some), retrying
    /// while the store does not answer; for a daemon started for a cluster, whose join runs in
    /// the background (overlay requests are "unavailable" until then).
    pub fn follow_cluster(
        self: Arc<Self>,
        mut joined: tokio::sync::watch::Receiver<Option<Arc<Cluster>>>,
    ) {
        self.cluster_expected
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let me = Arc::downgrade(&self);
        drop(self);
        tokio::spawn(async move {
            let cluster = loop {
                let now = joined.borrow_and_update().clone();
                if let Some(c) = now {
                    break c;
                }
                if joined.changed().await.is_err() {
                    return;
                }
            };
            let mut pause = Duration::from_millis(200);
            loop {
                let Some(ctl) = me.upgrade() else { return };
                match ctl.attach_cluster(cluster.clone()).await {
                    Ok(()) => {
                        tracing::info!("overlay networks follow the cluster");
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot attach the cluster yet; retrying"),
                }
                drop(ctl);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        });
    }

    async fn refresh_nodes(&self) {
        let Some(g) = self.global() else { return };
        match g.cluster.nodes().await {
            Ok(nodes) => {
                let mut m = lock(&g.nodes);
                for n in nodes {
                    if let Some(ip) = advertise_ip(&n.advertise) {
                        m.insert(n.id, ip);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list cluster nodes"),
        }
    }

    async fn node_addr(&self, node: &str) -> Option<Ipv4Addr> {
        let g = self.global()?;
        if let Some(ip) = lock(&g.nodes).get(node) {
            return Some(*ip);
        }
        self.refresh_nodes().await;
        lock(&g.nodes).get(node).copied()
    }

    /// Makes the local copies match the cluster's global networks.
    async fn sync_networks(&self, records: &[NetworkRecord]) {
        let Some(g) = self.global().cloned() else {
            return;
        };
        let mut nets = self.networks.lock().await;
        let stale: Vec<String> = nets
            .values()
            .filter(|n| n.scope == "global" && !records.iter().any(|r| r.id == n.id))
            .map(|n| n.id.clone())
            .collect();
        for id in stale {
            self.unmaterialize(&mut nets, &id).await;
        }
        for rec in records {
            let net = local_network(rec, &g);
            if let Err(e) = self.materialize(&mut nets, &net).await {
                tracing::warn!(network = %rec.name, error = %e, "cannot build a global network on this host");
            }
        }
    }

    /// After a restart: this node's endpoints on global networks are claimed again where the
    /// store lost them (the lease ran out), and claims no local endpoint explains are released.
    async fn reclaim_own(&self) {
        if let Err(e) = self.reconcile_claims().await {
            if let Some(g) = self.global() {
                g.claims_stale
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
            tracing::warn!(error = %e, "cannot reconcile this node's cluster claims; retrying at the next resync");
        }
    }

    /// Programs every known remote endpoint of one network (just built here).
    pub(super) async fn program_network(&self, net: &Network) {
        let Some(g) = self.global() else { return };
        let eps: Vec<EndpointRecord> = lock(&g.remote)
            .values()
            .filter(|e| e.network_id == net.id)
            .cloned()
            .collect();
        for ep in eps {
            self.program(net, &ep, true).await;
        }
    }

    /// Adds (or removes) one remote endpoint's neighbour, FDB entry and names.
    async fn program(&self, net: &Network, ep: &EndpointRecord, add: bool) {
        let Ok(cfg) = overlay::of(net) else { return };
        let (Some(mac), Some(dst)) = (parse_mac(&ep.mac), self.node_addr(&ep.node).await) else {
            tracing::warn!(endpoint = %ep.name, node = %ep.node, "remote endpoint without a usable MAC or node address");
            return;
        };
        let id = dns_id(&net.id, &ep.name);
        if add {
            self.dns.update(|r| {
                let mut names = vec![ep.name.clone()];
                names.extend(ep.aliases.iter().cloned());
                if ep.container_id.len() >= 12 {
                    names.push(ep.container_id[..12].to_string());
                }
                r.add(DnsRecord {
                    endpoint_id: &id,
                    sandbox_id: REMOTE_SANDBOX,
                    network_id: &net.id,
                    network_name: &net.name,
                    internal: net.internal,
                    names,
                    v4: Some(ep.ip),
                    v6: None,
                })
            });
        } else {
            self.dns.update(|r| r.remove(&id));
        }
        let Some(k) = self.ns_kernel(net).await else {
            return;
        };
        let dev = match k.link_index(&cfg.vxlan).await {
            Ok(Some(i)) => i,
            Ok(None) => {
                // A handle on a namespace made again since: the next resync enters anew.
                self.forget_ns_kernel(&net.id);
                return;
            }
            Err(e) => {
                tracing::warn!(device = %cfg.vxlan, error = %e, "cannot find a vxlan device");
                return;
            }
        };
        let done = if add {
            match k.add_neighbour(dev, ep.ip, mac).await {
                Ok(()) => k.add_fdb(dev, mac, dst).await,
                Err(e) => Err(e),
            }
        } else {
            match k.delete_fdb(dev, mac, dst).await {
                Ok(()) => k.delete_neighbour(dev, ep.ip).await,
                Err(e) => Err(e),
            }
        };
        if let Err(e) = done {
            tracing::warn!(endpoint = %ep.name, device = %cfg.vxlan, error = %e, "cannot program a remote endpoint; the next resync tries again");
        }
    }

    pub(super) fn forget_remote_names(&self, network_id: &str) {
        let Some(g) = self.global() else { return };
        let names: Vec<String> = lock(&g.remote)
            .values()
            .filter(|e| e.network_id == network_id)
            .map(|e| dns_id(network_id, &e.name))
            .collect();
        self.dns
            .update(|r| names.iter().for_each(|id| r.remove(id)));
    }

    /// Applies the watch's changes to the remote set, the kernel and the resolver.
    pub(super) async fn apply_remote(&self, changes: Vec<Change<EndpointRecord>>) {
        let Some(g) = self.global().cloned() else {
            return;
        };
        // Only the networks these changes name: the table is not copied per event.
        let nets: BTreeMap<String, Network> = {
            let all = self.networks.lock().await;
            changes
                .iter()
                .filter_map(|c| {
                    let (Change::Added(ep) | Change::Removed(ep)) = c;
                    all.get(&ep.network_id).map(|n| (n.id.clone(), n.clone()))
                })
                .collect()
        };
        let live = self.live_nodes_if_removed(&changes).await;
        for c in changes {
            let (ep, add) = match c {
                Change::Added(ep) => (ep, true),
                Change::Removed(ep) => (ep, false),
            };
            let key = (ep.network_id.clone(), ep.name.clone());
            if add {
                lock(&g.lost).remove(&key);
                lock(&g.remote).insert(key, ep.clone());
            } else {
                lock(&g.remote).remove(&key);
                if live.as_ref().is_some_and(|l| !l.contains(&ep.node)) {
                    remember_lost(&g, key, ep.clone());
                }
            }
            if let Some(net) = nets.get(&ep.network_id) {
                self.program(net, &ep, add).await;
            }
        }
    }

    /// This host's copies of the global networks, now.
    async fn global_networks(&self) -> Vec<Network> {
        self.networks
            .lock()
            .await
            .values()
            .filter(|n| n.scope == "global")
            .cloned()
            .collect()
    }

    /// The live node IDs, asked only when `changes` remove an endpoint (None: no removal, or
    /// the store did not answer).
    async fn live_nodes_if_removed(
        &self,
        changes: &[Change<EndpointRecord>],
    ) -> Option<Vec<String>> {
        if !changes.iter().any(|c| matches!(c, Change::Removed(_))) {
            return None;
        }
        let g = self.global()?;
        match g.cluster.nodes_at().await {
            Ok((nodes, rev)) => {
                let ids = nodes.iter().map(|n| n.id.clone()).collect();
                // This listing can be newer than the live-node cache's watch: hand it over, so
                // check never calls a node live after topology has called its endpoints lost.
                g.live.seen_at(nodes, rev);
                Some(ids)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list live nodes to tell a lost endpoint from a released one");
                None
            }
        }
    }

    /// Compares every VXLAN device's permanent entries with the remote set: adds what is
    /// missing and removes what the store does not explain.
    pub async fn resync_remote(&self) {
        let Some(g) = self.global().cloned() else {
            return;
        };
        let nets = self.global_networks().await;
        let remote: Vec<EndpointRecord> = lock(&g.remote).values().cloned().collect();
        for net in nets {
            let Ok(cfg) = overlay::of(&net) else { continue };
            let Some(k) = self.ns_kernel(&net).await else {
                continue;
            };
            let Ok(Some(dev)) = k.link_index(&cfg.vxlan).await else {
                self.forget_ns_kernel(&net.id);
                continue;
            };
            // Sets, not lists: the comparison stays linear in the cluster's endpoints.
            let mut want_neigh = HashSet::new();
            let mut want_fdb = HashSet::new();
            for ep in remote.iter().filter(|e| e.network_id == net.id) {
                if let (Some(mac), Some(dst)) = (parse_mac(&ep.mac), self.node_addr(&ep.node).await)
                {
                    want_neigh.insert((ep.ip, mac));
                    want_fdb.insert((mac, dst));
                }
            }
            let have: RemoteTable = match k.remote_table(dev).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(device = %cfg.vxlan, error = %e, "cannot list vxlan entries");
                    continue;
                }
            };
            for (ip, _) in have.neighbours.iter().filter(|n| !want_neigh.contains(n)) {
                tracing::info!(device = %cfg.vxlan, %ip, "removing a neighbour the cluster does not explain");
                let _ = k
                    .delete_neighbour(dev, *ip)
                    .await
                    .inspect_err(|e| tracing::warn!(error = %e, "cannot remove a stray neighbour"));
            }
            for (mac, dst) in have.fdb.iter().filter(|f| !want_fdb.contains(f)) {
                tracing::info!(device = %cfg.vxlan, %dst, "removing an FDB entry the cluster does not explain");
                let _ = k
                    .delete_fdb(dev, *mac, *dst)
                    .await
                    .inspect_err(|e| tracing::warn!(error = %e, "cannot remove a stray FDB entry"));
            }
            let have_neigh: HashSet<_> = have.neighbours.iter().copied().collect();
            let have_macs: HashSet<[u8; 6]> = have.fdb.iter().map(|(m, _)| *m).collect();
            for ep in remote.iter().filter(|e| e.network_id == net.id) {
                let missing = parse_mac(&ep.mac).is_some_and(|mac| {
                    !have_neigh.contains(&(ep.ip, mac)) || !have_macs.contains(&mac)
                });
                if missing {
                    self.program(&net, ep, true).await;
                }
            }
        }
    }
}

/// How long an endpoint lost with its node's lease is remembered, and how many at most.
pub(super) const LOST_KEEP: Duration = Duration::from_secs(600);
const LOST_MAX: usize = 4096;

fn remember_lost(g: &Global, key: (String, String), ep: EndpointRecord) {
    let mut lost = lock(&g.lost);
    lost.retain(|_, (_, at)| at.elapsed() < LOST_KEEP);
    if lost.len() >= LOST_MAX {
        if let Some(oldest) = lost
            .iter()
            .min_by_key(|(_, (_, at))| *at)
            .map(|(k, _)| k.clone())
        {
            lost.remove(&oldest);
        }
    }
    tracing::info!(endpoint = %ep.name, node = %ep.node, "remote endpoint gone with its node's lease");
    lost.insert(key, (ep, std::time::Instant::now()));
}

async fn watch_networks(ctl: Weak<Controller>, mut w: berth_cluster::NetworkWatcher) {
    loop {
        let _changes = w.next().await;
        let Some(c) = ctl.upgrade() else { return };
        // The watcher holds the whole set: make the local copies match it.
        c.sync_networks(&w.current()).await;
    }
}

async fn watch_endpoints(
    ctl: Weak<Controller>,
    mut w: berth_cluster::EndpointWatcher,
    mut lease: tokio::sync::watch::Receiver<berth_cluster::store::LeaseId>,
) {
    let mut tick = tokio::time::interval(RESYNC_EVERY);
    tick.tick().await;
    loop {
        tokio::select! {
            changes = w.next() => {
                let Some(c) = ctl.upgrade() else { return };
                c.apply_remote(changes).await;
            }
            Ok(()) = lease.changed() => {
                // The old lease took this node's claims with it: claim them again now.
                let Some(c) = ctl.upgrade() else { return };
                if let Some(g) = c.global() {
                    g.claims_stale.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                c.reconcile_claims_if_stale().await;
            }
            _ = tick.tick() => {
                let Some(c) = ctl.upgrade() else { return };
                match w.resync().await {
                    Ok(changes) => c.apply_remote(changes).await,
                    Err(e) => tracing::warn!(error = %e, "endpoint resync: cannot list the cluster"),
                }
                c.resync_remote().await;
                c.reconcile_claims_if_stale().await;
                c.retry_conflicts().await;
            }
        }
    }
}

//! Sandboxes and endpoints: attaching a network namespace to networks and detaching it.
//!
//! Intent first: the endpoint record, which holds its addresses, is stored before the kernel
//! is touched, and removed again if the kernel refuses. IPAM's view of a network is rebuilt
//! from the endpoint records at start, so the network record is not rewritten per endpoint.
//! A new sandbox is the exception: nothing else refers to it until it is stored, so its
//! namespace and first endpoints are made first and stored together, in one commit.
//!
//! Detaching takes the host end of the veth off its bridge at once (one message) and leaves
//! the slow unregistration to the kernel's namespace teardown or a tracked background task;
//! removing a sandbox only shuts its ports, since their namespace is about to go.

use super::{Controller, ENDPOINTS, SANDBOXES};
use crate::driver::DriverKind;
use crate::endpoint::{host_ifname, mac_for, Endpoint, EndpointOptions, Sandbox, SandboxOptions};
use crate::error::{NetError, NetResult};
use crate::ipam::IpamError;
use crate::network::{new_id, Network};
use crate::sys::{Kernel, VethSpec};
use berth_store::Change;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Sandboxes and endpoints by ID. Locked after `networks` when both are needed.
#[derive(Debug, Default)]
pub struct EndpointState {
    pub sandboxes: BTreeMap<String, Sandbox>,
    pub endpoints: BTreeMap<String, Endpoint>,
    pub indexes: KnownIndexes,
}

/// Interface indexes learned while plumbing, so that the next attach or detach skips a lookup
/// by name (a netlink round trip each; a bridge's answer is large). Never stored: a daemon
/// that starts again looks them up. An index outlives its device's name only until the kernel
/// wraps around 2^31 indexes, so a remembered one cannot name another device.
#[derive(Debug, Default)]
pub struct KnownIndexes {
    /// Bridges by device name.
    pub bridges: BTreeMap<String, u32>,
    /// Host ends of veth pairs by device name.
    pub veths: BTreeMap<String, u32>,
}

impl Controller {
    /// The host end of `ep`'s veth pair, if it still exists.
    async fn host_end(&self, known: &mut KnownIndexes, ep: &Endpoint) -> NetResult<Option<u32>> {
        if let Some(i) = known.veths.remove(&ep.host_ifname) {
            return Ok(Some(i));
        }
        self.kernel
            .link_index(&ep.host_ifname)
            .await
            .map_err(NetError::kernel(format!("find {}", ep.host_ifname)))
    }
}

impl EndpointState {
    /// A copy of sandbox `id`'s record, to change and store back.
    pub fn sandbox(&self, id: &str) -> NetResult<Sandbox> {
        self.sandboxes
            .get(id)
            .cloned()
            .ok_or_else(|| NetError::NotFound(format!("sandbox {id} not found")))
    }
}

fn ipam_error(e: IpamError, net: &Network) -> NetError {
    match e {
        IpamError::InUse(_) => NetError::Conflict("Address already in use".into()),
        IpamError::OutOfSubnet(_) => NetError::InvalidParameter(e.to_string()),
        IpamError::Full(range) => NetError::Conflict(format!(
            "no available IP addresses on network {} ({range} is full)",
            net.name
        )),
        other => NetError::InvalidParameter(other.to_string()),
    }
}

/// Takes an address of one family for an endpoint from `net`'s pools.
fn allocate(
    net: &mut Network,
    v6: bool,
    requested: Option<IpAddr>,
) -> NetResult<Option<(IpNet, IpAddr)>> {
    let snapshot = net.clone();
    let idx = match requested {
        Some(ip) => match net.subnets.iter().position(|p| p.subnet.contains(&ip)) {
            Some(i) => i,
            None => return Err(ipam_error(IpamError::OutOfSubnet(ip), &snapshot)),
        },
        None => match net
            .subnets
            .iter()
            .position(|p| p.subnet.addr().is_ipv6() == v6)
        {
            Some(i) => i,
            None => return Ok(None),
        },
    };
    let pool = &mut net.subnets[idx];
    let ip = pool
        .allocate(requested)
        .map_err(|e| ipam_error(e, &snapshot))?;
    let addr = IpNet::new(ip, pool.subnet.prefix_len())
        .map_err(|e| NetError::InvalidParameter(e.to_string()))?;
    Ok(Some((addr, pool.gateway)))
}

fn release(net: &mut Network, ep: &Endpoint) {
    for ip in [ep.ipv4, ep.ipv6].into_iter().flatten() {
        for pool in &mut net.subnets {
            pool.release(ip.addr());
        }
    }
}

impl Controller {
    fn sandbox_path(&self, id: &str) -> std::path::PathBuf {
        self.cfg.netns_dir.join(&id[..12.min(id.len())])
    }

    /// Creates a sandbox: a pinned network namespace with lo up and Docker's sysctls.
    pub async fn create_sandbox(&self, id: &str) -> NetResult<Sandbox> {
        Ok(self
            .create_sandbox_with(id, SandboxOptions::default())
            .await?
            .0)
    }

    /// Creates a sandbox already attached to `opts.networks` (eth0 first) and returns it with
    /// its endpoints. Unlike [`Controller::attach`], the kernel work comes first and everything
    /// is stored in one transaction at the end: a crash before that leaves only a pinned
    /// namespace that no record explains, which the next start unpins (its veths go with it).
    pub async fn create_sandbox_with(
        &self,
        id: &str,
        opts: SandboxOptions,
    ) -> NetResult<(Sandbox, Vec<Endpoint>)> {
        let mut nets = self.networks.lock().await;
        let mut eps = self.eps.lock().await;
        if let Some(sb) = eps.sandboxes.get(id) {
            return Err(NetError::Conflict(format!(
                "sandbox {} already exists",
                sb.id
            )));
        }
        let mut sb = Sandbox {
            id: id.to_string(),
            path: self.sandbox_path(id),
            dns: opts.dns,
            resolver_ports: None,
            ports: Vec::new(),
            links: Vec::new(),
        };
        self.make_sandbox(&sb).await?;
        let mut made = Vec::new();
        let mut replaced = Vec::new();
        let populated = self
            .populate(
                &mut nets,
                &mut eps,
                &mut sb,
                opts.networks,
                &mut made,
                &mut replaced,
            )
            .await;
        let stored = populated.and_then(|()| {
            let mut changes = vec![Change::put(SANDBOXES, &sb.id, &sb)?];
            for ep in &made {
                changes.push(Change::put(ENDPOINTS, &ep.id, ep)?);
            }
            Ok(self.store.apply(changes)?)
        });
        if let Err(e) = stored {
            self.firewall_leave(&nets, &made, Some(&sb));
            for ep in &made {
                self.dns_leave(ep);
                eps.endpoints.remove(&ep.id);
            }
            for net in replaced {
                nets.insert(net.id.clone(), net);
            }
            self.dns_stop(&sb.id);
            self.lock_handles().remove(&sb.id);
            if let Err(ne) = self.kernel.delete_netns(&sb.path) {
                // Unpinned at the next start, as every pin no record explains.
                tracing::warn!(sandbox = %sb.id, error = %ne, "cannot unpin a sandbox whose create failed");
            }
            return Err(e);
        }
        eps.sandboxes.insert(sb.id.clone(), sb.clone());
        Ok((sb, made))
    }

    /// Plumbs a new sandbox's endpoints, in memory and in the kernel, not yet stored. What it
    /// did goes into `made` and the networks it changed, as they were, into `replaced`, so
    /// that the caller can undo it.
    async fn populate(
        &self,
        nets: &mut BTreeMap<String, Network>,
        eps: &mut EndpointState,
        sb: &mut Sandbox,
        networks: Vec<(String, EndpointOptions)>,
        made: &mut Vec<Endpoint>,
        replaced: &mut Vec<Network>,
    ) -> NetResult<()> {
        for (network, opts) in networks {
            let (net, updated, ep) = prepare(nets, eps, sb, &network, opts)?;
            if let Some(ports) = self.wire(&mut eps.indexes, sb, &ep, &net).await? {
                sb.resolver_ports = Some(ports);
            }
            nets.insert(updated.id.clone(), updated);
            eps.endpoints.insert(ep.id.clone(), ep.clone());
            made.push(ep);
            replaced.push(net);
        }
        Ok(())
    }

    /// The namespace, with lo up and a handle kept for the plumbing to come.
    async fn make_sandbox(&self, sb: &Sandbox) -> NetResult<()> {
        // Unprivileged ICMP sockets, so that ping works for any user in the container (Docker's).
        // IPv6 off until an endpoint brings an IPv6 address (Docker's containers show no inet6
        // either): otherwise every interface's link-local, DAD and MLD packets are flooded to
        // every port of the bridge, a cost per container that grows with the network.
        let inner = self
            .kernel
            .create_netns(
                &sb.path,
                &[
                    ("net/ipv4/ping_group_range", "0 2147483647"),
                    ("net/ipv6/conf/default/disable_ipv6", "1"),
                    ("net/ipv6/conf/lo/disable_ipv6", "1"),
                ],
            )
            .await
            .map_err(NetError::kernel(format!(
                "create network namespace for sandbox {}",
                sb.path.display()
            )))?;
        self.lock_handles().insert(sb.id.clone(), inner);
        Ok(())
    }

    fn lock_handles(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<dyn Kernel>>> {
        self.handles.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sandbox's netlink handle, opened on first use after a restart.
    async fn sandbox_handle(&self, sb: &Sandbox) -> NetResult<Arc<dyn Kernel>> {
        if let Some(h) = self.lock_handles().get(&sb.id) {
            return Ok(h.clone());
        }
        let h = self
            .kernel
            .enter(&sb.path)
            .await
            .map_err(NetError::kernel(format!(
                "enter sandbox {}",
                sb.path.display()
            )))?;
        self.lock_handles().insert(sb.id.clone(), h.clone());
        Ok(h)
    }

    pub async fn sandbox(&self, id: &str) -> NetResult<Sandbox> {
        self.eps.lock().await.sandbox(id)
    }

    /// Endpoints of a sandbox, in attach order (eth0 first).
    pub async fn sandbox_endpoints(&self, sandbox_id: &str) -> Vec<Endpoint> {
        let eps = self.eps.lock().await;
        let mut v: Vec<Endpoint> = eps
            .endpoints
            .values()
            .filter(|e| e.sandbox_id == sandbox_id)
            .cloned()
            .collect();
        v.sort_by_key(|e| {
            e.ifname
                .trim_start_matches("eth")
                .parse::<u32>()
                .unwrap_or(u32::MAX)
        });
        v
    }

    /// Endpoints on a network.
    pub async fn network_endpoints(&self, network_id: &str) -> Vec<Endpoint> {
        let eps = self.eps.lock().await;
        eps.endpoints
            .values()
            .filter(|e| e.network_id == network_id)
            .cloned()
            .collect()
    }

    /// Attaches a sandbox to a network: allocate, store, then plumb a veth pair into it.
    pub async fn attach(
        &self,
        sandbox_id: &str,
        network: &str,
        opts: EndpointOptions,
    ) -> NetResult<Endpoint> {
        let mut nets = self.networks.lock().await;
        let mut eps = self.eps.lock().await;
        let sb = eps.sandbox(sandbox_id)?;
        let (net, updated, ep) = prepare(&nets, &eps, &sb, network, opts)?;
        self.store.put(ENDPOINTS, &ep.id, &ep)?;
        let new_ports = match self.wire(&mut eps.indexes, &sb, &ep, &net).await {
            Ok(p) => p,
            Err(e) => {
                self.store.delete(ENDPOINTS, &ep.id)?;
                return Err(e);
            }
        };
        if let Some(ports) = new_ports {
            let mut sb = sb;
            sb.resolver_ports = Some(ports);
            self.store.put(SANDBOXES, &sb.id, &sb)?;
            eps.sandboxes.insert(sb.id.clone(), sb);
        }
        nets.insert(updated.id.clone(), updated);
        eps.endpoints.insert(ep.id.clone(), ep.clone());
        Ok(ep)
    }

    /// Publishes the endpoint's name, plumbs its veth pair and firewall, and starts the
    /// sandbox's resolver if it needs one (its ports when they are new). Undoes its own work
    /// when it fails.
    async fn wire(
        &self,
        known: &mut KnownIndexes,
        sb: &Sandbox,
        ep: &Endpoint,
        net: &Network,
    ) -> NetResult<Option<[u16; 2]>> {
        self.dns_publish(sb, ep, net);
        self.wait_teardown(&format!("sandbox:{}:{}", sb.id, ep.ifname))
            .await;
        let wired = match self.sandbox_handle(sb).await {
            Ok(inner) => plumb(self.kernel.as_ref(), inner.as_ref(), known, sb, ep, net).await,
            Err(e) => Err(e),
        }
        .map(|host| {
            known.veths.insert(ep.host_ifname.clone(), host);
        })
        .and_then(|()| self.firewall_join(ep, net))
        .and_then(|()| self.dns_serve(sb, net));
        if wired.is_err() {
            self.dns_leave(ep);
            if let Ok(Some(l)) = self.host_end(known, ep).await {
                if let Err(e) = self.kernel.delete_link(l).await {
                    tracing::warn!(link = l, error = %e, "cannot delete the veth of a failed attach");
                }
            }
        }
        wired
    }

    /// Detaches a sandbox from a network (`network disconnect`): the endpoint stops carrying
    /// traffic at once and its interface disappears from the sandbox shortly after.
    pub async fn detach(&self, sandbox_id: &str, network: &str) -> NetResult<Endpoint> {
        let mut nets = self.networks.lock().await;
        let mut eps = self.eps.lock().await;
        let net = Self::lookup(&nets, network)?.clone();
        let ep = eps
            .endpoints
            .values()
            .find(|e| e.sandbox_id == sandbox_id && e.network_id == net.id)
            .cloned()
            .ok_or_else(|| {
                NetError::Forbidden(format!(
                    "container {sandbox_id} is not connected to network {}",
                    net.name
                ))
            })?;
        let mut updated = net.clone();
        release(&mut updated, &ep);
        self.store.delete(ENDPOINTS, &ep.id)?;
        let sb = eps.sandboxes.get(&ep.sandbox_id).cloned();
        let dropped = self.firewall_leave(&nets, std::slice::from_ref(&ep), sb.as_ref());
        let linked = |sb: &Sandbox| sb.links.iter().any(|l| l.from == ep.host_ifname);
        if let Some(mut sb) = sb.filter(|sb| !dropped.is_empty() || linked(sb)) {
            sb.ports.retain(|p| !dropped.contains(p));
            sb.links.retain(|l| l.from != ep.host_ifname);
            self.store.put(SANDBOXES, &sb.id, &sb)?;
            eps.sandboxes.insert(sb.id.clone(), sb);
        }
        nets.insert(updated.id.clone(), updated);
        eps.endpoints.remove(&ep.id);
        self.dns_leave(&ep);
        if let Some(l) = self.host_end(&mut eps.indexes, &ep).await? {
            self.kernel
                .unplug(l)
                .await
                .map_err(NetError::kernel(format!("unplug {}", ep.host_ifname)))?;
            let kernel = self.kernel.clone();
            let name = ep.host_ifname.clone();
            let task = tokio::spawn(async move {
                if let Err(e) = kernel.delete_link(l).await {
                    tracing::warn!(link = %name, error = %e, "veth teardown failed");
                }
            });
            self.lock_teardown()
                .insert(format!("sandbox:{}:{}", ep.sandbox_id, ep.ifname), task);
        }
        Ok(ep)
    }

    /// Removes every sandbox whose ID is not in `keep`: for the engine at its start, after a
    /// crash left sandboxes that no container record explains (a start that never recorded
    /// its sandbox, a removal cut short). Returns the IDs removed; one that cannot be removed
    /// is logged and the rest still go.
    pub async fn reconcile_sandboxes(
        &self,
        keep: &std::collections::BTreeSet<String>,
    ) -> Vec<String> {
        let orphans: Vec<String> = self
            .eps
            .lock()
            .await
            .sandboxes
            .keys()
            .filter(|id| !keep.contains(*id))
            .cloned()
            .collect();
        let mut removed = Vec::new();
        for id in orphans {
            match self.remove_sandbox(&id).await {
                Ok(()) => removed.push(id),
                Err(e) => {
                    tracing::error!(sandbox = %id, error = %e, "cannot remove an orphaned sandbox")
                }
            }
        }
        removed
    }

    /// Removes a sandbox and all its endpoints. The namespace is unpinned; the kernel frees it
    /// and the veths inside it on its own time, after they were taken off their bridges here.
    pub async fn remove_sandbox(&self, sandbox_id: &str) -> NetResult<()> {
        let mut nets = self.networks.lock().await;
        let mut eps = self.eps.lock().await;
        let Some(sb) = eps.sandboxes.get(sandbox_id).cloned() else {
            return Ok(());
        };
        let mine: Vec<Endpoint> = eps
            .endpoints
            .values()
            .filter(|e| e.sandbox_id == sb.id)
            .cloned()
            .collect();
        let mut changes = vec![Change::delete(SANDBOXES, &sb.id)];
        let mut touched: BTreeMap<String, Network> = BTreeMap::new();
        for ep in &mine {
            let net = touched
                .remove(&ep.network_id)
                .or_else(|| nets.get(&ep.network_id).cloned());
            if let Some(mut net) = net {
                release(&mut net, ep);
                touched.insert(net.id.clone(), net);
            }
            changes.push(Change::delete(ENDPOINTS, &ep.id));
        }
        self.store.apply(changes)?;
        self.firewall_leave(&nets, &mine, Some(&sb));
        for (id, net) in touched {
            nets.insert(id, net);
        }
        for ep in &mine {
            eps.endpoints.remove(&ep.id);
            // Its peer's namespace goes next, so the port need not leave its bridge here.
            if let Ok(Some(l)) = self.host_end(&mut eps.indexes, ep).await {
                let _ = self.kernel.shut_port(l).await;
            }
        }
        eps.sandboxes.remove(&sb.id);
        self.dns_stop(&sb.id);
        // The handle's socket holds the namespace: close it, or the kernel never frees it.
        self.lock_handles().remove(&sb.id);
        self.kernel
            .delete_netns(&sb.path)
            .map_err(NetError::kernel(format!(
                "remove sandbox {}",
                sb.path.display()
            )))?;
        Ok(())
    }
}

/// Checks that `sb` may join `network` and allocates its endpoint: the network as it was, as
/// it is with the allocation, and the endpoint. Nothing is stored or plumbed yet.
fn prepare(
    nets: &BTreeMap<String, Network>,
    eps: &EndpointState,
    sb: &Sandbox,
    network: &str,
    opts: EndpointOptions,
) -> NetResult<(Network, Network, Endpoint)> {
    let net = Controller::lookup(nets, network)?.clone();
    match net.driver {
        DriverKind::Host => {
            return Err(NetError::Forbidden(
                "container cannot be disconnected from host network or connected to host network".into(),
            ))
        }
        DriverKind::Null => {
            return Err(NetError::Forbidden(
                "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
            ))
        }
        DriverKind::Bridge => {}
    }
    let mine: Vec<&Endpoint> = eps
        .endpoints
        .values()
        .filter(|e| e.sandbox_id == sb.id)
        .collect();
    if mine.iter().any(|e| e.network_id == net.id) {
        return Err(NetError::Forbidden(format!(
            "endpoint with name {} already exists in network {}",
            opts.name, net.name
        )));
    }
    if opts.ipv4.is_some() || opts.ipv6.is_some() {
        if net.predefined {
            return Err(NetError::InvalidParameter(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        if net.subnets.iter().all(|p| p.auto) {
            return Err(NetError::InvalidParameter(
                "user specified IP address is supported only when connecting to networks with user configured subnets".into(),
            ));
        }
    }
    let mut updated = net.clone();
    let v4 = if net.enable_ipv4 {
        allocate(&mut updated, false, opts.ipv4)?
    } else {
        None
    };
    let v6 = if net.enable_ipv6 {
        allocate(&mut updated, true, opts.ipv6)?
    } else {
        None
    };
    let n = (0..)
        .find(|n| !mine.iter().any(|e| e.ifname == format!("eth{n}")))
        .unwrap_or(0);
    let ep = Endpoint {
        id: new_id(),
        owner: opts.owner,
        name: opts.name,
        network_id: net.id.clone(),
        sandbox_id: sb.id.clone(),
        ifname: format!("eth{n}"),
        host_ifname: host_ifname(),
        mac: opts
            .mac
            .unwrap_or_else(|| mac_for(v4.map(|(a, _)| a.addr()))),
        ipv4: v4.map(|(a, _)| a),
        ipv6: v6.map(|(a, _)| a),
        gateway4: v4.map(|(_, g)| g),
        gateway6: v6.map(|(_, g)| g),
        requested4: opts.ipv4,
        requested6: opts.ipv6,
        aliases: opts.aliases,
        default_route: !mine.iter().any(|e| e.default_route),
    };
    Ok((net, updated, ep))
}

/// The kernel side of an endpoint: a veth pair from the bridge into the sandbox, addresses,
/// link up, and the default route on the sandbox's first network. Returns the host end's index.
async fn plumb(
    kernel: &dyn Kernel,
    inner: &dyn Kernel,
    known: &mut KnownIndexes,
    sb: &Sandbox,
    ep: &Endpoint,
    net: &Network,
) -> NetResult<u32> {
    let ctx = |what: String| NetError::kernel(what);
    let bridge = net
        .bridge
        .as_ref()
        .ok_or_else(|| NetError::InvalidParameter(format!("network {} has no bridge", net.name)))?;
    let find_bridge = || async {
        kernel
            .link_index(&bridge.name)
            .await
            .map_err(ctx(format!("find bridge {}", bridge.name)))?
            .ok_or_else(|| {
                NetError::NotFound(format!(
                    "bridge {} of network {} is missing",
                    bridge.name, net.name
                ))
            })
    };
    let remembered = known.bridges.remove(&bridge.name);
    let mut spec = VethSpec {
        host_name: ep.host_ifname.clone(),
        master: match remembered {
            Some(i) => i,
            None => find_bridge().await?,
        },
        mtu: bridge.mtu,
        peer_name: ep.ifname.clone(),
        peer_mac: ep.mac,
        peer_ns: sb.path.clone(),
    };
    let mut made = kernel.create_veth(&spec).await;
    if made.is_err() && remembered.is_some() {
        // The bridge may have been made again under the same name: ask once more.
        spec.master = find_bridge().await?;
        made = kernel.create_veth(&spec).await;
    }
    made.map_err(ctx(format!(
        "create veth {} for {}",
        ep.host_ifname, net.name
    )))?;
    known.bridges.insert(bridge.name.clone(), spec.master);
    let (peer, host) = inner
        .veth_peer(&ep.ifname)
        .await
        .map_err(ctx(format!("find {} in sandbox", ep.ifname)))?
        .ok_or_else(|| NetError::NotFound(format!("{} vanished from the sandbox", ep.ifname)))?;
    if ep.ipv6.is_some() {
        for dev in ["lo", ep.ifname.as_str()] {
            inner
                .set_sysctl(&format!("net/ipv6/conf/{dev}/disable_ipv6"), "0")
                .map_err(ctx(format!("enable IPv6 on {dev}")))?;
        }
    }
    for addr in [ep.ipv4, ep.ipv6].into_iter().flatten() {
        inner
            .add_address(peer, addr)
            .await
            .map_err(ctx(format!("add {addr} to {}", ep.ifname)))?;
    }
    inner
        .set_up(peer)
        .await
        .map_err(ctx(format!("bring up {}", ep.ifname)))?;
    if ep.default_route {
        for gw in [ep.gateway4, ep.gateway6].into_iter().flatten() {
            inner
                .add_default_route(peer, gw)
                .await
                .map_err(ctx(format!("default route via {gw}")))?;
        }
    }
    Ok(host)
}

impl Controller {
    /// At start: keeps sandboxes whose namespace is still alive and their endpoints, drops the
    /// rest, rebuilds IPAM allocations from the endpoints that remain, and unpins namespaces in
    /// berth's directory that no sandbox explains.
    pub(super) async fn reconcile_endpoints(
        &self,
        networks: &mut BTreeMap<String, Network>,
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
        for net in networks.values_mut() {
            let held: Vec<IpAddr> = st
                .endpoints
                .values()
                .filter(|e| e.network_id == net.id)
                .flat_map(|e| [e.ipv4, e.ipv6])
                .flatten()
                .map(|a| a.addr())
                .collect();
            for pool in &mut net.subnets {
                pool.allocated = held
                    .iter()
                    .filter(|ip| pool.subnet.contains(*ip))
                    .copied()
                    .collect();
            }
        }
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

//! Sandboxes and endpoints: attaching a network namespace to networks and detaching it.
//!
//! Intent first: the endpoint record, which holds its addresses, is stored before the kernel
//! is touched, and removed again if the kernel refuses. IPAM's view of a network is rebuilt
//! from the endpoint records at start, so the network record is not rewritten per endpoint.
//! A new sandbox is the exception: nothing else refers to it until it is stored, so its
//! namespace and first endpoints are made first and stored together, in one commit, which the
//! caller awaits only before something outside refers to the sandbox (a container's process),
//! so that the fsync overlaps the caller's own work instead of holding up the attach.
//! Removing a sandbox queues its deletion without waiting: a crash that loses it leaves
//! records whose namespace is gone, which the next start forgets.
//!
//! Detaching takes the host end of the veth off its bridge at once (one message) and leaves
//! the slow unregistration to the kernel's namespace teardown or a tracked background task;
//! removing a sandbox only shuts its ports, since their namespace is about to go.

use super::{Controller, ENDPOINTS, SANDBOXES};
use crate::driver::{self, Join, KnownIndexes, Leave};
use crate::endpoint::{mac_for, Endpoint, EndpointOptions, Sandbox, SandboxOptions};
use crate::error::{NetError, NetResult};
use crate::ipam::{AddressAllocator, Allocations, IpamError, Lease};
use crate::network::{new_id, Network};
use crate::sys::Kernel;
use berth_store::{Change, Commit};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Sandboxes and endpoints by ID, and the addresses they hold. Locked after `networks` when
/// both are needed.
#[derive(Debug)]
pub struct EndpointState {
    pub sandboxes: BTreeMap<String, Sandbox>,
    pub endpoints: BTreeMap<String, Endpoint>,
    pub indexes: KnownIndexes,
    /// Addresses in use, by network: rebuilt from `endpoints` at start.
    pub ipam: Box<dyn AddressAllocator>,
}

impl Default for EndpointState {
    fn default() -> Self {
        EndpointState {
            sandboxes: BTreeMap::new(),
            endpoints: BTreeMap::new(),
            indexes: KnownIndexes::default(),
            ipam: Box::new(Allocations::default()),
        }
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

/// A sandbox just made and plumbed, with its endpoints (eth0 first), whose records are on
/// their way to disk.
#[must_use = "the sandbox is stored only once `stored` resolves"]
#[derive(Debug)]
pub struct NewSandbox {
    pub sandbox: Sandbox,
    pub endpoints: Vec<Endpoint>,
    /// Resolves once the records are durable. A crash before that leaves a pinned namespace
    /// that no record explains, which the next start unpins; so the caller awaits it before
    /// anything that outlives a crash refers to the sandbox. Should it fail, the caller
    /// removes the sandbox, as after any failed start.
    pub stored: Commit,
}

impl NewSandbox {
    /// Waits for the records to be durable: for callers with nothing to do meanwhile.
    pub async fn durable(self) -> NetResult<(Sandbox, Vec<Endpoint>)> {
        self.stored.durable().await?;
        Ok((self.sandbox, self.endpoints))
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
    ipam: &mut dyn AddressAllocator,
    net: &Network,
    v6: bool,
    requested: Option<IpAddr>,
) -> NetResult<Option<Lease>> {
    ipam.allocate(net, v6, requested)
        .map_err(|e| ipam_error(e, net))
}

/// Gives an endpoint's addresses back.
fn release(ipam: &mut dyn AddressAllocator, ep: &Endpoint) {
    for ip in [ep.ipv4, ep.ipv6].into_iter().flatten() {
        ipam.release(&ep.network_id, ip.addr());
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
            .durable()
            .await?
            .0)
    }

    /// Creates a sandbox already attached to `opts.networks` (eth0 first) and returns it with
    /// its endpoints. Unlike [`Controller::attach`], the kernel work comes first and everything
    /// is stored in one transaction at the end, queued but not waited for (see [`NewSandbox`]):
    /// a crash before it is durable leaves only a pinned namespace that no record explains,
    /// which the next start unpins (its veths go with it).
    pub async fn create_sandbox_with(
        &self,
        id: &str,
        opts: SandboxOptions,
    ) -> NetResult<NewSandbox> {
        let nets = self.networks.lock().await;
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
        let populated = self
            .populate(&nets, &mut eps, &mut sb, opts.networks, &mut made)
            .await;
        // The kernel work is done: the next spare namespace is made while the store syncs.
        self.kernel.refill_spares();
        // Queued under the locks, so the store sees this sandbox before any later change.
        let queued = populated.and_then(|()| {
            let mut changes = vec![Change::put(SANDBOXES, &sb.id, &sb)?];
            for ep in &made {
                changes.push(Change::put(ENDPOINTS, &ep.id, ep)?);
            }
            Ok(self.store.submit(changes))
        });
        let stored = match queued {
            Ok(commit) => commit,
            Err(e) => {
                self.unmake_sandbox(&nets, &mut eps, &sb, &made).await;
                return Err(e);
            }
        };
        eps.sandboxes.insert(sb.id.clone(), sb.clone());
        Ok(NewSandbox {
            sandbox: sb,
            endpoints: made,
            stored,
        })
    }

    /// Undoes a sandbox whose create failed before its records were queued: its endpoints,
    /// addresses, firewall and DNS, then its namespace.
    async fn unmake_sandbox(
        &self,
        nets: &BTreeMap<String, Network>,
        eps: &mut EndpointState,
        sb: &Sandbox,
        made: &[Endpoint],
    ) {
        self.firewall_leave(nets, made, Some(sb));
        for ep in made {
            self.dns_leave(ep);
            eps.endpoints.remove(&ep.id);
            release(eps.ipam.as_mut(), ep);
            self.release_global(Self::global_claim_of(nets, ep)).await;
        }
        self.dns_stop(&sb.id);
        self.lock_handles().remove(&sb.id);
        if let Err(ne) = self.kernel.delete_netns(&sb.path) {
            // Unpinned at the next start, as every pin no record explains.
            tracing::warn!(sandbox = %sb.id, error = %ne, "cannot unpin a sandbox whose create failed");
        }
    }

    /// Plumbs a new sandbox's endpoints, in memory and in the kernel, not yet stored. What it
    /// did goes into `made`, so that the caller can undo it.
    async fn populate(
        &self,
        nets: &BTreeMap<String, Network>,
        eps: &mut EndpointState,
        sb: &mut Sandbox,
        networks: Vec<(String, EndpointOptions)>,
        made: &mut Vec<Endpoint>,
    ) -> NetResult<()> {
        for (network, opts) in networks {
            let (opts, claim) = self
                .claim_global(Self::lookup(nets, &network).ok(), opts)
                .await?;
            let (net, ep) = match prepare(nets, eps, sb, &network, opts) {
                Ok(p) => p,
                Err(e) => {
                    self.release_global(claim).await;
                    return Err(e);
                }
            };
            match self.wire(&mut eps.indexes, sb, &ep, &net).await {
                Ok(Some(ports)) => sb.resolver_ports = Some(ports),
                Ok(None) => {}
                Err(e) => {
                    release(eps.ipam.as_mut(), &ep);
                    self.release_global(claim).await;
                    return Err(e);
                }
            }
            eps.endpoints.insert(ep.id.clone(), ep.clone());
            made.push(ep);
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
        let nets = self.networks.lock().await;
        let (opts, claim) = self
            .claim_global(Self::lookup(&nets, network).ok(), opts)
            .await?;
        let attached = self.attach_locked(&nets, sandbox_id, network, opts).await;
        if attached.is_err() {
            self.release_global(claim).await;
        }
        attached
    }

    async fn attach_locked(
        &self,
        nets: &BTreeMap<String, Network>,
        sandbox_id: &str,
        network: &str,
        opts: EndpointOptions,
    ) -> NetResult<Endpoint> {
        let mut eps = self.eps.lock().await;
        let sb = eps.sandbox(sandbox_id)?;
        let (net, ep) = prepare(nets, &mut eps, &sb, network, opts)?;
        if let Err(e) = self.store.put(ENDPOINTS, &ep.id, &ep) {
            release(eps.ipam.as_mut(), &ep);
            return Err(e.into());
        }
        let new_ports = match self.wire(&mut eps.indexes, &sb, &ep, &net).await {
            Ok(p) => p,
            Err(e) => {
                release(eps.ipam.as_mut(), &ep);
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
        let drv = driver::of(&net.driver);
        let inner = match self.sandbox_handle(sb).await {
            Ok(inner) => inner,
            Err(e) => {
                self.dns_leave(ep);
                return Err(e);
            }
        };
        let wired = drv
            .join(Join {
                kernel: self.kernel.as_ref(),
                inner: inner.as_ref(),
                known,
                sb,
                ep,
                net,
            })
            .await
            .map(|host| {
                if let Some(host) = host {
                    known.veths.insert(ep.host_ifname.clone(), host);
                }
            })
            .and_then(|()| self.firewall_join(ep, net))
            .and_then(|()| self.dns_serve(sb, net));
        if wired.is_err() {
            self.dns_leave(ep);
            let undone = drv
                .leave(Leave {
                    kernel: self.kernel.as_ref(),
                    teardown: &self.teardown_kernel,
                    inner: Some(inner),
                    known,
                    ep,
                    sandbox_gone: false,
                })
                .await;
            match undone {
                Ok(Some(rest)) => rest.await,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take apart the endpoint of a failed attach")
                }
            }
        }
        wired
    }

    /// Detaches a sandbox from a network (`network disconnect`): the endpoint stops carrying
    /// traffic at once and its interface disappears from the sandbox shortly after.
    pub async fn detach(&self, sandbox_id: &str, network: &str) -> NetResult<Endpoint> {
        let nets = self.networks.lock().await;
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
        self.store.delete(ENDPOINTS, &ep.id)?;
        release(eps.ipam.as_mut(), &ep);
        let sb = eps.sandboxes.get(&ep.sandbox_id).cloned();
        let dropped = self.firewall_leave(&nets, std::slice::from_ref(&ep), sb.as_ref());
        let linked = |sb: &Sandbox| sb.links.iter().any(|l| l.from == ep.host_ifname);
        if let Some(mut sb) = sb.filter(|sb| !dropped.is_empty() || linked(sb)) {
            sb.ports.retain(|p| !dropped.contains(p));
            sb.links.retain(|l| l.from != ep.host_ifname);
            self.store.put(SANDBOXES, &sb.id, &sb)?;
            eps.sandboxes.insert(sb.id.clone(), sb);
        }
        eps.endpoints.remove(&ep.id);
        self.dns_leave(&ep);
        self.release_global(Self::global_claim_of(&nets, &ep)).await;
        // The record is gone already: without a handle on the sandbox, its interface goes
        // with the namespace.
        let inner = match eps.sandboxes.get(&ep.sandbox_id) {
            Some(sb) => self.sandbox_handle(sb).await.ok(),
            None => None,
        };
        let rest = driver::of(&net.driver)
            .leave(Leave {
                kernel: self.kernel.as_ref(),
                teardown: &self.teardown_kernel,
                inner,
                known: &mut eps.indexes,
                ep: &ep,
                sandbox_gone: false,
            })
            .await?;
        if let Some(rest) = rest {
            self.defer(format!("sandbox:{}:{}", ep.sandbox_id, ep.ifname), rest);
        }
        Ok(ep)
    }

    /// Runs a sandbox link's teardown in the background under `key`, so that a later user of the
    /// name (or [`Controller::settle`]) waits for it. Finished ones are forgotten here: the key
    /// of a removed sandbox is never asked for again.
    fn defer(&self, key: String, rest: driver::Deferred) {
        let mut tasks = self.lock_teardown();
        tasks.retain(|_, t| !t.is_finished());
        tasks.insert(key, tokio::spawn(rest));
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
    /// The records' deletion is queued, not waited for (why that is safe: below).
    pub async fn remove_sandbox(&self, sandbox_id: &str) -> NetResult<()> {
        let nets = self.networks.lock().await;
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
        for ep in &mine {
            changes.push(Change::delete(ENDPOINTS, &ep.id));
        }
        // Not waited for: a crash that loses these deletions leaves records whose namespace
        // is gone (the next start forgets them with their addresses), or, before the unpin, a
        // sandbox the engine's next start removes again: a release's or removal's intent is
        // durable in the container record, and a failed start never recorded the sandbox.
        self.store.enqueue(changes);
        self.firewall_leave(&nets, &mine, Some(&sb));
        let handle = self.lock_handles().get(&sb.id).cloned();
        for ep in &mine {
            eps.endpoints.remove(&ep.id);
            release(eps.ipam.as_mut(), ep);
            self.release_global(Self::global_claim_of(&nets, ep)).await;
            let Some(net) = nets.get(&ep.network_id) else {
                continue;
            };
            // The namespace goes next and takes what is inside with it.
            let left = driver::of(&net.driver)
                .leave(Leave {
                    kernel: self.kernel.as_ref(),
                    teardown: &self.teardown_kernel,
                    inner: handle.clone(),
                    known: &mut eps.indexes,
                    ep,
                    sandbox_gone: true,
                })
                .await;
            match left {
                // The task holds the sandbox's socket (so its namespace) until it is done.
                Ok(Some(rest)) => self.defer(format!("sandbox:{}:{}", sb.id, ep.ifname), rest),
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(endpoint = %ep.id, error = %e, "endpoint leave before sandbox removal")
                }
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

/// Checks that `sb` may join `network` and allocates its endpoint: the network and the
/// endpoint. Nothing is stored or plumbed yet; the caller releases the addresses on failure.
fn prepare(
    nets: &BTreeMap<String, Network>,
    eps: &mut EndpointState,
    sb: &Sandbox,
    network: &str,
    opts: EndpointOptions,
) -> NetResult<(Network, Endpoint)> {
    let net = Controller::lookup(nets, network)?.clone();
    let drv = driver::of(&net.driver);
    drv.check_join(&net)?;
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
    let n = (0..)
        .find(|n| !mine.iter().any(|e| e.ifname == format!("eth{n}")))
        .unwrap_or(0);
    let default_route = !mine.iter().any(|e| e.default_route);
    let v4 = if net.enable_ipv4 {
        allocate(eps.ipam.as_mut(), &net, false, opts.ipv4)?
    } else {
        None
    };
    let v6 = if net.enable_ipv6 {
        match allocate(eps.ipam.as_mut(), &net, true, opts.ipv6) {
            Ok(v6) => v6,
            Err(e) => {
                if let Some(l) = v4 {
                    eps.ipam.release(&net.id, l.addr.addr());
                }
                return Err(e);
            }
        }
    } else {
        None
    };
    let ep = Endpoint {
        id: new_id(),
        owner: opts.owner,
        name: opts.name,
        network_id: net.id.clone(),
        sandbox_id: sb.id.clone(),
        ifname: format!("eth{n}"),
        host_ifname: drv.host_ifname().unwrap_or_default(),
        mac: opts
            .mac
            .unwrap_or_else(|| mac_for(v4.map(|l| l.addr.addr()))),
        ipv4: v4.map(|l| l.addr),
        ipv6: v6.map(|l| l.addr),
        gateway4: v4.map(|l| l.gateway),
        gateway6: v6.map(|l| l.gateway),
        requested4: opts.ipv4,
        requested6: opts.ipv6,
        aliases: opts.aliases,
        default_route,
    };
    Ok((net, ep))
}

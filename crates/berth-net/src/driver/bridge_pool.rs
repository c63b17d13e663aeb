//! Released bridges, kept for the next bridge network.
//!
//! Deleting a bridge makes the kernel wait for RCU grace periods under the RTNL lock (about
//! 40 ms here), and every link operation of any socket waits behind it: a `network create`
//! right after an `rm` took 20 ms, and create + rm pairs 24 ms. So `rm` parks its bridge
//! instead: down, every address gone (the network's firewall elements went with its record),
//! renamed `bp-<12 hex of the removed network's ID>` and marked [`POOL_ALIAS`], which names no
//! network. The next bridge network renames a parked bridge and marks it as its own instead of
//! making one. The pool holds at most [`CAPACITY`]; what does not fit is deleted as before.
//! Once the pool has seen no park or take for [`IDLE`], and whenever the daemon settles
//! (shutdown included), its bridges are deleted. A crash leaves them marked as nobody's, and the
//! next start removes them as orphans.

use super::owner;
use crate::error::{NetError, NetResult};
use crate::network::Network;
use crate::sys::{BridgeSpec, Kernel, SysResult};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// The mark of a parked bridge. It is not a network's, so a start deletes it as an orphan.
pub const POOL_ALIAS: &str = "berth:pool";
/// The most bridges parked at once.
pub const CAPACITY: usize = 4;
/// How long the pool must see no use before its bridges are deleted.
pub const IDLE: Duration = Duration::from_secs(1);

/// A bridge out of service, waiting for a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    pub index: u32,
    pub name: String,
    /// Whether it served an IPv6 network: its per-device IPv6 settings were made for one, so
    /// it only serves another.
    pub ipv6: bool,
}

#[derive(Default)]
struct State {
    parked: Vec<Parked>,
    last_use: Option<Instant>,
    /// Whether the task that deletes the pool's bridges once it is idle runs; it does while
    /// any is parked.
    drainer: bool,
}

/// Parked bridges of the daemon's namespace.
pub struct BridgePool {
    state: Mutex<State>,
    /// The daemon's namespace on the socket of its own that slow deletions use.
    teardown: Arc<dyn Kernel>,
    /// Held while bridges taken out of the pool are being deleted, so that [`BridgePool::drain`]
    /// can wait for the drainer's deletions too.
    deleting: tokio::sync::Mutex<()>,
    idle: Duration,
}

/// The name a bridge is parked under, from the ID of the network it served.
pub fn parked_name(network_id: &str) -> String {
    format!("bp-{}", &network_id[..12.min(network_id.len())])
}

impl BridgePool {
    pub fn new(teardown: Arc<dyn Kernel>) -> Arc<BridgePool> {
        Self::with_idle(teardown, IDLE)
    }

    /// A pool whose bridges are deleted after `idle` without use instead of [`IDLE`].
    pub fn with_idle(teardown: Arc<dyn Kernel>, idle: Duration) -> Arc<BridgePool> {
        Arc::new(BridgePool {
            state: Mutex::new(State::default()),
            teardown,
            deleting: tokio::sync::Mutex::new(()),
            idle,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether another bridge may be parked.
    pub fn has_room(&self) -> bool {
        self.lock().parked.len() < CAPACITY
    }

    /// The bridges parked now.
    pub fn parked(&self) -> Vec<Parked> {
        self.lock().parked.clone()
    }

    /// A parked bridge for a network with (or without) IPv6, taken out of the pool.
    pub fn take(&self, ipv6: bool) -> Option<Parked> {
        let mut st = self.lock();
        let at = st.parked.iter().rposition(|p| p.ipv6 == ipv6)?;
        st.last_use = Some(Instant::now());
        Some(st.parked.remove(at))
    }

    /// Adds a bridge that [`Kernel::park_link`] has taken out of service. Without room (a
    /// concurrent park took the last place) it is deleted instead.
    pub fn put(self: &Arc<Self>, bridge: Parked) {
        let mut st = self.lock();
        if st.parked.len() >= CAPACITY {
            drop(st);
            let teardown = self.teardown.clone();
            tokio::spawn(async move { delete(teardown.as_ref(), &bridge).await });
            return;
        }
        st.parked.push(bridge);
        st.last_use = Some(Instant::now());
        if !st.drainer {
            st.drainer = true;
            tokio::spawn(self.clone().drain_when_idle());
        }
    }

    /// Deletes every parked bridge, and waits until the kernel has let them go (the drainer's
    /// deletions included).
    pub async fn drain(&self) {
        let _turn = self.deleting.lock().await;
        let left = std::mem::take(&mut self.lock().parked);
        for b in &left {
            delete(self.teardown.as_ref(), b).await;
        }
    }

    /// The drainer: sleeps until the pool has been idle long enough, deletes what is parked,
    /// and ends once nothing is.
    async fn drain_when_idle(self: Arc<Self>) {
        loop {
            let due = {
                let mut st = self.lock();
                if st.parked.is_empty() {
                    st.drainer = false;
                    return;
                }
                st.last_use.map_or_else(Instant::now, |t| t + self.idle)
            };
            tokio::time::sleep_until(due).await;
            let _turn = self.deleting.lock().await;
            let batch = {
                let mut st = self.lock();
                if st.last_use.is_some_and(|t| t + self.idle > Instant::now()) {
                    continue;
                }
                std::mem::take(&mut st.parked)
            };
            for b in &batch {
                delete(self.teardown.as_ref(), b).await;
            }
        }
    }
}

/// Parks the bridge of `net` in `pool` if it is there, is berth's, and the pool has room;
/// whether it did. A bridge that cannot be parked is left as it was, for deletion.
pub(super) async fn park(
    kernel: &dyn Kernel,
    net: &Network,
    pool: &Arc<BridgePool>,
) -> NetResult<bool> {
    let Some(cfg) = net.driver.bridge() else {
        return Ok(false);
    };
    if !pool.has_room() {
        return Ok(false);
    }
    let Some(link) = kernel
        .link(&cfg.name)
        .await
        .map_err(NetError::kernel(format!("look up bridge {}", cfg.name)))?
    else {
        return Ok(false);
    };
    if owner(&link) != Some(net.id.as_str()) || link.kind.as_deref() != Some("bridge") {
        return Ok(false);
    }
    let name = parked_name(&net.id);
    kernel
        .park_link(link.index, &name, POOL_ALIAS)
        .await
        .map_err(NetError::kernel(format!("park bridge {}", cfg.name)))?;
    pool.put(Parked {
        index: link.index,
        name,
        ipv6: net.enable_ipv6,
    });
    Ok(true)
}

/// Makes parked bridge `b` the bridge of a new network: renamed and marked as the network's
/// in one message (so a crash leaves it either the pool's or the network's), then MTU, up,
/// and the gateway addresses, as a new bridge gets them.
pub(super) async fn reuse(kernel: &dyn Kernel, b: &Parked, spec: &BridgeSpec) -> SysResult<()> {
    kernel.rename_link(b.index, &spec.name, &spec.alias).await?;
    kernel
        .configure_link(b.index, &spec.alias, spec.mtu)
        .await?;
    for addr in &spec.addrs {
        kernel.add_address(b.index, *addr).await?;
    }
    Ok(())
}

async fn delete(kernel: &dyn Kernel, b: &Parked) {
    match kernel.delete_link(b.index).await {
        Ok(()) => tracing::debug!(link = %b.name, "parked bridge deleted"),
        // Deleted by someone else meanwhile: nothing is left either way.
        Err(e) if e.errno() == 19 => {}
        Err(e) => tracing::warn!(link = %b.name, error = %e, "cannot delete a parked bridge"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::FakeKernel;
    use crate::sys::BridgeSpec;

    async fn parked_bridge(k: &FakeKernel, id: &str) -> Parked {
        let spec = BridgeSpec {
            name: format!("br-{id}"),
            mtu: 1500,
            alias: format!("berth:{id}"),
            addrs: vec!["10.1.0.1/24".parse().unwrap()],
            ipv6: false,
        };
        let index = k.create_bridge(&spec).await.unwrap();
        let name = parked_name(id);
        k.park_link(index, &name, POOL_ALIAS).await.unwrap();
        Parked {
            index,
            name,
            ipv6: false,
        }
    }

    async fn names(k: &FakeKernel) -> Vec<String> {
        k.links()
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect()
    }

    #[tokio::test]
    async fn the_pool_is_bounded_and_hands_out_the_latest_first() {
        let k = FakeKernel::new();
        let pool = BridgePool::with_idle(Arc::new(k.clone()), Duration::from_secs(3600));
        for i in 0..CAPACITY + 1 {
            let b = parked_bridge(&k, &format!("{i:012}")).await;
            pool.put(b);
        }
        assert_eq!(pool.parked().len(), CAPACITY, "bounded");
        for _ in 0..100 {
            if names(&k).await.len() == CAPACITY {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(names(&k).await.len(), CAPACITY, "the extra one is deleted");
        let parked = pool.parked();
        let link = k.link(&parked[0].name).await.unwrap().unwrap();
        assert!(!link.up && link.addrs.is_empty(), "{link:?}");
        assert_eq!(link.alias.as_deref(), Some(POOL_ALIAS));
        assert!(pool.take(true).is_none(), "no IPv6 bridge is parked");
        let taken = pool.take(false).expect("a parked bridge");
        assert_eq!(taken, parked[CAPACITY - 1], "the most recent one first");
        assert!(pool.has_room());
    }

    #[tokio::test]
    async fn an_idle_pool_drains_itself() {
        let k = FakeKernel::new();
        let pool = BridgePool::with_idle(Arc::new(k.clone()), Duration::ZERO);
        pool.put(parked_bridge(&k, "aaaaaaaaaaaa").await);
        for _ in 0..1000 {
            if names(&k).await.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(pool.parked().is_empty());
        assert!(names(&k).await.is_empty(), "{:?}", names(&k).await);
    }

    #[tokio::test]
    async fn drain_deletes_at_once() {
        let k = FakeKernel::new();
        let pool = BridgePool::new(Arc::new(k.clone()));
        pool.put(parked_bridge(&k, "aaaaaaaaaaaa").await);
        pool.put(parked_bridge(&k, "bbbbbbbbbbbb").await);
        pool.drain().await;
        assert!(pool.parked().is_empty());
        assert!(k.links().await.unwrap().is_empty());
        // The pool works again after a drain.
        pool.put(parked_bridge(&k, "cccccccccccc").await);
        assert_eq!(pool.parked().len(), 1);
        pool.drain().await;
        assert!(k.links().await.unwrap().is_empty());
    }
}

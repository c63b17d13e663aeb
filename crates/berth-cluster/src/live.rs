//! The live nodes as the node watch last saw them, for answers that must not wait on the store
//! (`network check`, the graph and its stream): a task keeps the set in step with the watch and
//! lists the nodes again on a tick. While the store does not answer, the cache still answers at
//! once, with the last set seen and why it may be out of date.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::error::ClusterError;
use crate::model::NodeRecord;
use crate::watch::KeyedWatcher;

pub type NodeWatcher = KeyedWatcher<NodeRecord>;

/// How often the follower lists the nodes again: the bound on how long an outage of the store
/// goes unnoticed by the cache when no watch event says otherwise.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);

/// What the cache holds now.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSnapshot {
    /// The live nodes (their lease held) as last seen, in ID order.
    pub nodes: Vec<NodeRecord>,
    /// Set while the store does not answer: why, and since when. `nodes` may then be stale.
    pub unavailable: Option<String>,
}

#[derive(Default)]
struct State {
    nodes: Vec<NodeRecord>,
    down: Option<(String, Instant)>,
}

#[derive(Default)]
pub struct LiveNodes {
    state: Mutex<State>,
}

impl LiveNodes {
    /// A cache holding `nodes` (the listing the watch started from).
    pub fn new(nodes: Vec<NodeRecord>) -> Arc<LiveNodes> {
        let me = LiveNodes::default();
        me.lock().nodes = nodes;
        Arc::new(me)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a plain value: a panic elsewhere never leaves it half-written.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The nodes now, without asking the store.
    pub fn snapshot(&self) -> LiveSnapshot {
        let st = self.lock();
        LiveSnapshot {
            nodes: st.nodes.clone(),
            unavailable: st.down.as_ref().map(|(why, since)| {
                format!(
                    "{why} (for {} s; the live nodes are as last seen)",
                    since.elapsed().as_secs()
                )
            }),
        }
    }

    /// The store answered with this set.
    pub fn seen(&self, nodes: Vec<NodeRecord>) {
        let mut st = self.lock();
        st.nodes = nodes;
        st.down = None;
    }

    /// The store did not answer a listing. Only an outage marks the cache: any other error is
    /// the store answering, so the set the watch keeps is still current.
    pub fn failed(&self, e: &ClusterError) {
        if !matches!(e, ClusterError::Unavailable(_)) {
            tracing::warn!(error = %e, "listing the cluster's nodes failed");
            return;
        }
        let mut st = self.lock();
        if st.down.is_none() {
            tracing::warn!(error = %e, "cluster store unavailable; live nodes are served from the cache");
            st.down = Some((e.to_string(), Instant::now()));
        }
    }

    /// Keeps the cache in step with `w`, listing again every `probe`, until the task is
    /// aborted or the cache is dropped.
    pub fn follow(
        self: &Arc<Self>,
        w: NodeWatcher,
        probe: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(follow(Arc::downgrade(self), w, probe))
    }
}

async fn follow(cache: Weak<LiveNodes>, mut w: NodeWatcher, probe: Duration) {
    let mut tick = tokio::time::interval(probe);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = w.next() => {
                let Some(c) = cache.upgrade() else { return };
                c.seen(w.current());
            }
            _ = tick.tick() => {
                let Some(c) = cache.upgrade() else { return };
                match w.resync().await {
                    Ok(_) => c.seen(w.current()),
                    Err(e) => c.failed(&e),
                }
            }
        }
    }
}

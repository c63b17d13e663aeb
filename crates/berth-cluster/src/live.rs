//! The live nodes as the node watch last saw them, for answers that must not wait on the store
//! (`network check`, the graph and its stream): a task keeps the set in step with the watch and
//! lists the nodes again on a tick. While the store does not answer, the cache still answers at
//! once, with the last set seen and why it may be out of date.
//!
//! Every set the cache takes carries the store revision it reflects, and an older one never
//! replaces a newer one. Other readers of the store feed their own fresher listings in
//! (`seen_at`), so no view berth shows (e.g. the topology's lost endpoints, which the endpoint
//! watch learns first) is ahead of what check answers from here.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::error::ClusterError;
use crate::model::NodeRecord;
use crate::store::Revision;
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
    /// The store revision `nodes` reflects.
    rev: Revision,
    down: Option<(String, Instant)>,
}

#[derive(Default)]
pub struct LiveNodes {
    state: Mutex<State>,
}

impl LiveNodes {
    /// A cache holding `nodes`, the listing (at revision `rev`) the watch started from.
    pub fn new(nodes: Vec<NodeRecord>, rev: Revision) -> Arc<LiveNodes> {
        let me = LiveNodes::default();
        me.seen_at(nodes, rev);
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

    /// The store answered with this set, as of revision `rev`. A set older than the one held
    /// is dropped: the follower's periodic listing can be taken before a lease ends and come
    /// back after a fresher reader has already fed in the node's departure.
    pub fn seen_at(&self, nodes: Vec<NodeRecord>, rev: Revision) {
        let mut st = self.lock();
        st.down = None;
        if rev < st.rev {
            return;
        }
        st.nodes = nodes;
        st.rev = rev;
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
            // Cancel-safe: an event the stream has not handed out stays in it, and the
            // watcher applies what it got before it returns.
            _ = w.next() => {
                let Some(c) = cache.upgrade() else { return };
                c.seen_at(w.current(), w.revision());
            }
            _ = tick.tick() => {
                let Some(c) = cache.upgrade() else { return };
                match w.resync().await {
                    Ok(_) => c.seen_at(w.current(), w.revision()),
                    Err(e) => c.failed(&e),
                }
            }
        }
    }
}

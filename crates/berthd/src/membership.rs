//! The daemon's membership of a cluster: joining the etcd store at start (and, while etcd is
//! unreachable, in the background until it answers), the shared handle the API and the network
//! controller use, what `/info` shows, and leaving at shutdown.
//!
//! A single-host daemon (no `--cluster-store`) has a disabled membership: no handle, no task.

use crate::config::ClusterSettings;
use berth_api::system::{ClusterInfo, ClusterNode};
use berth_cluster::{Cluster, EndpointRecord, Takeover};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Decides at join which of its previous life's endpoints this daemon still has.
pub type KeepFn = Arc<dyn Fn(&EndpointRecord) -> bool + Send + Sync>;

/// Retry pace while etcd does not answer at start.
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// `/info` must answer even while etcd does not: its node listing gets the store's own
/// request timeout (which rides out a leader election) and a little more.
const INFO_TIMEOUT: Duration =
    Duration::from_millis(berth_cluster::etcd::REQUEST_TIMEOUT.as_millis() as u64 + 1000);
/// Revoking the lease at shutdown gets this long; after that the lease simply expires.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Membership {
    settings: Option<ClusterSettings>,
    joined: watch::Sender<Option<Arc<Cluster>>>,
    /// Why the last attempt to join failed, while not joined.
    join_error: Arc<Mutex<Option<String>>>,
    /// What the join found of this node's previous life (for the network controller).
    takeover: watch::Sender<Option<Takeover>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Membership {
    /// A daemon that is not in a cluster.
    pub fn disabled() -> Arc<Membership> {
        Arc::new(Membership {
            settings: None,
            joined: watch::channel(None).0,
            join_error: Arc::default(),
            takeover: watch::channel(None).0,
            task: Mutex::new(None),
        })
    }

    /// Starts joining the cluster in the background and returns at once: a daemon whose store
    /// is down still serves its local networks.
    pub fn start(
        settings: ClusterSettings,
        node_id: String,
        hostname: String,
        keep: KeepFn,
    ) -> Arc<Membership> {
        let m = Arc::new(Membership {
            settings: Some(settings.clone()),
            joined: watch::channel(None).0,
            join_error: Arc::default(),
            takeover: watch::channel(None).0,
            task: Mutex::new(None),
        });
        let joined = m.joined.clone();
        let takeover = m.takeover.clone();
        let join_error = m.join_error.clone();
        let task = tokio::spawn(async move {
            let mut pause = RETRY_MIN;
            loop {
                match Cluster::connect(&settings.config, &node_id, &hostname, |e| keep(e)).await {
                    Ok((cluster, t)) => {
                        info!(
                            store = %settings.store_url,
                            node = %node_id,
                            previous_life = t.found_previous,
                            kept = t.kept.len(),
                            removed = t.removed.len(),
                            "joined the cluster"
                        );
                        *lock(&join_error) = None;
                        takeover.send_replace(Some(t));
                        joined.send_replace(Some(Arc::new(cluster)));
                        return;
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        let mut last = lock(&join_error);
                        if last.as_deref() != Some(msg.as_str()) {
                            warn!(
                                store = %settings.store_url,
                                error = %msg,
                                "cannot join the cluster; local networks work, retrying in the background"
                            );
                        }
                        *last = Some(msg);
                    }
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_MAX);
            }
        });
        *lock(&m.task) = Some(task);
        m
    }

    /// Whether the daemon was started for a cluster (joined or not).
    pub fn enabled(&self) -> bool {
        self.settings.is_some()
    }

    // Entry points of the overlay driver, which is wired in after this.
    #[allow(dead_code)]
    pub fn settings(&self) -> Option<&ClusterSettings> {
        self.settings.as_ref()
    }

    /// The cluster handle once joined; None on a single host and while the store has not
    /// answered yet.
    pub fn cluster(&self) -> Option<Arc<Cluster>> {
        self.joined.borrow().clone()
    }

    /// Changes once, when the daemon joins (for whoever must act on joining: the overlay driver).
    // Entry points of the overlay driver, which is wired in after this.
    #[allow(dead_code)]
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Cluster>>> {
        self.joined.subscribe()
    }

    /// What the join found of this node's previous life; None before the join.
    // Entry points of the overlay driver, which is wired in after this.
    #[allow(dead_code)]
    pub fn takeover(&self) -> watch::Receiver<Option<Takeover>> {
        self.takeover.subscribe()
    }

    /// `/info`'s ClusterStore, ClusterAdvertise and BerthCluster.
    pub async fn info(&self) -> (String, String, Option<ClusterInfo>) {
        let Some(s) = &self.settings else {
            return (String::new(), String::new(), None);
        };
        let advertise = s
            .config
            .advertise
            .as_ref()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let status = match self.cluster() {
            None => Err(lock(&self.join_error)
                .clone()
                .unwrap_or_else(|| "joining".into())),
            Some(c) => match tokio::time::timeout(INFO_TIMEOUT, c.nodes()).await {
                Ok(Ok(nodes)) => Ok(nodes),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!(
                    "no answer from the cluster store within {} s",
                    INFO_TIMEOUT.as_secs()
                )),
            },
        };
        let info = match status {
            Ok(mut nodes) => {
                nodes.sort_by(|a, b| a.hostname.cmp(&b.hostname).then(a.id.cmp(&b.id)));
                ClusterInfo {
                    store: "up".into(),
                    nodes: nodes
                        .into_iter()
                        .map(|n| ClusterNode {
                            id: n.id,
                            name: n.hostname,
                            address: n.advertise,
                        })
                        .collect(),
                }
            }
            Err(e) => {
                // The errors already say "cluster store unavailable: …"; say it once.
                let why = e
                    .strip_prefix("cluster store unavailable: ")
                    .unwrap_or(&e)
                    .to_string();
                ClusterInfo {
                    store: format!("unavailable: {why}"),
                    nodes: Vec::new(),
                }
            }
        };
        (s.store_url.clone(), advertise, Some(info))
    }

    /// Stops joining and, when `leave`, revokes the lease so that the others drop this node at
    /// once. Without `leave` the lease outlives the daemon by its TTL, so that a restart within
    /// it takes its keys over without the other nodes seeing a change.
    pub async fn shutdown(&self, leave: bool) {
        if let Some(t) = lock(&self.task).take() {
            t.abort();
        }
        let Some(c) = self.joined.send_replace(None) else {
            return;
        };
        if !leave {
            info!("leaving the node lease to expire: running containers keep their endpoints for a restart");
            return;
        }
        match tokio::time::timeout(LEAVE_TIMEOUT, c.leave()).await {
            Ok(Ok(())) => info!("left the cluster"),
            Ok(Err(e)) => warn!(error = %e, "cannot leave the cluster; its lease will expire"),
            Err(_) => warn!("the cluster store did not answer the leave; the lease will expire"),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

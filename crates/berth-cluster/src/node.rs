//! A daemon's life in the cluster: its node key under a lease it keeps alive, and the take-over
//! at start of whatever its previous life left behind.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::error::{ClusterError, Result};
use crate::keys::Keys;
use crate::model::{decode, encode, EndpointRecord, IpClaim, NodeRecord};
use crate::store::{ClusterStore, Compare, KeyRange, LeaseId, Revision, Txn, TxnOp};

/// What the start found of the previous life of this node.
#[derive(Debug, Default, Clone)]
pub struct Takeover {
    /// Endpoints kept (moved under the new lease): the other nodes see no change.
    pub kept: Vec<EndpointRecord>,
    /// Endpoints the daemon no longer has: deleted, their addresses free.
    pub removed: Vec<EndpointRecord>,
    /// Whether a node key of an earlier life was still there (restart within the TTL).
    pub found_previous: bool,
}

pub struct NodeSession {
    store: Arc<dyn ClusterStore>,
    keys: Keys,
    record: NodeRecord,
    lease: watch::Receiver<LeaseId>,
    keeper: JoinHandle<()>,
}

impl Drop for NodeSession {
    fn drop(&mut self) {
        // The lease is not revoked: a daemon restarted within the TTL keeps its endpoints.
        self.keeper.abort();
    }
}

impl NodeSession {
    /// Registers `record` under a new lease of `ttl_secs`, takes over the node key from an
    /// earlier life, keeps the endpoints `keep` says this daemon still has (re-put under the new
    /// lease) and deletes the rest, then revokes the earlier leases.
    pub async fn register(
        store: Arc<dyn ClusterStore>,
        keys: Keys,
        record: NodeRecord,
        ttl_secs: i64,
        keep: impl Fn(&EndpointRecord) -> bool,
    ) -> Result<(NodeSession, Takeover)> {
        if record.id.is_empty() || record.id.contains('/') {
            return Err(ClusterError::Invalid(format!(
                "invalid node id {:?}",
                record.id
            )));
        }
        let lease = store.lease_grant(ttl_secs).await?;
        let node_key = keys.node(&record.id);
        let prev = store.get(KeyRange::Key(node_key.clone())).await?;
        let mut old_leases: BTreeSet<LeaseId> = prev.kvs.iter().map(|kv| kv.lease).collect();
        store.put(&node_key, encode(&record), Some(lease)).await?;

        let mut takeover = Takeover {
            found_previous: !prev.kvs.is_empty(),
            ..Takeover::default()
        };
        let all = store.get(KeyRange::Prefix(keys.all_endpoints())).await?;
        for kv in &all.kvs {
            let ep: EndpointRecord = match decode(kv) {
                Ok(ep) => ep,
                Err(e) => {
                    warn!(error = %e, "skipping an endpoint record that does not decode");
                    continue;
                }
            };
            if ep.node != record.id || kv.lease == lease {
                continue;
            }
            old_leases.insert(kv.lease);
            let ip_key = keys.ip(&ep.network_id, ep.ip);
            let kept = keep(&ep);
            let ops = if kept {
                let claim = IpClaim {
                    endpoint: ep.name.clone(),
                    node: record.id.clone(),
                };
                vec![
                    TxnOp::put(kv.key.clone(), kv.value.clone(), Some(lease)),
                    TxnOp::put(ip_key, encode(&claim), Some(lease)),
                ]
            } else {
                vec![TxnOp::delete(kv.key.clone()), TxnOp::delete(ip_key)]
            };
            let r = store
                .txn(Txn {
                    when: vec![Compare::mod_revision(kv.key.clone(), kv.mod_revision)],
                    then: ops,
                    otherwise: vec![],
                })
                .await?;
            if !r.succeeded {
                // Someone else changed it meanwhile (an rm from another node): leave it be.
                continue;
            }
            if kept {
                takeover.kept.push(ep);
            } else {
                takeover.removed.push(ep);
            }
        }
        for old in old_leases.into_iter().filter(|l| *l != 0 && *l != lease) {
            match store.lease_revoke(old).await {
                Ok(()) | Err(ClusterError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        info!(
            node = %record.id,
            lease = format!("{lease:x}"),
            kept = takeover.kept.len(),
            removed = takeover.removed.len(),
            "registered in the cluster store"
        );
        let (tx, rx) = watch::channel(lease);
        let keeper = tokio::spawn(keep_alive(
            store.clone(),
            node_key,
            encode(&record),
            ttl_secs,
            tx,
        ));
        Ok((
            NodeSession {
                store,
                keys,
                record,
                lease: rx,
                keeper,
            },
            takeover,
        ))
    }

    pub fn id(&self) -> &str {
        &self.record.id
    }

    pub fn record(&self) -> &NodeRecord {
        &self.record
    }

    /// The lease this node's keys go under now.
    pub fn lease(&self) -> LeaseId {
        *self.lease.borrow()
    }

    /// Changes when the lease was lost (etcd expired it) and a new one taken: the daemon must
    /// then claim its endpoints again.
    pub fn lease_changes(&self) -> watch::Receiver<LeaseId> {
        self.lease.clone()
    }

    /// Leaves the cluster for good: the node key and all its endpoints go at once.
    pub async fn leave(&self) -> Result<()> {
        let lease = self.lease();
        self.keeper.abort();
        match self.store.lease_revoke(lease).await {
            Ok(()) | Err(ClusterError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }
}

/// Every node known to the store now (those whose lease is alive).
pub async fn list(store: &dyn ClusterStore, keys: &Keys) -> Result<Vec<NodeRecord>> {
    Ok(list_at(store, keys).await?.0)
}

/// The live nodes and the store revision the listing was taken at, so that a reader holding
/// other views (the live-node cache) can tell which is newer.
pub async fn list_at(store: &dyn ClusterStore, keys: &Keys) -> Result<(Vec<NodeRecord>, Revision)> {
    let r = store.get(KeyRange::Prefix(keys.nodes())).await?;
    let nodes = r.kvs.iter().map(decode).collect::<Result<Vec<_>>>()?;
    Ok((nodes, r.revision))
}

/// Renews the lease three times per TTL. While etcd is unreachable the rounds fail and are
/// retried (a cluster without quorum does not expire leases); a lease found expired is replaced
/// and the node key written again under the new one.
async fn keep_alive(
    store: Arc<dyn ClusterStore>,
    node_key: String,
    node_value: Vec<u8>,
    ttl_secs: i64,
    lease_tx: watch::Sender<LeaseId>,
) {
    let period = Duration::from_millis((ttl_secs.max(3) as u64) * 1000 / 3);
    loop {
        tokio::time::sleep(period).await;
        let lease = *lease_tx.borrow();
        match store.lease_keepalive(lease).await {
            Ok(ttl) if ttl > 0 => {}
            Ok(_) => {
                warn!(
                    lease = format!("{lease:x}"),
                    "node lease expired; registering again"
                );
                let renewed = async {
                    let new = store.lease_grant(ttl_secs).await?;
                    store.put(&node_key, node_value.clone(), Some(new)).await?;
                    Ok::<_, ClusterError>(new)
                };
                match renewed.await {
                    Ok(new) => {
                        let _ = lease_tx.send(new);
                    }
                    Err(e) => warn!(error = %e, "cannot register again; retrying"),
                }
            }
            Err(e) => warn!(error = %e, "node lease keepalive failed; retrying"),
        }
    }
}

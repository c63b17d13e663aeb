//! Unit tests of the cluster logic on the in-memory store.

mod endpoint;
mod ipam;
mod live;
mod network;
mod node;
mod watch;

use std::sync::Arc;

use crate::fake::MemStore;
use crate::model::{NetworkSpec, NodeRecord};
use crate::store::ClusterStore;
use crate::Cluster;

pub fn record(id: &str) -> NodeRecord {
    NodeRecord {
        id: id.into(),
        hostname: format!("host-{id}"),
        advertise: "192.0.2.1".into(),
        started: 0,
    }
}

/// A node on `store` that keeps nothing of an earlier life.
pub async fn node(store: &MemStore, id: &str) -> Cluster {
    let s: Arc<dyn ClusterStore> = Arc::new(store.clone());
    Cluster::join(s, "/t", record(id), 15, |_| false)
        .await
        .unwrap()
        .0
}

pub fn spec(id: &str, name: &str) -> NetworkSpec {
    NetworkSpec {
        id: id.into(),
        name: name.into(),
        ..NetworkSpec::default()
    }
}

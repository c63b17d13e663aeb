//! The handle a daemon holds: its store, key layout and node session, with the operations the
//! API and the overlay driver need.

use std::sync::Arc;

use crate::config::ClusterConfig;
use crate::endpoint;
use crate::error::Result;
use crate::etcd::EtcdStore;
use crate::keys::Keys;
use crate::live::LiveNodes;
use crate::model::{
    now_secs, EndpointRecord, EndpointSpec, NetworkRecord, NetworkSpec, NodeRecord,
};
use crate::network;
use crate::node::{self, NodeSession, Takeover};
use crate::store::{ClusterStore, Revision};
use crate::watch::KeyedWatcher;

pub type EndpointWatcher = KeyedWatcher<EndpointRecord>;
pub type NetworkWatcher = KeyedWatcher<NetworkRecord>;

pub struct Cluster {
    store: Arc<dyn ClusterStore>,
    keys: Keys,
    node: NodeSession,
    endpoints: Vec<String>,
}

impl Cluster {
    /// Connects to etcd as configured and registers this node (see `NodeSession::register`).
    pub async fn connect(
        cfg: &ClusterConfig,
        node_id: &str,
        hostname: &str,
        keep: impl Fn(&EndpointRecord) -> bool,
    ) -> Result<(Cluster, Takeover)> {
        let store: Arc<dyn ClusterStore> = Arc::new(EtcdStore::connect(cfg).await?);
        let advertise = cfg
            .advertise
            .as_ref()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let record = NodeRecord {
            id: node_id.to_string(),
            hostname: hostname.to_string(),
            advertise,
            started: now_secs(),
        };
        let (mut c, t) = Cluster::join(store, &cfg.prefix, record, cfg.ttl_secs, keep).await?;
        c.endpoints = cfg.endpoints.clone();
        Ok((c, t))
    }

    /// Registers on any store (the fake in unit tests).
    pub async fn join(
        store: Arc<dyn ClusterStore>,
        prefix: &str,
        record: NodeRecord,
        ttl_secs: i64,
        keep: impl Fn(&EndpointRecord) -> bool,
    ) -> Result<(Cluster, Takeover)> {
        let keys = Keys::new(prefix);
        let (node, takeover) =
            NodeSession::register(store.clone(), keys.clone(), record, ttl_secs, keep).await?;
        Ok((
            Cluster {
                store,
                keys,
                node,
                endpoints: Vec::new(),
            },
            takeover,
        ))
    }

    pub fn node(&self) -> &NodeSession {
        &self.node
    }

    pub fn store(&self) -> &Arc<dyn ClusterStore> {
        &self.store
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The etcd members as configured (for `/info`'s ClusterStore).
    pub fn store_endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Leaves the cluster for good (the node key and this node's endpoints go at once). By
    /// reference: the daemon shares the handle (API, network controller) and leaves at shutdown.
    pub async fn leave(&self) -> Result<()> {
        self.node.leave().await
    }

    pub async fn nodes(&self) -> Result<Vec<NodeRecord>> {
        node::list(self.store.as_ref(), &self.keys).await
    }

    /// The live nodes and the revision of that listing (see `LiveNodes::seen_at`).
    pub async fn nodes_at(&self) -> Result<(Vec<NodeRecord>, Revision)> {
        node::list_at(self.store.as_ref(), &self.keys).await
    }

    pub async fn create_network(&self, spec: &NetworkSpec) -> Result<NetworkRecord> {
        network::create(self.store.as_ref(), &self.keys, spec, self.node.id()).await
    }

    pub async fn networks(&self) -> Result<Vec<NetworkRecord>> {
        network::list(self.store.as_ref(), &self.keys).await
    }

    pub async fn find_network(&self, id_or_name: &str) -> Result<NetworkRecord> {
        network::find(self.store.as_ref(), &self.keys, id_or_name).await
    }

    pub async fn remove_network(&self, id: &str) -> Result<NetworkRecord> {
        network::remove(self.store.as_ref(), &self.keys, id).await
    }

    /// Node ids with endpoints on the network.
    pub async fn peers(&self, network_id: &str) -> Result<Vec<String>> {
        network::peer_nodes(self.store.as_ref(), &self.keys, network_id).await
    }

    pub async fn claim_endpoint(
        &self,
        network_id: &str,
        spec: &EndpointSpec,
    ) -> Result<EndpointRecord> {
        endpoint::claim(
            self.store.as_ref(),
            &self.keys,
            self.node.id(),
            self.node.lease(),
            network_id,
            spec,
        )
        .await
    }

    pub async fn release_endpoint(
        &self,
        network_id: &str,
        name: &str,
    ) -> Result<Option<EndpointRecord>> {
        endpoint::release(self.store.as_ref(), &self.keys, network_id, name).await
    }

    pub async fn endpoints(&self, network_id: Option<&str>) -> Result<Vec<EndpointRecord>> {
        endpoint::list(self.store.as_ref(), &self.keys, network_id).await
    }

    /// Other nodes' endpoints on every global network: the set now, and a watcher of changes.
    pub async fn watch_remote_endpoints(&self) -> Result<(EndpointWatcher, Vec<EndpointRecord>)> {
        let me = self.node.id().to_string();
        KeyedWatcher::start(
            self.store.clone(),
            self.keys.all_endpoints(),
            move |e: &EndpointRecord| e.node != me,
        )
        .await
    }

    pub async fn watch_networks(&self) -> Result<(NetworkWatcher, Vec<NetworkRecord>)> {
        KeyedWatcher::start(
            self.store.clone(),
            self.keys.networks(),
            |_: &NetworkRecord| true,
        )
        .await
    }

    /// A cache of the live nodes kept by a node watch (listing every `probe` too), and the task
    /// that keeps it; fails at once when the store does not answer the first listing.
    pub async fn follow_live_nodes(
        &self,
        probe: std::time::Duration,
    ) -> Result<(Arc<LiveNodes>, tokio::task::JoinHandle<()>)> {
        let (w, now) =
            KeyedWatcher::start(self.store.clone(), self.keys.nodes(), |_: &NodeRecord| true)
                .await?;
        let cache = LiveNodes::new(now, w.revision());
        let task = cache.follow(w, probe);
        Ok((cache, task))
    }
}

//! berth's cluster layer (issue 19): the etcd-backed store through which the daemons of a
//! cluster share global networks, their subnets, VNIs and addresses, and learn of each other's
//! endpoints. Everything a node owns sits under its lease, so a node that dies frees it all.
//!
//! Data flows one way: the daemon's overlay driver calls `Cluster`; nothing here calls up.

pub mod cluster;
pub mod config;
pub mod endpoint;
pub mod error;
pub mod etcd;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
pub mod ipam;
pub mod keys;
pub mod live;
pub mod model;
pub mod network;
pub mod node;
pub mod store;
pub mod watch;

pub use cluster::{Cluster, EndpointWatcher, NetworkWatcher};
pub use config::{ClusterArgs, ClusterConfig, ConfigError, LocalInterfaces};
pub use error::ClusterError;
pub use live::{LiveNodes, LiveSnapshot};
pub use model::{EndpointRecord, EndpointSpec, NetworkRecord, NetworkSpec, NodeRecord};
pub use node::Takeover;
pub use watch::Change;

#[cfg(test)]
mod tests;

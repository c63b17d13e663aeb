//! What berth programmed, as one snapshot: the host, its networks, every container with its
//! endpoints and published ports, and in a cluster the other hosts' endpoints. The types are
//! berth-api's (one model for the daemon, the verdict, the CLI's graph and the ui); this module
//! adds the network layer's own part, which the daemon completes with the engine's containers.

pub use berth_api::topology::{
    ClusterView, ContainerView, EndpointView, HostView, LinkView, NetworkView, NodeView,
    OverlayView, PortView, RemoteEndpointView, SubnetView, Topology,
};

/// What the network layer itself knows of one sandbox, before the engine names its container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SandboxView {
    pub id: String,
    pub path: String,
    pub endpoints: Vec<EndpointView>,
    pub ports: Vec<PortView>,
}

/// The network layer's part of the snapshot.
#[derive(Debug, Clone, Default)]
pub struct NetSnapshot {
    pub networks: Vec<NetworkView>,
    pub sandboxes: Vec<SandboxView>,
    /// What berth's tables hold when they hold what berth programmed (computed even when
    /// berth does not manage the firewall: its published ports are then served by proxies).
    pub firewall: crate::firewall::FirewallState,
    pub firewall_enabled: bool,
    /// The cluster's side, when this host is a node of one.
    pub cluster: Option<ClusterView>,
}

//! The stable codes of a verdict, each with a hint. Scripts match on the code; the text of the
//! hint may improve.

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    NoCommonNetwork,
    NetworksIsolated,
    IccDisabled,
    InternalNetwork,
    UserChainDrop,
    PortNotPublished,
    HostAddressNotBound,
    ContainerNotRunning,
    /// A container of a network without masquerade reaching outside: its replies have no way back.
    MasqueradeOff,
    /// An interface on the path is missing, down, or off its bridge (seen in the kernel only).
    InterfaceDown,
    /// Defined for the macvlan driver: the host cannot reach its own macvlan children.
    MacvlanHostIsolation,
    /// An overlay path leaves a container interface larger than the VXLAN device (kernel only).
    MtuMismatch,
    /// The node holding a remote endpoint lost its cluster lease (or is no longer live).
    RemoteLeaseExpired,
    /// A route the path needs inside a container is missing or sends elsewhere (kernel only).
    NoRoute,
    /// A bridge's forwarding database sends the destination's MAC to another port (kernel only).
    FdbMismatch,
}

impl Code {
    pub const ALL: [Code; 15] = [
        Code::NoCommonNetwork,
        Code::NetworksIsolated,
        Code::IccDisabled,
        Code::InternalNetwork,
        Code::UserChainDrop,
        Code::PortNotPublished,
        Code::HostAddressNotBound,
        Code::ContainerNotRunning,
        Code::MasqueradeOff,
        Code::InterfaceDown,
        Code::MacvlanHostIsolation,
        Code::MtuMismatch,
        Code::RemoteLeaseExpired,
        Code::NoRoute,
        Code::FdbMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::NoCommonNetwork => "no_common_network",
            Code::NetworksIsolated => "networks_isolated",
            Code::IccDisabled => "icc_disabled",
            Code::InternalNetwork => "internal_network",
            Code::UserChainDrop => "user_chain_drop",
            Code::PortNotPublished => "port_not_published",
            Code::HostAddressNotBound => "host_address_not_bound",
            Code::ContainerNotRunning => "container_not_running",
            Code::MasqueradeOff => "masquerade_off",
            Code::InterfaceDown => "interface_down",
            Code::MacvlanHostIsolation => "macvlan_host_isolation",
            Code::MtuMismatch => "mtu_mismatch",
            Code::RemoteLeaseExpired => "remote_lease_expired",
            Code::NoRoute => "no_route",
            Code::FdbMismatch => "fdb_mismatch",
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            Code::NoCommonNetwork => "connect both to one network: berth network connect NETWORK CONTAINER",
            Code::NetworksIsolated => "containers of different networks never reach each other; connect one of them to the other's network (berth network connect), or publish the port and use the host's address",
            Code::IccDisabled => "the network was created with com.docker.network.bridge.enable_icc=false; use --link for exposed ports, or a network with ICC on",
            Code::InternalNetwork => "an --internal network has no way in or out; connect the container to a second, non-internal network",
            Code::UserChainDrop => "a rule of your own in `table inet berth` chain `user` drops it (nft -a list chain inet berth user)",
            Code::PortNotPublished => "from outside a container is reached only through a published port: run it with -p HOST_PORT:CONTAINER_PORT and connect to the host's address",
            Code::HostAddressNotBound => "the port is published on another host address only (-p IP:HOST_PORT:CONTAINER_PORT); publish it on 0.0.0.0 or on the address clients use",
            Code::ContainerNotRunning => "start it: berth start CONTAINER",
            Code::MasqueradeOff => "the network has com.docker.network.bridge.enable_ip_masquerade=false: replies come back only if the other side routes the network's subnet to this host",
            Code::InterfaceDown => "the kernel's interface differs from what berth made (deleted, down, or off its bridge); restarting the container rebuilds it",
            Code::MacvlanHostIsolation => "a macvlan parent never talks to its own children; add a macvlan interface on the host, or use a bridge network",
            Code::MtuMismatch => "a container interface is larger than the overlay's VXLAN device (ip link show): give both the network's MTU (com.docker.network.driver.mtu, at most the underlay's MTU less 50), or restart the container",
            Code::NoRoute => "a route berth made inside the container was deleted or overridden (ip route inside it); restarting the container restores its routes",
            Code::FdbMismatch => "a static entry in the bridge's forwarding database points the MAC elsewhere (bridge fdb show br BRIDGE); delete it and the bridge learns the right port",
            Code::RemoteLeaseExpired => "the remote host stopped renewing the endpoint: check that its daemon runs and reaches this host",
        }
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_with_hints() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!(c
                .as_str()
                .chars()
                .all(|x| x.is_ascii_lowercase() || x == '_'));
            assert!(!c.hint().is_empty());
        }
    }
}

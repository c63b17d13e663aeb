//! The kernel boundary: everything berth asks of Linux goes through [`Kernel`], so that the layers
//! above can be unit-tested against [`fake::FakeKernel`] and run for real against
//! [`netlink::NetlinkKernel`] inside whatever network namespace the daemon lives in.

pub mod conntrack;
pub mod fake;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod nftnl;
pub mod ovns;
pub mod spare_netns;
pub mod sysctl;
pub mod vxlan;

use async_trait::async_trait;
use ipnet::IpNet;
pub use ovns::TransferSpec;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub use vxlan::{RemoteTable, VxlanSpec, VXLAN_PORT};

/// A network interface as berth needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `bridge`, `veth`, … (`None` for devices without rtnl link info, like `lo`).
    pub kind: Option<String>,
    /// IFLA_IFALIAS: berth marks the links it owns with `berth:<network id>`.
    pub alias: Option<String>,
    pub mtu: u32,
    pub up: bool,
    pub addrs: Vec<IpNet>,
}

/// What a bridge must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    pub name: String,
    pub mtu: u32,
    pub alias: String,
    pub addrs: Vec<IpNet>,
    /// An IPv6 network: the bridge's addresses skip DAD, decided before it comes up (a
    /// portless bridge has carrier here, so its link-local is made at once). While its
    /// link-local is tentative the kernel sends no neighbour solicitation for forwarded
    /// traffic, and IPv6 from outside, published ports included, stalls for a second.
    pub ipv6: bool,
}

/// A veth pair: one end on a bridge in this namespace, the other created directly inside a
/// sandbox namespace under its final name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethSpec {
    pub host_name: String,
    /// Index of the bridge the host end joins.
    pub master: u32,
    pub mtu: u32,
    pub peer_name: String,
    pub peer_mac: [u8; 6],
    pub peer_ns: PathBuf,
}

/// macvlan modes (`-o macvlan_mode`), as the kernel names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    Bridge,
    Private,
    Vepa,
    Passthru,
}

/// ipvlan modes (`-o ipvlan_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanMode {
    L2,
    L3,
    L3s,
}

/// ipvlan flags (`-o ipvlan_flag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanFlag {
    Bridge,
    Private,
    Vepa,
}

/// What a link stacked on a parent link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    Macvlan(MacvlanMode),
    Ipvlan(IpvlanMode, IpvlanFlag),
    /// An 802.1q sub-interface with this VLAN ID.
    Vlan(u16),
}

impl ChildKind {
    /// The kernel's name of the link type (`ip link add … type NAME`).
    pub fn type_name(&self) -> &'static str {
        match self {
            ChildKind::Macvlan(_) => "macvlan",
            ChildKind::Ipvlan(..) => "ipvlan",
            ChildKind::Vlan(_) => "vlan",
        }
    }
}

/// A link stacked on `parent` (a link of this namespace), made directly inside `netns` under
/// its final name when that is set, else here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSpec {
    pub name: String,
    pub parent: u32,
    pub kind: ChildKind,
    pub mac: Option<[u8; 6]>,
    /// IFLA_IFALIAS, for links of the daemon's namespace that berth must find again.
    pub alias: Option<String>,
    pub netns: Option<PathBuf>,
    /// Set administratively up at once (links that stay here; one inside a sandbox is brought up
    /// after its addresses).
    pub up: bool,
}

/// EOPNOTSUPP: what the kernel answers for a link type it has no driver for.
pub const EOPNOTSUPP: i32 = 95;
/// The errno of a link that cannot come up because its MAC is taken on its parent.
pub const EADDRINUSE: i32 = 98;

/// Errors from the kernel, naming the object and the operation.
#[derive(Debug, thiserror::Error)]
pub enum SysError {
    #[error("{op} {object}: {message}")]
    Netlink {
        op: &'static str,
        object: String,
        message: String,
        errno: i32,
    },
    #[error("cannot open a netlink socket: {0}")]
    Connect(std::io::Error),
    #[error("{op} {path}: {source}")]
    Netns {
        op: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("nftables{}: {message}", if netns.is_empty() { String::new() } else { format!(" in {netns}") })]
    Nft { netns: String, message: String },
    #[error("conntrack: {0}")]
    Conntrack(String),
    #[error("sysctl {key}: {source}")]
    Sysctl {
        key: String,
        #[source]
        source: std::io::Error,
    },
}

impl SysError {
    /// The errno behind a failed netlink call (0 if none).
    pub fn errno(&self) -> i32 {
        match self {
            SysError::Netlink { errno, .. } => *errno,
            _ => 0,
        }
    }
}

pub type SysResult<T> = Result<T, SysError>;

/// The kernel operations berth's network layer needs, in the daemon's own namespace.
#[async_trait]
pub trait Kernel: Send + Sync + 'static {
    /// Every link with its addresses.
    async fn links(&self) -> SysResult<Vec<Link>>;
    /// The link called `name`, if any.
    async fn link(&self, name: &str) -> SysResult<Option<Link>>;
    /// The index of the link called `name`, if any (no address dump: cheaper than `link`).
    async fn link_index(&self, name: &str) -> SysResult<Option<u32>>;
    /// Creates a bridge (up, with MTU, alias and addresses); returns its index.
    async fn create_bridge(&self, spec: &BridgeSpec) -> SysResult<u32>;
    /// Sets alias, MTU and admin up on an existing link.
    async fn configure_link(&self, index: u32, alias: &str, mtu: u32) -> SysResult<()>;
    /// Adds an address; an address already there is not an error. IPv6 is added without DAD.
    async fn add_address(&self, index: u32, addr: IpNet) -> SysResult<()>;
    async fn delete_link(&self, index: u32) -> SysResult<()>;
    /// Takes a link out of service to be used again: down, every address gone, then renamed
    /// `name` and marked `alias` (a link that is up cannot be renamed). Cheap where deleting
    /// a bridge is not: its unregistration waits for RCU grace periods under the RTNL lock.
    async fn park_link(&self, index: u32, name: &str, alias: &str) -> SysResult<()>;
    /// Renames a link that is down and marks it with `alias`, in one message.
    async fn rename_link(&self, index: u32, name: &str, alias: &str) -> SysResult<()>;
    /// Destinations of on-link (scope link) routes of the main table: subnets the host already uses.
    async fn onlink_routes(&self) -> SysResult<Vec<IpNet>>;
    /// Writes a sysctl under /proc/sys (`net/ipv4/ip_forward`).
    fn set_sysctl(&self, key: &str, value: &str) -> SysResult<()>;

    /// Creates a network namespace pinned at `path`, with `sysctls` (`net/ipv4/…`, value) set
    /// inside it and lo up; returns a handle on it, as [`Kernel::enter`] would.
    async fn create_netns(
        &self,
        path: &Path,
        sysctls: &[(&str, &str)],
    ) -> SysResult<Arc<dyn Kernel>>;
    /// Starts making, in the background, the namespaces missing from those kept ready for
    /// [`Kernel::create_netns`]: for a caller whose own kernel work is done, so that the making
    /// does not contend with it.
    fn refill_spares(&self) {}
    /// Lets go of the namespaces kept ready for [`Kernel::create_netns`] (see
    /// `sys/spare_netns.rs`), for a daemon that settles; the next create makes more.
    fn drain_spares(&self) {}
    /// Creates a network namespace pinned at `path` as [`Kernel::create_netns`] does, but always
    /// a new one, never a spare made for sandboxes (an overlay network's, with its own sysctls).
    async fn create_netns_fresh(
        &self,
        path: &Path,
        sysctls: &[(&str, &str)],
    ) -> SysResult<Arc<dyn Kernel>>;
    /// Creates a transfer veth pair (see [`TransferSpec`]); the index of the end left here.
    async fn create_transfer(&self, spec: &TransferSpec) -> SysResult<u32>;
    /// Unpins the namespace at `path`; its interfaces go when the kernel frees it.
    fn delete_netns(&self, path: &Path) -> SysResult<()>;
    /// A handle on the namespace pinned at `path` (handle-per-namespace, as rtnetlink).
    async fn enter(&self, path: &Path) -> SysResult<Arc<dyn Kernel>>;
    /// Creates a macvlan, ipvlan or VLAN link on a parent of this namespace. A link type the
    /// kernel lacks fails with errno [`EOPNOTSUPP`].
    async fn create_child(&self, spec: &ChildSpec) -> SysResult<()>;
    /// Another handle on the same namespace with a socket of its own, so that a slow request
    /// (deleting a link waits for RCU grace periods) does not hold up the requests behind it.
    async fn fork(&self) -> SysResult<Arc<dyn Kernel>>;
    /// Creates a veth pair whose peer appears inside `spec.peer_ns`.
    async fn create_veth(&self, spec: &VethSpec) -> SysResult<()>;
    /// The index of veth `name` and its peer's index (in the peer's namespace), if it exists:
    /// one request tells a sandbox's side of a pair both ends.
    async fn veth_peer(&self, name: &str) -> SysResult<Option<(u32, u32)>>;
    /// Sets a link administratively up.
    async fn set_up(&self, index: u32) -> SysResult<()>;
    /// Takes a link off its bridge and down: it stops carrying traffic at once, before the
    /// (slow) unregistration.
    async fn unplug(&self, index: u32) -> SysResult<()>;
    /// Stops a bridge port carrying traffic at once, cheaper than [`Kernel::unplug`]: the port
    /// is disabled and the addresses learned on it forgotten, so that a newcomer with the same
    /// MAC is found by flooding. Taking a link down or off its bridge waits for an RCU grace
    /// period; this does not. For ports whose peer is gone for good (its namespace is being
    /// unpinned): anything that brings the peer's carrier back re-enables the port.
    async fn shut_port(&self, index: u32) -> SysResult<()>;
    /// Lets a bridge port send a frame back out of the port it came in on. A container that
    /// reaches its own published port through a host address needs it: with br_netfilter
    /// loaded, traffic DNAT sends back into the same bridge is bridged, not routed.
    async fn set_hairpin(&self, index: u32, on: bool) -> SysResult<()>;
    /// Adds an on-link route to `dest` out of link `index`.
    async fn add_route(&self, index: u32, dest: IpNet) -> SysResult<()>;
    /// Adds a default route via `gateway` out of link `index`.
    async fn add_default_route(&self, index: u32, gateway: IpAddr) -> SysResult<()>;

    /// Creates an overlay's VXLAN device as a port of its bridge, up; returns its index.
    async fn create_vxlan(&self, spec: &VxlanSpec) -> SysResult<u32>;
    /// Adds (or replaces) a permanent neighbour on `dev`: the VXLAN device answers ARP for it.
    async fn add_neighbour(&self, dev: u32, ip: Ipv4Addr, mac: [u8; 6]) -> SysResult<()>;
    /// Removes a neighbour entry; one already gone is not an error.
    async fn delete_neighbour(&self, dev: u32, ip: Ipv4Addr) -> SysResult<()>;
    /// Adds (or replaces) a static FDB entry on `dev` sending `mac` to the underlay address `dst`.
    async fn add_fdb(&self, dev: u32, mac: [u8; 6], dst: Ipv4Addr) -> SysResult<()>;
    /// Removes a static FDB entry; one already gone is not an error.
    async fn delete_fdb(&self, dev: u32, mac: [u8; 6], dst: Ipv4Addr) -> SysResult<()>;
    /// The permanent neighbour and remote FDB entries on `dev`.
    async fn remote_table(&self, dev: u32) -> SysResult<RemoteTable>;

    /// Opens the embedded resolver's sockets inside the namespace at `netns`: UDP and TCP on
    /// `addr`, and port 53 of `addr` redirected to them, so that port 53 stays free for a DNS
    /// server of the container's own (Docker's arrangement). `previous` are the ports an earlier
    /// daemon used: when they can be bound again, its redirect still holds and is left alone.
    fn open_resolver(
        &self,
        netns: &Path,
        addr: Ipv4Addr,
        previous: Option<[u16; 2]>,
    ) -> SysResult<ResolverSockets>;
}

/// The embedded resolver's sockets in one sandbox.
#[derive(Debug)]
pub struct ResolverSockets {
    pub udp: std::net::UdpSocket,
    pub tcp: std::net::TcpListener,
    /// UDP and TCP ports, as the redirect names them.
    pub ports: [u16; 2],
}

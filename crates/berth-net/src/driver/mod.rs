//! Network drivers. Each kind owns its kernel objects behind [`NetworkDriver`]: it checks a new
//! network's options, makes and removes the network's objects, and joins and leaves endpoints.
//! The controller picks the driver from the network's [`DriverConfig`] and never looks inside.

pub mod bridge;
pub mod bridge_pool;
pub mod ipvlan;
pub mod macvlan;
pub mod overlay;
pub mod ovns;
pub mod predefined;
mod stacked;

use crate::endpoint::{Endpoint, Sandbox};
use crate::error::{NetError, NetResult};
use crate::network::Network;
use crate::sys::Kernel;
use async_trait::async_trait;
pub use bridge_pool::BridgePool;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Which driver a network has, for filters and for callers that only need to tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    Bridge,
    Host,
    Null,
    Macvlan,
    Ipvlan,
    Overlay,
}

/// A network's driver and its typed settings, parsed and checked from the create options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriverConfig {
    Bridge(bridge::BridgeConfig),
    Host,
    Null,
    Macvlan(macvlan::MacvlanConfig),
    Ipvlan(ipvlan::IpvlanConfig),
    Overlay(overlay::OverlayConfig),
}

impl DriverConfig {
    pub fn kind(&self) -> DriverKind {
        match self {
            DriverConfig::Bridge(_) => DriverKind::Bridge,
            DriverConfig::Host => DriverKind::Host,
            DriverConfig::Null => DriverKind::Null,
            DriverConfig::Macvlan(_) => DriverKind::Macvlan,
            DriverConfig::Ipvlan(_) => DriverKind::Ipvlan,
            DriverConfig::Overlay(_) => DriverKind::Overlay,
        }
    }

    /// The driver's name as Docker shows it (`bridge`, `macvlan`, …).
    pub fn name(&self) -> &'static str {
        of(self).name()
    }

    /// The bridge settings, for the firewall (which only knows bridges). An overlay network's
    /// local leg is a bridge too, and is firewalled as one.
    pub fn bridge(&self) -> Option<&bridge::BridgeConfig> {
        match self {
            DriverConfig::Bridge(b) => Some(b),
            DriverConfig::Overlay(o) => Some(&o.bridge),
            _ => None,
        }
    }
}

impl DriverKind {
    pub fn name(self) -> &'static str {
        match self {
            DriverKind::Bridge => "bridge",
            DriverKind::Host => "host",
            DriverKind::Null => "null",
            DriverKind::Macvlan => "macvlan",
            DriverKind::Ipvlan => "ipvlan",
            DriverKind::Overlay => "overlay",
        }
    }
}

/// Interface indexes learned while plumbing, so that the next attach or detach skips a lookup
/// by name (a netlink round trip each; a bridge's answer is large). Never stored: a daemon
/// that starts again looks them up. An index outlives its device's name only until the kernel
/// wraps around 2^31 indexes, so a remembered one cannot name another device.
#[derive(Debug, Default)]
pub struct KnownIndexes {
    /// Bridges (and other parents) by device name.
    pub bridges: BTreeMap<String, u32>,
    /// Host ends of veth pairs by device name.
    pub veths: BTreeMap<String, u32>,
}

/// A new network as its driver sees it while checking the options.
pub struct NewNetwork<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub options: &'a BTreeMap<String, String>,
    pub internal: bool,
    /// Its subnets, as IPAM planned them.
    pub subnets: &'a [crate::ipam::SubnetPool],
    /// The networks that exist, for clashes (a bridge name, a passthru parent).
    pub existing: &'a BTreeMap<String, Network>,
}

/// An endpoint joining its sandbox to a network.
pub struct Join<'a> {
    /// The daemon's namespace.
    pub kernel: &'a dyn Kernel,
    /// The sandbox's namespace.
    pub inner: &'a dyn Kernel,
    pub known: &'a mut KnownIndexes,
    pub sb: &'a Sandbox,
    pub ep: &'a Endpoint,
    pub net: &'a Network,
}

/// An endpoint leaving its network.
pub struct Leave<'a> {
    pub kernel: &'a dyn Kernel,
    /// The daemon's namespace on a socket of its own, for slow deletions.
    pub teardown: &'a Arc<dyn Kernel>,
    /// The sandbox's namespace.
    pub inner: Option<Arc<dyn Kernel>>,
    pub known: &'a mut KnownIndexes,
    pub ep: &'a Endpoint,
    /// The sandbox's namespace is about to be unpinned, and what is inside goes with it.
    pub sandbox_gone: bool,
}

/// Work a driver leaves to the background (the slow unregistration of a link); the controller
/// tracks it so that a later user of the same name waits for it.
pub type Deferred = futures::future::BoxFuture<'static, ()>;

#[async_trait]
pub trait NetworkDriver: Send + Sync {
    /// The name users give to `-d`.
    fn name(&self) -> &'static str;

    /// Checks a new network's options; its typed settings.
    fn configure(&self, new: &NewNetwork<'_>) -> NetResult<DriverConfig>;

    /// Whether the network is internal whatever the user asked (a macvlan without a parent).
    fn forces_internal(&self, _cfg: &DriverConfig) -> bool {
        false
    }

    /// Whether the network's subnets are routed by the host itself (a bridge holds its
    /// gateway): then a subnet the host already reaches through one of its links is refused.
    fn routes_on_host(&self) -> bool {
        false
    }

    /// Whether published ports reach containers on this network (NAT from the host).
    fn publishes_ports(&self) -> bool {
        false
    }

    /// Refuses endpoints on networks that take none (`host`, `none`).
    fn check_join(&self, _net: &Network) -> NetResult<()> {
        Ok(())
    }

    /// The name of the host-side interface of a new endpoint, when it has one.
    fn host_ifname(&self) -> Option<String> {
        None
    }

    /// Links of the daemon's namespace this network owns, marked with its alias: a marked link
    /// not listed here is an orphan, and a new network waits for a removed one's to go.
    fn host_links(&self, _net: &Network) -> Vec<String> {
        Vec::new()
    }

    /// Makes the kernel match the network (at create and again at every start).
    async fn create(&self, kernel: &dyn Kernel, net: &Network) -> NetResult<()>;

    /// Removes what [`NetworkDriver::create`] made.
    async fn delete(&self, kernel: &dyn Kernel, net: &Network) -> NetResult<()>;

    /// [`NetworkDriver::create`] for a new network, reusing a link `pool` keeps where it fits.
    async fn create_pooled(
        &self,
        kernel: &dyn Kernel,
        net: &Network,
        _pool: &Arc<BridgePool>,
    ) -> NetResult<()> {
        self.create(kernel, net).await
    }

    /// Takes a removed network's kernel objects out of service into `pool` for a later
    /// create, instead of deleting them; false when the driver keeps nothing (or the pool is
    /// full), and then the caller deletes them.
    async fn park(
        &self,
        _kernel: &dyn Kernel,
        _net: &Network,
        _pool: &Arc<BridgePool>,
    ) -> NetResult<bool> {
        Ok(false)
    }

    /// Plumbs an endpoint into its sandbox; the index of its host-side interface, if any.
    async fn join(&self, cx: Join<'_>) -> NetResult<Option<u32>>;

    /// Takes an endpoint out: it carries no traffic once this returns.
    async fn leave(&self, cx: Leave<'_>) -> NetResult<Option<Deferred>>;
}

static BRIDGE: bridge::Bridge = bridge::Bridge;
static HOST: predefined::Predefined = predefined::HOST;
static NULL: predefined::Predefined = predefined::NULL;
static MACVLAN: macvlan::Macvlan = macvlan::Macvlan;
static IPVLAN: ipvlan::Ipvlan = ipvlan::Ipvlan;
static OVERLAY: overlay::Overlay = overlay::Overlay;

/// The driver of a network.
pub fn of(cfg: &DriverConfig) -> &'static dyn NetworkDriver {
    match cfg {
        DriverConfig::Bridge(_) => &BRIDGE,
        DriverConfig::Host => &HOST,
        DriverConfig::Null => &NULL,
        DriverConfig::Macvlan(_) => &MACVLAN,
        DriverConfig::Ipvlan(_) => &IPVLAN,
        DriverConfig::Overlay(_) => &OVERLAY,
    }
}

/// Drivers a user may name in `network create -d`.
pub const CREATABLE: &[&str] = &["bridge", "macvlan", "ipvlan"];
/// Drivers berth knows and will support, but not in this build.
const PLANNED: &[&str] = &["overlay"];

/// The driver for a `network create -d NAME`, or why it cannot be used.
pub fn for_create(name: &str) -> NetResult<&'static dyn NetworkDriver> {
    match name {
        "" | "bridge" => Ok(&BRIDGE),
        "macvlan" => Ok(&MACVLAN),
        "ipvlan" => Ok(&IPVLAN),
        "host" | "null" => Err(NetError::Forbidden(format!(
            "only one instance of \"{name}\" network is allowed"
        ))),
        "overlay" => Err(NetError::InvalidParameter(
            "overlay networks need a cluster: start berthd with --cluster-store etcd://HOST:PORT and --cluster-advertise IP".into(),
        )),
        planned if PLANNED.contains(&planned) => Err(NetError::InvalidParameter(format!(
            "network driver \"{planned}\" is not supported by this berth yet; available drivers: {}",
            CREATABLE.join(", ")
        ))),
        other => Err(NetError::NotFound(format!(
            "plugin \"{other}\" not found: berth has no network driver of that name; available drivers: {}",
            CREATABLE.join(", ")
        ))),
    }
}

/// Go's strconv.ParseBool, which Docker uses for driver options.
pub(crate) fn parse_bool(key: &str, value: &str) -> NetResult<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(NetError::InvalidParameter(format!(
            "invalid value \"{value}\" for option {key}: expected true or false"
        ))),
    }
}

const ALIAS_PREFIX: &str = "berth:";

/// The alias that marks a link as belonging to network `id`.
pub fn owner_alias(id: &str) -> String {
    format!("{ALIAS_PREFIX}{id}")
}

/// The network ID a link belongs to, if berth made it.
pub fn owner(link: &crate::sys::Link) -> Option<&str> {
    link.alias.as_deref()?.strip_prefix(ALIAS_PREFIX)
}

/// Deletes link `name` if it is there and network `id` made it.
pub(crate) async fn delete_owned(kernel: &dyn Kernel, name: &str, id: &str) -> NetResult<()> {
    if let Some(link) = kernel
        .link(name)
        .await
        .map_err(NetError::kernel(format!("look up {name}")))?
    {
        if owner(&link) == Some(id) {
            kernel
                .delete_link(link.index)
                .await
                .map_err(NetError::kernel(format!("delete {name}")))?;
        }
    }
    Ok(())
}

//! berth's network layer: IPAM, network drivers, and the controller that owns networks and keeps
//! the kernel in line with the store. No HTTP and no containers here; data flows down to `sys`.

pub mod controller;
pub mod dns;
pub mod driver;
pub mod endpoint;
pub mod error;
pub mod firewall;
pub mod ipam;
pub mod network;
pub mod portmap;
pub mod proxy;
pub mod reach;
pub mod sys;

pub use controller::{Controller, ControllerConfig};
pub use error::{ErrorKind, NetError, NetResult};
pub use network::Network;

//! Network drivers. Each kind owns its kernel objects; the controller picks one per network.

pub mod bridge;

use crate::error::NetError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    Bridge,
    Host,
    Null,
}

/// Drivers a user may name in `network create -d` today.
pub const CREATABLE: &[&str] = &["bridge"];
/// Drivers berth knows and will support, but not in this build.
const PLANNED: &[&str] = &["macvlan", "overlay", "ipvlan"];

impl DriverKind {
    pub fn name(self) -> &'static str {
        match self {
            DriverKind::Bridge => "bridge",
            DriverKind::Host => "host",
            DriverKind::Null => "null",
        }
    }

    /// The driver for a `network create`, or why it cannot be used.
    pub fn for_create(name: &str) -> Result<DriverKind, NetError> {
        match name {
            "" | "bridge" => Ok(DriverKind::Bridge),
            "host" | "null" => Err(NetError::Forbidden(format!(
                "only one instance of \"{name}\" network is allowed"
            ))),
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
}

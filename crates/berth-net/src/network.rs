//! A network as berth stores it: the user's intent plus IPAM state.

use crate::driver::bridge::BridgeConfig;
use crate::driver::DriverKind;
use crate::ipam::SubnetPool;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const PREDEFINED: [&str; 3] = ["bridge", "host", "none"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// 64 hex characters.
    pub id: String,
    pub name: String,
    pub driver: DriverKind,
    pub created: DateTime<Utc>,
    pub scope: String,
    pub enable_ipv4: bool,
    pub enable_ipv6: bool,
    pub internal: bool,
    pub attachable: bool,
    pub ipam_driver: String,
    pub ipam_options: BTreeMap<String, String>,
    pub subnets: Vec<SubnetPool>,
    /// Driver options exactly as given (the default bridge lists all of its settings, as Docker).
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub predefined: bool,
    /// Settings of the bridge driver, parsed and checked from `options`.
    pub bridge: Option<BridgeConfig>,
}

impl Network {
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    /// Whether `key` (a full ID, a name, or an ID prefix) names this network exactly.
    pub fn is_exactly(&self, key: &str) -> bool {
        self.id == key || self.name == key
    }
}

/// A fresh random network ID: 32 random bytes in hex, as Docker's.
pub fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

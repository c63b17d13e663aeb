//! A network as berth stores it: the user's intent plus IPAM state.

use crate::driver::bridge::{self, BridgeConfig};
use crate::driver::{DriverConfig, DriverKind};
use crate::ipam::SubnetPool;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const PREDEFINED: [&str; 3] = ["bridge", "host", "none"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredNetwork")]
pub struct Network {
    /// 64 hex characters.
    pub id: String,
    pub name: String,
    /// The driver and its settings, parsed and checked from `options`.
    pub driver: DriverConfig,
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
}

/// A network record as any berth wrote it. Records before drivers had their own settings keep
/// the driver's name in `driver` and the bridge's settings in `bridge`; they load into the same
/// [`Network`], and the controller writes them back in today's shape at start.
#[derive(Deserialize)]
struct StoredNetwork {
    id: String,
    name: String,
    driver: StoredDriver,
    created: DateTime<Utc>,
    scope: String,
    enable_ipv4: bool,
    enable_ipv6: bool,
    internal: bool,
    attachable: bool,
    ipam_driver: String,
    ipam_options: BTreeMap<String, String>,
    subnets: Vec<SubnetPool>,
    options: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    predefined: bool,
    #[serde(default)]
    bridge: Option<BridgeConfig>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StoredDriver {
    Config(DriverConfig),
    Legacy(DriverKind),
}

impl From<StoredNetwork> for Network {
    fn from(s: StoredNetwork) -> Network {
        let driver = match (s.driver, s.bridge) {
            (StoredDriver::Config(c), _) => c,
            (StoredDriver::Legacy(DriverKind::Bridge), Some(b)) => DriverConfig::Bridge(b),
            // A bridge record without settings: what its options say (they were checked when
            // it was made), or the defaults.
            (StoredDriver::Legacy(DriverKind::Bridge), None) => DriverConfig::Bridge(
                bridge::parse_options(&s.options, &s.id)
                    .unwrap_or_else(|_| bridge::defaults(&s.id)),
            ),
            (StoredDriver::Legacy(DriverKind::Host), _) => DriverConfig::Host,
            (StoredDriver::Legacy(_), _) => DriverConfig::Null,
        };
        Network {
            id: s.id,
            name: s.name,
            driver,
            created: s.created,
            scope: s.scope,
            enable_ipv4: s.enable_ipv4,
            enable_ipv6: s.enable_ipv6,
            internal: s.internal,
            attachable: s.attachable,
            ipam_driver: s.ipam_driver,
            ipam_options: s.ipam_options,
            subnets: s.subnets,
            options: s.options,
            labels: s.labels,
            predefined: s.predefined,
        }
    }
}

/// Whether a stored record has the shape of an older berth (to be written back as today's).
pub fn is_legacy_record(raw: &serde_json::Value) -> bool {
    // Older records always carried `bridge` (null for host and none).
    raw.get("bridge").is_some()
}

impl Network {
    /// The driver's kind, for callers that only need to tell drivers apart.
    pub fn kind(&self) -> DriverKind {
        self.driver.kind()
    }

    /// The bridge driver's settings, when the network is a bridge.
    pub fn bridge(&self) -> Option<&BridgeConfig> {
        self.driver.bridge()
    }

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

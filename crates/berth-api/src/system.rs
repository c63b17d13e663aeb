//! `/version` and `/info`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    pub platform: Platform,
    pub components: Vec<Component>,
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub build_time: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Platform {
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Component {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
}

/// The subset of Docker's `/info` that berth fills; the docker CLI tolerates missing fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    pub containers: u64,
    pub containers_running: u64,
    pub containers_paused: u64,
    pub containers_stopped: u64,
    pub images: u64,
    pub driver: String,
    pub name: String,
    pub server_version: String,
    pub operating_system: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    #[serde(rename = "NCPU")]
    pub ncpu: u64,
    pub mem_total: u64,
    pub kernel_version: String,
    pub docker_root_dir: String,
    pub plugins: Plugins,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    pub default_address_pools: Vec<AddressPool>,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    pub logging_driver: String,
    pub default_runtime: String,
    pub warnings: Option<Vec<String>>,
    /// Docker 20.10's cluster store URL and advertise address ("" when not in a cluster).
    #[serde(default)]
    pub cluster_store: String,
    #[serde(default)]
    pub cluster_advertise: String,
    /// berth's own: the cluster's members and whether the store answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub berth_cluster: Option<ClusterInfo>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ClusterInfo {
    /// "up", or "unavailable: WHY".
    pub store: String,
    /// The members whose lease is alive (empty while the store is unavailable).
    pub nodes: Vec<ClusterNode>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ClusterNode {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub address: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Plugins {
    pub volume: Vec<String>,
    pub network: Vec<String>,
    pub authorization: Option<Vec<String>>,
    pub log: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AddressPool {
    pub base: String,
    pub size: u8,
}

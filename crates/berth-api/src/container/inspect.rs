//! `GET /containers/{id}/json`: the inspect answer. Its `Config` and `HostConfig` are the
//! create body's types, so what a client asked for reads back in the same shape.

use super::create::{CreateBody, EndpointIpam, HostConfig, PortBinding};
use crate::volume::MountPoint;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerInspect {
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerState,
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    /// `/NAME`.
    pub name: String,
    pub restart_count: u32,
    pub driver: String,
    pub platform: String,
    pub host_config: HostConfig,
    pub mounts: Vec<MountPoint>,
    /// The container's configuration; its `HostConfig` and `NetworkingConfig` are not part of
    /// it here (they are not sent).
    pub config: CreateBody,
    pub network_settings: NetworkSettings,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    /// `created`, `running`, `exited`, `removing`, ….
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: u32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    /// Only for a container with a healthcheck that is running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::Health>,
}

/// Container port key → where it is published (`null`: exposed, not published).
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    pub bridge: String,
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    pub sandbox_key: String,
    pub ports: PortMap,
    pub networks: BTreeMap<String, EndpointInfo>,
    /// The default bridge's endpoint, at the top level as older clients read it.
    #[serde(flatten)]
    pub legacy: LegacyAddresses,
}

/// The addresses Docker repeats at the top of `NetworkSettings` for the default bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LegacyAddresses {
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    pub mac_address: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
}

/// A container's endpoint on one network, as inspect and the list show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointInfo {
    /// What was asked for (`--ip`, `--ip6`), if anything.
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpam>,
    pub links: Option<Vec<String>>,
    pub aliases: Option<Vec<String>>,
    pub mac_address: String,
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    #[serde(rename = "DNSNames")]
    pub dns_names: Option<Vec<String>>,
}

impl EndpointInfo {
    /// The top-level copy of this endpoint's addresses.
    pub fn legacy(&self) -> LegacyAddresses {
        LegacyAddresses {
            gateway: self.gateway.clone(),
            ip_address: self.ip_address.clone(),
            ip_prefix_len: self.ip_prefix_len,
            mac_address: self.mac_address.clone(),
            global_ipv6_address: self.global_ipv6_address.clone(),
            global_ipv6_prefix_len: self.global_ipv6_prefix_len,
            ipv6_gateway: self.ipv6_gateway.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_has_docker_names_and_the_legacy_addresses_at_the_top() {
        let ep = EndpointInfo {
            ip_address: "172.17.0.2".into(),
            ip_prefix_len: 16,
            network_id: "n1".into(),
            ..Default::default()
        };
        let i = ContainerInspect {
            network_settings: NetworkSettings {
                legacy: ep.legacy(),
                networks: BTreeMap::from([("bridge".into(), ep)]),
                ..Default::default()
            },
            ..Default::default()
        };
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(v["NetworkSettings"]["IPAddress"], "172.17.0.2");
        assert_eq!(
            v["NetworkSettings"]["Networks"]["bridge"]["NetworkID"],
            "n1"
        );
        assert_eq!(v["State"]["OOMKilled"], false);
        assert!(v["Config"].get("HostConfig").is_none(), "{}", v["Config"]);
        let back: ContainerInspect = serde_json::from_value(v).unwrap();
        assert_eq!(back, i);
    }
}

//! The records berth keeps in the cluster store (JSON values).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::{ClusterError, Result};
use crate::store::KeyValue;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub id: String,
    pub hostname: String,
    /// The underlay address other nodes send VXLAN to.
    pub advertise: String,
    /// Unix seconds of this daemon life's registration.
    pub started: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub ip_range: Option<Ipv4Net>,
    pub vni: u32,
    pub attachable: bool,
    pub internal: bool,
    pub mtu: Option<u32>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The node that created it, and when (Unix seconds).
    pub created_by: String,
    pub created: i64,
}

/// What `network create -d overlay` asks for; unset fields are chosen cluster-wide.
#[derive(Debug, Clone, Default)]
pub struct NetworkSpec {
    pub id: String,
    pub name: String,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Ipv4Net>,
    pub vni: Option<u32>,
    pub attachable: bool,
    pub internal: bool,
    pub mtu: Option<u32>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Subnets the creating host uses for local networks: a subnet chosen for the request
    /// skips them (a given one is checked against them by the caller).
    pub avoid: Vec<Ipv4Net>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub network_id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub ip: Ipv4Addr,
    pub mac: String,
    pub node: String,
    pub container_id: String,
}

/// What joining a container to a global network asks for.
#[derive(Debug, Clone, Default)]
pub struct EndpointSpec {
    pub name: String,
    pub aliases: Vec<String>,
    pub mac: String,
    pub container_id: String,
    /// `--ip`: this address or a conflict, never another one.
    pub ip: Option<Ipv4Addr>,
}

/// The value of an address claim: who holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpClaim {
    pub endpoint: String,
    pub node: String,
}

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // These records hold only strings, numbers and maps of strings: serialising cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

pub fn decode<T: DeserializeOwned>(kv: &KeyValue) -> Result<T> {
    serde_json::from_slice(&kv.value).map_err(|source| ClusterError::Corrupt {
        key: kv.key.clone(),
        source,
    })
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

//! Network objects of the Docker Engine API (`/networks`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /networks/{id}` and each element of `GET /networks`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Network {
    pub name: String,
    pub id: String,
    pub created: String,
    pub scope: String,
    pub driver: String,
    #[serde(rename = "EnableIPv4", default = "yes")]
    pub enable_ipv4: bool,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub config_from: ConfigReference,
    pub config_only: bool,
    #[serde(default)]
    pub containers: BTreeMap<String, EndpointResource>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    #[serde(default, deserialize_with = "crate::null_as_default")]
    pub driver: String,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub config: Option<Vec<IpamConfig>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    #[serde(
        default,
        deserialize_with = "crate::null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub subnet: String,
    #[serde(
        rename = "IPRange",
        default,
        deserialize_with = "crate::null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ip_range: String,
    #[serde(
        default,
        deserialize_with = "crate::null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub gateway: String,
    #[serde(
        default,
        deserialize_with = "crate::null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub auxiliary_addresses: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigReference {
    #[serde(default)]
    pub network: String,
}

/// A container attached to a network, as `network inspect` lists it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointResource {
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub mac_address: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// `POST /networks/create` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateRequest {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_duplicate: Option<bool>,
    pub driver: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub config_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_from: Option<ConfigReference>,
    #[serde(rename = "IPAM", skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    #[serde(rename = "EnableIPv4", skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    #[serde(rename = "EnableIPv6", skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    pub options: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// `POST /networks/create` response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkCreateResponse {
    pub id: String,
    #[serde(default)]
    pub warning: String,
}

/// `POST /networks/prune` response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkPruneResponse {
    pub networks_deleted: Option<Vec<String>>,
}

/// Docker's `filters` query parameter: `{"key": ["v1", "v2"]}`. Old clients sent
/// `{"key": {"v1": true}}`; both decode.
pub type Filters = BTreeMap<String, Vec<String>>;

/// Decodes a `filters` query value in either of Docker's two JSON shapes.
pub fn parse_filters(raw: &str) -> Result<Filters, String> {
    if raw.trim().is_empty() {
        return Ok(Filters::new());
    }
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| format!("invalid filter '{raw}': {e}"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| format!("invalid filter '{raw}': expected a JSON object"))?;
    let mut out = Filters::new();
    for (key, v) in obj {
        let values = match v {
            serde_json::Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("invalid filter '{key}': values must be strings"))
                })
                .collect::<Result<Vec<_>, _>>()?,
            serde_json::Value::Object(map) => map
                .iter()
                .filter(|(_, on)| on.as_bool().unwrap_or(false))
                .map(|(k, _)| k.clone())
                .collect(),
            _ => {
                return Err(format!(
                    "invalid filter '{key}': expected a list of strings"
                ))
            }
        };
        out.insert(key.clone(), values);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_decode_both_shapes() {
        let a = parse_filters(r#"{"name":["a","b"]}"#).unwrap();
        assert_eq!(a["name"], vec!["a", "b"]);
        let b = parse_filters(r#"{"driver":{"bridge":true}}"#).unwrap();
        assert_eq!(b["driver"], vec!["bridge"]);
        assert!(parse_filters("[1]").is_err());
        assert!(parse_filters("").unwrap().is_empty());
    }

    #[test]
    fn create_request_accepts_docker_cli_body() {
        let body = r#"{"Name":"n","Driver":"bridge","Scope":"","EnableIPv6":false,
            "IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.1.0.0/24"}]},
            "Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,
            "ConfigFrom":null,"Options":{},"Labels":{}}"#;
        let req: NetworkCreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.name, "n");
        assert_eq!(req.ipam.unwrap().config.unwrap()[0].subnet, "10.1.0.0/24");
        // docker-compose (docker-py) sends null for every IPAM field it has no value for.
        let compose = r#"{"Name":"p_front","Driver":"bridge","IPAM":{"Driver":null,
            "Config":[{"Subnet":"10.9.0.0/24","IPRange":null,"Gateway":null,
            "AuxiliaryAddresses":null}],"Options":null}}"#;
        let req: NetworkCreateRequest = serde_json::from_str(compose).unwrap();
        let ipam = req.ipam.unwrap();
        assert_eq!(ipam.driver, "");
        assert_eq!(ipam.config.unwrap()[0].ip_range, "");
    }
}

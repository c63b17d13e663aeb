//! Volume objects of the Docker Engine API (`/volumes`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /volumes/{name}` and each element of `GET /volumes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: String,
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub scope: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// `GET /volumes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeList {
    pub volumes: Vec<Volume>,
    pub warnings: Vec<String>,
}

/// `POST /volumes/create` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeCreateRequest {
    #[serde(deserialize_with = "crate::null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "crate::null_as_default")]
    pub driver: String,
    #[serde(deserialize_with = "crate::null_as_default")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(deserialize_with = "crate::null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Whatever else was sent (`ClusterVolumeSpec`): kept so that the daemon refuses it by
    /// name rather than dropping it, and encoded as it was decoded.
    #[serde(flatten)]
    pub unmodelled: BTreeMap<String, serde_json::Value>,
}

/// `POST /volumes/prune` response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumePruneResponse {
    pub volumes_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

/// One element of a container's `Mounts` (inspect and list).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub typ: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_body_encodes_as_it_was_decoded() {
        let body = serde_json::json!({
            "Name": "v",
            "Driver": "local",
            "DriverOpts": {},
            "Labels": {"a": "b"},
            "ClusterVolumeSpec": {"Group": "g"}
        });
        let req: VolumeCreateRequest = serde_json::from_value(body.clone()).unwrap();
        assert!(req.unmodelled.contains_key("ClusterVolumeSpec"));
        assert_eq!(serde_json::to_value(&req).unwrap(), body);
    }
}

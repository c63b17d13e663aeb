//! Image answers in Docker's wire format: `GET /images/json`, `GET /images/{name}/json`, and
//! what `DELETE /images/{name}` and `POST /images/prune` say they removed.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One image of `GET /images/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageSummary {
    pub id: String,
    pub parent_id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    pub size: u64,
    /// -1: not computed (as Docker's without `shared-size=1`).
    pub shared_size: i64,
    pub labels: BTreeMap<String, String>,
    /// -1: not computed.
    pub containers: i64,
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageInspect {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    pub config: ImageConfig,
    pub architecture: String,
    pub os: String,
    pub size: u64,
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
}

/// The image's run defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageConfig {
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RootFs {
    #[serde(rename = "Type")]
    pub kind: String,
    pub layers: Vec<String>,
}

/// One line of what an image removal did: `{"Untagged": "name:tag"}` or `{"Deleted": "sha256:…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeleteItem {
    Untagged(String),
    Deleted(String),
}

/// `POST /images/prune`. `ImagesDeleted` is null, not `[]`, when nothing went (as Docker's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImagePruneReport {
    pub images_deleted: Option<Vec<DeleteItem>>,
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn delete_items_and_an_empty_prune_are_dockers_shape() {
        let r = ImagePruneReport {
            images_deleted: Some(vec![
                DeleteItem::Untagged("a:1".into()),
                DeleteItem::Deleted("sha256:ab".into()),
            ]),
            space_reclaimed: 7,
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"ImagesDeleted": [{"Untagged": "a:1"}, {"Deleted": "sha256:ab"}], "SpaceReclaimed": 7})
        );
        assert_eq!(
            serde_json::to_value(ImagePruneReport::default()).unwrap(),
            json!({"ImagesDeleted": null, "SpaceReclaimed": 0})
        );
    }

    #[test]
    fn an_image_inspect_names_rootfs_as_docker_does() {
        let v = serde_json::to_value(ImageInspect::default()).unwrap();
        assert!(v.get("RootFS").is_some(), "{v}");
        assert_eq!(v["Config"]["Cmd"], json!([]));
    }
}

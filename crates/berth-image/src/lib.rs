//! berth's image archives, with no daemon in them: the unpacker that applies layer tarballs onto
//! a root filesystem without touching anything outside it (`layer`), root filesystem tarballs
//! (`rootfs`), `docker save` archives (`archive`), Docker's reference grammar (`reference`) and
//! pulls from a registry (`registry`).
//! Everything here reads untrusted bytes: bad input is an [`ImageError::Invalid`], never a panic.

pub mod archive;
mod config;
mod error;
pub mod layer;
pub mod reference;
#[cfg(feature = "registry")]
pub mod registry;
pub mod rootfs;
pub mod save;

pub use error::{ImageError, Result};
pub use reference::{check_reference, normalize_ref};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An image as berth records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// `sha256:` + 64 hex of the imported archive (or of the loaded image's config).
    pub id: String,
    pub repo_tags: Vec<String>,
    /// `name@sha256:…` of the manifests it was pulled by (empty for imported and loaded ones).
    #[serde(default)]
    pub repo_digests: Vec<String>,
    pub created: DateTime<Utc>,
    pub size: u64,
    #[serde(default)]
    pub cmd: Vec<String>,
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub working_dir: String,
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    /// The image config's Healthcheck.
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
    /// The image config's Labels: shown by inspect, matched by `images --filter label=`, and
    /// inherited by its containers.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// An image config's Healthcheck, durations in nanoseconds as Docker writes them (0: the
/// default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", args..]` or `["CMD-SHELL", cmd]`.
    pub test: Vec<String>,
    pub interval_ns: i64,
    pub timeout_ns: i64,
    pub start_period_ns: i64,
    pub retries: i64,
}

impl Image {
    pub fn short_id(&self) -> &str {
        let hex = self.id.trim_start_matches("sha256:");
        &hex[..12.min(hex.len())]
    }
}

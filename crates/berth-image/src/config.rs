//! An image's config JSON (the blob its ID is the digest of), as `docker save` archives and
//! registries both carry it: what berth keeps of it is turned into an [`Image`].

use crate::error::{invalid, Result};
use crate::Image;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Default, Deserialize)]
struct ImageConfigFile {
    #[serde(default)]
    config: Option<RunConfig>,
    #[serde(default)]
    created: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RunConfig {
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    exposed_ports: Option<HashMap<String, serde_json::Value>>,
    #[serde(default)]
    healthcheck: Option<HealthcheckConfig>,
    #[serde(default)]
    labels: Option<std::collections::BTreeMap<String, String>>,
}

/// An image config's Healthcheck as Docker writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HealthcheckConfig {
    #[serde(default)]
    test: Option<Vec<String>>,
    #[serde(default)]
    interval: i64,
    #[serde(default)]
    timeout: i64,
    #[serde(default)]
    start_period: i64,
    #[serde(default)]
    retries: i64,
}

/// The image whose config is `raw` (named `what` in errors): its ID is the config's digest.
pub(crate) fn image(raw: &[u8], what: &str, repo_tags: Vec<String>, size: u64) -> Result<Image> {
    use sha2::{Digest, Sha256};
    let config: ImageConfigFile = serde_json::from_slice(raw)
        .map_err(|e| invalid(format!("image config {what} is not valid: {e}")))?;
    let rc = config.config.unwrap_or_default();
    let mut ports: Vec<String> = rc.exposed_ports.unwrap_or_default().into_keys().collect();
    ports.sort();
    Ok(Image {
        id: format!("sha256:{:x}", Sha256::digest(raw)),
        repo_tags,
        repo_digests: Vec::new(),
        created: config.created.unwrap_or_else(Utc::now),
        size,
        cmd: rc.cmd.unwrap_or_default(),
        entrypoint: rc.entrypoint.unwrap_or_default(),
        env: rc.env.unwrap_or_default(),
        working_dir: rc.working_dir.unwrap_or_default(),
        exposed_ports: ports,
        healthcheck: rc.healthcheck.map(|h| crate::Healthcheck {
            test: h.test.unwrap_or_default(),
            interval_ns: h.interval,
            timeout_ns: h.timeout,
            start_period_ns: h.start_period,
            retries: h.retries,
        }),
        labels: rc.labels.unwrap_or_default(),
    })
}

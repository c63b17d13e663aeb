//! `load`: images from a `docker save` archive (manifest.json + config + layer tarballs, in the
//! classic layout or the OCI one). Layers are applied in order with overlay whiteouts: a
//! `.wh.NAME` entry deletes NAME, a `.wh..wh..opq` entry empties its directory.

use super::image::Image;
use super::{EngineError, Result};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

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
}

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::BadRequest(msg.into())
}

/// Reads every file of the outer archive (layers are tarballs inside it).
fn read_archive(raw: &[u8]) -> Result<HashMap<String, Vec<u8>>> {
    let mut files = HashMap::new();
    let gz = raw.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut ar = tar::Archive::new(reader);
    let entries = ar
        .entries()
        .map_err(|e| bad(format!("the archive is not a tar file: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("the archive is damaged: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| bad(format!("bad path in the archive: {e}")))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| bad(format!("cannot read {path} from the archive: {e}")))?;
        files.insert(path, data);
    }
    Ok(files)
}

/// A path inside the rootfs, refusing anything that climbs out of it.
fn inside(root: &Path, rel: &Path) -> Option<std::path::PathBuf> {
    let mut out = root.to_path_buf();
    for c in rel.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn remove_any(p: &Path) {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir_all(p);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(p);
        }
        Err(_) => {}
    }
}

/// Applies one layer tarball (plain or gzip) onto `root`.
fn apply_layer(root: &Path, layer: &[u8]) -> Result<()> {
    let reader: Box<dyn Read> = if layer.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(layer))
    } else {
        Box::new(layer)
    };
    let mut ar = tar::Archive::new(reader);
    ar.set_preserve_permissions(true);
    ar.set_preserve_ownerships(true);
    ar.set_overwrite(true);
    for entry in ar
        .entries()
        .map_err(|e| bad(format!("a layer is not a tar file: {e}")))?
    {
        let mut entry = entry.map_err(|e| bad(format!("a layer is damaged: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("bad path in a layer: {e}")))?
            .into_owned();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = path.parent().unwrap_or(Path::new(""));
        if name == ".wh..wh..opq" {
            if let Some(dir) = inside(root, parent) {
                if let Ok(rd) = std::fs::read_dir(&dir) {
                    for e in rd.flatten() {
                        remove_any(&e.path());
                    }
                }
            }
            continue;
        }
        if let Some(target) = name.strip_prefix(".wh.") {
            if let Some(p) = inside(root, &parent.join(target)) {
                remove_any(&p);
            }
            continue;
        }
        // A file replacing a directory (or the reverse) replaces it whole.
        if let Some(dest) = inside(root, &path) {
            if let Ok(m) = std::fs::symlink_metadata(&dest) {
                if m.is_dir() != entry.header().entry_type().is_dir() {
                    remove_any(&dest);
                }
            }
        }
        entry.unpack_in(root).map_err(|e| {
            bad(format!(
                "cannot unpack {} from a layer: {e}",
                path.display()
            ))
        })?;
    }
    Ok(())
}

/// One image of the archive, unpacked into `images_dir/<hex>/rootfs`.
pub fn load(raw: &[u8], images_dir: &Path) -> Result<Vec<Image>> {
    use sha2::{Digest, Sha256};
    let files = read_archive(raw)?;
    let manifest = files.get("manifest.json").ok_or_else(|| {
        bad("not a docker save archive: manifest.json is missing (use import for a root filesystem tarball)")
    })?;
    let entries: Vec<ManifestEntry> = serde_json::from_slice(manifest)
        .map_err(|e| bad(format!("manifest.json is not valid: {e}")))?;
    let mut images = Vec::new();
    for m in entries {
        let config_raw = files
            .get(m.config.trim_start_matches("./"))
            .ok_or_else(|| bad(format!("the archive lacks the image config {}", m.config)))?;
        let config: ImageConfigFile = serde_json::from_slice(config_raw)
            .map_err(|e| bad(format!("image config {} is not valid: {e}", m.config)))?;
        let hex = format!("{:x}", Sha256::digest(config_raw));
        let dir = images_dir.join(&hex);
        let staging = images_dir.join(format!("tmp-load-{hex}"));
        let root = staging.join("rootfs");
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&root)
            .map_err(|e| EngineError::Io(format!("create {}: {e}", root.display())))?;
        let mut size = 0u64;
        for layer in &m.layers {
            let data = files
                .get(layer.trim_start_matches("./"))
                .ok_or_else(|| bad(format!("the archive lacks layer {layer}")))?;
            size += data.len() as u64;
            if let Err(e) = apply_layer(&root, data) {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&staging, &dir)
            .map_err(|e| EngineError::Io(format!("store image: {e}")))?;
        let rc = config.config.unwrap_or_default();
        let mut ports: Vec<String> = rc.exposed_ports.unwrap_or_default().into_keys().collect();
        ports.sort();
        images.push(Image {
            id: format!("sha256:{hex}"),
            repo_tags: m.repo_tags.unwrap_or_default(),
            created: config.created.unwrap_or_else(Utc::now),
            size,
            cmd: rc.cmd.unwrap_or_default(),
            entrypoint: rc.entrypoint.unwrap_or_default(),
            env: rc.env.unwrap_or_default(),
            working_dir: rc.working_dir.unwrap_or_default(),
            exposed_ports: ports,
        });
    }
    Ok(images)
}

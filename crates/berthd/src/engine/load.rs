//! `load`: images from a `docker save` archive (manifest.json + config + layer tarballs, in the
//! classic layout or the OCI one). The archive is a file on disk (the upload); layers are read in
//! place and applied in order by the confined unpacker in `layer`, whiteouts included.

use super::image::{self, Image, Upload};
use super::layer::Rootfs;
use super::{EngineError, Result};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

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
    #[serde(default)]
    healthcheck: Option<HealthcheckConfig>,
}

/// An image config's Healthcheck, durations in nanoseconds as Docker writes them.
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

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::BadRequest(msg.into())
}

/// JSON files of the archive (manifest, configs) are read whole; beyond this they are refused.
const MAX_JSON: u64 = 64 << 20;

/// Where each file of the outer archive lies in it, so layers are read in place, never copied.
#[derive(Default)]
struct Index {
    files: HashMap<String, (u64, u64)>,
    /// `docker save` stores a layer shared by two images once, the second as a symlink.
    links: HashMap<String, String>,
}

impl Index {
    fn build(tar_path: &Path) -> Result<Index> {
        let file = File::open(tar_path).map_err(super::io("open upload"))?;
        let mut ar = tar::Archive::new(BufReader::new(file));
        let entries = ar
            .entries()
            .map_err(|e| bad(format!("the archive is not a tar file: {e}")))?;
        let mut ix = Index::default();
        for entry in entries {
            let entry = entry.map_err(|e| bad(format!("the archive is damaged: {e}")))?;
            let raw = entry
                .path()
                .map_err(|e| bad(format!("bad path in the archive: {e}")))?
                .into_owned();
            let Ok(rel) = super::layer::clean(&raw) else {
                continue;
            };
            let key = rel.to_string_lossy().into_owned();
            match entry.header().entry_type() {
                t if t.is_file() => {
                    ix.files
                        .insert(key, (entry.raw_file_position(), entry.size()));
                }
                tar::EntryType::Symlink => {
                    if let Ok(Some(target)) = entry.link_name() {
                        let joined = rel.parent().unwrap_or(Path::new("")).join(target);
                        if let Ok(t) = super::layer::clean(&joined) {
                            ix.links.insert(key, t.to_string_lossy().into_owned());
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(ix)
    }

    fn find(&self, name: &str) -> Option<(u64, u64)> {
        let mut name = super::layer::clean(Path::new(name))
            .ok()?
            .to_string_lossy()
            .into_owned();
        for _ in 0..8 {
            if let Some(f) = self.files.get(&name) {
                return Some(*f);
            }
            name = self.links.get(&name)?.clone();
        }
        None
    }
}

/// A file of the archive as a reader of its bytes only.
fn open_member(tar_path: &Path, (offset, size): (u64, u64)) -> Result<impl Read> {
    let mut f = File::open(tar_path).map_err(super::io("open upload"))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(super::io("seek in upload"))?;
    Ok(BufReader::new(f.take(size)))
}

fn read_json(tar_path: &Path, ix: &Index, name: &str, what: &str) -> Result<Vec<u8>> {
    let at = ix
        .find(name)
        .ok_or_else(|| bad(format!("the archive lacks {what} {name}")))?;
    if at.1 > MAX_JSON {
        return Err(bad(format!(
            "{what} {name} is {} bytes: at most {MAX_JSON} are allowed",
            at.1
        )));
    }
    let mut data = Vec::with_capacity(at.1 as usize);
    open_member(tar_path, at)?
        .read_to_end(&mut data)
        .map_err(|e| bad(format!("cannot read {name} from the archive: {e}")))?;
    Ok(data)
}

/// A gzip archive is inflated next to the upload once, so layers can be read by offset.
fn plain_tar(upload: &Upload) -> Result<Option<Upload>> {
    let mut head = [0u8; 2];
    let mut f = File::open(&upload.path).map_err(super::io("open upload"))?;
    let n = f.read(&mut head).map_err(super::io("read upload"))?;
    if n < 2 || head != [0x1f, 0x8b] {
        return Ok(None);
    }
    f.seek(SeekFrom::Start(0))
        .map_err(super::io("seek in upload"))?;
    let path = upload.path.with_extension("tar");
    let out = File::create(&path).map_err(super::io(format!("create {}", path.display())))?;
    let mut up = Upload { path, len: 0 };
    let mut w = std::io::BufWriter::new(out);
    up.len = std::io::copy(&mut flate2::read::GzDecoder::new(BufReader::new(f)), &mut w)
        .map_err(|e| bad(format!("the archive is not a valid gzip file: {e}")))?;
    w.flush()
        .map_err(super::io(format!("write {}", up.path.display())))?;
    Ok(Some(up))
}

/// The images of a `docker save` archive, each unpacked into `images_dir/<hex>/rootfs`.
pub fn load(upload: &Upload, images_dir: &Path) -> Result<Vec<Image>> {
    use sha2::{Digest, Sha256};
    if upload.len == 0 {
        return Err(bad(
            "the archive is empty: load takes the output of docker save",
        ));
    }
    let inflated = plain_tar(upload)?;
    let tar_path = inflated.as_ref().unwrap_or(upload).path.as_path();
    let ix = Index::build(tar_path)?;
    if ix.find("manifest.json").is_none() {
        return Err(bad(
            "not a docker save archive: manifest.json is missing (use import for a root filesystem tarball)",
        ));
    }
    let manifest = read_json(tar_path, &ix, "manifest.json", "the manifest")?;
    let entries: Vec<ManifestEntry> = serde_json::from_slice(&manifest)
        .map_err(|e| bad(format!("manifest.json is not valid: {e}")))?;
    // Every name is checked before anything is unpacked: a refused load changes nothing.
    for m in &entries {
        for t in m.repo_tags.iter().flatten() {
            image::check_reference(t)?;
        }
    }
    let mut images = Vec::new();
    for m in entries {
        let config_raw = read_json(tar_path, &ix, &m.config, "the image config")?;
        let config: ImageConfigFile = serde_json::from_slice(&config_raw)
            .map_err(|e| bad(format!("image config {} is not valid: {e}", m.config)))?;
        let hex = format!("{:x}", Sha256::digest(&config_raw));
        let dir = images_dir.join(&hex);
        let staging = images_dir.join(format!("tmp-load-{hex}"));
        let _ = std::fs::remove_dir_all(&staging);
        let unpacked = unpack_layers(tar_path, &ix, &m.layers, &staging.join("rootfs"));
        let size = match unpacked {
            Ok(size) => size,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        };
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&staging, &dir).map_err(super::io("store image"))?;
        let rc = config.config.unwrap_or_default();
        let mut ports: Vec<String> = rc.exposed_ports.unwrap_or_default().into_keys().collect();
        ports.sort();
        images.push(Image {
            id: format!("sha256:{hex}"),
            repo_tags: m
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| image::normalize_ref(t))
                .collect(),
            created: config.created.unwrap_or_else(Utc::now),
            size,
            cmd: rc.cmd.unwrap_or_default(),
            entrypoint: rc.entrypoint.unwrap_or_default(),
            env: rc.env.unwrap_or_default(),
            working_dir: rc.working_dir.unwrap_or_default(),
            exposed_ports: ports,
            healthcheck: rc.healthcheck.map(|h| super::health::HealthConfig {
                test: h.test.unwrap_or_default(),
                interval_ns: h.interval,
                timeout_ns: h.timeout,
                start_period_ns: h.start_period,
                retries: h.retries,
            }),
        });
    }
    Ok(images)
}

fn unpack_layers(tar_path: &Path, ix: &Index, layers: &[String], root: &Path) -> Result<u64> {
    let rootfs = Rootfs::open(root)?;
    let mut size = 0;
    for layer in layers {
        let at = ix
            .find(layer)
            .ok_or_else(|| bad(format!("the archive lacks layer {layer}")))?;
        size += at.1;
        super::layer::apply(&rootfs, open_member(tar_path, at)?)?;
    }
    Ok(size)
}

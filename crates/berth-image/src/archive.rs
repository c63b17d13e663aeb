//! `docker save` archives (manifest.json + config + layer tarballs, in the classic layout or the
//! OCI one). The archive is a file on disk; layers are read in place and applied in order by the
//! confined unpacker in `layer`, whiteouts included.

use crate::error::{invalid, io, Result};
use crate::layer::Rootfs;
use crate::{reference, Image};
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

fn bad(msg: impl Into<String>) -> crate::ImageError {
    invalid(msg)
}

/// A file this module made, removed when it goes.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.0.display(), error = %e, "cannot remove an inflated archive");
            }
        }
    }
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
        let file = File::open(tar_path).map_err(io(format!("open {}", tar_path.display())))?;
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
            let Ok(rel) = crate::layer::clean(&raw) else {
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
                        if let Ok(t) = crate::layer::clean(&joined) {
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
        let mut name = crate::layer::clean(Path::new(name))
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
    let mut f = File::open(tar_path).map_err(io(format!("open {}", tar_path.display())))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(io(format!("seek in {}", tar_path.display())))?;
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

/// A gzip archive is inflated next to itself once, so layers can be read by offset.
fn plain_tar(archive: &Path) -> Result<Option<Scratch>> {
    let mut head = [0u8; 2];
    let mut f = File::open(archive).map_err(io(format!("open {}", archive.display())))?;
    let n = f
        .read(&mut head)
        .map_err(io(format!("read {}", archive.display())))?;
    if n < 2 || head != [0x1f, 0x8b] {
        return Ok(None);
    }
    f.seek(SeekFrom::Start(0))
        .map_err(io(format!("seek in {}", archive.display())))?;
    // A name of its own next to the archive (never the archive's, whatever it ends with).
    let mut name = archive.as_os_str().to_os_string();
    name.push(".inflated");
    let path = std::path::PathBuf::from(name);
    let out = File::create(&path).map_err(io(format!("create {}", path.display())))?;
    // From here on the guard removes the file whatever happens.
    let scratch = Scratch(path);
    let mut w = std::io::BufWriter::new(out);
    std::io::copy(&mut flate2::read::GzDecoder::new(BufReader::new(f)), &mut w)
        .map_err(|e| bad(format!("the archive is not a valid gzip file: {e}")))?;
    w.flush()
        .map_err(io(format!("write {}", scratch.0.display())))?;
    Ok(Some(scratch))
}

/// The images of the `docker save` archive at `archive`, each unpacked into
/// `images_dir/<hex>/rootfs` (staged in `images_dir/tmp-load-<hex>` first, so that a crash
/// leaves only `tmp-*` names behind).
pub fn load(archive: &Path, images_dir: &Path) -> Result<Vec<Image>> {
    let len = std::fs::metadata(archive)
        .map_err(io(format!("stat {}", archive.display())))?
        .len();
    if len == 0 {
        return Err(bad(
            "the archive is empty: load takes the output of docker save",
        ));
    }
    let inflated = plain_tar(archive)?;
    let tar_path = inflated.as_ref().map(|s| s.0.as_path()).unwrap_or(archive);
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
            reference::check_reference(t)?;
        }
    }
    let mut images = Vec::new();
    for m in entries {
        let config_raw = read_json(tar_path, &ix, &m.config, "the image config")?;
        let repo_tags = m
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| reference::normalize_ref(t))
            .collect();
        // Parsed before anything is unpacked: a bad config changes nothing.
        let mut image = crate::config::image(&config_raw, &m.config, repo_tags, 0)?;
        let hex = image.id.trim_start_matches("sha256:").to_string();
        let dir = images_dir.join(&hex);
        let staging = images_dir.join(format!("tmp-load-{hex}"));
        // Missing is the usual case; a staging that cannot go now is swept at the next start
        // (every `tmp-*`), and unpacking into it fails with its own error.
        let _ = std::fs::remove_dir_all(&staging);
        let unpacked = unpack_layers(tar_path, &ix, &m.layers, &staging.join("rootfs"));
        image.size = match unpacked {
            Ok(size) => size,
            Err(e) => {
                // As above: what stays is swept at the next start.
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        };
        // The same image loaded before: replaced whole (the rename fails if it could not go).
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&staging, &dir).map_err(io(format!("store image {hex}")))?;
        images.push(image);
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
        crate::layer::apply(&rootfs, open_member(tar_path, at)?)?;
    }
    Ok(size)
}

//! Writing `docker save` archives in the classic layout Docker 20.10 writes and every
//! `docker load` (and `archive::load`) reads: per image one layer, the tar of its root
//! filesystem, next to a config whose `rootfs.diff_ids` is that layer's digest, and a
//! `manifest.json` naming each image's tags.
//!
//! The layers are written to scratch files first ([`prepare`]), so that whatever can fail on
//! the image's side fails before the first byte of the archive is sent; [`Prepared::write`]
//! then only copies.

use crate::error::{io, Result};
use crate::Image;
use chrono::SecondsFormat;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// One image to save: where its root filesystem is and the tags it is saved under (none when
/// it was asked for by ID, as Docker's).
pub struct Entry {
    pub image: Image,
    pub rootfs: PathBuf,
    pub tags: Vec<String>,
}

/// A scratch file of this module, removed when it goes.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.0.display(), error = %e, "cannot remove a saved layer");
            }
        }
    }
}

struct PreparedImage {
    layer: Scratch,
    layer_hex: String,
    layer_size: u64,
    config: Vec<u8>,
    config_hex: String,
    tags: Vec<String>,
    mtime: u64,
}

/// The archive's parts, ready to be written.
pub struct Prepared {
    images: Vec<PreparedImage>,
}

/// Hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes each image's layer into `scratch_dir` (as `tmp-save-*`, which a daemon start
/// sweeps) and builds its config.
pub fn prepare(entries: Vec<Entry>, scratch_dir: &Path) -> Result<Prepared> {
    let mut images = Vec::with_capacity(entries.len());
    for e in entries {
        let path = scratch_dir.join(format!(
            "tmp-save-{}-{:016x}.tar",
            e.image.short_id(),
            rand_suffix()
        ));
        let file = File::create(&path).map_err(io(format!("create {}", path.display())))?;
        // From here on the guard removes the file whatever happens.
        let layer = Scratch(path);
        let mtime = e.image.created.timestamp().max(0) as u64;
        let (layer_hex, layer_size) = write_layer(&e.rootfs, file, mtime)
            .map_err(io(format!("write the layer of {}", e.image.id)))?;
        let config = serde_json::to_vec(&config(&e.image, &layer_hex))
            .map_err(|e| io("encode an image config")(std::io::Error::other(e)))?;
        images.push(PreparedImage {
            layer,
            layer_hex,
            layer_size,
            config_hex: format!("{:x}", Sha256::digest(&config)),
            config,
            tags: e.tags,
            mtime,
        });
    }
    Ok(Prepared { images })
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // A fresh random seed per call: two saves of one image at once get two scratch files.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

impl Prepared {
    /// The IDs the images will have when loaded back (their configs' digests).
    pub fn ids(&self) -> Vec<String> {
        self.images
            .iter()
            .map(|i| format!("sha256:{}", i.config_hex))
            .collect()
    }

    /// Writes the archive: layers, configs, then the manifest.
    pub fn write(self, out: impl Write) -> std::io::Result<()> {
        let mut b = tar::Builder::new(out);
        let mut manifest = Vec::new();
        for img in &self.images {
            let mut dir = header(tar::EntryType::Directory, 0o755, 0, img.mtime);
            b.append_data(&mut dir, format!("{}/", img.layer_hex), std::io::empty())?;
            let mut version = header(tar::EntryType::Regular, 0o644, 3, img.mtime);
            b.append_data(
                &mut version,
                format!("{}/VERSION", img.layer_hex),
                &b"1.0"[..],
            )?;
            let mut h = header(tar::EntryType::Regular, 0o644, img.layer_size, img.mtime);
            let layer = File::open(&img.layer.0)?;
            b.append_data(&mut h, format!("{}/layer.tar", img.layer_hex), layer)?;
            let mut h = header(
                tar::EntryType::Regular,
                0o644,
                img.config.len() as u64,
                img.mtime,
            );
            b.append_data(&mut h, format!("{}.json", img.config_hex), &img.config[..])?;
            manifest.push(json!({
                "Config": format!("{}.json", img.config_hex),
                "RepoTags": if img.tags.is_empty() { Value::Null } else { json!(img.tags) },
                "Layers": [format!("{}/layer.tar", img.layer_hex)],
            }));
        }
        let manifest = serde_json::to_vec(&manifest)?;
        let mtime = self.images.iter().map(|i| i.mtime).max().unwrap_or(0);
        let mut h = header(tar::EntryType::Regular, 0o644, manifest.len() as u64, mtime);
        b.append_data(&mut h, "manifest.json", &manifest[..])?;
        b.into_inner()?.flush()
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// The image config Docker's loaders read: the run config berth keeps and one layer.
fn config(image: &Image, layer_hex: &str) -> Value {
    let created = image.created.to_rfc3339_opts(SecondsFormat::Nanos, true);
    let ports: serde_json::Map<String, Value> = image
        .exposed_ports
        .iter()
        .map(|p| (p.clone(), json!({})))
        .collect();
    let mut run = json!({
        "Cmd": if image.cmd.is_empty() { Value::Null } else { json!(image.cmd) },
        "Entrypoint": if image.entrypoint.is_empty() { Value::Null } else { json!(image.entrypoint) },
        "Env": image.env,
        "WorkingDir": image.working_dir,
    });
    if !ports.is_empty() {
        run["ExposedPorts"] = Value::Object(ports);
    }
    if let Some(h) = &image.healthcheck {
        run["Healthcheck"] = json!({
            "Test": h.test,
            "Interval": h.interval_ns,
            "Timeout": h.timeout_ns,
            "StartPeriod": h.start_period_ns,
            "Retries": h.retries,
        });
    }
    if !image.labels.is_empty() {
        run["Labels"] = json!(image.labels);
    }
    json!({
        "architecture": go_arch(),
        "os": "linux",
        "created": created,
        "config": run,
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_hex}")]},
        "history": [{"created": created, "created_by": "berth save"}],
    })
}

/// The machine's architecture as Go (and so Docker) names it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Tars `rootfs` into `out` in name order, owners and modes kept, hard links as links; returns
/// (sha256 hex, bytes). Files keep their times; directories and symlinks get `mtime` (the
/// image's creation), since unpacking changes theirs: so a saved image loaded and saved again
/// gives the same bytes, and the same ID. Device nodes and sockets are left out: the unpacker
/// refuses them anyway.
fn write_layer(rootfs: &Path, out: File, mtime: u64) -> std::io::Result<(String, u64)> {
    let w = Hashing {
        inner: BufWriter::new(out),
        hash: Sha256::new(),
        len: 0,
    };
    let mut b = tar::Builder::new(w);
    let mut seen = HashMap::new();
    walk(rootfs, Path::new(""), mtime, &mut b, &mut seen)?;
    let mut w = b.into_inner()?;
    w.flush()?;
    Ok((format!("{:x}", w.hash.finalize()), w.len))
}

fn walk<W: Write>(
    root: &Path,
    rel: &Path,
    mtime: u64,
    b: &mut tar::Builder<W>,
    seen: &mut HashMap<(u64, u64), PathBuf>,
) -> std::io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(root.join(rel))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    for name in names {
        let rel = rel.join(&name);
        let path = root.join(&rel);
        let meta = std::fs::symlink_metadata(&path)?;
        let ft = meta.file_type();
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        h.set_mode(meta.mode() & 0o7777);
        if ft.is_dir() {
            h.set_size(0);
            h.set_mtime(mtime);
            b.append_data(&mut h, &rel, std::io::empty())?;
            walk(root, &rel, mtime, b, seen)?;
        } else if ft.is_symlink() {
            h.set_size(0);
            h.set_mtime(mtime);
            b.append_link(&mut h, &rel, std::fs::read_link(&path)?)?;
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                if let Some(first) = seen.get(&(meta.dev(), meta.ino())) {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, &rel, first)?;
                    continue;
                }
                seen.insert((meta.dev(), meta.ino()), rel.clone());
            }
            b.append_data(&mut h, &rel, File::open(&path)?)?;
        } else if ft.is_fifo() {
            h.set_size(0);
            b.append_data(&mut h, &rel, std::io::empty())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    /// An image built through serde, so that fields added to `Image` later keep their defaults.
    fn image() -> Image {
        let mut i: Image = serde_json::from_value(json!({
            "id": format!("sha256:{}", "cd".repeat(32)),
            "repo_tags": ["bb:1"], "created": Utc::now(), "size": 0,
        }))
        .unwrap();
        i.cmd = vec!["sh".into()];
        i.env = vec!["PATH=/bin".into()];
        i.working_dir = "/tmp".into();
        i.exposed_ports = vec!["80/tcp".into()];
        i.healthcheck = Some(crate::Healthcheck {
            test: vec!["CMD".into(), "true".into()],
            interval_ns: 1_000_000_000,
            ..Default::default()
        });
        i
    }

    #[test]
    fn saved_archive_loads_back_with_config_links_and_tags() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("bin/tool"), b"#!/bin/sh\n").unwrap();
        std::fs::hard_link(root.join("bin/tool"), root.join("bin/tool2")).unwrap();
        std::os::unix::fs::symlink("tool", root.join("bin/alias")).unwrap();
        std::fs::write(root.join("etc/conf"), b"x=1\n").unwrap();
        let img = image();
        let entries = vec![Entry {
            image: img.clone(),
            rootfs: root.clone(),
            tags: vec!["bb:1".into(), "bb:2".into()],
        }];
        let prepared = prepare(entries, dir.path()).unwrap();
        let ids = prepared.ids();
        let archive = dir.path().join("out.tar");
        prepared.write(File::create(&archive).unwrap()).unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("tmp-save-"))
            .collect();
        assert!(leftovers.is_empty(), "scratch layers are removed");

        let images = dir.path().join("images");
        std::fs::create_dir_all(&images).unwrap();
        let loaded = crate::archive::load(&archive, &images).unwrap();
        assert_eq!(loaded.len(), 1);
        let l = &loaded[0];
        assert_eq!(vec![l.id.clone()], ids);
        assert_eq!(l.repo_tags, vec!["bb:1", "bb:2"]);
        assert_eq!(l.cmd, img.cmd);
        assert_eq!(l.env, img.env);
        assert_eq!(l.working_dir, "/tmp");
        assert_eq!(l.exposed_ports, vec!["80/tcp"]);
        assert_eq!(l.healthcheck, img.healthcheck);
        let back = images
            .join(l.id.trim_start_matches("sha256:"))
            .join("rootfs");
        assert_eq!(
            std::fs::read(back.join("bin/tool2")).unwrap(),
            b"#!/bin/sh\n"
        );
        assert_eq!(
            std::fs::metadata(back.join("bin/tool")).unwrap().ino(),
            std::fs::metadata(back.join("bin/tool2")).unwrap().ino(),
            "a hard link stays one file"
        );
        assert_eq!(
            std::fs::read_link(back.join("bin/alias")).unwrap(),
            Path::new("tool")
        );
        assert_eq!(std::fs::read(back.join("etc/conf")).unwrap(), b"x=1\n");

        // The loaded image saved again gives the same layer and config: the same ID.
        let again = prepare(
            vec![Entry {
                image: l.clone(),
                rootfs: back,
                tags: vec![],
            }],
            dir.path(),
        )
        .unwrap();
        assert_eq!(again.ids(), ids);
    }
}

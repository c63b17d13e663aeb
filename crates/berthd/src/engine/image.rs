//! Images: imported root filesystems, unpacked once under `<data-root>/images/<id>/rootfs` and
//! shared read-only by every container (each gets its own overlayfs upper layer).

use super::{EngineError, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// `sha256:` + 64 hex of the imported archive.
    pub id: String,
    pub repo_tags: Vec<String>,
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
}

impl Image {
    pub fn short_id(&self) -> &str {
        let hex = self.id.trim_start_matches("sha256:");
        &hex[..12.min(hex.len())]
    }
}

/// `busybox` → `busybox:latest`; a reference with a tag or digest stays as is.
pub fn normalize_ref(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || name.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

pub fn rootfs(images_dir: &Path, image: &Image) -> PathBuf {
    images_dir
        .join(image.id.trim_start_matches("sha256:"))
        .join("rootfs")
}

/// Reads a tarball (plain or gzip) into `dest`, hashing what it reads; returns (sha256 hex, bytes).
pub fn unpack(mut input: impl Read, dest: &Path) -> Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    let mut raw = Vec::new();
    input
        .read_to_end(&mut raw)
        .map_err(|e| EngineError::BadRequest(format!("cannot read the image archive: {e}")))?;
    if raw.is_empty() {
        return Err(EngineError::BadRequest(
            "the image archive is empty: import takes a tar or tar.gz of a root filesystem".into(),
        ));
    }
    let digest = format!("{:x}", Sha256::digest(&raw));
    let gz = raw.starts_with(&[0x1f, 0x8b]);
    std::fs::create_dir_all(dest)
        .map_err(|e| EngineError::Io(format!("create {}: {e}", dest.display())))?;
    let result = if gz {
        extract(
            tar::Archive::new(flate2::read::GzDecoder::new(&raw[..])),
            dest,
        )
    } else {
        extract(tar::Archive::new(&raw[..]), dest)
    };
    result.map_err(|e| {
        // The tar crate wraps the reason; show the whole chain.
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        EngineError::BadRequest(format!(
            "the image archive is not a valid tar or tar.gz: {msg}"
        ))
    })?;
    Ok((digest, raw.len() as u64))
}

fn extract<R: Read>(mut archive: tar::Archive<R>, dest: &Path) -> std::io::Result<()> {
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_overwrite(true);
    archive.unpack(dest)
}

/// Lookup by `repo:tag`, `repo` (meaning `:latest`), full or short ID, with or without `sha256:`.
pub fn find<'a>(images: &'a BTreeMap<String, Image>, key: &str) -> Option<&'a Image> {
    let tag = normalize_ref(key);
    if let Some(i) = images.values().find(|i| i.repo_tags.contains(&tag)) {
        return Some(i);
    }
    let hex = key.trim_start_matches("sha256:");
    if hex.len() < 4 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut hits = images
        .values()
        .filter(|i| i.id.trim_start_matches("sha256:").starts_with(hex));
    match (hits.next(), hits.next()) {
        (Some(i), None) => Some(i),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_lookup() {
        assert_eq!(normalize_ref("busybox"), "busybox:latest");
        assert_eq!(normalize_ref("busybox:1"), "busybox:1");
        assert_eq!(
            normalize_ref("localhost:5000/bb"),
            "localhost:5000/bb:latest"
        );
        let img = Image {
            id: format!("sha256:{}", "ab".repeat(32)),
            repo_tags: vec!["busybox:latest".into()],
            created: Utc::now(),
            size: 1,
            cmd: vec![],
            entrypoint: vec![],
            env: vec![],
            working_dir: String::new(),
            exposed_ports: vec![],
        };
        let map = BTreeMap::from([(img.id.clone(), img.clone())]);
        assert_eq!(find(&map, "busybox").map(|i| &i.id), Some(&img.id));
        assert_eq!(find(&map, "abab").map(|i| &i.id), Some(&img.id));
        assert!(find(&map, "alpine").is_none());
        assert_eq!(img.short_id(), "abababababab");
    }

    #[test]
    fn unpack_plain_and_gzip_and_refuse_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, "bin/x", &b"abc"[..]).unwrap();
        let tarball = b.into_inner().unwrap();
        let (d1, n) = unpack(&tarball[..], &dir.path().join("a")).unwrap();
        assert_eq!(n, tarball.len() as u64);
        assert_eq!(std::fs::read(dir.path().join("a/bin/x")).unwrap(), b"abc");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tarball).unwrap();
        let (d2, _) = unpack(&gz.finish().unwrap()[..], &dir.path().join("b")).unwrap();
        assert_ne!(d1, d2);
        assert!(dir.path().join("b/bin/x").exists());
        assert!(unpack(&b""[..], &dir.path().join("c")).is_err());
    }
}

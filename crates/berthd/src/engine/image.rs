//! Images: imported root filesystems, unpacked once under `<data-root>/images/<id>/rootfs` and
//! shared read-only by every container (each gets its own overlayfs upper layer).

use super::{EngineError, Result};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use berth_image::{normalize_ref, Image};

impl From<berth_image::ImageError> for EngineError {
    fn from(e: berth_image::ImageError) -> Self {
        match e {
            berth_image::ImageError::Invalid(m) => EngineError::BadRequest(m),
            berth_image::ImageError::NotFound(m) => EngineError::NotFound(m),
            berth_image::ImageError::Registry(m) => EngineError::Upstream(m),
            berth_image::ImageError::Io { context, source } => EngineError::Os { context, source },
        }
    }
}

pub fn rootfs(images_dir: &Path, image: &Image) -> PathBuf {
    images_dir
        .join(image.id.trim_start_matches("sha256:"))
        .join("rootfs")
}

/// An uploaded image archive, spooled to a file under the images directory so that a large body
/// never sits in memory; the file goes when this does.
#[derive(Debug)]
pub struct Upload {
    pub path: PathBuf,
    pub len: u64,
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove an upload");
            }
        }
    }
}

/// Writes a request body to a new file in `dir`, chunk by chunk.
pub async fn spool<S, B, E>(mut body: S, dir: &Path) -> Result<Upload>
where
    S: futures::Stream<Item = std::result::Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(super::io(format!("create {}", dir.display())))?;
    let path = dir.join(format!("tmp-upload-{}", berth_net::network::new_id()));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .await
        .map_err(super::io(format!("create {}", path.display())))?;
    // From here on the guard removes the file whatever happens.
    let mut up = Upload { path, len: 0 };
    while let Some(chunk) = body.next().await {
        let chunk = chunk
            .map_err(|e| EngineError::BadRequest(format!("cannot read the request body: {e}")))?;
        let chunk = chunk.as_ref();
        file.write_all(chunk)
            .await
            .map_err(super::io(format!("write {}", up.path.display())))?;
        up.len += chunk.len() as u64;
    }
    file.flush()
        .await
        .map_err(super::io(format!("write {}", up.path.display())))?;
    Ok(up)
}

impl super::Engine {
    /// Spools an image archive (import or load body) under the images directory.
    pub async fn upload<S, B, E>(&self, body: S) -> Result<Upload>
    where
        S: futures::Stream<Item = std::result::Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        spool(body, &self.paths.images).await
    }
}

/// Removes what a crash left in the images directory: uploads and half-unpacked stagings
/// (`tmp-*`). Called at daemon start, before any request can be making them.
pub fn sweep(images_dir: &Path) {
    let Ok(rd) = std::fs::read_dir(images_dir) else {
        return;
    };
    for e in rd.flatten() {
        if !e.file_name().to_string_lossy().starts_with("tmp-") {
            continue;
        }
        let p = e.path();
        let r = match e.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
            _ => std::fs::remove_file(&p),
        };
        match r {
            Ok(()) => {
                tracing::info!(path = %p.display(), "removed what an interrupted import or load left")
            }
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "cannot remove a leftover of an import or load")
            }
        }
    }
}

/// Unpacks a root filesystem tarball (plain or gzip) into `dest`; returns (sha256 hex, bytes).
pub fn unpack(input: impl Read, dest: &Path) -> Result<(String, u64)> {
    Ok(berth_image::rootfs::unpack(input, dest)?)
}

/// Docker's reference grammar; see `berth_image::reference`.
pub fn check_reference(r: &str) -> Result<()> {
    Ok(berth_image::check_reference(r)?)
}

/// A tag names one image: takes `tag` off every image but `id`; returns the changes to store.
pub fn untag_others(
    images: &mut BTreeMap<String, Image>,
    id: &str,
    tag: &str,
) -> Result<Vec<berth_store::Change>> {
    let mut changes = Vec::new();
    for other in images.values_mut() {
        if other.id != id && other.repo_tags.iter().any(|t| t == tag) {
            other.repo_tags.retain(|x| x != tag);
            changes.push(berth_store::Change::put(super::IMAGES, &other.id, &*other)?);
        }
    }
    Ok(changes)
}

/// Lookup by `repo:tag`, `repo` (meaning `:latest`), full or short ID, with or without `sha256:`.
pub fn find<'a>(images: &'a BTreeMap<String, Image>, key: &str) -> Option<&'a Image> {
    let tag = normalize_ref(key);
    if let Some(i) = images.values().find(|i| i.repo_tags.contains(&tag)) {
        return Some(i);
    }
    if key.contains('@') {
        return images
            .values()
            .find(|i| i.repo_digests.iter().any(|d| d == key));
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
    use chrono::Utc;

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
            repo_digests: vec![],
            created: Utc::now(),
            size: 1,
            cmd: vec![],
            entrypoint: vec![],
            env: vec![],
            working_dir: String::new(),
            exposed_ports: vec![],
            healthcheck: None,
            labels: Default::default(),
        };
        let map = BTreeMap::from([(img.id.clone(), img.clone())]);
        assert_eq!(find(&map, "busybox").map(|i| &i.id), Some(&img.id));
        assert_eq!(find(&map, "abab").map(|i| &i.id), Some(&img.id));
        assert!(find(&map, "alpine").is_none());
        assert_eq!(img.short_id(), "abababababab");
    }
}

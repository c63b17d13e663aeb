//! The second half of a pull: every layer downloaded to a file while its digest is computed,
//! refused unless it matches the manifest, then applied in order by the confined unpacker
//! into a staging directory that becomes the image's only when all went well.

use super::resolve::describe;
use super::Resolved;
use crate::error::{invalid, io, ImageError, Result};
use crate::layer::Rootfs;
use crate::Image;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// What one layer is doing, in Docker's progress vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerStatus {
    Pulling,
    Downloading { current: u64, total: u64 },
    Verifying,
    DownloadComplete,
    Extracting { current: u64, total: u64 },
    Complete,
    AlreadyExists,
}

/// One progress event: a layer (by its short ID) and what it is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub id: String,
    pub status: LayerStatus,
}

pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Progress is reported at most this often while bytes move (and always at the end).
const TICK: Duration = Duration::from_millis(100);

const GZIP_TYPES: &[&str] = &[
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar",
];

/// A staging directory, removed unless it was kept.
struct Staging(Option<PathBuf>);

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            if let Err(e) = std::fs::remove_dir_all(&p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    // Swept at the next start (every `tmp-*` of the images directory).
                    tracing::warn!(path = %p.display(), error = %e, "cannot remove a pull's staging");
                }
            }
        }
    }
}

fn staging_name(hex: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "tmp-pull-{}-{}-{}",
        &hex[..12.min(hex.len())],
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Resolved {
    /// Every layer refused before anything moves: what berth cannot unpack.
    fn check_layers(&self) -> Result<()> {
        for l in &self.layers {
            if l.media_type.contains("zstd") {
                return Err(invalid(format!(
                    "layer {} of {} is zstd-compressed ({}): berth pulls gzip and uncompressed layers only",
                    l.digest,
                    self.name.shown(),
                    l.media_type
                )));
            }
            if !GZIP_TYPES.contains(&l.media_type.as_str()) {
                return Err(invalid(format!(
                    "layer {} of {} has media type {}: berth pulls {} layers only",
                    l.digest,
                    self.name.shown(),
                    l.media_type,
                    GZIP_TYPES.join(", ")
                )));
            }
            if l.size < 0 {
                return Err(invalid(format!(
                    "layer {} of {} has a negative size in its manifest",
                    l.digest,
                    self.name.shown()
                )));
            }
        }
        Ok(())
    }

    /// Downloads and unpacks the image into `images_dir/<hex>/rootfs`; the image returned has
    /// no names yet. An image directory that exists already is kept as it is.
    pub async fn fetch(self, images_dir: &Path, progress: ProgressFn) -> Result<Image> {
        self.check_layers()?;
        let mut image = crate::config::image(&self.config, &self.config_digest, vec![], 0)?;
        let hex = image.id.trim_start_matches("sha256:").to_string();
        let staging_dir = images_dir.join(staging_name(&hex));
        tokio::fs::create_dir_all(staging_dir.join("blobs"))
            .await
            .map_err(io(format!("create {}", staging_dir.display())))?;
        let staging = Staging(Some(staging_dir.clone()));
        let ids = self.layer_ids();
        for id in &ids {
            progress(Progress {
                id: id.clone(),
                status: LayerStatus::Pulling,
            });
        }
        let mut rootfs = Some(Rootfs::open(&staging_dir.join("rootfs"))?);
        for (layer, id) in self.layers.iter().zip(&ids) {
            let blob = staging_dir.join("blobs").join(id);
            self.download(layer, id, &blob, &progress).await?;
            image.size += layer.size as u64;
            let root = rootfs
                .take()
                .ok_or_else(|| invalid("the staging rootfs went away"))?;
            let (id2, p) = (id.clone(), progress.clone());
            let total = layer.size as u64;
            let root = tokio::task::spawn_blocking(move || -> Result<Rootfs> {
                extract(&root, &blob, total, &id2, &p)?;
                Ok(root)
            })
            .await
            .map_err(|e| ImageError::Registry(format!("unpacking layer {id} failed: {e}")))??;
            rootfs = Some(root);
            progress(Progress {
                id: id.clone(),
                status: LayerStatus::Complete,
            });
        }
        drop(rootfs);
        tokio::fs::remove_dir_all(staging_dir.join("blobs"))
            .await
            .map_err(io(format!("remove {}", staging_dir.display())))?;
        let dest = images_dir.join(&hex);
        match std::fs::rename(&staging_dir, &dest) {
            Ok(()) => {
                let mut s = staging;
                s.0 = None;
            }
            // Another pull of the same image finished first: its copy is the same bytes.
            Err(_) if dest.join("rootfs").is_dir() => drop(staging),
            Err(e) => return Err(io(format!("store image {hex}"))(e)),
        }
        Ok(image)
    }

    async fn download(
        &self,
        layer: &oci_client::manifest::OciDescriptor,
        id: &str,
        path: &Path,
        progress: &ProgressFn,
    ) -> Result<()> {
        let total = layer.size as u64;
        let mut stream = self
            .client
            .pull_blob_stream(&self.reference, layer)
            .await
            .map_err(|e| describe(&self.name, &self.registry, e))?;
        let mut file = tokio::fs::File::create(path)
            .await
            .map_err(io(format!("create {}", path.display())))?;
        let mut hash = Sha256::new();
        let mut current = 0u64;
        let mut last = Instant::now();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                ImageError::Registry(format!(
                    "downloading layer {} of {} from {} failed: {e}",
                    layer.digest,
                    self.name.shown(),
                    self.registry
                ))
            })?;
            current += chunk.len() as u64;
            if current > total {
                return Err(ImageError::Registry(format!(
                    "registry {} sent more than the {total} bytes the manifest gives layer {}",
                    self.registry, layer.digest
                )));
            }
            hash.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(io(format!("write {}", path.display())))?;
            if last.elapsed() >= TICK || current == total {
                last = Instant::now();
                progress(Progress {
                    id: id.to_string(),
                    status: LayerStatus::Downloading { current, total },
                });
            }
        }
        file.flush()
            .await
            .map_err(io(format!("write {}", path.display())))?;
        progress(Progress {
            id: id.to_string(),
            status: LayerStatus::Verifying,
        });
        let got = format!("sha256:{:x}", hash.finalize());
        if got != layer.digest {
            return Err(ImageError::Registry(format!(
                "layer {} of {} from {} failed verification: its content has digest {got}",
                layer.digest,
                self.name.shown(),
                self.registry
            )));
        }
        progress(Progress {
            id: id.to_string(),
            status: LayerStatus::DownloadComplete,
        });
        Ok(())
    }
}

/// Applies a downloaded (and verified) layer, reporting how much of it was read.
fn extract(root: &Rootfs, blob: &Path, total: u64, id: &str, progress: &ProgressFn) -> Result<()> {
    let file = std::fs::File::open(blob).map_err(io(format!("open {}", blob.display())))?;
    let counted = Counted {
        inner: std::io::BufReader::new(file),
        read: 0,
        total,
        last: Instant::now(),
        id,
        progress,
    };
    crate::layer::apply(root, counted)?;
    std::fs::remove_file(blob).map_err(io(format!("remove {}", blob.display())))
}

struct Counted<'a, R> {
    inner: R,
    read: u64,
    total: u64,
    last: Instant,
    id: &'a str,
    progress: &'a ProgressFn,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if n > 0 && (self.last.elapsed() >= TICK || self.read == self.total) {
            self.last = Instant::now();
            (self.progress)(Progress {
                id: self.id.to_string(),
                status: LayerStatus::Extracting {
                    current: self.read,
                    total: self.total,
                },
            });
        }
        Ok(n)
    }
}

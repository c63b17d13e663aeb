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
    /// The image config's Healthcheck.
    #[serde(default)]
    pub healthcheck: Option<super::health::HealthConfig>,
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

/// Hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hash: sha2::Sha256,
    len: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Unpacks a root filesystem tarball (plain or gzip) into `dest` through the same confined
/// unpacker as `load`'s layers, hashing what it reads; returns (sha256 hex, bytes).
pub fn unpack(input: impl Read, dest: &Path) -> Result<(String, u64)> {
    use sha2::Digest;
    let input = Hashing {
        inner: input,
        hash: sha2::Sha256::new(),
        len: 0,
    };
    let root = super::layer::Rootfs::open(dest)?;
    let (head, mut input) = super::layer::sniff(input)
        .map_err(|e| EngineError::BadRequest(format!("cannot read the image archive: {e}")))?;
    if head.is_empty() {
        return Err(EngineError::BadRequest(
            "the image archive is empty: import takes a tar or tar.gz of a root filesystem".into(),
        ));
    }
    let chained = std::io::Read::chain(&head[..], &mut input);
    super::layer::apply(&root, chained).map_err(|e| match e {
        EngineError::BadRequest(m) => EngineError::BadRequest(format!(
            "the image archive is not a valid tar or tar.gz root filesystem: {m}"
        )),
        other => other,
    })?;
    // The ID is the digest of the whole archive, padding after the end marker included.
    std::io::copy(&mut input, &mut std::io::sink())
        .map_err(|e| EngineError::BadRequest(format!("cannot read the image archive: {e}")))?;
    Ok((format!("{:x}", input.hash.finalize()), input.len))
}

/// Docker's reference grammar (distribution/reference): `[domain[:port]/]path[:tag][@digest]`,
/// path components lowercase alphanumerics joined by `.`, `_`, `__` or dashes, a tag of at most
/// 128 word characters, dots and dashes, a name of at most 255 characters.
pub fn check_reference(r: &str) -> Result<()> {
    let bad = || EngineError::BadRequest(format!("invalid reference format: {r:?}"));
    let (rest, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    if let Some(d) = digest {
        let (algo, hex) = d.split_once(':').ok_or_else(bad)?;
        if algo != "sha256" || hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
    }
    // A tag is after the last colon that comes after the last slash (a port is before it).
    let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let mut cs = t.chars();
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if t.len() > 128
            || !cs.next().is_some_and(word)
            || !cs.all(|c| word(c) || c == '.' || c == '-')
        {
            return Err(bad());
        }
    }
    if name.is_empty() || name.len() > 255 {
        return Err(bad());
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let first = parts[0];
    if parts.len() > 1
        && (first.contains(['.', ':'])
            || first == "localhost"
            || first.bytes().any(|b| b.is_ascii_uppercase()))
    {
        if !valid_domain(first) {
            return Err(bad());
        }
        parts.remove(0);
    }
    if parts.iter().all(|p| valid_path_component(p)) {
        Ok(())
    } else {
        Err(bad())
    }
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || d.starts_with('[') => (h, Some(p)),
        _ => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !c.starts_with('-')
                && !c.ends_with('-')
        })
}

fn valid_path_component(p: &str) -> bool {
    let b = p.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    let mut after_sep = false;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            after_sep = false;
            continue;
        }
        if after_sep {
            return false;
        }
        after_sep = true;
        // A separator: one `.`, one or two `_`, or any number of `-`.
        let start = i;
        let c = b[i];
        while i < b.len() && b[i] == c {
            i += 1;
        }
        let ok = match c {
            b'.' => i - start == 1,
            b'_' => i - start <= 2,
            b'-' => true,
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
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
            healthcheck: None,
        };
        let map = BTreeMap::from([(img.id.clone(), img.clone())]);
        assert_eq!(find(&map, "busybox").map(|i| &i.id), Some(&img.id));
        assert_eq!(find(&map, "abab").map(|i| &i.id), Some(&img.id));
        assert!(find(&map, "alpine").is_none());
        assert_eq!(img.short_id(), "abababababab");
    }

    #[test]
    fn reference_grammar() {
        for good in [
            "busybox",
            "busybox:latest",
            "my_org/app-1.x:v1.0",
            "a__b/c---d",
            "localhost/x",
            "localhost:5000/bb:1",
            "registry.example.com/team/app",
            "Registry.Example:443/app",
            "[::1]:5000/app:tag",
            &format!("app@sha256:{}", "a".repeat(64)),
            &format!("app:{}", "t".repeat(128)),
        ] {
            check_reference(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "",
            "UPPER",
            "evil\nname:1",
            "../../x:1",
            "a/../b",
            "a:b:c",
            "x:-bad",
            "x:",
            "trailing/",
            "/lead",
            " x",
            "a..b",
            "a___b",
            "a.-b",
            "-a",
            "a-",
            "host:port/x:y:z",
            &format!("app:{}", "t".repeat(129)),
            &"a".repeat(256),
            "app@sha256:abc",
            "app@md5:0",
        ] {
            assert!(check_reference(bad).is_err(), "{bad:?} was accepted");
        }
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

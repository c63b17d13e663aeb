//! Root filesystem tarballs (`import`): one layer, hashed as it is read.

use crate::error::{invalid, ImageError, Result};
use std::io::Read;
use std::path::Path;

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
    let root = crate::layer::Rootfs::open(dest)?;
    let (head, mut input) = crate::layer::sniff(input)
        .map_err(|e| invalid(format!("cannot read the image archive: {e}")))?;
    if head.is_empty() {
        return Err(invalid(
            "the image archive is empty: import takes a tar or tar.gz of a root filesystem",
        ));
    }
    let chained = std::io::Read::chain(&head[..], &mut input);
    crate::layer::apply(&root, chained).map_err(|e| match e {
        ImageError::Invalid(m) => invalid(format!(
            "the image archive is not a valid tar or tar.gz root filesystem: {m}"
        )),
        other => other,
    })?;
    // The ID is the digest of the whole archive, padding after the end marker included.
    std::io::copy(&mut input, &mut std::io::sink())
        .map_err(|e| invalid(format!("cannot read the image archive: {e}")))?;
    Ok((format!("{:x}", input.hash.finalize()), input.len))
}

#[cfg(test)]
mod tests {
    use super::*;

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

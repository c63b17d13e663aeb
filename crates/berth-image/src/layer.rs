//! Applying one layer tarball onto a root filesystem without ever touching anything outside it.
//!
//! Every path of the archive is resolved with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
//! against a descriptor of the rootfs, so a symlink an earlier entry (or an earlier layer) made
//! resolves as it would inside the container, never to the host. Only the parent directory is
//! resolved that way; the last component is then created, replaced or removed with the `*at`
//! calls on that directory without following it. Overlay whiteouts (`.wh.NAME`, `.wh..wh..opq`)
//! are applied the same way.

use crate::error::{invalid, io, ImageError, Result};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io::{BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

fn bad(msg: impl Into<String>) -> ImageError {
    invalid(msg)
}

fn resolve() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS
}

/// A root filesystem being unpacked, held by a directory descriptor.
pub struct Rootfs {
    fd: OwnedFd,
}

impl Rootfs {
    /// Opens (creating it if needed) the directory the layers are unpacked into.
    pub fn open(path: &Path) -> Result<Rootfs> {
        std::fs::create_dir_all(path).map_err(io(format!("create {}", path.display())))?;
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io(format!("open {}", path.display()))(e.into()))?;
        Ok(Rootfs { fd })
    }

    /// The root's descriptor, for lookups resolved inside it.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// A root held by a descriptor already open (a running container's `/proc/PID/root`).
    pub fn from_fd(fd: OwnedFd) -> Rootfs {
        Rootfs { fd }
    }

    /// The directory `rel` of this root, resolved inside it, as a root of its own: what is
    /// unpacked there stays below it.
    pub fn subdir(&self, rel: &Path) -> std::result::Result<Rootfs, Errno> {
        Ok(Rootfs { fd: self.dir(rel)? })
    }

    /// A directory of the rootfs, resolved inside it. `rel` empty is the root itself.
    fn dir(&self, rel: &Path) -> std::result::Result<OwnedFd, Errno> {
        if rel.as_os_str().is_empty() {
            return rustix::io::dup(&self.fd);
        }
        rustix::fs::openat2(
            &self.fd,
            rel,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve(),
        )
    }

    /// Like `dir`, making the directories that are missing (as `tar` does, mode 0755).
    fn dir_creating(&self, rel: &Path) -> std::result::Result<OwnedFd, Errno> {
        match self.dir(rel) {
            Err(Errno::NOENT) => {}
            other => return other,
        }
        let mut have = rustix::io::dup(&self.fd)?;
        let mut prefix = PathBuf::new();
        for c in rel.components() {
            prefix.push(c);
            have = match self.dir(&prefix) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    match rustix::fs::mkdirat(&have, c.as_os_str(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e),
                    }
                    self.dir(&prefix)?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(have)
    }
}

/// `path` of the archive as a relative path with no `.`, `..` or root in it; an entry that
/// climbs above the root is refused, as Docker refuses it ("is outside of").
pub fn clean(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err(bad(format!(
                        "the archive entry {} is outside of the root filesystem",
                        path.display()
                    )));
                }
            }
        }
    }
    Ok(out)
}

fn split(rel: &Path) -> (&Path, &OsStr) {
    (
        rel.parent().unwrap_or(Path::new("")),
        rel.file_name().unwrap_or_default(),
    )
}

/// Removes `name` of `dir` whatever it is, a directory with everything in it; never follows
/// a symlink (the link itself goes). Missing is fine.
fn remove(dir: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<()> {
    let sub = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    );
    match sub {
        Ok(fd) => {
            empty(fd.as_fd(), &HashSet::new())?;
            drop(fd);
            rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
        }
        // Not a directory (ELOOP: a symlink, refused by O_NOFOLLOW).
        Err(Errno::NOTDIR | Errno::LOOP) => rustix::fs::unlinkat(dir, name, AtFlags::empty())?,
        Err(Errno::NOENT) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Removes everything in the directory `dir` but the names in `keep`.
fn empty(dir: BorrowedFd<'_>, keep: &HashSet<OsString>) -> std::io::Result<()> {
    let mut names = Vec::new();
    for e in rustix::fs::Dir::read_from(dir)? {
        let e = e?;
        let n = OsStr::from_bytes(e.file_name().to_bytes());
        if n != "." && n != ".." && !keep.contains(n) {
            names.push(n.to_os_string());
        }
    }
    for n in names {
        remove(dir, &n)?;
    }
    Ok(())
}

/// What an entry of the layer asks for.
enum Kind {
    File,
    Dir,
    Symlink(PathBuf),
    Hardlink(PathBuf),
    Fifo,
    Skip,
}

/// Applies one layer tarball (plain or gzip) onto `root`, whiteouts included.
pub fn apply(root: &Rootfs, input: impl Read) -> Result<()> {
    unpack(root, input, true, None)
}

/// Unpacks a tar archive (plain or gzip) into `root` as `docker cp` does: as a layer, but
/// names that look like whiteouts are plain files.
pub fn extract(root: &Rootfs, input: impl Read) -> Result<()> {
    unpack(root, input, false, None)
}

/// [`extract`], every entry owned by `owner` (uid, gid) rather than by the one its header
/// names: `docker cp -a` into a container that runs as a user.
pub fn extract_owned(root: &Rootfs, input: impl Read, owner: (u32, u32)) -> Result<()> {
    unpack(root, input, false, Some(owner))
}

fn unpack(
    root: &Rootfs,
    input: impl Read,
    whiteouts: bool,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    let (head, input) = sniff(input).map_err(|e| bad(format!("cannot read a layer: {e}")))?;
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let input = BufReader::new(std::io::Cursor::new(head).chain(input));
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(input))
    } else {
        Box::new(input)
    };
    let mut ar = tar::Archive::new(reader);
    // Paths made by this layer: an opaque marker hides only what lower layers made.
    let mut made: HashSet<PathBuf> = HashSet::new();
    let entries = ar
        .entries()
        .map_err(|e| bad(format!("a layer is not a tar file: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("a layer is damaged: {e}")))?;
        let raw = entry
            .path()
            .map_err(|e| bad(format!("bad path in a layer: {e}")))?
            .into_owned();
        let rel = clean(&raw)?;
        let (parent, name) = split(&rel);
        let name_str = name.to_string_lossy();
        if whiteouts && name_str == OPAQUE {
            opaque(root, parent, &made).map_err(|e| failed(&raw, e))?;
            continue;
        }
        if let Some(target) = name_str.strip_prefix(WHITEOUT).filter(|_| whiteouts) {
            // `.wh..wh.*` other than the opaque marker are aufs bookkeeping.
            if !target.starts_with(".wh.") && !target.is_empty() {
                whiteout(root, parent, OsStr::new(target)).map_err(|e| failed(&raw, e))?;
            }
            continue;
        }
        if rel.as_os_str().is_empty() {
            // The root itself ("./"): its mode is the unpacker's to keep.
            continue;
        }
        let kind = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                Kind::File
            }
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink(link_name(&entry, &raw)?),
            tar::EntryType::Link => Kind::Hardlink(clean(&link_name(&entry, &raw)?)?),
            tar::EntryType::Fifo => Kind::Fifo,
            tar::EntryType::Char | tar::EntryType::Block => {
                // A device node in an image would hand a container the host's device.
                tracing::debug!(path = %raw.display(), "device node in a layer skipped");
                Kind::Skip
            }
            _ => Kind::Skip,
        };
        if matches!(kind, Kind::Skip) {
            continue;
        }
        let dir = root
            .dir_creating(parent)
            .map_err(|e| failed(&raw, e.into()))?;
        put(root, dir.as_fd(), name, kind, &mut entry, owner).map_err(|e| failed(&raw, e))?;
        made.insert(rel);
    }
    Ok(())
}

/// The first two bytes of `input` (fewer only at its end), for the gzip magic: a reader may
/// hand them out one at a time.
pub fn sniff<R: Read>(mut input: R) -> std::io::Result<(Vec<u8>, R)> {
    let mut head = [0u8; 2];
    let mut n = 0;
    while n < head.len() {
        match input.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((head[..n].to_vec(), input))
}

fn failed(path: &Path, e: std::io::Error) -> ImageError {
    bad(format!(
        "cannot unpack {} from a layer: {e}",
        path.display()
    ))
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>, raw: &Path) -> Result<PathBuf> {
    entry
        .link_name()
        .map_err(|e| {
            bad(format!(
                "bad link target of {} in a layer: {e}",
                raw.display()
            ))
        })?
        .map(|l| l.into_owned())
        .ok_or_else(|| {
            bad(format!(
                "{} in a layer is a link without a target",
                raw.display()
            ))
        })
}

fn opaque(root: &Rootfs, dir: &Path, made: &HashSet<PathBuf>) -> std::io::Result<()> {
    let fd = match root.dir(dir) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    // What this layer made below the directory keeps its top-level name there (a file of a
    // subdirectory keeps that subdirectory).
    let keep: HashSet<OsString> = made
        .iter()
        .filter_map(|p| p.strip_prefix(dir).ok())
        .filter_map(|rest| rest.components().next())
        .map(|c| c.as_os_str().to_os_string())
        .collect();
    empty(fd.as_fd(), &keep)
}

fn whiteout(root: &Rootfs, dir: &Path, name: &OsStr) -> std::io::Result<()> {
    match root.dir(dir) {
        Ok(fd) => remove(fd.as_fd(), name),
        Err(Errno::NOENT | Errno::NOTDIR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Creates `name` in `dir` as the entry says, replacing what was there, then gives it the
/// entry's owner, mode and modification time.
fn put<R: Read>(
    root: &Rootfs,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    kind: Kind,
    entry: &mut tar::Entry<'_, R>,
    owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    let h = entry.header();
    let mode = Mode::from_raw_mode(h.mode()? & 0o7777);
    let (uid, gid) = match owner {
        Some(ids) => ids,
        None => (h.uid()? as u32, h.gid()? as u32),
    };
    let uid = rustix::fs::Uid::from_raw(uid);
    let gid = rustix::fs::Gid::from_raw(gid);
    let mtime = h.mtime().unwrap_or(0);
    let existing = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW);
    let is_dir =
        matches!(&existing, Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory);
    let nofollow = AtFlags::SYMLINK_NOFOLLOW;
    match kind {
        Kind::Dir => {
            if existing.is_ok() && !is_dir {
                rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
            }
            if !is_dir {
                rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o700))?;
            }
            let fd = rustix::fs::openat(
                dir,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            rustix::fs::fchown(&fd, Some(uid), Some(gid))?;
            rustix::fs::fchmod(&fd, mode)?;
        }
        Kind::File => {
            if existing.is_ok() {
                remove(dir, name)?;
            }
            let fd = rustix::fs::openat(
                dir,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?;
            let mut file = std::fs::File::from(fd);
            std::io::copy(entry, &mut file)?;
            rustix::fs::fchown(&file, Some(uid), Some(gid))?;
            // After the chown, which clears set-id bits.
            rustix::fs::fchmod(&file, mode)?;
            rustix::fs::futimens(&file, &times(mtime))?;
        }
        Kind::Symlink(target) => {
            if existing.is_ok() {
                remove(dir, name)?;
            }
            rustix::fs::symlinkat(target.as_os_str(), dir, name)?;
            rustix::fs::chownat(dir, name, Some(uid), Some(gid), nofollow)?;
            rustix::fs::utimensat(dir, name, &times(mtime), nofollow)?;
        }
        Kind::Hardlink(target) => {
            let (tparent, tname) = split(&target);
            let tdir = root.dir(tparent)?;
            // Linking a name to itself must not remove it first.
            if let (Ok(old), Ok(new)) = (
                rustix::fs::statat(&tdir, tname, nofollow),
                existing.as_ref(),
            ) {
                if old.st_ino == new.st_ino && old.st_dev == new.st_dev {
                    return Ok(());
                }
            }
            if existing.is_ok() {
                remove(dir, name)?;
            }
            // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink, never its target.
            rustix::fs::linkat(&tdir, tname, dir, name, AtFlags::empty())?;
        }
        Kind::Fifo => {
            if existing.is_ok() {
                remove(dir, name)?;
            }
            rustix::fs::mknodat(dir, name, FileType::Fifo, mode, 0)?;
            rustix::fs::chownat(dir, name, Some(uid), Some(gid), nofollow)?;
        }
        Kind::Skip => {}
    }
    Ok(())
}

fn times(mtime: u64) -> rustix::fs::Timestamps {
    let t = rustix::fs::Timespec {
        tv_sec: mtime.min(i64::MAX as u64) as i64,
        tv_nsec: 0,
    };
    rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum E<'a> {
        File(&'a str, &'a [u8]),
        Dir(&'a str),
        Sym(&'a str, &'a str),
        Hard(&'a str, &'a str),
    }

    fn tarball(entries: &[E<'_>]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_uid(0);
            h.set_gid(0);
            h.set_size(0);
            let (path, data): (&str, &[u8]) = match e {
                E::File(p, d) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(d.len() as u64);
                    (p, d)
                }
                E::Dir(p) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    (p, b"")
                }
                E::Sym(p, t) | E::Hard(p, t) => {
                    h.set_entry_type(if matches!(e, E::Sym(..)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    });
                    h.set_link_name(t).unwrap();
                    (p, b"")
                }
            };
            // The raw name, so that `..` and absolute names reach the unpacker as written.
            let name = h.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// A root next to an `outside` tree that no layer may change.
    fn scene() -> (tempfile::TempDir, Rootfs) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("outside/dir")).unwrap();
        std::fs::write(dir.path().join("outside/keep"), b"sentinel").unwrap();
        std::fs::write(dir.path().join("outside/dir/inner"), b"inner").unwrap();
        let root = Rootfs::open(&dir.path().join("root")).unwrap();
        (dir, root)
    }

    fn outside_intact(dir: &Path) {
        let o = dir.join("outside");
        assert_eq!(std::fs::read(o.join("keep")).unwrap(), b"sentinel");
        assert_eq!(std::fs::read(o.join("dir/inner")).unwrap(), b"inner");
        let mut names: Vec<_> = std::fs::read_dir(&o)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["dir", "keep"]);
        assert_eq!(std::fs::read_dir(o.join("dir")).unwrap().count(), 1);
        let mut top: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        top.sort();
        assert_eq!(top, ["outside", "root"]);
    }

    #[test]
    fn symlinks_out_of_the_root_resolve_inside_it() {
        let cases: Vec<Vec<E<'_>>> = vec![
            vec![
                E::Sym("evil", "../outside"),
                E::File("evil/.wh..wh..opq", b""),
                E::File("evil/dir/inner", b"x"),
            ],
            vec![
                E::Sym("evil", "../outside/dir"),
                E::File("evil/.wh.inner", b""),
                E::File("evil/new", b"y"),
                E::Dir("evil/sub"),
            ],
            vec![
                E::Sym("up", "/"),
                E::Sym("deep", "../../.."),
                E::File("up/keep", b"z"),
                E::File("deep/outside/keep", b"z"),
            ],
            vec![
                E::Sym("a", ".."),
                E::File("a/outside", b"replaced"),
                E::Dir("a/x"),
            ],
        ];
        for (i, entries) in cases.iter().enumerate() {
            let (dir, root) = scene();
            // Refusing is as good as unpacking inside: only the outside matters.
            if let Err(e) = apply(&root, &tarball(entries)[..]) {
                assert!(matches!(e, ImageError::Invalid(_)), "case {i}: {e}");
            }
            outside_intact(dir.path());
        }
    }

    #[test]
    fn names_and_links_above_the_root_are_refused() {
        for entries in [
            vec![E::File("../escaped", b"e")],
            vec![E::File("b/../../escaped", b"e")],
            vec![E::Hard("h", "../outside/keep")],
        ] {
            let (dir, root) = scene();
            let err = apply(&root, &tarball(&entries)[..]).unwrap_err();
            assert!(matches!(err, ImageError::Invalid(_)), "{err}");
            assert!(err.to_string().contains("outside of the root"), "{err}");
            outside_intact(dir.path());
        }
    }

    #[test]
    fn garbage_is_refused_without_a_panic() {
        let (dir, root) = scene();
        for junk in [
            &b"\x1f\x8b"[..],
            b"not a tar",
            &[0u8; 700][..],
            &[0xffu8; 1024][..],
        ] {
            let _ = apply(&root, junk);
        }
        outside_intact(dir.path());
    }
}

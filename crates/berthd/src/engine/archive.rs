//! `docker cp`: a path of a container's root filesystem as a tar stream, its stat, and a tar
//! stream unpacked into one of its directories; for running and stopped containers.
//!
//! Every path is resolved inside the container's root (`openat2` with `RESOLVE_IN_ROOT`), so a
//! symlink in the container (`/data -> /etc`) means the container's `/etc`, never the host's.
//! An upload is unpacked by berth-image's unpacker rooted at the target directory: an entry or
//! link that climbs above it is refused (400) and nothing outside it is written. A running
//! container's root is `/proc/PID/root`, its mounts (volumes, binds) included. A stopped one's
//! overlay is mounted in a mount namespace of a thread of its own, with its volumes and bind
//! mounts on it as its start would put them; all of it goes when the thread ends.

use super::{Engine, EngineError, Result, Status};
use berth_image::layer::Rootfs;
use chrono::{DateTime, Utc};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use tokio::sync::{mpsc, oneshot, OwnedMutexGuard};

/// What `X-Docker-Container-Path-Stat` carries (base64 of its JSON).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode`: permission bits and Go's type bits (the docker CLI reads them).
    pub mode: u32,
    pub mtime: DateTime<Utc>,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// How the container's root is reached.
enum Access {
    Running(u32),
    /// The overlay, and the volumes and bind mounts to mount on it (the source, the path in
    /// the container, read-only), parents first.
    Stopped(super::runtime::Overlay, Vec<(PathBuf, String, bool)>),
}

/// A container path as a path below its root: `..` stops at the root, as in the container.
fn below_root(path: &str) -> Result<PathBuf> {
    if path.is_empty() {
        return Err(EngineError::BadRequest(
            "a path in the container is needed".into(),
        ));
    }
    if path.contains('\0') {
        return Err(EngineError::BadRequest(format!(
            "invalid path {path:?}: it holds a NUL byte"
        )));
    }
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    Ok(out)
}

fn ended() -> EngineError {
    EngineError::Invariant("the copy thread ended without an answer".into())
}

fn in_root() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS
}

fn missing(path: &str, name: &str) -> EngineError {
    EngineError::NotFound(format!(
        "Could not find the file {path} in container {name}"
    ))
}

/// Go's `os.FileMode` of a `st_mode`.
fn go_mode(st_mode: u32) -> u32 {
    const DIR: u32 = 1 << 31;
    const SYMLINK: u32 = 1 << 27;
    const DEVICE: u32 = 1 << 26;
    const PIPE: u32 = 1 << 25;
    const SOCKET: u32 = 1 << 24;
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const CHAR: u32 = 1 << 21;
    const STICKY: u32 = 1 << 20;
    let mut m = st_mode & 0o777;
    m |= match st_mode & libc::S_IFMT {
        libc::S_IFDIR => DIR,
        libc::S_IFLNK => SYMLINK,
        libc::S_IFIFO => PIPE,
        libc::S_IFSOCK => SOCKET,
        libc::S_IFBLK => DEVICE,
        libc::S_IFCHR => DEVICE | CHAR,
        _ => 0,
    };
    for (bit, go) in [
        (libc::S_ISUID, SETUID),
        (libc::S_ISGID, SETGID),
        (libc::S_ISVTX, STICKY),
    ] {
        if st_mode & bit != 0 {
            m |= go;
        }
    }
    m
}

/// The entry at `rel` (not following a last symlink) and its stat.
fn stat_at(
    root: &Rootfs,
    rel: &Path,
    path: &str,
    name: &str,
) -> Result<(rustix::fd::OwnedFd, PathStat)> {
    let target = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let fd = rustix::fs::openat2(
        root.as_fd(),
        target,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        in_root(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR => missing(path, name),
        e => super::io(format!("cannot look up {path} in {name}"))(e.into()),
    })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| super::io(format!("stat {path}"))(e.into()))?;
    let link_target = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        rustix::fs::readlinkat(&fd, "", Vec::new())
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let base = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let stat = PathStat {
        name: base,
        size: st.st_size,
        mode: go_mode(st.st_mode),
        mtime: DateTime::from_timestamp(st.st_mtime, st.st_mtime_nsec as u32).unwrap_or_default(),
        link_target,
    };
    Ok((fd, stat))
}

/// Writes into a channel the API streams from, a chunk at a time.
struct ChanWriter(mpsc::Sender<io::Result<Vec<u8>>>);

impl Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(buf.to_vec()))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client left"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads what the API receives, a chunk at a time.
pub struct ChanReader {
    rx: mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    at: usize,
}

impl ChanReader {
    pub fn new(rx: mpsc::Receiver<Vec<u8>>) -> ChanReader {
        ChanReader {
            rx,
            cur: Vec::new(),
            at: 0,
        }
    }
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.cur.len() {
            match self.rx.blocking_recv() {
                Some(b) => (self.cur, self.at) = (b, 0),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.at);
        buf[..n].copy_from_slice(&self.cur[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Tars the entry `fd` (stat `stat`) as `name`: a directory with all below it, never
/// following a symlink.
fn tar_entry(fd: rustix::fd::OwnedFd, stat: &PathStat, out: impl Write) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut b = tar::Builder::new(io::BufWriter::with_capacity(64 * 1024, out));
    b.follow_symlinks(false);
    let name = if stat.name == "/" { "." } else { &stat.name };
    if !stat.link_target.is_empty() || stat.mode & (1 << 27) != 0 {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(stat.mtime.timestamp().max(0) as u64);
        b.append_link(&mut h, name, &stat.link_target)?;
    } else {
        // The entry reopened for reading through its descriptor; what is below a directory
        // is walked from there, symlinks archived as links and never entered.
        let here = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        if stat.mode & (1 << 31) != 0 {
            b.append_dir_all(name, &here)?;
        } else {
            let mut f = std::fs::File::open(&here)?;
            b.append_file(name, &mut f)?;
        }
    }
    b.into_inner()?.flush()
}

impl Engine {
    /// How to reach the container's root. A stopped container's overlay is mounted for the
    /// copy with the upper and work directories its start mounts too, so a stopped one comes
    /// with its op lock (the guard start, stop and remove take): a start waits for the copy to
    /// end, as Docker's waits for the container lock its `cp` holds.
    async fn access(
        &self,
        key: &str,
    ) -> Result<(super::Container, Access, Option<OwnedMutexGuard<()>>)> {
        let id = self.container(key).await?.id;
        let guard = self.op_lock(&id).lock_owned().await;
        let c = self.container(&id).await?;
        if c.state.status == Status::Running && c.state.pid != 0 {
            let pid = c.state.pid;
            // A running container's root is its own mount, which the copy cannot disturb.
            return Ok((c, Access::Running(pid), None));
        }
        let img = self.image_by_id(&c.image_id).await.ok_or_else(|| {
            EngineError::NotFound(format!("image {} of this container is gone", c.image_id))
        })?;
        let dir = c.dir(&self.paths.containers);
        let ov = super::runtime::Overlay {
            lower: super::image::rootfs(&self.paths.images, &img),
            upper: dir.join("upper"),
            work: dir.join("work"),
            target: dir.join("rootfs"),
        };
        use super::runopts::MountKind;
        let mut mounts: Vec<(PathBuf, String, bool)> = c
            .spec
            .run
            .mounts
            .iter()
            .filter_map(|m| match m.kind {
                MountKind::Bind => Some((PathBuf::from(&m.source), m.target.clone(), m.read_only)),
                MountKind::Volume => {
                    Some((self.volume_path(&m.source), m.target.clone(), m.read_only))
                }
                // Its contents went with the container's last run.
                MountKind::Tmpfs => None,
            })
            .collect();
        mounts.sort_by_key(|(_, target, _)| Path::new(target).components().count());
        Ok((c, Access::Stopped(ov, mounts), Some(guard)))
    }

    /// Starts `f` on a thread of its own with the container's root open; its answer comes
    /// through the receiver.
    async fn start_in_root<T: Send + 'static>(
        &self,
        key: &str,
        f: impl FnOnce(&Rootfs, &str) -> Result<T> + Send + 'static,
    ) -> Result<oneshot::Receiver<Result<T>>> {
        let (c, access, guard) = self.access(key).await?;
        let (tx, rx) = oneshot::channel();
        let name = c.name.clone();
        std::thread::spawn(move || {
            let mounted = match &access {
                Access::Stopped(ov, _) => Some(ov.target.clone()),
                Access::Running(_) => None,
            };
            let done = open_root(access).and_then(|root| f(&root, &name));
            if let Some(target) = mounted {
                // Gone before the lock is, so the start that waits finds its directories
                // free; not mounted (the mount failed) is as good.
                if let Err(e) = nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH) {
                    tracing::debug!(error = %e, "unmount the copy's overlay");
                }
            }
            // The copy is over (its stream written out): the container may start.
            drop(guard);
            // The caller gone, nobody waits for the answer.
            let _ = tx.send(done);
        });
        Ok(rx)
    }

    /// Runs `f` on a thread of its own with the container's root open.
    async fn with_root<T: Send + 'static>(
        &self,
        key: &str,
        f: impl FnOnce(&Rootfs, &str) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.start_in_root(key, f)
            .await?
            .await
            .map_err(|_| ended())?
    }

    /// `HEAD /containers/{id}/archive`: the stat of a path of the container.
    pub async fn archive_stat(&self, key: &str, path: &str) -> Result<PathStat> {
        let rel = below_root(path)?;
        let path = path.to_string();
        self.with_root(key, move |root, name| {
            Ok(stat_at(root, &rel, &path, name)?.1)
        })
        .await
    }

    /// `GET /containers/{id}/archive`: the stat of a path and a tar stream of it.
    pub async fn archive_get(
        &self,
        key: &str,
        path: &str,
    ) -> Result<(PathStat, mpsc::Receiver<io::Result<Vec<u8>>>)> {
        let rel = below_root(path)?;
        let path = path.to_string();
        let (data_tx, data_rx) = mpsc::channel(8);
        let (stat_tx, stat_rx) = oneshot::channel();
        let streaming = self.start_in_root(key, move |root, name| {
            let (fd, stat) = match stat_at(root, &rel, &path, name) {
                Ok(v) => v,
                Err(e) => {
                    let _ = stat_tx.send(Err(e));
                    return Ok(());
                }
            };
            if stat_tx.send(Ok(stat.clone())).is_err() {
                return Ok(());
            }
            let sink = ChanWriter(data_tx.clone());
            if let Err(e) = tar_entry(fd, &stat, sink) {
                tracing::warn!(path = %path, error = %e, "a copy out of a container ended early");
                // The client learns the stream broke; gone already, it needs nothing.
                let _ = data_tx.blocking_send(Err(e));
            }
            Ok(())
        });
        let streaming = streaming.await?;
        tokio::spawn(async move {
            if let Ok(Err(e)) = streaming.await {
                tracing::warn!(error = %e, "a copy out of a container failed");
            }
        });
        let stat = stat_rx.await.map_err(|_| ended())??;
        Ok((stat, data_rx))
    }

    /// `PUT /containers/{id}/archive?path=DIR`: unpacks a tar stream into a directory of the
    /// container, confined below it. Entries keep the owners their headers name; with
    /// `copy_uid_gid` (`docker cp -a`) in a container that runs as a user, they are that
    /// user's, as Docker's (which looks the user up in the host's passwd; berth in the
    /// container's, where the name means something).
    pub async fn archive_put(
        &self,
        key: &str,
        path: &str,
        copy_uid_gid: bool,
        body: ChanReader,
    ) -> Result<()> {
        let rel = below_root(path)?;
        let path = path.to_string();
        let user = match copy_uid_gid {
            true => self.container(key).await?.spec.run.user,
            false => String::new(),
        };
        self.with_root(key, move |root, name| {
            let (_, stat) = stat_at(root, &rel, &path, name)?;
            if stat.mode & (1 << 31) == 0 {
                return Err(EngineError::BadRequest(format!(
                    "extraction point is not a directory: {path} in container {name}"
                )));
            }
            let dest = root.subdir(&rel).map_err(|e| match e {
                rustix::io::Errno::NOENT => missing(&path, name),
                e => super::io(format!("cannot open {path} in {name}"))(e.into()),
            })?;
            let owner = match user.is_empty() {
                true => None,
                false => {
                    use std::os::fd::AsRawFd;
                    let at = PathBuf::from(format!("/proc/self/fd/{}", root.as_fd().as_raw_fd()));
                    let ids = super::runopts::resolve_user(&user, &at)?;
                    Some((ids.uid, ids.gid))
                }
            };
            let unpacked = match owner {
                Some(ids) => berth_image::layer::extract_owned(&dest, body, ids),
                None => berth_image::layer::extract(&dest, body),
            };
            unpacked.map_err(|e| match e {
                berth_image::ImageError::Invalid(m) => EngineError::BadRequest(m),
                e => EngineError::BadRequest(format!("cannot copy into {path} of {name}: {e}")),
            })
        })
        .await
    }
}

/// Opens the root of a container: a running one's through its init, a stopped one's overlay
/// mounted in this thread's own mount namespace (gone with the thread).
fn open_root(access: Access) -> Result<Rootfs> {
    match access {
        Access::Running(pid) => Rootfs::open(Path::new(&format!("/proc/{pid}/root")))
            .map_err(|e| EngineError::Invariant(format!("cannot open the container's root: {e}"))),
        Access::Stopped(ov, mounts) => {
            use nix::sched::{unshare, CloneFlags};
            let ns = || -> io::Result<()> {
                unshare(CloneFlags::CLONE_FS)?;
                unshare(CloneFlags::CLONE_NEWNS)?;
                nix::mount::mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
                    None::<&str>,
                )?;
                for d in [&ov.upper, &ov.work, &ov.target] {
                    std::fs::create_dir_all(d)?;
                }
                let opts = format!(
                    "lowerdir={},upperdir={},workdir={}",
                    ov.lower.display(),
                    ov.upper.display(),
                    ov.work.display()
                );
                nix::mount::mount(
                    Some("overlay"),
                    &ov.target,
                    Some("overlay"),
                    nix::mount::MsFlags::empty(),
                    Some(opts.as_str()),
                )?;
                Ok(())
            };
            ns().map_err(super::io("cannot mount the stopped container's root"))?;
            for (source, target, read_only) in &mounts {
                mount_in_root(&ov.target, source, target, *read_only)?;
            }
            Rootfs::open(&ov.target).map_err(|e| {
                EngineError::Invariant(format!("cannot open the container's root: {e}"))
            })
        }
    }
}

/// Binds `source` on `target` of the stopped container's root, as its start would, so that a
/// copy reaches into its volumes as Docker's does. The mount point is resolved inside the root
/// (a symlink in the container cannot aim it at the host); one the container never made (it
/// never ran) is skipped, as there is nothing of the volume to reach through it yet.
fn mount_in_root(root: &Path, source: &Path, target: &str, read_only: bool) -> Result<()> {
    use nix::mount::{mount, MsFlags};
    use std::os::fd::AsRawFd;
    let dir = Rootfs::open(root)
        .map_err(|e| EngineError::Invariant(format!("cannot open the container's root: {e}")))?;
    let rel = below_root(target)?;
    let open = || {
        rustix::fs::openat2(
            dir.as_fd(),
            &rel,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            in_root(),
        )
    };
    let point = match open() {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => {
            tracing::debug!(target, "no mount point in the stopped container for cp");
            return Ok(());
        }
        Err(e) => return Err(super::io(format!("cannot open {target}"))(e.into())),
    };
    let fd_path =
        |fd: &rustix::fd::OwnedFd| PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    let failed = |what: String| move |e: nix::errno::Errno| super::io(what)(e.into());
    mount(
        Some(source),
        &fd_path(&point),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(failed(format!(
        "cannot mount {} on {target}",
        source.display()
    )))?;
    if read_only {
        // The read-only flag takes a remount of the bind, reached by a fresh walk (the first
        // descriptor is below it); the copy's writes then fail as Docker's do.
        let top = open().map_err(|e| super::io(format!("cannot open {target}"))(e.into()))?;
        mount(
            None::<&str>,
            &fd_path(&top),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(failed(format!("cannot make {target} read-only")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_below_the_root_and_modes_are_gos() {
        assert_eq!(below_root("/etc/../../x").unwrap(), PathBuf::from("x"));
        assert_eq!(below_root("/").unwrap(), PathBuf::new());
        assert!(below_root("").is_err());
        assert!(below_root("a\0b").is_err());
        assert_eq!(go_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(go_mode(libc::S_IFREG | 0o4755), (1 << 23) | 0o755);
    }
}

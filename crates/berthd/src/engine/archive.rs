//! `docker cp`: a path of a container's root filesystem as a tar stream, its stat, and a tar
//! stream unpacked into one of its directories; for running and stopped containers.
//!
//! Every path is resolved inside the container's root (`openat2` with `RESOLVE_IN_ROOT`), so a
//! symlink in the container (`/data -> /etc`) means the container's `/etc`, never the host's.
//! An upload is unpacked by berth-image's unpacker rooted at the target directory: an entry or
//! link that climbs above it is refused (400) and nothing outside it is written. A running
//! container's root is `/proc/PID/root`, its mounts (volumes, binds) included. A stopped one's
//! overlay is mounted in a mount namespace of a thread of its own, which goes, mount and all,
//! when the thread ends; its volumes are not in it.

use super::{Engine, EngineError, Result, Status};
use berth_image::layer::Rootfs;
use chrono::{DateTime, Utc};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use tokio::sync::{mpsc, oneshot};

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
    Stopped(super::runtime::Overlay),
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
    async fn access(&self, key: &str) -> Result<(super::Container, Access)> {
        let c = self.container(key).await?;
        if c.state.status == Status::Running && c.state.pid != 0 {
            let pid = c.state.pid;
            return Ok((c, Access::Running(pid)));
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
        Ok((c, Access::Stopped(ov)))
    }

    /// Starts `f` on a thread of its own with the container's root open; its answer comes
    /// through the receiver.
    async fn start_in_root<T: Send + 'static>(
        &self,
        key: &str,
        f: impl FnOnce(&Rootfs, &str) -> Result<T> + Send + 'static,
    ) -> Result<oneshot::Receiver<Result<T>>> {
        let (c, access) = self.access(key).await?;
        let (tx, rx) = oneshot::channel();
        let name = c.name.clone();
        std::thread::spawn(move || {
            let done = open_root(access).and_then(|root| f(&root, &name));
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
    /// container, confined below it.
    pub async fn archive_put(&self, key: &str, path: &str, body: ChanReader) -> Result<()> {
        let rel = below_root(path)?;
        let path = path.to_string();
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
            berth_image::layer::extract(&dest, body).map_err(|e| match e {
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
        Access::Stopped(ov) => {
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
            Rootfs::open(&ov.target).map_err(|e| {
                EngineError::Invariant(format!("cannot open the container's root: {e}"))
            })
        }
    }
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

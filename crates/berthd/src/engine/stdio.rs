//! What the daemon holds between a container (or exec) and the clients attached to it: the
//! master side of its terminal (`-t`) or the write end of its stdin pipe (`-i`).
//!
//! berth runs containers without a shim, so these descriptors live in berthd. The runtime hands
//! a terminal's master over a console socket (`--console-socket`), the way runc does for any
//! detached container with `terminal: true`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

pub use berth_api::detach::{parse_detach_keys, DetachScanner};

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A non-blocking descriptor read and written from async code: a terminal master or a pipe end.
pub struct Pipe {
    fd: AsyncFd<OwnedFd>,
}

impl std::fmt::Debug for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pipe({})", self.fd.get_ref().as_raw_fd())
    }
}

impl Pipe {
    pub fn new(fd: OwnedFd) -> io::Result<Pipe> {
        set_nonblocking(fd.as_raw_fd())?;
        // SAFETY: the descriptor is owned and moved into the AsyncFd, which keeps it open until
        // it is dropped and deregistered.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Pipe { fd })
    }

    /// Reads what is there; `Ok(0)` at the end. A terminal master answers EIO once every
    /// process has closed the slave side: that is its end too.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            let res = guard.try_io(|fd| {
                // SAFETY: reads into a buffer we own, at most its length.
                let n = unsafe {
                    libc::read(fd.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match res {
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Ok(0),
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.fd.writable().await?;
            let res = guard.try_io(|fd| {
                // SAFETY: writes from a slice we borrow, at most its length.
                let n = unsafe {
                    libc::write(fd.get_ref().as_raw_fd(), data.as_ptr().cast(), data.len())
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match res {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }

    /// Sets the terminal's size (TIOCSWINSZ); the foreground process gets SIGWINCH.
    pub fn resize(&self, rows: u16, cols: u16) -> io::Result<()> {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which outlives the call.
        if unsafe { libc::ioctl(self.fd.get_ref().as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// A container's interactive side while it runs.
pub struct Live {
    /// The terminal master (`-t`).
    pub tty: Option<Arc<Pipe>>,
    /// The write end of its stdin (`-i` without `-t`); taken (closed) on StdinOnce's first EOF.
    pub stdin: tokio::sync::Mutex<Option<Arc<Pipe>>>,
    /// Turns true once everything the terminal printed is in the log.
    pub drained: watch::Receiver<bool>,
    /// The keeper holding copies across a daemon restart: its directory, the container and
    /// its init (see [`super::keeper`]).
    keeper: Option<(PathBuf, String, u32)>,
}

impl Live {
    /// Where attached input goes: the terminal, else the stdin pipe.
    pub async fn input(&self) -> Option<Arc<Pipe>> {
        match &self.tty {
            Some(t) => Some(t.clone()),
            None => self.stdin.lock().await.clone(),
        }
    }

    /// Closes the container's stdin (StdinOnce): the daemon's copy and the keeper's, so that
    /// the container reads the end.
    pub async fn close_stdin(&self) {
        if self.stdin.lock().await.take().is_none() {
            return;
        }
        if let Some((dir, id, pid)) = self.keeper.clone() {
            let closed =
                tokio::task::spawn_blocking(move || super::keeper::close_stdin(&dir, &id, pid))
                    .await
                    .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
            if let Err(e) = closed {
                tracing::warn!(error = %e, "cannot close the keeper's copy of the container's stdin");
            }
        }
    }
}

/// A listening socket the runtime connects to, to hand over a terminal's master.
pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// Binds a fresh socket in `dir` (the runtime's private state directory).
    pub fn bind(dir: &Path) -> io::Result<ConsoleSocket> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("console-{:016x}.sock", rand::random::<u64>()));
        // sun_path holds 108 bytes with the terminating NUL.
        if path.as_os_str().len() > 107 {
            return Err(io::Error::other(format!(
                "console socket path {} is longer than a unix socket allows; choose a shorter exec-root",
                path.display()
            )));
        }
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        Ok(ConsoleSocket { path, listener })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The master the runtime sent. Called after the runtime returned: it has connected and
    /// sent by then, or it never will.
    pub fn receive(&self) -> io::Result<OwnedFd> {
        let (conn, _) = self.listener.accept().map_err(|e| {
            io::Error::other(format!("the runtime did not hand over the terminal: {e}"))
        })?;
        conn.set_nonblocking(false)?;
        // The message's bytes are the terminal's name, which berth does not need.
        let (_, fds) = recv_fds(std::os::fd::AsFd::as_fd(&conn), 4096, 1)?;
        fds.into_iter()
            .next()
            .ok_or_else(|| io::Error::other("the runtime's console message carried no terminal"))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads one message from a unix socket: its bytes (at most `len`) and the descriptors it
/// carries, at most `max` of them; any more are closed rather than leaked.
pub(super) fn recv_fds(
    sock: std::os::fd::BorrowedFd<'_>,
    len: usize,
    max: usize,
) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = vec![0u8; len];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            for fd in raw {
                // SAFETY: received with this message, so owned by nobody else.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                if fds.len() < max {
                    fds.push(owned);
                }
            }
        }
    }
    let n = msg.bytes;
    buf.truncate(n);
    Ok((buf, fds))
}

/// A pipe for a container's stdin: (read end for the runtime, write end kept by the daemon).
pub fn stdin_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    Ok((r, w))
}

impl super::Engine {
    /// Keeps what a started container's stdio left with the daemon, and hands copies to a
    /// keeper so that they outlive the daemon.
    pub(super) async fn keep_stdio(
        self: &Arc<Self>,
        c: &super::Container,
        started: super::runtime::Started,
    ) -> io::Result<()> {
        if started.tty.is_none() && started.stdin.is_none() {
            return Ok(());
        }
        let copies = (
            started.tty.as_ref().map(|f| f.try_clone()).transpose()?,
            started.stdin.as_ref().map(|f| f.try_clone()).transpose()?,
        );
        let (dir, id, pid) = (self.paths.keep.clone(), c.id.clone(), started.pid);
        let kept = tokio::task::spawn_blocking(move || {
            let (tty, stdin) = copies;
            use std::os::fd::AsFd;
            super::keeper::spawn(
                &dir,
                &id,
                pid,
                tty.as_ref().map(|f| f.as_fd()),
                stdin.as_ref().map(|f| f.as_fd()),
            )
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        let keeper = match kept {
            Ok(()) => Some((self.paths.keep.clone(), c.id.clone(), started.pid)),
            Err(e) => {
                tracing::warn!(container = %c.name, error = %e, "no keeper: the container's terminal or stdin will not outlive the daemon");
                None
            }
        };
        self.install_stdio(c, started.tty, started.stdin, keeper)
    }

    /// After a daemon restart: takes back what the keeper of a running interactive container
    /// holds, and copies its terminal into the log again.
    pub(super) async fn reclaim_stdio(self: &Arc<Self>, c: &super::Container) {
        let (dir, id, pid) = (self.paths.keep.clone(), c.id.clone(), c.state.pid);
        let kept = tokio::task::spawn_blocking(move || super::keeper::take_back(&dir, &id, pid))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        let kept = match kept {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(container = %c.name, error = %e, "the container's terminal or stdin was not kept across the restart");
                return;
            }
        };
        let keeper = Some((self.paths.keep.clone(), c.id.clone(), c.state.pid));
        if let Err(e) = self.install_stdio(c, kept.tty, kept.stdin, keeper) {
            tracing::warn!(container = %c.name, error = %e, "cannot take back the container's terminal or stdin");
        }
    }

    fn install_stdio(
        self: &Arc<Self>,
        c: &super::Container,
        tty: Option<OwnedFd>,
        stdin: Option<OwnedFd>,
        keeper: Option<(PathBuf, String, u32)>,
    ) -> io::Result<()> {
        let (done, drained) = watch::channel(tty.is_none());
        let tty = tty.map(Pipe::new).transpose()?.map(Arc::new);
        let stdin = stdin.map(Pipe::new).transpose()?.map(Arc::new);
        if tty.is_none() && stdin.is_none() {
            return Ok(());
        }
        if let Some(master) = tty.clone() {
            let log = c.dir(&self.paths.containers).join("stdout.log");
            let engine = self.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .await;
                if let Ok(mut file) = file {
                    let mut buf = vec![0u8; 32 * 1024];
                    while let Ok(n @ 1..) = master.read(&mut buf).await {
                        if file.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        let _ = file.flush().await;
                        engine.output.notify_waiters();
                    }
                }
                let _ = done.send(true);
                engine.output.notify_waiters();
            });
        }
        let live = Arc::new(Live {
            tty,
            stdin: tokio::sync::Mutex::new(stdin),
            drained,
            keeper,
        });
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(c.id.clone(), live);
        Ok(())
    }

    /// The interactive side of a running container started by this daemon, if it has one.
    pub fn live(&self, id: &str) -> Option<Arc<Live>> {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Where attached input goes once the container runs: at once if it runs now, else after
    /// its next start (`since` is the start time the client saw). None when it ended, or was
    /// removed, without taking input.
    pub async fn input_once_started(
        &self,
        id: &str,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Option<Arc<Pipe>> {
        loop {
            // State first: a start in progress holds it, and keeps the stdio before it lets
            // go, so a running container without stdio here has no input to take.
            let c = self.container(id).await.ok()?;
            if let Some(l) = self.live(id) {
                return l.input().await;
            }
            if c.state.status == super::Status::Running || c.state.started_at != since {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Forgets a container's stdio once it has exited; the terminal closes with its last user.
    pub(super) fn drop_stdio(&self, id: &str) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Waits (briefly) until a terminal's last output is in the log, so that followers who
    /// stop at the exit have seen everything.
    pub(super) async fn drain_stdio(&self, id: &str) {
        if let Some(live) = self.live(id) {
            let mut d = live.drained.clone();
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(1), d.wait_for(|done| *done))
                    .await;
        }
    }

    /// `resize` of a container's terminal; a container without one ignores it, as Docker.
    pub async fn resize(&self, key: &str, rows: u16, cols: u16) -> super::Result<()> {
        let c = self.container(key).await?;
        if c.state.status != super::Status::Running {
            return Err(super::EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if let Some(t) = self.live(&c.id).and_then(|l| l.tty.clone()) {
            t.resize(rows, cols).map_err(|e| {
                super::EngineError::Runtime(format!(
                    "cannot resize the terminal of {}: {e}",
                    c.name
                ))
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pipe_reads_and_writes_and_a_pty_resizes() {
        let (r, w) = stdin_pipe().expect("pipe");
        let (r, w) = (Pipe::new(r).expect("r"), Pipe::new(w).expect("w"));
        w.write_all(b"hello").await.expect("write");
        drop(w);
        let mut buf = [0u8; 16];
        assert_eq!(r.read(&mut buf).await.expect("read"), 5);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(r.read(&mut buf).await.expect("eof"), 0);

        let pty = nix::pty::openpty(None, None).expect("openpty");
        let master = Pipe::new(pty.master).expect("master");
        master.resize(33, 120).expect("resize");
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ writes one winsize into the struct we pass.
        assert_eq!(
            unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) },
            0
        );
        assert_eq!((ws.ws_row, ws.ws_col), (33, 120));
        drop(pty.slave);
        // The slave closed: the master's EIO reads as the end.
        assert_eq!(master.read(&mut buf).await.expect("eio is eof"), 0);
    }
}

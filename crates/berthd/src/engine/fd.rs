//! File-descriptor primitives below the runtime and the keeper: non-blocking pipes and
//! terminals, the console socket a runtime hands a terminal master over, and receiving
//! descriptors over a unix socket.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use tokio::io::unix::AsyncFd;

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
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove a console socket");
            }
        }
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
    // Room for the most any sender here passes (a keeper is handed five).
    let mut space = nix::cmsg_space!([RawFd; 8]);
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

/// Resolves once the process behind `pidfd` has ended.
pub async fn ended(pidfd: OwnedFd) -> io::Result<()> {
    // SAFETY: `pidfd` is a valid open pidfd, moved into the AsyncFd that keeps it until dropped.
    let afd = unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }
        .map_err(|e| io::Error::other(e.to_string()))?;
    let _ready = afd.readable().await?;
    Ok(())
}

/// A pipe for a container's stdin: (read end for the runtime, write end kept by the daemon).
pub fn stdin_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    Ok((r, w))
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

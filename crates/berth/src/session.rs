//! An attached session: a container's (or exec's) streams on this terminal, the way the docker
//! CLI shows them. Output comes raw from a terminal, else in Docker's frames to stdout and
//! stderr; input goes through, minus the detach keys, which end the session and leave the
//! container running.

use berth_api::detach::DetachScanner;
use hyper_util::rt::TokioIo;
use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The user typed the detach keys.
    Detached,
    /// The output ended: the process exited (or the daemon hung up).
    Closed,
}

/// What to carry over the hijacked connection.
pub struct Session {
    /// The remote side is a terminal: output is raw, and this terminal goes raw too.
    pub tty: bool,
    /// Send our stdin.
    pub stdin: bool,
    pub detach_keys: Vec<u8>,
}

/// Puts this terminal in raw mode while it lives, so keys reach the container's terminal
/// as typed (ctrl-c included); restores it on drop, on every path out.
struct RawMode {
    saved: nix::sys::termios::Termios,
}

impl RawMode {
    fn enter() -> Option<RawMode> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        use nix::sys::termios::{tcsetattr, SetArg};
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

nix::ioctl_read_bad!(get_winsize, libc::TIOCGWINSZ, libc::winsize);

/// This terminal's size (rows, columns), if stdout is one.
pub fn terminal_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    for fd in [1, 0] {
        // SAFETY: TIOCGWINSZ writes one winsize into `ws`, which outlives the call.
        if unsafe { get_winsize(fd, &mut ws) }.is_ok() && ws.ws_row > 0 {
            return Some((ws.ws_row, ws.ws_col));
        }
    }
    None
}

/// Reads our stdin on a thread of its own (a blocking read of a terminal cannot be cancelled,
/// and must not hold the process at exit); chunks arrive on the channel, then the end.
fn stdin_chunks() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n @ 1..) = stdin.read(&mut buf) {
            if tx.blocking_send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Shows a container's output: raw from a terminal, else Docker's multiplexed frames (8-byte
/// header: stream, 0, 0, 0, big-endian length) to stdout and stderr as they arrive, whatever
/// the read boundaries.
pub struct Output {
    tty: bool,
    pending: Vec<u8>,
}

impl Output {
    pub fn new(tty: bool) -> Output {
        Output {
            tty,
            pending: Vec::new(),
        }
    }

    pub fn show(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.tty {
            let mut o = std::io::stdout().lock();
            return o.write_all(data).and_then(|_| o.flush());
        }
        self.pending.extend_from_slice(data);
        let mut at = 0;
        while self.pending.len() - at >= 8 {
            let h = &self.pending[at..at + 8];
            let size = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
            if self.pending.len() - at - 8 < size {
                break;
            }
            let body = &self.pending[at + 8..at + 8 + size];
            if h[0] == 2 {
                let mut e = std::io::stderr().lock();
                e.write_all(body)?;
                e.flush()?;
            } else {
                let mut o = std::io::stdout().lock();
                o.write_all(body)?;
                o.flush()?;
            }
            at += 8 + size;
        }
        self.pending.drain(..at);
        Ok(())
    }
}

impl Session {
    /// Carries the streams until the output ends or the user detaches.
    pub async fn run(self, conn: hyper::upgrade::Upgraded) -> Ended {
        let _raw = if self.tty && self.stdin {
            RawMode::enter()
        } else {
            None
        };
        let (mut rd, mut wr) = tokio::io::split(TokioIo::new(conn));
        let tty = self.tty;
        let output = async move {
            let mut buf = vec![0u8; 32 * 1024];
            let mut out = Output::new(tty);
            while let Ok(n @ 1..) = rd.read(&mut buf).await {
                if out.show(&buf[..n]).is_err() {
                    break;
                }
            }
        };
        let keys = self.detach_keys;
        let input = async move {
            if !self.stdin {
                return std::future::pending().await;
            }
            let mut chunks = stdin_chunks();
            let mut scanner = DetachScanner::new(keys);
            while let Some(chunk) = chunks.recv().await {
                let (pass, detached) = scanner.scan(&chunk);
                if !pass.is_empty() && wr.write_all(&pass).await.is_err() {
                    break;
                }
                if detached {
                    return Ended::Detached;
                }
            }
            // The end of our input closes the container's side (StdinOnce); output goes on.
            let _ = wr.shutdown().await;
            std::future::pending().await
        };
        tokio::select! {
            _ = output => Ended::Closed,
            end = input => end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demux_waits_for_whole_frames() {
        let mut d = Output::new(false);
        let frame = [1u8, 0, 0, 0, 0, 0, 0, 3, b'a', b'b', b'c'];
        d.show(&frame[..5]).expect("show");
        assert_eq!(d.pending.len(), 5);
        d.show(&frame[5..]).expect("show");
        assert!(d.pending.is_empty());
    }
}

//! What the daemon holds between a container (or exec) and the clients attached to it: the
//! master side of its terminal (`-t`) or the write end of its stdin pipe (`-i`).
//!
//! berth runs containers without a shim, so these descriptors live in berthd. The runtime hands
//! a terminal's master over a console socket (`--console-socket`), the way runc does for any
//! detached container with `terminal: true`.

use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

use super::fd::Pipe;
pub use berth_api::detach::{parse_detach_keys, DetachScanner};

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
                        if let Err(e) = file.flush().await {
                            tracing::warn!(log = %log.display(), error = %e, "cannot write a terminal's log");
                            break;
                        }
                        engine.output.notify_waiters();
                    }
                }
                // Fails only when no one waits for the drain any more.
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
            // Bounded on purpose: a log not drained in time is followed without its tail,
            // and a closed channel means the copier is gone, drained or not.
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
            t.resize(rows, cols).map_err(super::io(format!(
                "cannot resize the terminal of {}",
                c.name
            )))?;
        }
        Ok(())
    }
}

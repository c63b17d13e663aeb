//! What the daemon holds between a container and the clients attached to it: the master side
//! of its terminal (`-t`) or the write end of its stdin pipe (`-i`), and whether its keeper has
//! written all of its output into the log.
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
    /// Turns true once everything the container printed is in the log.
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
    /// Hands what a started container's stdio left with the daemon to its keeper, which writes
    /// its log and holds copies of its terminal and stdin so that they outlive the daemon; the
    /// daemon keeps the terminal and stdin for input. Without a keeper (it could not start),
    /// the daemon copies the output into the log itself.
    pub(super) async fn keep_stdio(
        self: &Arc<Self>,
        c: &super::Container,
        started: super::runtime::Started,
    ) -> io::Result<()> {
        let log = open_log(&c.dir(&self.paths.containers))?;
        let handed = super::keeper::Handed {
            tty: started.tty.as_ref().map(|f| f.try_clone()).transpose()?,
            stdin: started.stdin.as_ref().map(|f| f.try_clone()).transpose()?,
            log: Some(log.try_clone()?.into()),
            stdout: started.stdout,
            stderr: started.stderr,
        };
        let (dir, id, pid) = (self.paths.keep.clone(), c.id.clone(), started.pid);
        let (kept, handed) = tokio::task::spawn_blocking(move || {
            let kept = super::keeper::spawn(&dir, &id, pid, &handed);
            (kept, handed)
        })
        .await
        .map_err(|e| io::Error::other(e.to_string()))?;
        let (keeper, drained) = match kept {
            Ok(keeper_pidfd) => (
                Some((self.paths.keep.clone(), c.id.clone(), started.pid)),
                self.drained_when_ended(keeper_pidfd),
            ),
            Err(e) => {
                tracing::warn!(container = %c.name, error = %e, "no keeper: the daemon logs the container's output, and its terminal, stdin and output will not outlive the daemon");
                let sources = super::logs::Sources {
                    stdout: handed.stdout,
                    stderr: handed.stderr,
                    tty: handed.tty,
                };
                (None, self.copy_here(sources, log))
            }
        };
        self.install_stdio(c, started.tty, started.stdin, keeper, drained)
    }

    /// After a daemon restart: takes back what the keeper of a running container holds. A
    /// keeper from before the record log does not write it: the daemon copies the terminal.
    pub(super) async fn reclaim_stdio(self: &Arc<Self>, c: &super::Container) {
        let (dir, id, pid) = (self.paths.keep.clone(), c.id.clone(), c.state.pid);
        let kept = tokio::task::spawn_blocking(move || super::keeper::take_back(&dir, &id, pid))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        let kept = match kept {
            Ok(k) => k,
            // A container started before keepers wrote logs writes its old log files itself.
            Err(e) if e.kind() == io::ErrorKind::NotFound && !(c.spec.tty || c.spec.open_stdin) => {
                return;
            }
            Err(e) => {
                tracing::warn!(container = %c.name, error = %e, "the container's keeper is gone: its terminal, stdin or output were not kept across the restart");
                return;
            }
        };
        let keeper = Some((self.paths.keep.clone(), c.id.clone(), c.state.pid));
        let drained = match (kept.logs, kept.keeper) {
            (true, Some(pidfd)) => self.drained_when_ended(pidfd),
            (true, None) => watch::channel(true).1,
            (false, _) => {
                let copied = kept.tty.as_ref().map(|t| t.try_clone()).transpose();
                let log = open_log(&c.dir(&self.paths.containers));
                match (copied, log) {
                    (Ok(tty), Ok(log)) => self.copy_here(
                        super::logs::Sources {
                            tty,
                            ..Default::default()
                        },
                        log,
                    ),
                    (Err(e), _) | (_, Err(e)) => {
                        tracing::warn!(container = %c.name, error = %e, "cannot log the container's terminal");
                        watch::channel(true).1
                    }
                }
            }
        };
        if let Err(e) = self.install_stdio(c, kept.tty, kept.stdin, keeper, drained) {
            tracing::warn!(container = %c.name, error = %e, "cannot take back the container's terminal or stdin");
        }
    }

    /// Turns true once the keeper behind `pidfd` has ended, and so written all it read.
    fn drained_when_ended(self: &Arc<Self>, pidfd: OwnedFd) -> watch::Receiver<bool> {
        let (done, drained) = watch::channel(false);
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(e) = super::fd::ended(pidfd).await {
                tracing::warn!(error = %e, "cannot watch a keeper's end: the log is taken as drained");
            }
            // Fails only when no one waits for the drain any more.
            let _ = done.send(true);
            engine.output.notify_waiters();
        });
        drained
    }

    /// The daemon's own copier, on a blocking thread: turns true once it has ended.
    fn copy_here(
        self: &Arc<Self>,
        sources: super::logs::Sources,
        log: std::fs::File,
    ) -> watch::Receiver<bool> {
        let (done, drained) = watch::channel(sources.is_empty());
        let engine = self.clone();
        tokio::task::spawn_blocking(move || {
            let wake = engine.clone();
            if let Err(e) = super::logs::copy(sources, log, None, || wake.output.notify_waiters()) {
                tracing::warn!(error = %e, "cannot write a container's log");
            }
            // Fails only when no one waits for the drain any more.
            let _ = done.send(true);
            engine.output.notify_waiters();
        });
        drained
    }

    fn install_stdio(
        self: &Arc<Self>,
        c: &super::Container,
        tty: Option<OwnedFd>,
        stdin: Option<OwnedFd>,
        keeper: Option<(PathBuf, String, u32)>,
        drained: watch::Receiver<bool>,
    ) -> io::Result<()> {
        let tty = tty.map(Pipe::new).transpose()?.map(Arc::new);
        let stdin = stdin.map(Pipe::new).transpose()?.map(Arc::new);
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

    /// Waits (briefly) until the container's last output is in the log, so that followers
    /// who stop at the exit have seen everything.
    pub(super) async fn drain_stdio(&self, id: &str) {
        if let Some(live) = self.live(id) {
            let mut d = live.drained.clone();
            // Bounded on purpose: a log not drained in time is followed without its tail,
            // and a closed channel means the copier is gone, drained or not.
            let _ = tokio::time::timeout(super::logs::DRAIN, d.wait_for(|done| *done)).await;
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

/// Opens (or makes) a container's log for appending; the daemon's alone, as what a container
/// prints may hold secrets.
fn open_log(dir: &std::path::Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(super::logs::FILE);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("open the log {}: {e}", path.display())))
}

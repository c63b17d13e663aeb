//! Signals, `kill` and `stop`.

use super::model::Status;
use super::{Engine, EngineError, Result};
use std::time::Duration;

impl Engine {
    /// Marks a container stopped by hand, so that no restart policy brings it back; one
    /// between restarts stays exited. Stored before the signal that stops it.
    pub(super) async fn mark_manually_stopped(&self, id: &str) -> Result<()> {
        let commit = {
            let mut st = self.state.lock().await;
            st.restarting.remove(id);
            match st.containers.get(id).cloned() {
                Some(mut c) if !c.state.manually_stopped => {
                    c.state.manually_stopped = true;
                    self.save_stopped(&mut st, c)?
                }
                _ => None,
            }
        };
        if let Some(commit) = commit {
            commit.durable().await?;
        }
        Ok(())
    }

    /// Stores a record just marked manually stopped; returns the commit to await (after the
    /// map lock) when the mark must be durable before the signal. It must where a restart
    /// policy could bring the container back at the next daemon start; with policy `no` the
    /// mark changes nothing a crash could observe, so nobody waits for it.
    fn save_stopped(
        &self,
        st: &mut super::EngineState,
        c: super::Container,
    ) -> Result<Option<berth_store::Commit>> {
        if !c.spec.restart.wants_restart(1, 0, false) {
            self.save_lazily(st, c)?;
            Ok(None)
        } else {
            self.save_queued(st, c).map(Some)
        }
    }

    /// Sends a signal (`SIGTERM`, `KILL`, `9` …) to the container's init.
    #[tracing::instrument(name = "kill", skip(self), fields(container = %key))]
    pub async fn kill(&self, key: &str, signal: &str) -> Result<()> {
        let c = self.container(key).await?;
        let not_running = || {
            EngineError::Conflict(format!(
                "Cannot kill container: {}: container {} is not running",
                key, c.id
            ))
        };
        if c.state.status != Status::Running || c.state.pid == 0 {
            return Err(not_running());
        }
        let sig = normalize_signal(signal)?;
        if sig == nix::sys::signal::Signal::SIGKILL {
            // As Docker: a kill by hand is a manual stop for the restart policy.
            self.mark_manually_stopped(&c.id).await?;
        }
        self.signal_init(&c, sig).map_err(|e| match e {
            super::RuntimeError::Signal {
                source: nix::errno::Errno::ESRCH,
                ..
            } => not_running(),
            e => e.into(),
        })?;
        self.thaw_after_signal(&c).await;
        let mut attrs = Self::container_attrs(&c);
        attrs.insert("signal".into(), (sig as i32).to_string());
        self.events.emit("container", "kill", &c.id, attrs);
        Ok(())
    }

    pub(super) fn signal_init(
        &self,
        c: &super::Container,
        sig: nix::sys::signal::Signal,
    ) -> std::result::Result<(), super::RuntimeError> {
        self.runtime.signal(c.state.pid, sig)
    }

    /// SIGTERM, then SIGKILL after `timeout`; returns once the container has exited. A
    /// container between restarts stays exited.
    #[tracing::instrument(name = "stop", skip(self), fields(container = %key))]
    pub async fn stop(&self, key: &str, timeout: Duration) -> Result<()> {
        let id = self.container(key).await?.id;
        let op = self.op_lock(&id);
        let _op = op.lock().await;
        let (c, commit) = {
            let mut st = self.state.lock().await;
            let mut c = Self::lookup(&st, &id)?.clone();
            if c.state.status != Status::Running {
                if st.restarting.remove(&id) {
                    c.state.manually_stopped = true;
                    self.save(&mut st, c.clone()).await?;
                    self.container_event(&c, "stop");
                    return Ok(());
                }
                return Err(EngineError::NotModified("container already stopped".into()));
            }
            c.state.manually_stopped = true;
            let commit = self.save_stopped(&mut st, c.clone())?;
            (c, commit)
        };
        if let Some(commit) = commit {
            commit.durable().await?;
        }
        let ended = |e: &super::RuntimeError| {
            matches!(
                e,
                super::RuntimeError::Signal {
                    source: nix::errno::Errno::ESRCH,
                    ..
                }
            )
        };
        match self.signal_init(&c, nix::sys::signal::Signal::SIGTERM) {
            Err(e) if !ended(&e) => tracing::warn!(error = %e, "cannot send SIGTERM"),
            _ => {}
        }
        self.thaw_after_signal(&c).await;
        // Answered once the exit is recorded and the network released; the runtime's delete
        // goes on after the answer (a start or a removal waits for it).
        if self.wait_unplugged(&id, timeout).await.is_err() {
            match self.signal_init(&c, nix::sys::signal::Signal::SIGKILL) {
                Err(e) if !ended(&e) => return Err(e.into()),
                _ => {}
            }
            self.wait_unplugged(&id, Duration::from_secs(10)).await?;
        }
        self.container_event(&c, "stop");
        Ok(())
    }
}

fn normalize_signal(signal: &str) -> Result<nix::sys::signal::Signal> {
    use nix::sys::signal::Signal;
    use std::str::FromStr;
    let s = signal.trim().to_uppercase();
    if s.is_empty() {
        return Ok(Signal::SIGKILL);
    }
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n)
            .map_err(|_| EngineError::BadRequest(format!("Invalid signal: {signal}")));
    }
    let name = if s.starts_with("SIG") {
        s
    } else {
        format!("SIG{s}")
    };
    Signal::from_str(&name)
        .map_err(|_| EngineError::BadRequest(format!("Invalid signal: {signal}")))
}

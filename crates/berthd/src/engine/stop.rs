//! Signals, `kill` and `stop`.

use super::model::Status;
use super::{Engine, EngineError, Result};
use std::time::Duration;

impl Engine {
    pub(super) async fn mark_manually_stopped(&self, id: &str) {
        let mut st = self.state.lock().await;
        if let Some(mut c) = st.containers.get(id).cloned() {
            c.state.manually_stopped = true;
            let _ = self.save(&mut st, c).await;
        }
    }

    /// Sends a signal (`SIGTERM`, `KILL`, `9` …) to the container's init. The PID cannot be
    /// reused while the init is unreaped, and the daemon is the one that reaps it.
    pub async fn kill(&self, key: &str, signal: &str) -> Result<()> {
        let c = self.container(key).await?;
        if c.state.status != Status::Running || c.state.pid == 0 {
            return Err(EngineError::Conflict(format!(
                "Cannot kill container: {}: container {} is not running",
                key, c.id
            )));
        }
        let sig = normalize_signal(signal)?;
        if sig == nix::sys::signal::Signal::SIGKILL {
            // As Docker: a kill by hand is a manual stop for the restart policy.
            self.mark_manually_stopped(&c.id).await;
        }
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.state.pid as i32), sig).map_err(
            |e| EngineError::Runtime(format!("cannot signal container {}: {e}", c.name)),
        )?;
        let mut attrs = Self::container_attrs(&c);
        attrs.insert("signal".into(), (sig as i32).to_string());
        self.events.emit("container", "kill", &c.id, attrs);
        Ok(())
    }

    /// SIGTERM, then SIGKILL after `timeout`; returns once the container has exited.
    pub async fn stop(&self, key: &str, timeout: Duration) -> Result<()> {
        let mut c = self.container(key).await?;
        if c.state.status != Status::Running {
            let restarting = c.state.status == Status::Exited
                && c.spec
                    .restart
                    .wants_restart(c.state.exit_code, c.state.restart_count, false)
                && !c.state.manually_stopped;
            if restarting {
                // Between two runs of its restart policy: Docker counts such a container as
                // running (restarting), and a stop cancels the policy.
                self.mark_manually_stopped(&c.id).await;
                // A restart that began before the mark has finished by now (it holds the
                // state lock throughout): then this is a stop of a running container.
                c = self.container(&c.id).await?;
                if c.state.status != Status::Running {
                    self.container_event(&c, "stop");
                    return Ok(());
                }
            } else {
                return Err(EngineError::NotModified("container already stopped".into()));
            }
        }
        self.mark_manually_stopped(&c.id).await;
        let _ = self.kill(&c.id, "SIGTERM").await;
        if self.wait(&c.id, Some(timeout)).await.is_err() {
            let _ = self.kill(&c.id, "SIGKILL").await;
            self.wait(&c.id, Some(Duration::from_secs(10))).await?;
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

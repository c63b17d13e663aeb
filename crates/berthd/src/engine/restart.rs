//! Restart policies: which exits bring a container back, and after what delay.

use super::launch::StartBy;
use super::{Engine, EngineError, Result, Status};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// `--restart`: no, always, unless-stopped, on-failure[:N].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    pub name: String,
    pub max_retries: u32,
}

impl RestartPolicy {
    /// Parses Docker's names; errors name the value and what is allowed.
    pub fn new(name: &str, max_retries: u32) -> Result<Self> {
        match name {
            "" | "no" | "always" | "unless-stopped" if max_retries > 0 => Err(EngineError::BadRequest(format!(
                "invalid restart policy: maximum retry count can only be used with 'on-failure', not with '{name}'"
            ))),
            "" | "no" | "always" | "unless-stopped" | "on-failure" => Ok(RestartPolicy {
                name: if name.is_empty() { "no".into() } else { name.into() },
                max_retries,
            }),
            other => Err(EngineError::BadRequest(format!(
                "invalid restart policy '{other}': use no, always, unless-stopped or on-failure[:max-retries]"
            ))),
        }
    }

    /// Whether a container that exited with `code` after `restarts` restarts goes again.
    pub fn wants_restart(&self, code: i32, restarts: u32, manually_stopped: bool) -> bool {
        if manually_stopped {
            return false;
        }
        match self.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => code != 0 && (self.max_retries == 0 || restarts < self.max_retries),
            _ => false,
        }
    }
}

impl Engine {
    /// Restarts an exited container its exit marked for a restart, with Docker's doubling
    /// delay (100 ms, 200 ms, … capped at a minute; back to 100 ms after a run of 10 s or
    /// more). The start after the delay takes the container's op lock and stands down if a
    /// stop, a removal or a start by hand came first.
    pub(super) async fn apply_restart_policy(self: &Arc<Self>, id: &str) {
        let count = {
            let st = self.state.lock().await;
            let Some(c) = st.containers.get(id) else {
                return;
            };
            if !st.restarting.contains(id) || c.state.status != Status::Exited {
                return;
            }
            let ran = match (c.state.started_at, c.state.finished_at) {
                (Some(s), Some(f)) => (f - s).num_seconds(),
                _ => 0,
            };
            if ran >= 10 {
                0
            } else {
                c.state.restart_count
            }
        };
        let delay = Duration::from_millis(100u64 << count.min(9)).min(Duration::from_secs(60));
        let me = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let op = me.op_lock(&id);
            let _op = op.lock().await;
            let by = StartBy::Policy {
                restart_count: count + 1,
            };
            if let Err(e) = me.start_locked(&id, by).await {
                tracing::warn!(container = %id, error = %e, "restart policy: start failed");
            }
        });
    }
}

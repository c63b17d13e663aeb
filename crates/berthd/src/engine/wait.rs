//! `wait` and its conditions.

use super::model::Status;
use super::{Engine, EngineError, Result};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Docker's `wait` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// Returns at once if the container is not running (the default).
    NotRunning,
    /// Waits for the next exit, even of a container that has not started yet.
    NextExit,
    /// Waits until the container is removed.
    Removed,
}

impl Engine {
    /// Waits until the container is not running; returns its exit code.
    pub async fn wait(&self, key: &str, timeout: Option<Duration>) -> Result<i32> {
        self.wait_for(key, WaitCondition::NotRunning, timeout).await
    }

    /// Waits for `cond`; returns the exit code.
    pub async fn wait_for(
        &self,
        key: &str,
        cond: WaitCondition,
        timeout: Option<Duration>,
    ) -> Result<i32> {
        let first = self.container(key).await?;
        let id = first.id.clone();
        let seen_exit = first.state.finished_at;
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let notified = self.exited.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.state.lock().await;
                match st.containers.get(&id) {
                    Some(c) => {
                        let settled = c.state.status != Status::Running && !c.state.releasing;
                        let done = match cond {
                            WaitCondition::NotRunning => settled,
                            WaitCondition::NextExit => settled && c.state.finished_at != seen_exit,
                            WaitCondition::Removed => false,
                        };
                        if done {
                            return Ok(c.state.exit_code);
                        }
                    }
                    // Gone: removed on exit (--rm) or by hand.
                    None => {
                        let codes = self.removed_codes.lock().unwrap_or_else(|p| p.into_inner());
                        return Ok(codes.get(&id).copied().unwrap_or(first.state.exit_code));
                    }
                }
            }
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d, notified).await.is_err() {
                        return Err(EngineError::Timeout(
                            "timed out waiting for the container".into(),
                        ));
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Whether the container has exited since `since` (its `finished_at` then), or is gone.
    pub async fn exited_since(&self, id: &str, since: Option<DateTime<Utc>>) -> bool {
        let st = self.state.lock().await;
        match st.containers.get(id) {
            Some(c) => {
                c.state.status != Status::Running
                    && !c.state.releasing
                    && c.state.finished_at != since
            }
            None => true,
        }
    }
}

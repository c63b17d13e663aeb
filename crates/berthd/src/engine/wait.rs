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
        let seen_exit = self.container(key).await?.state.finished_at;
        self.wait_until(key, timeout, |c| {
            let settled = c.state.status != Status::Running && !c.state.releasing;
            match cond {
                WaitCondition::NotRunning => settled,
                WaitCondition::NextExit => settled && c.state.finished_at != seen_exit,
                WaitCondition::Removed => false,
            }
        })
        .await
    }

    /// Waits until `done` holds for the container, or it is gone; returns its exit code.
    pub(super) async fn wait_until(
        &self,
        key: &str,
        timeout: Option<Duration>,
        done: impl Fn(&super::Container) -> bool,
    ) -> Result<i32> {
        let first = self.container(key).await?;
        let id = first.id.clone();
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let notified = self.exited.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.state.lock().await;
                match st.containers.get(&id) {
                    Some(c) if done(c) => return Ok(c.state.exit_code),
                    Some(_) => {}
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

    /// Waits until the container has exited and its network is released: what a `stop`
    /// answers after. The runtime's own forgetting may still be under way (a start and a
    /// removal wait for that too).
    pub(super) async fn wait_unplugged(&self, key: &str, timeout: Duration) -> Result<i32> {
        self.wait_until(key, Some(timeout), |c| {
            c.state.status != Status::Running && (!c.state.releasing || c.sandbox_id.is_none())
        })
        .await
    }

    /// Waits until nothing of an earlier run is still being released.
    pub(super) async fn wait_released(&self, key: &str, timeout: Duration) -> Result<i32> {
        self.wait_until(key, Some(timeout), |c| !c.state.releasing)
            .await
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

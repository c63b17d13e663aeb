//! `pause` / `unpause`: every process of a running container frozen and thawed through the
//! runtime's cgroup freezer (v1 or v2, whichever the runtime put the container on).

use super::model::Status;
use super::{Engine, EngineError, Result};

impl Engine {
    /// Whether the container is frozen now.
    pub fn is_paused(&self, id: &str) -> bool {
        self.read_view()
            .get(id)
            .is_some_and(|c| c.state.status == Status::Running && c.state.paused)
    }

    /// Refuses what a paused container cannot do (exec, attach), as Docker words it.
    pub fn refuse_if_paused(&self, key: &str, what: &str) -> Result<()> {
        let c = self.container_now(key)?;
        if self.is_paused(&c.id) {
            return Err(EngineError::Conflict(format!(
                "Container {} is paused, unpause the container before {what}",
                c.id
            )));
        }
        Ok(())
    }

    fn container_now(&self, key: &str) -> Result<super::Container> {
        Self::lookup_in(&self.read_view(), key).cloned()
    }

    #[tracing::instrument(name = "pause", skip(self), fields(container = %key))]
    pub async fn pause(&self, key: &str) -> Result<()> {
        self.set_frozen(key, true).await
    }

    #[tracing::instrument(name = "unpause", skip(self), fields(container = %key))]
    pub async fn unpause(&self, key: &str) -> Result<()> {
        self.set_frozen(key, false).await
    }

    async fn set_frozen(&self, key: &str, frozen: bool) -> Result<()> {
        let id = self.container(key).await?.id;
        let op = self.op_lock(&id);
        let _op = op.lock().await;
        let c = self.container(&id).await?;
        if c.state.status != Status::Running {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        match (frozen, c.state.paused) {
            (true, true) => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is already paused",
                    c.id
                )))
            }
            (false, false) => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is not paused",
                    c.id
                )))
            }
            _ => {}
        }
        let runtime = self.runtime.clone();
        let rid = c.id.clone();
        tokio::task::spawn_blocking(move || runtime.freeze(&rid, frozen))
            .await
            .map_err(EngineError::task("pause"))??;
        self.record_paused(&c.id, frozen).await?;
        self.container_event(&c, if frozen { "pause" } else { "unpause" });
        Ok(())
    }

    async fn record_paused(&self, id: &str, paused: bool) -> Result<()> {
        let mut st = self.state.lock().await;
        let Some(mut c) = st.containers.get(id).cloned() else {
            return Ok(());
        };
        c.state.paused = paused;
        self.save(&mut st, c).await
    }

    /// After a signal to a paused container's init (kill, stop, rm -f): thaws it so the signal
    /// is delivered, as Docker does; it is no longer paused.
    pub(super) async fn thaw_after_signal(&self, c: &super::Container) {
        if !self.is_paused(&c.id) {
            return;
        }
        let runtime = self.runtime.clone();
        let rid = c.id.clone();
        match tokio::task::spawn_blocking(move || runtime.freeze(&rid, false)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot thaw the container for its signal"),
            Err(e) => tracing::warn!(error = %e, "cannot thaw the container for its signal"),
        }
        if let Err(e) = self.record_paused(&c.id, false).await {
            tracing::warn!(error = %e, "cannot record that the container is thawed");
        }
        self.container_event(c, "unpause");
    }
}

//! `rm`: a container and everything it held. The intent is stored first (`removing`), so a
//! daemon that dies half-way finishes the removal at its next start.

use super::model::Status;
use super::{Engine, EngineError, Result};
use std::time::Duration;

impl Engine {
    /// Removes a container; a running one only with `force` (killed first).
    #[tracing::instrument(name = "remove", skip(self), fields(container = %key))]
    pub async fn remove(&self, key: &str, force: bool) -> Result<()> {
        let id = self.container(key).await?.id;
        let op = self.op_lock(&id);
        let _op = op.lock().await;
        let (c, commit) = {
            let mut st = self.state.lock().await;
            let mut c = Self::lookup(&st, &id)?.clone();
            if c.state.status == Status::Running && !force {
                return Err(EngineError::Conflict(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    c.id
                )));
            }
            st.restarting.remove(&id);
            c.state.removing = true;
            if c.state.status == Status::Running {
                c.state.manually_stopped = true;
            }
            let commit = self.save_queued(&mut st, c.clone())?;
            (c, commit)
        };
        // The intent is durable before anything is touched; other removals share its fsync.
        if let Err(e) = commit.durable().await {
            self.unmark_removing(&id).await;
            return Err(e.into());
        }
        if c.state.status == Status::Running {
            if let Err(e) = self.signal_init(&c, nix::sys::signal::Signal::SIGKILL) {
                tracing::debug!(error = %e, "SIGKILL for the removal (it may have ended)");
            }
            self.thaw_after_signal(&c).await;
        }
        // Also lets an exit's release finish, so that nothing of it outlives the record.
        self.wait(&id, Some(Duration::from_secs(10))).await?;
        let Ok(mut c) = self.container(&id).await else {
            // Removed on its exit (--rm) meanwhile.
            return Ok(());
        };
        if c.sandbox_id.is_some() {
            self.cleanup(&mut c).await;
        }
        self.discard(&c, None).await
    }

    /// Takes back a removal's intent that could not be stored, so that the container is as
    /// it was (a restart policy it had is left off: the user asked for its end).
    async fn unmark_removing(&self, id: &str) {
        let mut st = self.state.lock().await;
        if let Some(c) = st.containers.get_mut(id) {
            c.state.removing = false;
            let c = c.clone();
            self.publish(id, Some(&c));
        }
    }
}

//! A container's end: its init watched through the runtime, the exit recorded, what it held
//! released, and a removed container's last traces.

use super::model::{Container, Status};
use super::{Engine, Exit, Result, CONTAINERS};
use chrono::Utc;
use std::path::Path;
use std::sync::Arc;

/// Unmounts a container's root where the daemon itself mounted it; none there is as good.
pub(super) fn unmount_root(rootfs: &Path) {
    if let Err(e) = nix::mount::umount2(rootfs, nix::mount::MntFlags::MNT_DETACH) {
        if e != nix::errno::Errno::EINVAL && e != nix::errno::Errno::ENOENT {
            tracing::warn!(rootfs = %rootfs.display(), error = %e, "cannot unmount the container's root");
        }
    }
}

impl Engine {
    /// Releases what a started container held: runtime state, network, root filesystem.
    /// Slow (a runtime process and kernel work), so callers run it outside the state lock.
    /// The runtime's delete and the sandbox's removal touch nothing of each other's, so they
    /// go on together: a stop (which waits for the release) costs the longer, not the sum.
    pub(super) async fn release(&self, id: &str, sandbox: Option<String>, name: &str) {
        let runtime = self.runtime.clone();
        let rid = id.to_string();
        // A plain delete of a stopped container is quick; --force polls, so it is the fallback.
        let delete = async {
            let deleted = tokio::task::spawn_blocking(move || {
                runtime
                    .delete(&rid, false)
                    .or_else(|_| runtime.delete(&rid, true))
            })
            .await;
            match deleted {
                Ok(Ok(())) => {}
                // Never made, or forgotten already (a failed start deletes its own).
                Ok(Err(e)) => tracing::debug!(container = %name, error = %e, "runtime delete"),
                Err(e) => tracing::warn!(container = %name, error = %e, "runtime delete"),
            }
        };
        let unplug = async {
            if let Some(sb) = sandbox {
                if let Err(e) = self.ctl.remove_sandbox(&sb).await {
                    tracing::warn!(container = %name, error = %e, "cannot remove sandbox");
                }
                self.mark_unplugged(id, &sb).await;
            }
        };
        tokio::join!(delete, unplug);
        unmount_root(&self.paths.containers.join(id).join("rootfs"));
    }

    /// Records that an exited container's sandbox is gone, so that a `stop` answers while the
    /// runtime is still forgetting the container. Not waited for: a restart that finds the
    /// sandbox named again removes it again, and one no record names goes anyway.
    async fn mark_unplugged(&self, id: &str, sandbox: &str) {
        {
            let mut st = self.state.lock().await;
            let Some(mut c) = st.containers.get(id).cloned() else {
                return;
            };
            if !c.state.releasing || c.sandbox_id.as_deref() != Some(sandbox) {
                return;
            }
            c.sandbox_id = None;
            c.sandbox_key.clear();
            if let Err(e) = self.save_lazily(&mut st, c) {
                tracing::error!(container = %id, error = %e, "cannot record the sandbox's removal");
            }
        }
        self.exited.notify_waiters();
    }

    /// `release` for a container record, clearing its network fields.
    pub(super) async fn cleanup(&self, c: &mut Container) {
        let sb = c.sandbox_id.take();
        c.sandbox_key.clear();
        self.release(&c.id, sb, &c.name).await;
    }

    /// The last step of a removal: the container's directory, then its record. The record goes
    /// last so that a daemon that dies before finds the removal (`removing`) and ends it.
    pub(super) async fn discard(&self, c: &Container, code: Option<i32>) -> Result<()> {
        let dir = c.dir(&self.paths.containers);
        unmount_root(&dir.join("rootfs"));
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(super::io(format!("remove {}", dir.display()))(e)),
        }
        let commit = {
            let mut st = self.state.lock().await;
            let change = vec![berth_store::Change::delete(CONTAINERS, &c.id)];
            // With the removal's intent stored, a crash that loses the delete has the next
            // start finish the removal: nobody need wait for it.
            let commit = if c.state.removing {
                self.store.enqueue(change);
                None
            } else {
                Some(self.store.submit(change))
            };
            st.containers.remove(&c.id);
            self.publish(&c.id, None);
            self.container_event(c, "destroy");
            st.restarting.remove(&c.id);
            commit
        };
        if let Some(commit) = commit {
            commit.durable().await?;
        }
        if let Some(code) = code {
            self.removed_codes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(c.id.clone(), code);
        }
        self.forget_op_lock(&c.id);
        self.forget_health(&c.id);
        self.exited.notify_waiters();
        Ok(())
    }

    /// Records the exit of a container whose init is gone; what is left to release comes back.
    /// `ended` is the init's PID and exit code when the caller has reaped it already; without
    /// it the init is reaped here if it has ended. Whether the restart policy brings it back
    /// is decided here, under the same lock as the exit, so that a stop can never miss it.
    pub(super) async fn record_exit(&self, id: &str, ended: Option<(u32, i32)>) -> Option<Exit> {
        let mut st = self.state.lock().await;
        let mut c = st.containers.get(id).cloned()?;
        if c.state.status != Status::Running || c.state.pid == 0 {
            return None;
        }
        let code = match ended {
            Some((pid, code)) if pid == c.state.pid => code,
            Some(_) => return None,
            None => self.runtime.try_reap(c.state.pid)?,
        };
        self.drop_stdio(id);
        let sandbox = c.sandbox_id.clone();
        c.state.status = Status::Exited;
        c.state.paused = false;
        c.state.releasing = true;
        c.state.exit_code = code;
        c.state.pid = 0;
        c.state.finished_at = Some(Utc::now());
        let mut attrs = Self::container_attrs(&c);
        attrs.insert("exitCode".into(), code.to_string());
        self.events.emit("container", "die", &c.id, attrs);
        let (cid, name, auto_remove) = (c.id.clone(), c.name.clone(), c.spec.auto_remove);
        if auto_remove {
            c.state.removing = true;
        } else if c.spec.restart.wants_restart(
            code,
            c.state.restart_count,
            c.state.manually_stopped,
        ) {
            st.restarting.insert(cid.clone());
        }
        let commit = self.save_queued(&mut st, c);
        drop(st);
        // The exit is the intent of the release that follows: durable before it starts.
        let stored = match commit {
            Ok(commit) => commit.durable().await.map_err(super::EngineError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = stored {
            tracing::error!(container = %cid, error = %e, "cannot record exit");
        }
        Some(Exit {
            id: cid,
            name,
            sandbox,
            auto_remove,
            code,
        })
    }

    #[tracing::instrument(name = "exit", skip(self, exit), fields(container = %exit.id, code = exit.code))]
    pub(super) async fn finish_exit(self: &Arc<Self>, exit: Exit, at_start: bool) {
        self.release(&exit.id, exit.sandbox, &exit.name).await;
        if exit.auto_remove {
            let c = self.state.lock().await.containers.get(&exit.id).cloned();
            if let Some(c) = c {
                if let Err(e) = self.discard(&c, Some(exit.code)).await {
                    tracing::error!(error = %e, "cannot remove the container after its exit; the next daemon start does");
                }
            }
        } else {
            let mut st = self.state.lock().await;
            if let Some(mut c) = st.containers.get(&exit.id).cloned() {
                c.sandbox_id = None;
                c.sandbox_key.clear();
                c.state.releasing = false;
                // Not waited for: a restart that finds the release unfinished does it again.
                if let Err(e) = self.save_lazily(&mut st, c) {
                    tracing::error!(error = %e, "cannot record that the exit's release is done");
                }
            }
        }
        if !at_start {
            tracing::debug!("container exited");
        }
        self.exited.notify_waiters();
        self.apply_restart_policy(&exit.id).await;
    }

    /// Waits (at most `timeout`) for the releases under way, which a `stop` answers before
    /// finishing: for a daemon that shuts down, so that what it started is not left half-done.
    pub async fn settle(&self, timeout: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.exited.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let busy = {
                let st = self.state.lock().await;
                st.containers.values().any(|c| c.state.releasing)
            };
            if !busy || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// Watches one container's init through the runtime (a pidfd for the real one): the
    /// kernel wakes exactly this task when that process ends, so the cost of an exit does not
    /// grow with the number of containers.
    pub(super) fn watch(self: &Arc<Self>, id: String, pid: u32) {
        let me = self.clone();
        let ended = self.runtime.wait_exit(pid);
        self.monitor_health(id.clone(), pid);
        tokio::spawn(async move {
            let code = ended.await;
            me.drain_stdio(&id).await;
            if let Some(exit) = me.record_exit(&id, Some((pid, code))).await {
                me.finish_exit(exit, false).await;
            }
        });
    }
}

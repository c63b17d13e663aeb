//! A container's end: its init watched through a pidfd, the exit recorded, what it held released.

use super::model::{Container, Status};
use super::{reaper, Engine, Exit, CONTAINERS};
use chrono::Utc;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

impl Engine {
    /// Releases what a started container held: runtime state, network, root filesystem.
    /// Slow (a runtime process and kernel work), so callers run it outside the state lock.
    pub(super) async fn release(&self, id: &str, sandbox: Option<String>, name: &str) {
        let runtime = self.runtime.clone();
        let rid = id.to_string();
        // A plain delete of a stopped container is quick; --force polls, so it is the fallback.
        let _ = tokio::task::spawn_blocking(move || {
            runtime
                .delete(&rid, false)
                .or_else(|_| runtime.delete(&rid, true))
        })
        .await;
        if let Some(sb) = sandbox {
            if let Err(e) = self.ctl.remove_sandbox(&sb).await {
                tracing::warn!(container = %name, error = %e, "cannot remove sandbox");
            }
        }
        let rootfs = self.paths.containers.join(id).join("rootfs");
        let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
    }

    /// `release` for a container record, clearing its network fields.
    pub(super) async fn cleanup(&self, c: &mut Container) {
        let sb = c.sandbox_id.take();
        c.sandbox_key.clear();
        self.release(&c.id, sb, &c.name).await;
    }

    /// Marks a container exited (if its init is gone) and releases its resources.
    pub(super) async fn check_exit(self: &Arc<Self>, id: &str, at_start: bool) -> bool {
        match self.record_exit(id, None).await {
            Some(exit) => {
                self.finish_exit(exit, at_start).await;
                true
            }
            None => false,
        }
    }

    /// Records the exit of a container whose init is gone; what is left to release comes back.
    /// `ended` is the init's PID and exit code when the caller has reaped it already; without
    /// it the init is reaped here if it has ended.
    pub(super) async fn record_exit(&self, id: &str, ended: Option<(u32, i32)>) -> Option<Exit> {
        let mut st = self.state.lock().await;
        let mut c = st.containers.get(id).cloned()?;
        if c.state.status != Status::Running || c.state.pid == 0 {
            return None;
        }
        let code = match ended {
            Some((pid, code)) if pid == c.state.pid => code,
            Some(_) => return None,
            None => reaper::try_reap(c.state.pid)?,
        };
        self.drop_stdio(id);
        let sandbox = c.sandbox_id.clone();
        c.state.status = Status::Exited;
        c.state.releasing = true;
        c.state.exit_code = code;
        c.state.pid = 0;
        c.state.finished_at = Some(Utc::now());
        let mut attrs = Self::container_attrs(&c);
        attrs.insert("exitCode".into(), code.to_string());
        self.events.emit("container", "die", &c.id, attrs);
        let (cid, name, auto_remove) = (c.id.clone(), c.name.clone(), c.spec.auto_remove);
        if auto_remove {
            self.container_event(&c, "destroy");
            st.containers.remove(&cid);
            let _ = self.store.delete(CONTAINERS, &cid);
            self.removed_codes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(cid.clone(), code);
        } else if let Err(e) = self.save(&mut st, c).await {
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

    pub(super) async fn finish_exit(self: &Arc<Self>, exit: Exit, at_start: bool) {
        self.release(&exit.id, exit.sandbox, &exit.name).await;
        {
            let mut st = self.state.lock().await;
            if let Some(mut c) = st.containers.get(&exit.id).cloned() {
                c.sandbox_id = None;
                c.sandbox_key.clear();
                c.state.releasing = false;
                let _ = self.save(&mut st, c).await;
            }
        }
        if exit.auto_remove {
            let _ = std::fs::remove_dir_all(self.paths.containers.join(&exit.id));
        }
        if !at_start {
            tracing::debug!(container = %exit.id, code = exit.code, "container exited");
        }
        self.exited.notify_waiters();
        self.apply_restart_policy(&exit.id).await;
    }

    /// Watches one container's init through a pidfd: the kernel wakes exactly this task when
    /// that process ends, so the cost of an exit does not grow with the number of containers.
    pub(super) fn watch(self: &Arc<Self>, id: String, pid: u32) {
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = wait_exit(pid).await {
                tracing::warn!(container = %id, error = %e, "cannot watch the container's init; polling");
                while Path::new(&format!("/proc/{pid}")).exists() {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            let code = reaper::exit_code(pid).await;
            me.drain_stdio(&id).await;
            if let Some(exit) = me.record_exit(&id, Some((pid, code))).await {
                me.finish_exit(exit, false).await;
            }
        });
    }
}

/// Resolves when process `pid` has ended (at once if it is already gone).
pub(crate) async fn wait_exit(pid: u32) -> std::io::Result<()> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ESRCH) {
            Ok(())
        } else {
            Err(e)
        };
    }
    // SAFETY: the descriptor was just returned to us and is owned by nothing else.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: `owned` is a valid open pidfd, moved into the AsyncFd that keeps it until dropped.
    let afd = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE)
    }
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    let _ready = afd.readable().await?;
    Ok(())
}

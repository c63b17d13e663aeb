//! `rm`: a container and everything it held.

use super::model::Status;
use super::{io, Engine, EngineError, Result, CONTAINERS};
use std::time::Duration;

impl Engine {
    /// Removes a container; a running one only with `force` (killed first).
    pub async fn remove(&self, key: &str, force: bool) -> Result<()> {
        let c = self.container(key).await?;
        if c.state.status == Status::Running {
            if !force {
                return Err(EngineError::Conflict(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    c.id
                )));
            }
            let _ = self.kill(&c.id, "SIGKILL").await;
        }
        // Also lets an exit's release finish, so that nothing of it outlives the record.
        self.wait(&c.id, Some(Duration::from_secs(10))).await?;
        let removed = {
            let mut st = self.state.lock().await;
            let gone = st.containers.remove(&c.id);
            if gone.is_some() {
                self.store.delete(CONTAINERS, &c.id)?;
            }
            gone
        };
        if let Some(mut c) = removed {
            self.container_event(&c, "destroy");
            if c.sandbox_id.is_some() {
                self.cleanup(&mut c).await;
            } else {
                // Exited containers were released when they exited; only the mount point may be left.
                let _ = nix::mount::umount2(
                    &c.dir(&self.paths.containers).join("rootfs"),
                    nix::mount::MntFlags::MNT_DETACH,
                );
            }
            let dir = c.dir(&self.paths.containers);
            std::fs::remove_dir_all(&dir)
                .or_else(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .map_err(io(format!("remove {}", dir.display())))?;
        }
        Ok(())
    }
}

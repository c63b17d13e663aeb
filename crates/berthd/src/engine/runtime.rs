//! The OCI runtime (runc, or another with runc's command line) behind a small interface.
//!
//! Containers run detached without a shim: the runtime's stdio are the container's log files,
//! so `run -d` hands them straight to the container, and the daemon (a child subreaper) adopts
//! the container's init and reaps its exit status.

use super::{EngineError, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Clone)]
pub struct Runtime {
    /// The runtime binary (`runc`).
    pub binary: PathBuf,
    /// Private state directory (`--root`), so berth never sees or touches other users' containers.
    pub root: PathBuf,
}

impl Runtime {
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.root);
        c
    }

    fn run_quiet(&self, args: &[&str], what: &str) -> Result<()> {
        let out = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                EngineError::Runtime(format!("{what}: cannot run {}: {e}", self.binary.display()))
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(EngineError::Runtime(format!(
                "{what}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// Starts the container detached; returns its init's PID.
    pub fn run(&self, id: &str, bundle: &Path, stdout: &Path, stderr: &Path) -> Result<u32> {
        let open = |p: &Path| {
            File::options()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| EngineError::Io(format!("open log {}: {e}", p.display())))
        };
        let pid_file = bundle.join("init.pid");
        let before = std::fs::metadata(stderr).map(|m| m.len()).unwrap_or(0);
        let out = self
            .cmd()
            .args(["run", "-d", "--pid-file"])
            .arg(&pid_file)
            .arg("--bundle")
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(open(stdout)?)
            // The container inherits this: runc's own complaints land in the same log.
            .stderr(open(stderr)?)
            .status()
            .map_err(|e| {
                EngineError::Runtime(format!("cannot run {}: {e}", self.binary.display()))
            })?;
        if !out.success() {
            let log = std::fs::read(stderr).unwrap_or_default();
            let runtime_err =
                String::from_utf8_lossy(log.get(before as usize..).unwrap_or_default());
            let _ = self.delete(id, true);
            return Err(EngineError::Runtime(format!(
                "the container failed to start: {}",
                runtime_err.trim()
            )));
        }
        std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| {
                EngineError::Runtime("the runtime did not report the container's PID".into())
            })
    }

    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        if force {
            self.run_quiet(&["delete", "--force", id], "delete")
        } else {
            self.run_quiet(&["delete", id], "delete")
        }
    }
}

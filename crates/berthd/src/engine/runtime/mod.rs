//! The process boundary: everything the engine asks of the OCI runtime and of the processes it
//! leaves behind goes through [`Runtime`], so that the engine's lifecycle (start failures,
//! exits, restart policies, removal, daemon restarts) can be unit-tested against
//! [`fake::FakeRuntime`] and run for real against [`oci::OciRuntime`] (runc or crun).

#[cfg(test)]
pub mod fake;
pub mod oci;

use std::future::Future;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;

/// Resolves with a process's exit code once it has ended.
pub type ExitFuture = Pin<Box<dyn Future<Output = i32> + Send>>;

/// What the runtime and process primitives fail with. Causes are kept, not flattened.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot run {binary}: {source}")]
    Spawn {
        binary: String,
        #[source]
        source: std::io::Error,
    },
    /// The runtime ran and refused; its own words.
    #[error("{what}: {stderr}")]
    Failed { what: String, stderr: String },
    /// The container's process could not be started (its executable, its working directory…).
    #[error("the container failed to start: {0}")]
    Start(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the runtime did not report the process's PID")]
    NoPid,
    #[error("cannot signal process {pid}: {source}")]
    Signal {
        pid: u32,
        #[source]
        source: nix::errno::Errno,
    },
}

impl RuntimeError {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RuntimeError {
        let context = context.into();
        move |source| RuntimeError::Io { context, source }
    }
}

/// A container's root filesystem: an overlay of its image under its own writable layer.
#[derive(Debug, Clone)]
pub struct Overlay {
    pub lower: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub target: PathBuf,
}

/// How a container's stdio is wired.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunIo {
    pub tty: bool,
    pub stdin: bool,
}

/// Everything `run` needs: the container, its bundle and root.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub id: String,
    pub bundle: PathBuf,
    pub root: Overlay,
    pub io: RunIo,
}

/// A started container: its init, and what the daemon keeps of its stdio: the terminal's
/// master or stdin's write end, and the read ends of its stdout and stderr pipes (which carry
/// the runtime's own complaints too).
#[derive(Debug, Default)]
pub struct Started {
    pub pid: u32,
    pub tty: Option<OwnedFd>,
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// The process of an `exec`.
pub struct ExecProcess<'a> {
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: &'a str,
    /// uid and gid; `None` keeps the container's own user.
    pub user: Option<(u32, u32)>,
}

/// The OCI runtime and the processes it leaves to the daemon. Blocking methods (`run`,
/// `exec_tty`, `delete`, `list`) are called from blocking threads.
pub trait Runtime: Send + Sync + 'static {
    /// Starts the container detached; returns once its init runs (or failed to).
    fn run(&self, req: &RunRequest) -> Result<Started, RuntimeError>;
    /// `exec -t`: a process on a new terminal, detached; its PID and the terminal's master.
    fn exec_tty(&self, id: &str, p: &ExecProcess) -> Result<(u32, OwnedFd), RuntimeError>;
    /// `exec` without a terminal: the command to spawn; the caller wires its stdio.
    fn exec_command(&self, id: &str, p: &ExecProcess) -> tokio::process::Command;
    /// Sends `sig` to a container's init (or an exec's process).
    fn signal(&self, pid: u32, sig: nix::sys::signal::Signal) -> Result<(), RuntimeError>;
    /// Forgets a container (`force`: kills what still runs in it first).
    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError>;
    /// Freezes (`true`) or thaws every process of a container, through its cgroup freezer.
    fn freeze(&self, id: &str, frozen: bool) -> Result<(), RuntimeError>;
    /// The IDs of the containers the runtime holds state for.
    fn list(&self) -> Result<Vec<String>, RuntimeError>;
    /// Resolves with the exit code of `pid` once it has ended (at once if it has).
    fn wait_exit(&self, pid: u32) -> ExitFuture;
    /// The exit code of `pid` if it has ended and is (or was) the daemon's; None while it runs.
    fn try_reap(&self, pid: u32) -> Option<i32>;
    /// A namespace path as the runtime can open it.
    fn ns_path(&self, p: &Path) -> PathBuf;
    /// The cgroup every container's cgroups go under.
    fn cgroup_parent(&self) -> &str;
    /// The runtime's private state directory.
    fn state_root(&self) -> &Path;
}

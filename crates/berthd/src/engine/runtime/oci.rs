//! The OCI runtime (runc, or another with runc's command line) behind a small interface.
//!
//! Containers run detached without a shim: the runtime's stdout and stderr are pipes that
//! `run -d` hands to the container and the container's keeper reads into its log, and the
//! daemon (a child subreaper) adopts the container's init and reaps its exit status.

use super::super::fd::{self, ConsoleSocket};
use super::super::reaper;
use super::{ExecProcess, ExitFuture, Overlay, RunRequest, Runtime, RuntimeError, Started};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

type Result<T> = std::result::Result<T, RuntimeError>;

#[derive(Debug, Clone)]
pub struct OciRuntime {
    /// The runtime binary (`runc`).
    pub binary: PathBuf,
    /// Private state directory (`--root`), so berth never sees or touches other users' containers.
    pub root: PathBuf,
    /// Run the runtime where the host's cgroup v2 hierarchy is not mounted (see [`Runtime::new`]).
    hide_unified_cgroup: bool,
    /// The cgroup every container's cgroups go under (`cgroup-parent`, see [`super::cgroups`]).
    pub cgroup_parent: String,
    /// A mount namespace copied from the daemon's at its start, where `run` is spawned (see
    /// [`clean_mount_ns`]); None when it could not be made, and `run` spawns from the host's.
    spawn_ns: Option<Arc<OwnedFd>>,
}

impl Overlay {
    fn options(&self) -> String {
        format!(
            "lowerdir={},upperdir={},workdir={}",
            self.lower.display(),
            self.upper.display(),
            self.work.display()
        )
    }

    fn prepare(&self) -> Result<()> {
        for d in [&self.upper, &self.work, &self.target] {
            std::fs::create_dir_all(d)
                .map_err(RuntimeError::io(format!("create {}", d.display())))?;
        }
        Ok(())
    }

    /// Mounts it in the daemon's own mount namespace (when there is no spawn namespace).
    fn mount_here(&self) -> Result<()> {
        // A mount left by an earlier run would sit under the new one; none there is as good.
        if let Err(e) = nix::mount::umount2(&self.target, nix::mount::MntFlags::MNT_DETACH) {
            if e != nix::errno::Errno::EINVAL && e != nix::errno::Errno::ENOENT {
                tracing::warn!(target = %self.target.display(), error = %e, "cannot unmount an earlier root");
            }
        }
        nix::mount::mount(
            Some("overlay"),
            &self.target,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(self.options().as_str()),
        )
        .map_err(|e| RuntimeError::Io {
            context: format!("mount overlay on {}", self.target.display()),
            source: e.into(),
        })
    }
}

/// Why the 1000th container would cost more than the 10th: `runc run` copies the mount table
/// it starts in into the container's new mount namespace and walks it, and every running
/// container would add its overlay root and its pinned network namespace to the daemon's
/// table. So `run` starts in a copy of the daemon's namespace taken once, at start (private, so
/// later mounts do not reach it), unshared again per container, with that container's overlay
/// mounted only there. The container keeps its root as its own mount; the daemon's table grows
/// by the network namespace pin alone, which runc never copies.
fn clean_mount_ns() -> std::io::Result<OwnedFd> {
    // A thread of its own unshares its filesystem context, and leaves the daemon's alone.
    std::thread::spawn(|| -> std::io::Result<OwnedFd> {
        use nix::mount::{mount, MsFlags};
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )?;
        Ok(File::open("/proc/thread-self/ns/mnt")?.into())
    })
    .join()
    .map_err(|_| std::io::Error::other("the namespace thread panicked"))?
}

/// Hybrid cgroups: v1 controllers under /sys/fs/cgroup, and a v2 hierarchy without controllers
/// at /sys/fs/cgroup/unified (systemd's hybrid mode).
fn cgroups_are_hybrid() -> bool {
    let is_v2 = |p: &str| {
        nix::sys::statfs::statfs(p)
            .map(|f| f.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
            .unwrap_or(false)
    };
    !is_v2("/sys/fs/cgroup") && is_v2("/sys/fs/cgroup/unified")
}

impl OciRuntime {
    /// crun refuses hybrid cgroups ("cgroups in hybrid mode not supported"); it manages v1
    /// well when the v2 hierarchy is out of sight. So on a hybrid host crun runs in a mount
    /// namespace of its own where /sys/fs/cgroup/unified is unmounted; the host and the
    /// containers' own mounts are unaffected. runc handles hybrid hosts itself.
    pub fn new(binary: PathBuf, root: PathBuf, cgroup_parent: String) -> OciRuntime {
        let is_crun = binary
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("crun"));
        let hide_unified_cgroup = is_crun && cgroups_are_hybrid();
        if hide_unified_cgroup {
            tracing::info!(
                runtime = %binary.display(),
                "hybrid cgroups: crun runs with the cgroup v2 hierarchy unmounted in its own mount namespace"
            );
        }
        let spawn_ns = match clean_mount_ns() {
            Ok(fd) => Some(Arc::new(fd)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot make a mount namespace to start containers from; they start from the daemon's");
                None
            }
        };
        OciRuntime {
            binary,
            root,
            hide_unified_cgroup,
            cgroup_parent,
            spawn_ns,
        }
    }

    /// Starts `runc run` (`cmd`, with no pre_exec hook of its own) in a fresh copy of the
    /// spawn namespace with the container's `root` mounted there. A thread of its own enters
    /// that copy and spawns: the runtime inherits the thread's mount namespace. Doing it in the
    /// thread rather than in a pre_exec hook lets std start the runtime with posix_spawn
    /// (vfork), where a hook forces a fork: a copy of the daemon's page tables, which grow with
    /// its containers (a 2% of its CPU at 1000 containers, and page faults after).
    fn spawn_run(&self, root: &Overlay, mut cmd: Command) -> Result<std::process::Child> {
        let spawn_failed = |source: std::io::Error| RuntimeError::Spawn {
            binary: self.binary.display().to_string(),
            source,
        };
        root.prepare()?;
        let Some(ns) = self.spawn_ns.clone() else {
            root.mount_here()?;
            self.hide_unified(&mut cmd);
            return cmd.spawn().map_err(spawn_failed);
        };
        let root = root.clone();
        let hide = self.hide_unified_cgroup;
        std::thread::spawn(move || -> std::io::Result<std::process::Child> {
            use nix::sched::{setns, unshare, CloneFlags};
            // A thread with a filesystem context of its own may change mount namespace.
            unshare(CloneFlags::CLONE_FS)?;
            setns(ns.as_fd(), CloneFlags::CLONE_NEWNS)?;
            unshare(CloneFlags::CLONE_NEWNS)?;
            nix::mount::mount(
                Some("overlay"),
                &root.target,
                Some("overlay"),
                nix::mount::MsFlags::empty(),
                Some(root.options().as_str()),
            )?;
            if hide {
                // Already gone is as good: the result does not matter.
                nix::mount::umount2("/sys/fs/cgroup/unified", nix::mount::MntFlags::MNT_DETACH)
                    .ok();
            }
            cmd.spawn()
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the spawning thread panicked")))
        .map_err(spawn_failed)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.binary);
        self.finish_cmd(&mut c);
        c
    }

    fn finish_cmd(&self, c: &mut Command) {
        c.arg("--root").arg(&self.root);
        self.hide_unified(c);
    }

    /// For crun on a hybrid host: the runtime starts where the v2 hierarchy is not mounted.
    fn hide_unified(&self, c: &mut Command) {
        if self.hide_unified_cgroup {
            // SAFETY: between fork and exec only raw syscalls, on static strings, no allocation.
            unsafe {
                c.pre_exec(|| {
                    if libc::unshare(libc::CLONE_NEWNS) != 0
                        || libc::mount(
                            c"none".as_ptr(),
                            c"/".as_ptr(),
                            std::ptr::null(),
                            libc::MS_REC | libc::MS_PRIVATE,
                            std::ptr::null(),
                        ) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    // Already gone is as good.
                    libc::umount2(c"/sys/fs/cgroup/unified".as_ptr(), libc::MNT_DETACH);
                    Ok(())
                });
            }
        }
    }

    fn run_quiet(&self, args: &[&str], what: &str) -> Result<()> {
        let out = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| RuntimeError::Spawn {
                binary: self.binary.display().to_string(),
                source,
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(RuntimeError::Failed {
                what: what.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    /// Starts the container detached. With `tty` the runtime allocates the terminal and hands
    /// its master back; with `stdin` the container reads a pipe whose write end comes back.
    fn run_detached(&self, req: &RunRequest) -> Result<Started> {
        let (id, bundle, root, io) = (req.id.as_str(), req.bundle.as_path(), &req.root, req.io);
        let pid_file = bundle.join("init.pid");
        let console = if io.tty {
            Some(ConsoleSocket::bind(&self.root).map_err(RuntimeError::io(
                "cannot make the terminal's console socket",
            ))?)
        } else {
            None
        };
        let (stdin, stdin_writer) = if io.stdin && !io.tty {
            let (r, w) = fd::stdin_pipe().map_err(RuntimeError::io("cannot make a stdin pipe"))?;
            (Stdio::from(r), Some(w))
        } else {
            (Stdio::null(), None)
        };
        // The container's stdout and stderr: pipes its keeper reads into the log.
        let pipe = || fd::stdin_pipe().map_err(RuntimeError::io("cannot make an output pipe"));
        let ((out_r, out_w), (err_r, err_w)) = (pipe()?, pipe()?);
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root")
            .arg(&self.root)
            .args(["run", "-d", "--pid-file"])
            .arg(&pid_file);
        if let Some(c) = &console {
            cmd.arg("--console-socket").arg(c.path());
        }
        cmd.arg("--bundle")
            .arg(bundle)
            .arg(id)
            .stdin(stdin)
            .stdout(out_w)
            // The container inherits this: runc's own complaints land in the same log.
            .stderr(err_w);
        // The daemon's copies of the write ends go with the command, so the container's are
        // the only ones left and the keeper reads the end when it ends.
        let out = self
            .spawn_run(root, cmd)?
            .wait()
            .map_err(RuntimeError::io(format!(
                "wait for {}",
                self.binary.display()
            )))?;
        if !out.success() {
            let runtime_err = read_available(&err_r);
            self.forget_failed(id);
            return Err(RuntimeError::Start(runtime_err.trim().to_string()));
        }
        let pid = read_pid(&pid_file)?;
        let tty = match console {
            Some(c) => match c.receive() {
                Ok(fd) => Some(fd),
                Err(e) => {
                    self.forget_failed(id);
                    return Err(RuntimeError::Start(e.to_string()));
                }
            },
            None => None,
        };
        Ok(Started {
            pid,
            tty,
            stdin: stdin_writer,
            stdout: Some(out_r),
            stderr: Some(err_r),
        })
    }

    /// A failed run leaves runtime state (and maybe a half-made container): it goes, and when
    /// it cannot, the next daemon start sweeps it.
    fn forget_failed(&self, id: &str) {
        if let Err(e) = self.delete(id, true) {
            tracing::warn!(container = %id, error = %e, "cannot delete the runtime state of a failed start");
        }
    }

    /// `exec -t`: the process runs detached (the daemon, a subreaper, adopts and reaps it) on
    /// a terminal whose master comes back with its PID.
    fn exec_on_tty(&self, id: &str, p: &ExecProcess) -> Result<(u32, OwnedFd)> {
        let console = ConsoleSocket::bind(&self.root).map_err(RuntimeError::io(
            "cannot make the terminal's console socket",
        ))?;
        let pid_file = self
            .root
            .join(format!("exec-{:016x}.pid", rand::random::<u64>()));
        let mut cmd = self.cmd();
        cmd.args(["exec", "-d", "-t", "--console-socket"])
            .arg(console.path())
            .arg("--pid-file")
            .arg(&pid_file);
        for e in p.env {
            cmd.arg("--env").arg(e);
        }
        if !p.cwd.is_empty() {
            cmd.arg("--cwd").arg(p.cwd);
        }
        if let Some((uid, gid)) = p.user {
            cmd.arg("--user").arg(format!("{uid}:{gid}"));
        }
        let out = cmd
            .arg(id)
            .args(p.args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| RuntimeError::Spawn {
                binary: self.binary.display().to_string(),
                source,
            })?;
        let pid = read_pid(&pid_file);
        if let Err(e) = std::fs::remove_file(&pid_file) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(file = %pid_file.display(), error = %e, "cannot remove an exec's PID file");
            }
        }
        if !out.status.success() {
            return Err(RuntimeError::Failed {
                what: "exec failed".into(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        let master = console.receive().map_err(RuntimeError::io("exec failed"))?;
        Ok((pid?, master))
    }
}

impl Runtime for OciRuntime {
    fn run(&self, req: &RunRequest) -> Result<Started> {
        self.run_detached(req)
    }

    fn exec_tty(&self, id: &str, p: &ExecProcess) -> Result<(u32, OwnedFd)> {
        self.exec_on_tty(id, p)
    }

    fn exec_command(&self, id: &str, p: &ExecProcess) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.arg("--root").arg(&self.root).arg("exec");
        for e in p.env {
            cmd.arg("--env").arg(e);
        }
        if !p.cwd.is_empty() {
            cmd.arg("--cwd").arg(p.cwd);
        }
        if let Some((uid, gid)) = p.user {
            cmd.arg("--user").arg(format!("{uid}:{gid}"));
        }
        cmd.arg(id).args(p.args);
        cmd
    }

    /// The PID cannot be reused while the process is unreaped, and the daemon is the one that
    /// reaps it.
    fn signal(&self, pid: u32, sig: nix::sys::signal::Signal) -> Result<()> {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig)
            .map_err(|source| RuntimeError::Signal { pid, source })
    }

    /// runc and crun drive the freezer of whichever cgroup version they put the container on.
    fn freeze(&self, id: &str, frozen: bool) -> Result<()> {
        if frozen {
            self.run_quiet(&["pause", id], "pause")
        } else {
            self.run_quiet(&["resume", id], "resume")
        }
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        if force {
            self.run_quiet(&["delete", "--force", id], "delete")
        } else {
            self.run_quiet(&["delete", id], "delete")
        }
    }

    /// runc and crun keep a directory per container under `--root`; reading it needs no
    /// runtime process.
    fn list(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(RuntimeError::Io {
                    context: format!("list {}", self.root.display()),
                    source: e,
                })
            }
        };
        Ok(entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect())
    }

    fn wait_exit(&self, pid: u32) -> ExitFuture {
        Box::pin(async move {
            if let Err(e) = reaper::wait_exit(pid).await {
                tracing::warn!(pid, error = %e, "cannot watch the process through a pidfd; polling");
                while Path::new(&format!("/proc/{pid}")).exists() {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
            reaper::exit_code(pid).await
        })
    }

    fn try_reap(&self, pid: u32) -> Option<i32> {
        reaper::try_reap(pid)
    }

    /// Through the daemon's root, where the pins are mounted, when the runtime starts in the
    /// spawn namespace.
    fn ns_path(&self, p: &Path) -> PathBuf {
        match (&self.spawn_ns, p.strip_prefix("/")) {
            (Some(_), Ok(rel)) => {
                Path::new(&format!("/proc/{}/root", std::process::id())).join(rel)
            }
            _ => p.to_path_buf(),
        }
    }

    fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    fn state_root(&self) -> &Path {
        &self.root
    }
}

/// What a pipe holds now, without waiting for more: a failed runtime's words.
fn read_available(r: &OwnedFd) -> String {
    use std::os::fd::AsRawFd;
    let mut got = Vec::new();
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    unsafe {
        let flags = libc::fcntl(r.as_raw_fd(), libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(r.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
    let mut buf = [0u8; 4096];
    while got.len() < 64 * 1024 {
        match nix::unistd::read(r.as_raw_fd(), &mut buf) {
            Ok(n @ 1..) => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn read_pid(pid_file: &Path) -> Result<u32> {
    std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or(RuntimeError::NoPid)
}

//! Reaping what the daemon adopts as a child subreaper.
//!
//! The runtime leaves processes behind that become the daemon's children: container inits,
//! detached execs, and helpers of its own (crun's `run -d` double-forks, and the middle process
//! ends up here as a zombie). Two rules keep this correct:
//! - Only processes in a session other than the daemon's are reaped by a sweep. Every command the
//!   daemon runs itself (runc, crun, nft, conntrack) stays in the daemon's session and is waited
//!   for by whoever spawned it; the runtime puts everything it leaves behind in a session of its own.
//! - A container's init can end while it is still the child of a runtime process that has not
//!   exited yet; it is reaped once it has been handed over, never reported as lost.

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The code of a process whose end cannot be learned (reaped by someone else).
pub const UNKNOWN: i32 = 255;

/// How long a process that has ended may wait for its parent to hand it over.
const HANDOVER: Duration = Duration::from_secs(10);

/// Codes of processes a sweep reaped before anyone asked; kept a while for the one who will.
const KEEP: Duration = Duration::from_secs(60);

struct Record {
    code: i32,
    at: Instant,
}

/// Also serialises every waitpid the daemon makes on adopted processes, so a sweep and a
/// targeted reap never race for one status.
static RECORDS: Mutex<BTreeMap<u32, Record>> = Mutex::new(BTreeMap::new());

fn records() -> MutexGuard<'static, BTreeMap<u32, Record>> {
    RECORDS.lock().unwrap_or_else(|p| p.into_inner())
}

fn code_of(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Reaps every ended child the runtime left in a session of its own; called on SIGCHLD.
pub fn sweep() {
    let own = nix::unistd::getsid(None).ok();
    let mut recs = records();
    loop {
        // Look at the oldest ended child without reaping it.
        // SAFETY: waitid writes only into `info`, which is a zeroed siginfo_t we own.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if r != 0 {
            break;
        }
        // SAFETY: waitid filled `info` for a child state change (or left it zeroed).
        let pid = unsafe { info.si_pid() };
        if pid <= 0 {
            break;
        }
        let pid = Pid::from_raw(pid);
        // One of the daemon's own commands, about to be waited for by its spawner: leave it,
        // and what lies behind it to the next SIGCHLD.
        if nix::unistd::getsid(Some(pid)).ok() == own {
            break;
        }
        match waitpid(pid, Some(WaitPidFlag::WNOHANG))
            .ok()
            .and_then(code_of)
        {
            Some(code) => {
                recs.insert(
                    pid.as_raw() as u32,
                    Record {
                        code,
                        at: Instant::now(),
                    },
                );
            }
            None => break,
        }
    }
    if recs.len() > 64 {
        recs.retain(|_, r| r.at.elapsed() < KEEP);
    }
}

/// The exit code of `pid` if it has ended and is (or was) the daemon's to reap; None while it
/// runs, or has ended but still belongs to a parent that has not exited yet.
pub fn try_reap(pid: u32) -> Option<i32> {
    let mut recs = records();
    match waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)) {
        Ok(status) => code_of(status),
        Err(nix::errno::Errno::ECHILD) => {
            if Path::new(&format!("/proc/{pid}")).exists() {
                // Running under another parent (adopted elsewhere before a daemon restart),
                // or ended and not handed over yet.
                None
            } else {
                // Gone: reaped by a sweep (its code is recorded) or by someone else.
                Some(recs.remove(&pid).map_or(UNKNOWN, |r| r.code))
            }
        }
        Err(_) => None,
    }
}

/// The exit code of `pid`, known to have ended: waits for its hand-over if its parent is
/// still about (never long: that parent is a runtime process on its way out).
pub async fn exit_code(pid: u32) -> i32 {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(code) = try_reap(pid) {
            return code;
        }
        if started.elapsed() > HANDOVER {
            tracing::warn!(
                pid,
                "an ended process was never handed over; its exit code is unknown"
            );
            return UNKNOWN;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Sweeps on every SIGCHLD, for as long as the daemon runs.
pub fn start() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut chld = signal(SignalKind::child())?;
    tokio::spawn(async move {
        sweep();
        while chld.recv().await.is_some() {
            sweep();
        }
    });
    Ok(())
}

/// Resolves when process `pid` has ended (at once if it is already gone).
pub async fn wait_exit(pid: u32) -> std::io::Result<()> {
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

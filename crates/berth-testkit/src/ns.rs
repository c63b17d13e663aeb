//! Namespaces held by a sleeping process, and commands that enter one on exec. Everything made
//! in such a namespace dies with its holder; every process started here dies with the thread
//! that started it, so a panicking test or benchmark leaves nothing running.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// Asks the kernel to SIGKILL the calling process when its parent thread ends. Call between
/// fork and exec (it is async-signal-safe).
pub fn die_with_parent() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG only changes this (child) process's own settings.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Starts `sleep infinity` in fresh network and mount namespaces, with every mount made private
/// so that mounts inside never reach the machine. The namespaces exist once this returns
/// (spawn returns after exec). Call from a thread that outlives the holder's use.
pub fn spawn_holder() -> io::Result<Child> {
    let mut cmd = Command::new("sleep");
    cmd.arg("infinity").stdin(Stdio::null());
    // SAFETY: only async-signal-safe calls (prctl, unshare, mount) run between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            die_with_parent()?;
            if libc::unshare(libc::CLONE_NEWNET | libc::CLONE_NEWNS) != 0 {
                return Err(io::Error::last_os_error());
            }
            let root = c"/";
            if libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Which of a holder's namespaces a command enters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enter {
    /// The network namespace only (an etcd member needs no mounts of its own).
    Net,
    /// The network and the mount namespace (a daemon that mounts, or reads the host's
    /// bind-mounted resolv.conf).
    NetAndMount,
}

/// Makes `cmd` enter the namespaces of process `pid` when it executes, and die with the thread
/// that spawns it. Fails when the namespaces cannot be opened (the holder is gone).
pub fn enter_on_exec(cmd: &mut Command, pid: u32, what: Enter) -> io::Result<()> {
    let net = File::open(format!("/proc/{pid}/ns/net"))?;
    let mnt = match what {
        Enter::Net => None,
        Enter::NetAndMount => Some(File::open(format!("/proc/{pid}/ns/mnt"))?),
    };
    let net_fd = net.as_raw_fd();
    let mnt_fd = mnt.as_ref().map(AsRawFd::as_raw_fd);
    // SAFETY: setns and prctl are async-signal-safe; the closure owns both files, so the
    // descriptors stay open until exec.
    unsafe {
        cmd.pre_exec(move || {
            let _keep = (&net, &mnt);
            die_with_parent()?;
            if libc::setns(net_fd, libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(fd) = mnt_fd {
                if libc::setns(fd, libc::CLONE_NEWNS) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    Ok(())
}

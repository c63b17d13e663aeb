//! Network namespaces that outlive any process: made by a thread that unshares its network
//! namespace and bind-mounts it onto a file, as `ip netns add` does.

use super::{SysError, SysResult};
use std::fs::File;
use std::path::Path;

fn io_err(op: &'static str, path: &Path, e: std::io::Error) -> SysError {
    SysError::Netns {
        op,
        path: path.display().to_string(),
        source: e,
    }
}

/// Creates a new network namespace pinned at `path`, with `sysctls` set inside it, and returns
/// what `inside` made there (a socket opened in the namespace keeps talking to it). One thread
/// does it all: a second one that enters the namespace again costs a spawn and a `setns`.
pub fn create<T: Send + 'static>(
    path: &Path,
    sysctls: &[(&str, &str)],
    inside: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> SysResult<T> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_err("create directory for", path, e))?;
    }
    File::create(path).map_err(|e| io_err("create", path, e))?;
    let target = path.to_path_buf();
    let made = in_new_namespace(sysctls, move || {
        nix::mount::mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )?;
        inside()
    });
    made.map_err(|e| {
        if let Err(d) = delete(path) {
            tracing::warn!(path = %path.display(), error = %d, "cannot remove a half-made network namespace");
        }
        io_err("create network namespace", path, e)
    })
}

/// Creates a new network namespace as [`create`] does, but pinned by nothing on disk: it lives
/// as long as the returned descriptor (or a socket `inside` opened in it), and dies with the
/// daemon whatever way it ends. [`pin`] gives it a path later.
pub fn create_unpinned<T: Send + 'static>(
    sysctls: &[(&str, &str)],
    inside: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> SysResult<(File, T)> {
    in_new_namespace(sysctls, move || {
        let ns = File::open("/proc/thread-self/ns/net")?;
        Ok((ns, inside()?))
    })
    .map_err(|e| io_err("create network namespace", Path::new("(unpinned)"), e))
}

/// Pins the namespace of descriptor `ns` at `path`, as `ip netns attach` does.
pub fn pin(ns: &File, path: &Path) -> SysResult<()> {
    use std::os::fd::AsRawFd;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_err("create directory for", path, e))?;
    }
    File::create(path).map_err(|e| io_err("create", path, e))?;
    let source = format!("/proc/self/fd/{}", ns.as_raw_fd());
    if let Err(e) = nix::mount::mount(
        Some(source.as_str()),
        path,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    ) {
        if let Err(d) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %d, "cannot remove the file of a failed pin");
        }
        return Err(io_err("pin network namespace", path, e.into()));
    }
    Ok(())
}

/// Runs `inside` on a short-lived thread that has unshared its network namespace and set
/// `sysctls` there. unshare(CLONE_NEWNET) moves only the calling thread, so the daemon's own
/// threads stay where they are.
fn in_new_namespace<T: Send + 'static>(
    sysctls: &[(&str, &str)],
    inside: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let settings: Vec<(String, String)> = sysctls
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    std::thread::spawn(move || -> std::io::Result<T> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
        // This thread is inside the new namespace, so the sysctls it opens are the namespace's
        // own. It opens them through a proc of its own: through the machine's /proc, each key
        // would be compared with every other namespace's cached entries (see SysctlDir).
        let proc = super::sysctl::private_proc()
            .map_err(|e| tracing::debug!(error = %e, "no private proc; using /proc"))
            .ok();
        let net = match &proc {
            Some(p) => super::sysctl::SysctlDir::open_in(p, "net"),
            None => super::sysctl::SysctlDir::open("net"),
        }
        .map_err(std::io::Error::other)?;
        for (k, v) in &settings {
            let written = match (&net, k.strip_prefix("net/")) {
                (Some(dir), Some(rel)) => dir.write(rel, v),
                _ => super::sysctl::write_fresh(k, v),
            };
            if !written.map_err(std::io::Error::other)? {
                tracing::debug!(key = %k, "no such sysctl in the new namespace; skipped");
            }
        }
        inside()
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("netns thread panicked")))
}

/// Unpins the namespace at `path`; the kernel frees it (and its interfaces) once unused.
pub fn delete(path: &Path) -> SysResult<()> {
    match nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(io_err("unmount network namespace", path, e.into())),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", path, e)),
    }
}

/// Runs `f` on a thread inside the namespace at `path` and returns its result. Sockets opened
/// there stay in that namespace after the thread ends.
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> SysResult<T> {
    let ns = File::open(path).map_err(|e| io_err("open", path, e))?;
    run_in_file(ns, f).map_err(|e| io_err("enter network namespace", path, e))
}

/// Runs `f` on a thread inside the namespace of descriptor `ns` (pinned or not).
pub fn run_in_file<T: Send + 'static>(
    ns: File,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    std::thread::spawn(move || -> std::io::Result<T> {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)?;
        let out = f();
        // Held until `f` is done, so the namespace cannot go while it runs.
        drop(ns);
        out
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("netns thread panicked")))
}

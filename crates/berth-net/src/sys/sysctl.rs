//! Writing sysctls of the current network namespace through /proc/sys.

use super::{SysError, SysResult};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Writes `value` to `/proc/sys/<key>` unless it already holds it (a write of an unchanged value
/// still costs a syscall and, for some knobs, side effects).
pub fn write(key: &str, value: &str) -> SysResult<()> {
    let path = format!("/proc/sys/{key}");
    let err = |source| SysError::Sysctl {
        key: key.replace('/', "."),
        source,
    };
    if let Ok(current) = std::fs::read_to_string(&path) {
        if current.trim() == value {
            return Ok(());
        }
    }
    std::fs::write(&path, value).map_err(err)
}

/// Writes `value` to `/proc/sys/<key>` without looking first, for a namespace just made (every
/// path lookup under /proc/sys/net walks one entry per namespace on the machine). A key this
/// kernel lacks (IPv6 booted off) is skipped: Ok(false).
pub fn write_fresh(key: &str, value: &str) -> SysResult<bool> {
    match std::fs::write(format!("/proc/sys/{key}"), value) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(SysError::Sysctl {
            key: key.replace('/', "."),
            source,
        }),
    }
}

/// A directory under /proc/sys opened once, to write keys below it without walking from the
/// top each time. Keys resolve in the namespace of the thread that writes, not the one that
/// opened.
///
/// Why it matters: `net` is one directory for every network namespace, and each namespace's
/// `net/ipv4`, `net/ipv6`, … are cached under it with the same name; a lookup compares them
/// all, under a global lock (about 1.7 ms per key at 1000 namespaces). Opened in a proc
/// filesystem of its own ([`private_proc`]), nothing else is cached there.
#[derive(Debug)]
pub struct SysctlDir {
    fd: OwnedFd,
    path: String,
}

impl SysctlDir {
    /// Opens `/proc/sys/<dir>`; `None` when this kernel has no such directory.
    pub fn open(dir: &str) -> SysResult<Option<SysctlDir>> {
        Self::open_at(None, dir)
    }

    /// Opens `sys/<dir>` of the proc filesystem whose root is `proc`.
    pub fn open_in(proc: &OwnedFd, dir: &str) -> SysResult<Option<SysctlDir>> {
        Self::open_at(Some(proc), dir)
    }

    fn open_at(proc: Option<&OwnedFd>, dir: &str) -> SysResult<Option<SysctlDir>> {
        use nix::fcntl::{openat, OFlag};
        let (base, path) = match proc {
            Some(fd) => (Some(fd.as_raw_fd()), format!("sys/{dir}")),
            None => (None, format!("/proc/sys/{dir}")),
        };
        match openat(
            base,
            path.as_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ) {
            // SAFETY: openat just returned this descriptor, and nothing else owns it.
            Ok(fd) => Ok(Some(SysctlDir {
                fd: unsafe { OwnedFd::from_raw_fd(fd) },
                path: dir.to_string(),
            })),
            Err(nix::errno::Errno::ENOENT) => Ok(None),
            Err(e) => Err(SysError::Sysctl {
                key: dir.replace('/', "."),
                source: e.into(),
            }),
        }
    }

    /// Writes `value` to `<dir>/<key>`; a key that does not exist is skipped: Ok(false).
    pub fn write(&self, key: &str, value: &str) -> SysResult<bool> {
        use nix::fcntl::{openat, OFlag};
        let err = |source: std::io::Error| SysError::Sysctl {
            key: format!("{}/{key}", self.path).replace('/', "."),
            source,
        };
        let fd = match openat(
            Some(self.fd.as_raw_fd()),
            key,
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ENOENT) => return Ok(false),
            Err(e) => return Err(err(e.into())),
        };
        // SAFETY: openat just returned this descriptor, and nothing else owns it.
        let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
        std::io::Write::write_all(&mut f, value.as_bytes()).map_err(err)?;
        Ok(true)
    }
}

/// A proc filesystem of its own, mounted nowhere (fsopen and fsmount): its root, to open
/// sysctls below. Its dentry cache starts empty and goes with the descriptor.
pub fn private_proc() -> std::io::Result<OwnedFd> {
    use nix::libc;
    // linux/mount.h
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    let check = |r: libc::c_long| {
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(r as libc::c_int)
        }
    };
    // SAFETY: fsopen takes a NUL-terminated name and flags, and returns a new descriptor.
    let fs = check(unsafe { libc::syscall(libc::SYS_fsopen, c"proc".as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: the descriptor is new and ours.
    let fs = unsafe { OwnedFd::from_raw_fd(fs) };
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    // SAFETY: fsmount of a created context returns a new descriptor of a detached mount.
    let m = check(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) })?;
    // SAFETY: the descriptor is new and ours.
    Ok(unsafe { OwnedFd::from_raw_fd(m) })
}

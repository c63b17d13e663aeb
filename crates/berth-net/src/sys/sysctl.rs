//! Writing sysctls of the current network namespace through /proc/sys.

use super::{SysError, SysResult};

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

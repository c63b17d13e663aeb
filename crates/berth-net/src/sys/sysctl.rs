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

//! Connection tracking entries, through conntrack-tools: only UDP mapping changes need it, and
//! they are rare enough that a process start is cheaper than owning a ctnetlink codec.

use super::{SysError, SysResult};
use std::process::{Command, Stdio};

/// Deletes the calling namespace's UDP entries whose original destination port is `port`.
/// Finding none is not an error.
pub fn delete_udp_to_port(port: u16) -> SysResult<()> {
    let out = Command::new("conntrack")
        .args(["-D", "-p", "udp", "--orig-port-dst", &port.to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| SysError::Conntrack(format!("run conntrack: {e}")))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    // conntrack exits 1 when nothing matched.
    if out.status.success() || stderr.contains("0 flow entries") {
        return Ok(());
    }
    Err(SysError::Conntrack(stderr.trim().to_string()))
}

//! nftables: every change is one `nft -f` transaction, so a ruleset is never half applied.

use super::{SysError, SysResult};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Applies `script` atomically with `nft -f -`, inside the network namespace at `netns` when
/// given (else the daemon's own).
pub fn apply(netns: Option<&Path>, script: &str) -> SysResult<()> {
    let err = |message: String| SysError::Nft {
        netns: netns.map(|p| p.display().to_string()).unwrap_or_default(),
        message,
    };
    let result = match netns {
        // A child inherits the namespaces of the thread that spawns it, so nft is started from
        // a thread inside the sandbox. Without a pre_exec hook std spawns with posix_spawn
        // (vfork): no copy of the daemon's page tables, whose size grows with its containers.
        Some(p) => {
            let script = script.to_string();
            super::netns::run_in(p, move || Ok(run_nft(&script)))
                .map_err(|e| err(format!("{e}")))?
        }
        None => run_nft(script),
    };
    result.map_err(err)
}

fn run_nft(script: &str) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| format!("write to nft: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("wait for nft: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(())
}

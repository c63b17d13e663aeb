//! nftables: every change is one `nft -f` transaction, so a ruleset is never half applied.

use super::{SysError, SysResult};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Applies `script` atomically with `nft -f -`, inside the network namespace at `netns` when
/// given (else the daemon's own).
pub fn apply(netns: Option<&Path>, script: &str) -> SysResult<()> {
    apply_reporting(netns, script, &mut |_| {})
}

/// `apply`, telling `spawned` the process ID of the `nft` that writes (nf_tables names it in
/// the notifications of the transaction, so the firewall knows its own writes).
pub fn apply_reporting(
    netns: Option<&Path>,
    script: &str,
    spawned: &mut (dyn FnMut(u32) + Send),
) -> SysResult<()> {
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
            let (r, pid) = super::netns::run_in(p, move || {
                let mut pid = None;
                let r = run_nft(&script, &mut |p| pid = Some(p));
                Ok((r, pid))
            })
            .map_err(|e| err(format!("{e}")))?;
            if let Some(p) = pid {
                spawned(p);
            }
            r
        }
        None => run_nft(script, spawned),
    };
    result.map_err(err)
}

fn run_nft(script: &str, spawned: &mut (dyn FnMut(u32) + Send)) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    spawned(child.id());
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

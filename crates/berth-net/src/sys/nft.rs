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

/// The table that sends a sandbox's port 53 on `addr` to the resolver's real ports. The
/// rewrite is stateless (`notrack` at raw priority, ports rewritten both ways), so queries cost
/// no conntrack entries: a busy container cannot fill the conntrack table with DNS flows as it
/// can under Docker's DNAT. In a fresh sandbox the table is simply added; `replace` declares,
/// deletes and redefines it in one transaction (deleting costs the kernel about 10 ms).
pub fn resolver_redirect(addr: std::net::Ipv4Addr, udp: u16, tcp: u16, replace: bool) -> String {
    let preamble = if replace {
        "table ip berth_dns\ndelete table ip berth_dns\n"
    } else {
        ""
    };
    format!(
        "{preamble}table ip berth_dns {{\n\
         \tchain output {{\n\
         \t\ttype filter hook output priority raw; policy accept;\n\
         \t\tip daddr {addr} udp dport 53 notrack udp dport set {udp}\n\
         \t\tip saddr {addr} udp sport {udp} notrack udp sport set 53\n\
         \t\tip daddr {addr} tcp dport 53 notrack tcp dport set {tcp}\n\
         \t\tip saddr {addr} tcp sport {tcp} notrack tcp sport set 53\n\
         \t}}\n\
         }}\n"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn resolver_redirect_matches_golden() {
        let got = super::resolver_redirect([127, 0, 0, 11].into(), 40001, 40002, true);
        assert_eq!(got, include_str!("testdata/resolver_redirect.nft"));
        let fresh = super::resolver_redirect([127, 0, 0, 11].into(), 40001, 40002, false);
        assert_eq!(
            Some(fresh.as_str()),
            got.strip_prefix("table ip berth_dns\ndelete table ip berth_dns\n")
        );
    }
}

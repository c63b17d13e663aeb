//! What berthd needs from the machine, checked once at start: a missing piece is one clear
//! message then, rather than every container failing later with a kernel-level error.

use std::path::{Path, PathBuf};

/// What the checks look at, so that tests can point them elsewhere.
pub struct Machine<'a> {
    pub mountinfo: &'a str,
    pub filesystems: &'a str,
    pub path_var: &'a str,
}

/// The OCI runtime as configured: a path, or a name looked up in PATH.
fn find_binary(name: &Path, path_var: &str) -> Option<PathBuf> {
    if name.components().count() > 1 {
        return is_executable(name).then(|| name.to_path_buf());
    }
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Every problem found, each saying what to do; empty when berthd can run.
pub fn problems(m: &Machine, runtime: &Path, firewall: bool) -> Vec<String> {
    let mut out = Vec::new();
    let cgroups = m.mountinfo.lines().any(|l| {
        l.split_once(" - ")
            .and_then(|(_, r)| r.split_whitespace().next())
            .is_some_and(|t| t == "cgroup" || t == "cgroup2")
    });
    if !cgroups {
        out.push(
            "no cgroup hierarchy is mounted in berthd's mount namespace (mount cgroup2 on /sys/fs/cgroup, or run berthd where the host's /sys/fs/cgroup is visible)"
                .to_string(),
        );
    }
    if find_binary(runtime, m.path_var).is_none() {
        out.push(format!(
            "the OCI runtime {} is not an executable file or not in PATH (install runc, or set default-runtime and runtimes in daemon.json)",
            runtime.display()
        ));
    }
    if firewall && find_binary(Path::new("nft"), m.path_var).is_none() {
        out.push(
            "nft is not in PATH: berth applies its firewall with nftables (install nftables, or start with --iptables=false)"
                .to_string(),
        );
    }
    let has_fs = |name: &str| {
        m.filesystems
            .lines()
            .any(|l| l.split_whitespace().last() == Some(name))
    };
    if !has_fs("overlay") {
        out.push(
            "the kernel has no overlay filesystem: containers' root filesystems are overlay mounts (modprobe overlay)"
                .to_string(),
        );
    }
    out
}

/// Checks this machine; an error lists every problem at once.
pub fn check(runtime: &Path, firewall: bool) -> Result<(), String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // The overlay module may load on first use, so a missing entry is only trusted when the
    // file itself was readable and the module cannot be loaded on demand.
    let mut filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems.contains("overlay") && Path::new("/sys/module/overlay").exists() {
        filesystems.push_str("nodev\toverlay\n");
    }
    let path_var = std::env::var("PATH").unwrap_or_default();
    let found = problems(
        &Machine {
            mountinfo: &mountinfo,
            filesystems: &filesystems,
            path_var: &path_var,
        },
        runtime,
        firewall,
    );
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "this machine lacks what berthd needs:\n  - {}",
            found.join("\n  - ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CGROUP2: &str = "30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n";

    #[test]
    fn a_complete_machine_passes() {
        let dir = tempfile::tempdir().unwrap();
        for b in ["runc", "nft"] {
            let p = dir.path().join(b);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        let path = format!("/nonexistent:{}", dir.path().display());
        let m = Machine {
            mountinfo: CGROUP2,
            filesystems: "nodev\tproc\nnodev\toverlay\n",
            path_var: &path,
        };
        assert!(problems(&m, Path::new("runc"), true).is_empty());
        let abs = dir.path().join("runc");
        assert!(problems(&m, &abs, true).is_empty());
    }

    #[test]
    fn each_missing_piece_is_named() {
        let m = Machine {
            mountinfo: "22 1 0:5 / /proc rw - proc proc rw\n",
            filesystems: "nodev\tproc\n",
            path_var: "/nonexistent",
        };
        let p = problems(&m, Path::new("runc"), true).join("\n");
        for needle in [
            "no cgroup hierarchy",
            "OCI runtime runc",
            "nft is not in PATH",
            "overlay",
        ] {
            assert!(p.contains(needle), "{needle}: {p}");
        }
        assert!(!problems(&m, Path::new("runc"), false)
            .join("\n")
            .contains("nft"));
    }
}

//! The run options that go to the kernel as they are, through the OCI bundle: sysctls,
//! rlimits, cpusets and CFS periods, memory soft limits, the OOM killer, namespaces shared
//! with the host, supplementary groups, annotations. Checked here at create with Docker's
//! words, so that a bad value is a 400 naming it and never a failed start.

use super::runopts::RunOptions;
use super::{EngineError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One `--ulimit`: Docker's name, and -1 for unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KernelOptions {
    pub sysctls: BTreeMap<String, String>,
    pub ulimits: Vec<Rlimit>,
    /// /dev/shm's size in bytes; 0 is Docker's 64 MiB.
    pub shm_size: i64,
    pub oom_kill_disable: bool,
    pub oom_score_adj: i64,
    pub group_add: Vec<String>,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// CFS period and quota in microseconds (`--cpu-period`, `--cpu-quota`).
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub memory_reservation: i64,
    /// None is the kernel's default (the CLI's -1).
    pub memory_swappiness: Option<i64>,
    pub annotations: BTreeMap<String, String>,
    /// `""`, `private`, `shareable`, `host`, `none`.
    pub ipc_mode: String,
    /// `""` or `host`, for the PID, UTS and user namespaces.
    pub pid_mode: String,
    pub uts_mode: String,
    pub userns_mode: String,
    /// `""`, `host` or `private` (a cgroup namespace of its own).
    pub cgroupns_mode: String,
    /// `--volumes-from` as given, for inspect (the mounts are copied at create).
    pub volumes_from: Vec<String>,
}

impl KernelOptions {
    pub fn host_ipc(&self) -> bool {
        self.ipc_mode == "host"
    }
    pub fn host_pid(&self) -> bool {
        self.pid_mode == "host"
    }
    pub fn host_uts(&self) -> bool {
        self.uts_mode == "host"
    }
}

fn bad(msg: String) -> EngineError {
    EngineError::BadRequest(msg)
}

/// Docker's `--ulimit` names and the kernel's resources.
pub const RLIMITS: &[(&str, &str)] = &[
    ("as", "RLIMIT_AS"),
    ("core", "RLIMIT_CORE"),
    ("cpu", "RLIMIT_CPU"),
    ("data", "RLIMIT_DATA"),
    ("fsize", "RLIMIT_FSIZE"),
    ("locks", "RLIMIT_LOCKS"),
    ("memlock", "RLIMIT_MEMLOCK"),
    ("msgqueue", "RLIMIT_MSGQUEUE"),
    ("nice", "RLIMIT_NICE"),
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("rss", "RLIMIT_RSS"),
    ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"),
    ("sigpending", "RLIMIT_SIGPENDING"),
    ("stack", "RLIMIT_STACK"),
];

/// IPC sysctls a container's own IPC namespace has (Docker's list).
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// A namespaced sysctl the container may set: IPC ones unless it shares the host's IPC,
/// `net.*` unless it shares another network namespace.
pub fn sysctl(key: &str, value: &str, k: &KernelOptions, network_mode: &str) -> Result<()> {
    let ipc = IPC_SYSCTLS.contains(&key) || key.starts_with("fs.mqueue.");
    let net = key.starts_with("net.");
    if !ipc && !net {
        return Err(bad(format!(
            "sysctl '{key}' is not allowed: only namespaced ones are ({}, fs.mqueue.*, net.*)",
            IPC_SYSCTLS.join(", ")
        )));
    }
    if ipc && k.host_ipc() {
        return Err(bad(format!(
            "sysctl '{key}' is not allowed in host IPC namespace"
        )));
    }
    if net && (network_mode == "host" || network_mode.starts_with("container:")) {
        return Err(bad(format!(
            "sysctl '{key}' is not allowed in host network namespace (--network {network_mode})"
        )));
    }
    if key.contains(['/', '\0', '\n']) || key.contains("..") || value.contains(['\0', '\n']) {
        return Err(bad(format!("invalid sysctl {key:?}={value:?}")));
    }
    Ok(())
}

/// `0-3,5`: CPUs or memory nodes that are online here.
pub fn cpuset(what: &str, list: &str, online: &str) -> Result<()> {
    let have = parse_set(online).unwrap_or_default();
    let want = parse_set(list).ok_or_else(|| {
        bad(format!(
            "Invalid value {list} for {what}: expected a list like 0-3,5"
        ))
    })?;
    if let Some(n) = want.iter().find(|n| !have.contains(n)) {
        return Err(bad(format!(
            "Requested {what} are not available - requested {list}, available: {} ({n} is not)",
            online.trim()
        )));
    }
    Ok(())
}

fn parse_set(list: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in list.trim().split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let n = part.parse::<u32>().ok()?;
                (n, n)
            }
        };
        if lo > hi || hi - lo > 4096 {
            return None;
        }
        out.extend(lo..=hi);
    }
    Some(out)
}

fn online(file: &str) -> String {
    // A kernel without NUMA has no node list: node 0 is all there is.
    std::fs::read_to_string(file).unwrap_or_else(|_| "0".into())
}

fn mode(flag: &str, v: &str, allowed: &[&str]) -> Result<()> {
    if v.is_empty() || allowed.contains(&v) {
        return Ok(());
    }
    Err(bad(format!(
        "invalid {flag} {v:?}: berth supports {}",
        allowed.join(", ")
    )))
}

/// The lowest `oom_score_adj` a container can be given, where there is one: a process without
/// CAP_SYS_RESOURCE (berthd, and the runtime it starts) cannot lower its score below what it
/// inherited, and the runtime would fail at start with "Permission denied" (this VM's root
/// lacks the capability). None when berthd has it, or when /proc cannot tell.
fn oom_score_floor() -> Option<i64> {
    const CAP_SYS_RESOURCE: u32 = 24;
    // berthd's capabilities do not change while it runs: read once. Its own score may.
    static LACKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let lacks = *LACKS.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("CapEff:"))
                    .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
            })
            .is_some_and(|eff| eff & (1 << CAP_SYS_RESOURCE) == 0)
    });
    if !lacks {
        return None;
    }
    std::fs::read_to_string("/proc/self/oom_score_adj")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Checks what can be checked before a container exists; `o` for the limits these combine with.
pub fn validate(k: &KernelOptions, o: &RunOptions) -> Result<()> {
    mode(
        "--ipc",
        &k.ipc_mode,
        &["private", "shareable", "host", "none"],
    )?;
    mode("--pid", &k.pid_mode, &["host"])?;
    mode("--uts", &k.uts_mode, &["host"])?;
    mode("--userns", &k.userns_mode, &["host"])?;
    mode("--cgroupns", &k.cgroupns_mode, &["host", "private"])?;
    for u in &k.ulimits {
        if !RLIMITS.iter().any(|(n, _)| *n == u.name) {
            return Err(bad(format!(
                "invalid ulimit type: {}: expected one of {}",
                u.name,
                RLIMITS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let unlimited = |v: i64| v == -1;
        if u.soft < -1 || u.hard < -1 {
            return Err(bad(format!(
                "invalid ulimit {}: limits are numbers, or -1 for unlimited",
                u.name
            )));
        }
        if !unlimited(u.hard) && (unlimited(u.soft) || u.soft > u.hard) {
            return Err(bad(format!(
                "ulimit {}: soft limit {} must be less than hard limit {}",
                u.name, u.soft, u.hard
            )));
        }
    }
    if k.shm_size < 0 {
        return Err(bad("SHM size can not be less than 0".into()));
    }
    if !(-1000..=1000).contains(&k.oom_score_adj) {
        return Err(bad(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            k.oom_score_adj
        )));
    }
    let floor = if k.oom_score_adj == 0 {
        None
    } else {
        oom_score_floor()
    };
    if let Some(floor) = floor.filter(|f| k.oom_score_adj < *f) {
        return Err(bad(format!(
            "--oom-score-adj {} cannot be applied here: berthd lacks CAP_SYS_RESOURCE, so a \
             container's score can only be raised from berthd's own ({floor}); use a value \
             from {floor} to 1000",
            k.oom_score_adj
        )));
    }
    if let Some(s) = k.memory_swappiness.filter(|s| !(0..=100).contains(s)) {
        return Err(bad(format!(
            "Invalid value: {s}, valid memory swappiness range is 0-100"
        )));
    }
    if k.memory_reservation != 0 && k.memory_reservation < 6 * 1024 * 1024 {
        return Err(bad("Minimum memory reservation allowed is 6MB".into()));
    }
    if o.memory > 0 && k.memory_reservation > o.memory {
        return Err(bad(
            "Minimum memory limit can not be less than memory reservation limit, see usage".into(),
        ));
    }
    if k.cpu_period != 0 && !(1000..=1_000_000).contains(&k.cpu_period) {
        return Err(bad(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
                .into(),
        ));
    }
    if k.cpu_quota != 0 && k.cpu_quota != -1 && k.cpu_quota < 1000 {
        return Err(bad(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)".into()
        ));
    }
    if o.nano_cpus > 0 && (k.cpu_period != 0 || k.cpu_quota != 0) {
        return Err(bad(
            "Conflicting options: Nano CPUs and CPU Period or Quota cannot both be set".into(),
        ));
    }
    if !k.cpuset_cpus.is_empty() {
        cpuset(
            "CPUs",
            &k.cpuset_cpus,
            &online("/sys/devices/system/cpu/online"),
        )?;
    }
    if !k.cpuset_mems.is_empty() {
        cpuset(
            "memory nodes",
            &k.cpuset_mems,
            &online("/sys/devices/system/node/online"),
        )?;
    }
    if let Some(g) = k.group_add.iter().find(|g| g.is_empty() || g.contains(':')) {
        return Err(bad(format!(
            "invalid --group-add {g:?}: a group name or number"
        )));
    }
    if k.annotations.keys().any(|a| a.is_empty()) {
        return Err(bad("invalid --annotation: the key is empty".into()));
    }
    Ok(())
}

/// `--volumes-from NAME[:ro|:rw]` as (container, read-only override).
pub fn parse_volumes_from(v: &str) -> Result<(&str, Option<bool>)> {
    let (name, opt) = match v.rsplit_once(':') {
        Some((n, o)) => (n, Some(o)),
        None => (v, None),
    };
    let ro = match opt {
        None => None,
        Some("ro") => Some(true),
        Some("rw") => Some(false),
        Some(o) => {
            return Err(bad(format!(
                "invalid --volumes-from {v}: mode {o} is not supported by berth (ro, rw are)"
            )))
        }
    };
    if name.is_empty() {
        return Err(bad(format!("invalid --volumes-from {v:?}: no container")));
    }
    Ok((name, ro))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::validate::tests::refused;

    fn check(k: KernelOptions) -> Result<()> {
        validate(&k, &RunOptions::default())
    }

    #[test]
    fn sysctls_must_be_namespaced() {
        let k = KernelOptions::default();
        sysctl("net.ipv4.ip_forward", "1", &k, "bridge").unwrap();
        sysctl("kernel.shmmax", "1000", &k, "bridge").unwrap();
        sysctl("fs.mqueue.msg_max", "20", &k, "host").unwrap();
        refused(sysctl("kernel.hostname", "x", &k, "bridge"), "not allowed");
        refused(sysctl("vm.swappiness", "1", &k, "bridge"), "namespaced");
        refused(
            sysctl("net.ipv4.ip_forward", "1", &k, "host"),
            "host network namespace",
        );
        let host_ipc = KernelOptions {
            ipc_mode: "host".into(),
            ..Default::default()
        };
        refused(
            sysctl("kernel.sem", "1", &host_ipc, "bridge"),
            "host IPC namespace",
        );
        refused(sysctl("net.a/../b", "1", &k, "bridge"), "invalid sysctl");
    }

    #[test]
    fn modes_and_limits() {
        check(KernelOptions {
            ipc_mode: "shareable".into(),
            pid_mode: "host".into(),
            cgroupns_mode: "private".into(),
            ..Default::default()
        })
        .unwrap();
        for (k, needle) in [
            (
                KernelOptions {
                    ipc_mode: "container:x".into(),
                    ..Default::default()
                },
                "invalid --ipc \"container:x\"",
            ),
            (
                KernelOptions {
                    pid_mode: "container:x".into(),
                    ..Default::default()
                },
                "--pid",
            ),
            (
                KernelOptions {
                    userns_mode: "remap".into(),
                    ..Default::default()
                },
                "--userns",
            ),
            (
                KernelOptions {
                    oom_score_adj: 1001,
                    ..Default::default()
                },
                "oom score adj",
            ),
            (
                KernelOptions {
                    memory_swappiness: Some(101),
                    ..Default::default()
                },
                "swappiness",
            ),
            (
                KernelOptions {
                    cpu_period: 10,
                    ..Default::default()
                },
                "cfs period",
            ),
            (
                KernelOptions {
                    shm_size: -1,
                    ..Default::default()
                },
                "SHM size",
            ),
            (
                KernelOptions {
                    ulimits: vec![Rlimit {
                        name: "nofile".into(),
                        soft: 20,
                        hard: 10,
                    }],
                    ..Default::default()
                },
                "soft limit 20 must be less than hard limit 10",
            ),
            (
                KernelOptions {
                    ulimits: vec![Rlimit {
                        name: "files".into(),
                        soft: 1,
                        hard: 1,
                    }],
                    ..Default::default()
                },
                "invalid ulimit type: files",
            ),
        ] {
            refused(check(k), needle);
        }
        let nano = RunOptions {
            nano_cpus: 500_000_000,
            ..Default::default()
        };
        let period = KernelOptions {
            cpu_quota: 50_000,
            ..Default::default()
        };
        refused(validate(&period, &nano), "Conflicting options");
    }

    #[test]
    fn cpusets_name_what_is_missing() {
        cpuset("CPUs", "0-1", "0-1\n").unwrap();
        cpuset("CPUs", "1,0", "0-3").unwrap();
        refused(cpuset("CPUs", "0-7", "0-1\n"), "available: 0-1 (2 is not)");
        refused(cpuset("CPUs", "a", "0-1"), "expected a list");
        refused(cpuset("CPUs", "3-1", "0-3"), "expected a list");
    }

    #[test]
    fn volumes_from_modes() {
        assert_eq!(parse_volumes_from("a").unwrap(), ("a", None));
        assert_eq!(parse_volumes_from("a:ro").unwrap(), ("a", Some(true)));
        assert_eq!(parse_volumes_from("a:rw").unwrap(), ("a", Some(false)));
        refused(parse_volumes_from("a:z").map(|_| ()), "mode z");
        refused(parse_volumes_from(":ro").map(|_| ()), "no container");
    }
}

//! `stats`: what a running container uses, read from its cgroups (v1 controllers or the v2
//! hierarchy, whichever holds its directory) and its sandbox's interfaces (the init's
//! `/proc/PID/net/dev`, which shows the container's network namespace).

use super::model::Status;
use super::{Engine, Result};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A container's cgroup directories: per v1 controller, and its v2 directory.
#[derive(Debug, Default, Clone)]
pub struct CgroupDirs {
    v1: BTreeMap<String, PathBuf>,
    v2: Option<PathBuf>,
}

impl CgroupDirs {
    /// The directories of cgroup `path` (`/berth/<id>`) that exist on this machine.
    pub fn locate(path: &str) -> CgroupDirs {
        let rel = path.trim_start_matches('/');
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut dirs = CgroupDirs::default();
        for line in info.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let mut r = right.split_whitespace();
            let (Some(fstype), Some(_source), Some(opts)) = (r.next(), r.next(), r.next()) else {
                continue;
            };
            let Some(mount) = left.split_whitespace().nth(4) else {
                continue;
            };
            let dir = Path::new(mount).join(rel);
            if !dir.is_dir() {
                continue;
            }
            match fstype {
                "cgroup2" => dirs.v2 = Some(dir),
                "cgroup" => {
                    for c in opts.split(',') {
                        if !matches!(c, "rw" | "ro") && !c.starts_with("name=") {
                            dirs.v1.insert(c.to_string(), dir.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        dirs
    }

    /// A v1 controller's file, else the v2 one.
    fn read(&self, controller: &str, v1: &str, v2: &str) -> Option<String> {
        if let Some(d) = self.v1.get(controller) {
            if let Ok(s) = std::fs::read_to_string(d.join(v1)) {
                return Some(s);
            }
        }
        let d = self.v2.as_ref()?;
        std::fs::read_to_string(d.join(v2)).ok()
    }

    /// The PIDs of the container's processes.
    pub fn procs(&self) -> Vec<u32> {
        let text = ["pids", "memory", "freezer", "cpu"]
            .iter()
            .find_map(|c| {
                self.v1
                    .get(*c)
                    .and_then(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
            })
            .or_else(|| {
                self.v2
                    .as_ref()
                    .and_then(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
            })
            .unwrap_or_default();
        text.lines().filter_map(|l| l.trim().parse().ok()).collect()
    }
}

fn number(s: Option<String>) -> Option<u64> {
    s?.trim().parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat).
fn keyed(s: Option<String>) -> BTreeMap<String, u64> {
    s.unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// One interface's counters, as the stats answer carries them.
pub type NetCounters = berth_api::stats::NetworkStats;

/// `/proc/net/dev`'s interfaces, loopback left out as Docker leaves it out.
pub fn parse_net_dev(text: &str) -> BTreeMap<String, NetCounters> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let name = name.trim();
            if name == "lo" {
                return None;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if v.len() < 12 {
                return None;
            }
            Some((
                name.to_string(),
                NetCounters {
                    rx_bytes: v[0],
                    rx_packets: v[1],
                    rx_errors: v[2],
                    rx_dropped: v[3],
                    tx_bytes: v[8],
                    tx_packets: v[9],
                    tx_errors: v[10],
                    tx_dropped: v[11],
                },
            ))
        })
        .collect()
}

/// The host's CPU time (all CPUs, nanoseconds) from `/proc/stat`, as Docker's
/// `system_cpu_usage`.
fn system_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on Linux.
    ticks.saturating_mul(10_000_000)
}

fn host_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// A sample of a container's use.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub read: Option<DateTime<Utc>>,
    pub cpu_total_ns: u64,
    pub cpu_user_ns: u64,
    pub cpu_kernel_ns: u64,
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    pub memory_usage: u64,
    pub memory_limit: u64,
    pub memory_stats: BTreeMap<String, u64>,
    pub pids: u64,
    pub pids_limit: Option<u64>,
    pub networks: BTreeMap<String, NetCounters>,
}

/// Reads a sample of the cgroup `path` and of the network namespace `init` is in.
pub fn sample(path: &str, init: u32) -> Sample {
    let cg = CgroupDirs::locate(path);
    let (cpu_total_ns, cpu_user_ns, cpu_kernel_ns) =
        match number(cg.read("cpuacct", "cpuacct.usage", "-")) {
            Some(total) => {
                // cpuacct.stat is in USER_HZ ticks.
                let s = keyed(cg.read("cpuacct", "cpuacct.stat", "-"));
                let tick = |k: &str| s.get(k).copied().unwrap_or(0) * 10_000_000;
                (total, tick("user"), tick("system"))
            }
            None => {
                let s = keyed(cg.read("cpu", "-", "cpu.stat"));
                let us = |k: &str| s.get(k).copied().unwrap_or(0) * 1000;
                (us("usage_usec"), us("user_usec"), us("system_usec"))
            }
        };
    let host = host_memory();
    let limit = number(cg.read("memory", "memory.limit_in_bytes", "memory.max"))
        .filter(|l| host == 0 || *l < host)
        .unwrap_or(host);
    let pids_limit = number(cg.read("pids", "pids.max", "pids.max"));
    Sample {
        read: Some(Utc::now()),
        cpu_total_ns,
        cpu_user_ns,
        cpu_kernel_ns,
        system_cpu_ns: system_cpu_ns(),
        online_cpus: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        memory_usage: number(cg.read("memory", "memory.usage_in_bytes", "memory.current"))
            .unwrap_or(0),
        memory_limit: limit,
        memory_stats: keyed(cg.read("memory", "memory.stat", "memory.stat")),
        pids: number(cg.read("pids", "pids.current", "pids.current")).unwrap_or(0),
        pids_limit,
        networks: std::fs::read_to_string(format!("/proc/{init}/net/dev"))
            .map(|t| parse_net_dev(&t))
            .unwrap_or_default(),
    }
}

impl Engine {
    /// A sample of the container's use; a container that is not running uses nothing (the
    /// sample Docker sends for one is empty too).
    pub async fn stats_sample(&self, key: &str) -> Result<(super::Container, Sample)> {
        let c = self.container(key).await?;
        if c.state.status != Status::Running || c.state.pid == 0 {
            return Ok((c, Sample::default()));
        }
        let path = super::cgroups::container_path(self.runtime.cgroup_parent(), &c.id);
        let pid = c.state.pid;
        let s = tokio::task::spawn_blocking(move || sample(&path, pid))
            .await
            .map_err(super::EngineError::task("stats"))?;
        Ok((c, s))
    }

    /// The container's cgroup directories.
    pub fn cgroup_dirs(&self, c: &super::Container) -> CgroupDirs {
        CgroupDirs::locate(&super::cgroups::container_path(
            self.runtime.cgroup_parent(),
            &c.id,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_without_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    1500      10    1    2    0     0          0         0      700       5    3    4    0     0       0          0\n";
        let n = parse_net_dev(text);
        assert_eq!(n.len(), 1);
        let e = &n["eth0"];
        assert_eq!(
            (e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped),
            (1500, 10, 1, 2)
        );
        assert_eq!(
            (e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped),
            (700, 5, 3, 4)
        );
    }
}

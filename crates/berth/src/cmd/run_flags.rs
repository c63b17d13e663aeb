//! `berth run`'s flags beyond networking and the command, as the docker CLI spells them:
//! files of environment and labels, the kernel options and `--platform`. They fill the same
//! create body fields the docker CLI fills, so berthd checks both alike.

use crate::Failure;
use berth_api::container::{HostConfig, Ulimit};
use clap::Args;
use std::collections::BTreeMap;

#[derive(Debug, Args, Default)]
pub struct KernelFlags {
    /// Read in a file of environment variables.
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Read in a line delimited file of labels.
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    /// Sysctl options (NAME=VALUE).
    #[arg(long)]
    sysctl: Vec<String>,
    /// Ulimit options (NAME=SOFT[:HARD]).
    #[arg(long)]
    ulimit: Vec<String>,
    /// Size of /dev/shm (e.g. 64m).
    #[arg(long = "shm-size")]
    shm_size: Option<String>,
    /// IPC mode: private, shareable, host, none.
    #[arg(long)]
    ipc: Option<String>,
    /// PID namespace: host.
    #[arg(long)]
    pid: Option<String>,
    /// UTS namespace: host.
    #[arg(long)]
    uts: Option<String>,
    /// User namespace: host.
    #[arg(long)]
    userns: Option<String>,
    /// Cgroup namespace: host or private.
    #[arg(long)]
    cgroupns: Option<String>,
    /// Additional groups to join.
    #[arg(long = "group-add")]
    group_add: Vec<String>,
    /// Disable the OOM killer.
    #[arg(long = "oom-kill-disable")]
    oom_kill_disable: bool,
    /// Tune the host's OOM preferences (-1000 to 1000).
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    oom_score_adj: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Memory nodes in which to allow execution.
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// CFS period in microseconds.
    #[arg(long = "cpu-period")]
    cpu_period: Option<i64>,
    /// CFS quota in microseconds.
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// Memory soft limit (e.g. 32m).
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    /// Memory swappiness (0 to 100).
    #[arg(long = "memory-swappiness")]
    memory_swappiness: Option<i64>,
    /// An annotation for the OCI runtime (KEY=VALUE).
    #[arg(long)]
    annotation: Vec<String>,
    /// Mount the volumes of another container (NAME[:ro|rw]).
    #[arg(long = "volumes-from")]
    volumes_from: Vec<String>,
    /// Platform of the image (this machine's only).
    #[arg(long)]
    pub platform: Option<String>,
}

fn usage(m: String) -> Failure {
    Failure {
        message: Some(format!("berth: {m}.\nSee 'berth run --help'.")),
        code: 125,
    }
}

/// `64m`, `1g`, `512k`, `100` (bytes), as Docker's RAMInBytes.
pub fn bytes(v: &str) -> Result<i64, String> {
    let t = v.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| format!("invalid size: '{v}'"))?;
    if !(0.0..=(i64::MAX as f64 / mult as f64)).contains(&n) {
        return Err(format!("invalid size: '{v}'"));
    }
    Ok((n * mult as f64) as i64)
}

fn pairs(list: &[String], what: &str) -> Result<BTreeMap<String, String>, Failure> {
    list.iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(usage(format!(
                "invalid argument \"{s}\" for \"--{what}\" flag: expected KEY=VALUE"
            ))),
        })
        .collect()
}

/// `NAME=SOFT[:HARD]`; a missing hard limit is the soft one, `unlimited` and -1 are -1.
pub fn ulimit(s: &str) -> Result<Ulimit, String> {
    let bad =
        || format!("invalid argument \"{s}\" for \"--ulimit\" flag: expected NAME=SOFT[:HARD]");
    let (name, limits) = s.split_once('=').ok_or_else(bad)?;
    let num = |v: &str| match v {
        "unlimited" => Ok(-1),
        v => v.parse::<i64>().map_err(|_| bad()),
    };
    let (soft, hard) = match limits.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(limits)?, num(limits)?),
    };
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// Lines of `--env-file`/`--label-file`: blank lines and `#` comments skipped; a bare `NAME`
/// in an env file takes the value from berth's own environment, as the docker CLI's.
pub fn file_lines(path: &str, env: bool) -> Result<Vec<String>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| usage(format!("open {path}: {e}")))?;
    Ok(text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            if !env || l.contains('=') {
                Some(l.to_string())
            } else {
                std::env::var(l).ok().map(|v| format!("{l}={v}"))
            }
        })
        .collect())
}

impl KernelFlags {
    /// Fills the HostConfig fields these flags stand for.
    pub fn apply(&self, h: &mut HostConfig) -> Result<(), Failure> {
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        h.sysctls = Some(pairs(&self.sysctl, "sysctl")?);
        h.annotations = Some(pairs(&self.annotation, "annotation")?);
        h.ulimits = Some(
            self.ulimit
                .iter()
                .map(|u| ulimit(u))
                .collect::<Result<_, _>>()
                .map_err(usage)?,
        );
        h.shm_size = self
            .shm_size
            .as_deref()
            .map(bytes)
            .transpose()
            .map_err(usage)?
            .unwrap_or(0);
        h.memory_reservation = self
            .memory_reservation
            .as_deref()
            .map(bytes)
            .transpose()
            .map_err(usage)?
            .unwrap_or(0);
        h.ipc_mode = opt(&self.ipc);
        h.pid_mode = opt(&self.pid);
        h.uts_mode = opt(&self.uts);
        h.userns_mode = opt(&self.userns);
        h.cgroupns_mode = opt(&self.cgroupns);
        h.group_add = Some(self.group_add.clone());
        h.oom_kill_disable = Some(self.oom_kill_disable);
        h.oom_score_adj = self.oom_score_adj.unwrap_or(0);
        h.cpuset_cpus = opt(&self.cpuset_cpus);
        h.cpuset_mems = opt(&self.cpuset_mems);
        h.cpu_period = self.cpu_period.unwrap_or(0);
        h.cpu_quota = self.cpu_quota.unwrap_or(0);
        h.memory_swappiness = Some(self.memory_swappiness.unwrap_or(-1));
        h.volumes_from = Some(self.volumes_from.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ulimits() {
        assert_eq!(bytes("64m").unwrap(), 64 << 20);
        assert_eq!(bytes("1g").unwrap(), 1 << 30);
        assert_eq!(bytes("512").unwrap(), 512);
        assert_eq!(bytes("1.5k").unwrap(), 1536);
        assert!(bytes("lots").is_err());
        assert!(bytes("-1m").is_err());
        let u = ulimit("nofile=100:200").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 100, 200));
        let u = ulimit("core=unlimited").unwrap();
        assert_eq!((u.soft, u.hard), (-1, -1));
        assert!(ulimit("nofile").is_err());
        assert!(ulimit("nofile=a").is_err());
    }

    #[test]
    fn files_skip_comments_and_blank_lines() {
        let p = std::env::temp_dir().join(format!("berth-env-file-{}", std::process::id()));
        std::fs::write(&p, "# c\nA=1\n\n  B=2\nBERTH_TEST_SURELY_UNSET\n").unwrap();
        let got = file_lines(p.to_str().unwrap(), true).unwrap();
        std::fs::remove_file(&p).unwrap();
        assert_eq!(got, vec!["A=1", "B=2"]);
        assert!(file_lines("/nonexistent/x", false).is_err());
    }
}

//! What `run` asks of the container's process and filesystem beyond its command: mounts (bind,
//! named and anonymous volumes, tmpfs), user, read-only root, capabilities, privileged, cgroup
//! limits, `--init`, security options. Validated at create, resolved against the image and the
//! volume store at start, applied to the OCI bundle by bundle.rs.

use super::{EngineError, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    #[default]
    Bind,
    Volume,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// One mount into the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    pub kind: MountKind,
    /// Host path (bind), volume name (volume; never empty once created), unused (tmpfs).
    pub source: String,
    pub target: String,
    pub read_only: bool,
    /// tmpfs mount options (`size=64m,mode=1777`).
    #[serde(default)]
    pub options: Vec<String>,
    /// A volume made for this container alone (Config.Volumes without a source).
    #[serde(default)]
    pub anonymous: bool,
    /// `-v /host:/ctr` makes a missing host directory (Docker's Binds); `--mount` refuses it.
    #[serde(default)]
    pub create_source: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunOptions {
    pub mounts: Vec<MountSpec>,
    /// `-u USER[:GROUP]`, names or numbers.
    pub user: String,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// Bytes; 0 is no limit.
    pub memory: i64,
    /// Memory plus swap in bytes; 0 is Docker's default (twice the memory), -1 unlimited.
    pub memory_swap: i64,
    /// CPUs in billionths (`--cpus 1.5` is 1_500_000_000).
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    /// 0 is no limit (as -1).
    pub pids_limit: i64,
    pub init: bool,
    pub no_new_privileges: bool,
    /// `--health-*` (Config.Healthcheck); None inherits the image's.
    #[serde(default)]
    pub healthcheck: Option<super::health::HealthConfig>,
    /// What reaches the kernel beyond the above: sysctls, rlimits, cpusets, namespaces
    /// (kernelopts.rs checks them).
    pub kernel: super::kernelopts::KernelOptions,
}

/// Capability names as Docker takes them (`NET_ADMIN`, `CAP_NET_ADMIN`, `net_admin`, `ALL`).
pub fn normalize_cap(name: &str) -> Result<String> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if bare == "ALL" {
        return Ok("ALL".into());
    }
    let full = format!("CAP_{bare}");
    if parse_cap(&full).is_none() {
        return Err(EngineError::BadRequest(format!(
            "invalid capability {name}: unknown capability"
        )));
    }
    Ok(full)
}

/// A capability by name (oci-spec parses names through serde only).
pub fn parse_cap(name: &str) -> Option<oci_spec::runtime::Capability> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

/// Docker's rule for mount targets: absolute, and not `/`.
pub fn check_target(target: &str) -> Result<()> {
    if !target.starts_with('/') || target == "/" {
        return Err(EngineError::BadRequest(format!(
            "invalid mount config: invalid mount path: '{target}' mount path must be absolute and not /"
        )));
    }
    Ok(())
}

/// Checks what can be checked before a container exists.
pub fn validate(o: &RunOptions) -> Result<()> {
    for m in &o.mounts {
        check_target(&m.target)?;
        if m.kind == MountKind::Bind && !m.source.starts_with('/') {
            return Err(EngineError::BadRequest(format!(
                "invalid mount config for type \"bind\": invalid mount path: '{}' mount path must be absolute",
                m.source
            )));
        }
    }
    let mut targets: Vec<&str> = o.mounts.iter().map(|m| m.target.as_str()).collect();
    targets.sort();
    if let Some(w) = targets.windows(2).find(|w| w[0] == w[1]) {
        return Err(EngineError::BadRequest(format!(
            "Duplicate mount point: {}",
            w[0]
        )));
    }
    for c in o.cap_add.iter().chain(&o.cap_drop) {
        normalize_cap(c)?;
    }
    if o.memory != 0 && o.memory < 6 * 1024 * 1024 {
        return Err(EngineError::BadRequest(
            "Minimum memory limit allowed is 6MB".into(),
        ));
    }
    if o.memory_swap > 0 && o.memory > 0 && o.memory_swap < o.memory {
        return Err(EngineError::BadRequest(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ));
    }
    if o.memory_swap != 0 && o.memory == 0 {
        return Err(EngineError::BadRequest(
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        ));
    }
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as i64)
        .unwrap_or(1);
    if o.nano_cpus < 0 || o.nano_cpus > cpus * 1_000_000_000 {
        return Err(EngineError::BadRequest(format!(
            "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )));
    }
    if o.nano_cpus > 0 && o.nano_cpus < 10_000_000 {
        return Err(EngineError::BadRequest(
            "Range of CPUs is from 0.01 to the number of CPUs available".into(),
        ));
    }
    super::kernelopts::validate(&o.kernel, o)?;
    if !o.user.is_empty() && o.user.split(':').any(str::is_empty) {
        return Err(EngineError::BadRequest(format!(
            "invalid user {}: expected USER[:GROUP]",
            o.user
        )));
    }
    Ok(())
}

/// The process's user, resolved against the image's /etc/passwd and /etc/group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

fn lookup(file: &Path, name: &str) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[0] == name).then(|| {
            let id = f[2].parse().ok()?;
            let gid = f.get(3).and_then(|g| g.parse().ok()).unwrap_or(id);
            Some((id, gid))
        })?
    })
}

/// `USER[:GROUP]` as numbers: a number is taken as is, a name is looked up in the image.
pub fn resolve_user(user: &str, rootfs: &Path) -> Result<Ids> {
    if user.is_empty() {
        return Ok(Ids::default());
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let (uid, mut gid) = match u.parse::<u32>() {
        Ok(n) => (n, lookup_uid_gid(rootfs, n).unwrap_or(0)),
        Err(_) => lookup(&rootfs.join("etc/passwd"), u).ok_or_else(|| {
            EngineError::BadRequest(format!(
                "unable to find user {u}: no matching entries in passwd file"
            ))
        })?,
    };
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup(&rootfs.join("etc/group"), g)
                .map(|(id, _)| id)
                .ok_or_else(|| {
                    EngineError::BadRequest(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
    }
    Ok(Ids { uid, gid })
}

/// The primary group of a numeric user that the image's passwd names.
fn lookup_uid_gid(rootfs: &Path, uid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(rootfs.join("etc/passwd")).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && f[2].parse::<u32>().ok() == Some(uid))
            .then(|| f[3].parse().ok())
            .flatten()
    })
}

/// `--group-add`: numbers as they are, names from the image's /etc/group.
pub fn resolve_groups(groups: &[String], rootfs: &Path) -> Result<Vec<u32>> {
    groups
        .iter()
        .map(|g| match g.parse::<u32>() {
            Ok(n) => Ok(n),
            Err(_) => lookup(&rootfs.join("etc/group"), g)
                .map(|(id, _)| id)
                .ok_or_else(|| {
                    EngineError::BadRequest(format!(
                        "Unable to find group {g}: no matching entries in group file"
                    ))
                }),
        })
        .collect()
}

/// Where `--init` finds its init on the host: Docker's docker-init, or tini.
pub fn init_binary() -> Result<PathBuf> {
    [
        "/usr/bin/docker-init",
        "/usr/bin/tini-static",
        "/usr/bin/tini",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .ok_or_else(|| {
        EngineError::BadRequest(
            "--init needs an init binary on the host: install tini (docker-init or tini-static)"
                .into(),
        )
    })
}

/// Binds: a missing source is made (`-v`) or refused (`--mount`), as Docker's.
pub fn prepare_binds(mounts: &[MountSpec]) -> Result<()> {
    for m in mounts.iter().filter(|m| m.kind == MountKind::Bind) {
        let p = Path::new(&m.source);
        if p.exists() {
            continue;
        }
        if !m.create_source {
            return Err(EngineError::BadRequest(format!(
                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                m.source
            )));
        }
        std::fs::create_dir_all(p).map_err(|e| {
            EngineError::BadRequest(format!(
                "error while creating mount source path '{}': {e}",
                m.source
            ))
        })?;
    }
    Ok(())
}

/// What bundle.rs applies: the options with mounts resolved to host paths.
pub struct Resolved<'a> {
    pub opts: &'a RunOptions,
    pub ids: Ids,
    /// (source on the host, mount) for binds and volumes; tmpfs mounts have no source.
    pub mounts: Vec<(Option<PathBuf>, &'a MountSpec)>,
    pub init: Option<PathBuf>,
    /// `--group-add` as numbers.
    pub groups: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_and_targets() {
        assert_eq!(normalize_cap("net_admin").unwrap(), "CAP_NET_ADMIN");
        assert_eq!(normalize_cap("CAP_SYS_TIME").unwrap(), "CAP_SYS_TIME");
        assert_eq!(normalize_cap("all").unwrap(), "ALL");
        assert!(normalize_cap("FLY").is_err());
        assert!(check_target("relative").is_err());
        assert!(check_target("/").is_err());
    }

    #[test]
    fn users_resolve_from_the_image() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/:/bin/sh\nbob:x:1000:100::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(d.path().join("etc/group"), "users:x:100:\nstaff:x:50:\n").unwrap();
        assert_eq!(
            resolve_user("bob", d.path()).unwrap(),
            Ids {
                uid: 1000,
                gid: 100
            }
        );
        assert_eq!(
            resolve_user("1000", d.path()).unwrap(),
            Ids {
                uid: 1000,
                gid: 100
            }
        );
        assert_eq!(
            resolve_user("bob:staff", d.path()).unwrap(),
            Ids { uid: 1000, gid: 50 }
        );
        assert_eq!(
            resolve_user("7:8", d.path()).unwrap(),
            Ids { uid: 7, gid: 8 }
        );
        assert!(resolve_user("alice", d.path()).is_err());
        assert_eq!(
            resolve_groups(&["staff".into(), "7".into()], d.path()).unwrap(),
            vec![50, 7]
        );
        assert!(resolve_groups(&["nosuch".into()], d.path()).is_err());
    }

    #[test]
    fn limits_are_checked() {
        let ok = RunOptions {
            memory: 64 << 20,
            nano_cpus: 500_000_000,
            ..Default::default()
        };
        assert!(validate(&ok).is_ok());
        assert!(validate(&RunOptions {
            memory: 1000,
            ..Default::default()
        })
        .is_err());
        assert!(validate(&RunOptions {
            nano_cpus: 1_000_000_000_000,
            ..Default::default()
        })
        .is_err());
        let dup = MountSpec {
            kind: MountKind::Tmpfs,
            target: "/a".into(),
            ..Default::default()
        };
        assert!(validate(&RunOptions {
            mounts: vec![dup.clone(), dup],
            ..Default::default()
        })
        .is_err());
    }
}

//! The OCI bundle of a container: config.json from oci-spec's runc-like defaults, adjusted for
//! the container's command, environment, hostname, namespaces and generated /etc files.

use super::runopts::{self, MountKind};
use super::{EngineError, Result};
use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilities, LinuxCpuBuilder, LinuxDeviceCgroupBuilder,
    LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResources, Mount, MountBuilder, PosixRlimitBuilder, PosixRlimitType,
    Spec, UserBuilder,
};
use std::path::{Path, PathBuf};

pub struct BundleSpec<'a> {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub hostname: String,
    pub domainname: String,
    /// The network namespace to join; `None` shares the daemon's (host mode).
    pub netns: Option<&'a Path>,
    /// (file on the host, path in the container) bind mounts: /etc/hosts and friends.
    pub etc_files: Vec<(PathBuf, &'static str)>,
    /// `-t`: the process gets a terminal from the runtime.
    pub terminal: bool,
    /// Where the runtime makes the container's cgroups (`/berth/<id>`).
    pub cgroups_path: String,
    /// Mounts, user, capabilities, limits and the rest of `run`'s options.
    pub run: runopts::Resolved<'a>,
}

fn bind(src: &Path, dst: &str) -> Result<Mount> {
    bind_mount(src, dst, false)
}

fn bind_mount(src: &Path, dst: &str, read_only: bool) -> Result<Mount> {
    let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
    if read_only {
        options.push("ro".into());
    }
    MountBuilder::default()
        .destination(dst)
        .typ("bind")
        .source(src)
        .options(options)
        .build()
        .map_err(EngineError::spec(format!("bundle mount {dst}")))
}

fn tmpfs(dst: &str, extra: &[String], read_only: bool) -> Result<Mount> {
    // Docker's defaults for --tmpfs; the user's options come after and win.
    let mut options: Vec<String> = ["nosuid", "nodev", "noexec"].map(String::from).to_vec();
    options.extend(extra.iter().cloned());
    if read_only {
        options.push("ro".into());
    }
    MountBuilder::default()
        .destination(dst)
        .typ("tmpfs")
        .source("tmpfs")
        .options(options)
        .build()
        .map_err(EngineError::spec(format!("bundle mount {dst}")))
}

/// Docker's capability set changed by `--cap-add`/`--cap-drop` (`ALL` in either), or every
/// capability for `--privileged`.
fn capabilities(o: &runopts::RunOptions) -> Result<LinuxCapabilities> {
    let mut caps = docker_capabilities();
    let mut set: Capabilities = caps.bounding().clone().unwrap_or_default();
    let all = || -> Capabilities { all_capabilities().into_iter().collect() };
    if o.privileged {
        set = all();
    } else {
        let names = |v: &[String]| -> Result<Vec<String>> {
            v.iter().map(|c| runopts::normalize_cap(c)).collect()
        };
        let (add, drop) = (names(&o.cap_add)?, names(&o.cap_drop)?);
        if drop.iter().any(|c| c == "ALL") {
            set.clear();
        }
        if add.iter().any(|c| c == "ALL") {
            set = all();
        }
        for c in drop.iter().filter(|c| *c != "ALL") {
            if let Some(cap) = runopts::parse_cap(c) {
                set.remove(&cap);
            }
        }
        for c in add.iter().filter(|c| *c != "ALL") {
            if let Some(cap) = runopts::parse_cap(c) {
                set.insert(cap);
            }
        }
    }
    caps.set_bounding(Some(set.clone()));
    caps.set_effective(Some(set.clone()));
    caps.set_permitted(Some(set));
    Ok(caps)
}

/// Every capability berthd itself may hand out (its bounding set, as Docker's "ALL"): asking
/// the runtime for one outside it fails the start.
fn all_capabilities() -> Vec<Capability> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0);
    // CAP_NAMES is in the kernel's order: a name's index is its bit.
    CAP_NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
        .filter_map(|(_, n)| runopts::parse_cap(n))
        .collect()
}

const CAP_NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// cgroup limits: memory (and swap), CPU quota and shares, pids; `--privileged` may use every
/// device.
fn resources(o: &runopts::RunOptions) -> Result<LinuxResources> {
    let err = |source| EngineError::Spec {
        context: "bundle resources".into(),
        source,
    };
    let k = &o.kernel;
    let mut r = LinuxResources::default();
    if o.memory > 0
        || k.memory_reservation > 0
        || k.oom_kill_disable
        || k.memory_swappiness.is_some()
    {
        let mut mem = LinuxMemoryBuilder::default();
        if o.memory > 0 {
            let swap = match o.memory_swap {
                0 => o.memory * 2,
                s => s,
            };
            mem = mem.limit(o.memory).swap(swap);
        }
        if k.memory_reservation > 0 {
            mem = mem.reservation(k.memory_reservation);
        }
        if k.oom_kill_disable {
            mem = mem.disable_oom_killer(true);
        }
        if let Some(s) = k.memory_swappiness {
            mem = mem.swappiness(s as u64);
        }
        r.set_memory(Some(mem.build().map_err(err)?));
    }
    let cfs = k.cpu_period != 0 || k.cpu_quota != 0;
    let sets = !k.cpuset_cpus.is_empty() || !k.cpuset_mems.is_empty();
    if o.nano_cpus > 0 || o.cpu_shares > 0 || cfs || sets {
        let mut cpu = LinuxCpuBuilder::default();
        if o.nano_cpus > 0 {
            const PERIOD: u64 = 100_000;
            cpu = cpu
                .period(PERIOD)
                .quota(o.nano_cpus * PERIOD as i64 / 1_000_000_000);
        }
        if k.cpu_period > 0 {
            cpu = cpu.period(k.cpu_period as u64);
        }
        if k.cpu_quota != 0 {
            cpu = cpu.quota(k.cpu_quota);
        }
        if o.cpu_shares > 0 {
            cpu = cpu.shares(o.cpu_shares as u64);
        }
        if !k.cpuset_cpus.is_empty() {
            cpu = cpu.cpus(k.cpuset_cpus.clone());
        }
        if !k.cpuset_mems.is_empty() {
            cpu = cpu.mems(k.cpuset_mems.clone());
        }
        r.set_cpu(Some(cpu.build().map_err(err)?));
    }
    if o.pids_limit > 0 {
        r.set_pids(Some(
            LinuxPidsBuilder::default()
                .limit(o.pids_limit)
                .build()
                .map_err(err)?,
        ));
    }
    if o.privileged {
        r.set_devices(Some(vec![LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .access("rwm")
            .build()
            .map_err(err)?]));
    }
    Ok(r)
}

fn ns(typ: LinuxNamespaceType, path: Option<&Path>) -> Result<LinuxNamespace> {
    let mut b = LinuxNamespaceBuilder::default().typ(typ);
    if let Some(p) = path {
        b = b.path(p);
    }
    b.build().map_err(EngineError::spec("bundle namespace"))
}

/// Docker's default capability set: NET_RAW among them, so that ping works as root.
fn docker_capabilities() -> LinuxCapabilities {
    use Capability::*;
    let set: Capabilities = [
        Chown,
        DacOverride,
        Fsetid,
        Fowner,
        Mknod,
        NetRaw,
        Setgid,
        Setuid,
        Setfcap,
        Setpcap,
        NetBindService,
        SysChroot,
        Kill,
        AuditWrite,
    ]
    .into_iter()
    .collect();
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(set.clone()));
    caps.set_effective(Some(set.clone()));
    caps.set_permitted(Some(set));
    caps.set_inheritable(None);
    caps.set_ambient(None);
    caps
}

/// `--ulimit` as the runtime's rlimits; -1 is unlimited.
fn rlimits(k: &super::kernelopts::KernelOptions) -> Result<Vec<oci_spec::runtime::PosixRlimit>> {
    let limit = |v: i64| u64::try_from(v).unwrap_or(u64::MAX);
    k.ulimits
        .iter()
        .map(|u| {
            let kernel = super::kernelopts::RLIMITS
                .iter()
                .find(|(n, _)| *n == u.name)
                .map(|(_, r)| *r)
                .ok_or_else(|| EngineError::Invariant(format!("ulimit {} unchecked", u.name)))?;
            let typ: PosixRlimitType = serde_json::from_value(kernel.into())
                .map_err(|e| EngineError::Invariant(format!("rlimit {kernel}: {e}")))?;
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(limit(u.soft))
                .hard(limit(u.hard))
                .build()
                .map_err(EngineError::spec("bundle rlimit"))
        })
        .collect()
}

/// /dev/shm as `--ipc` and `--shm-size` ask: the host's for `host`, none for `none`, else
/// the runtime's tmpfs at the asked size.
fn shm(mounts: &mut Vec<Mount>, k: &super::kernelopts::KernelOptions) -> Result<()> {
    let at = mounts
        .iter()
        .position(|m| m.destination() == Path::new("/dev/shm"));
    match (k.ipc_mode.as_str(), at) {
        ("none", Some(i)) => {
            mounts.remove(i);
        }
        ("host", Some(i)) => mounts[i] = bind(Path::new("/dev/shm"), "/dev/shm")?,
        (_, Some(i)) if k.shm_size > 0 => {
            let mut opts: Vec<String> = mounts[i].options().clone().unwrap_or_default();
            opts.retain(|o| !o.starts_with("size="));
            opts.push(format!("size={}", k.shm_size));
            mounts[i].set_options(Some(opts));
        }
        _ => {}
    }
    Ok(())
}

/// Writes `<bundle>/config.json`; the root filesystem is `<bundle>/rootfs`.
pub fn write(bundle: &Path, b: &BundleSpec) -> Result<()> {
    let o = b.run.opts;
    let k = &o.kernel;
    let mut spec = Spec::default();
    if k.host_uts() {
        // With the host's UTS namespace the runtime may set no name (oci-spec's default
        // spec has one): it is the host's.
        spec.set_hostname(None);
    } else {
        spec.set_hostname(Some(b.hostname.clone()));
        if !b.domainname.is_empty() {
            spec.set_domainname(Some(b.domainname.clone()));
        }
    }
    if !k.annotations.is_empty() {
        spec.set_annotations(Some(k.annotations.clone().into_iter().collect()));
    }
    if let Some(root) = spec.root_mut() {
        root.set_path(bundle.join("rootfs"));
        root.set_readonly(Some(o.read_only));
    }
    let mut args = b.args.clone();
    if b.run.init.is_some() {
        args.splice(0..0, ["/sbin/docker-init".to_string(), "--".to_string()]);
    }
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(b.terminal));
        p.set_capabilities(Some(capabilities(o)?));
        p.set_args(Some(args));
        p.set_env(Some(b.env.clone()));
        p.set_cwd(PathBuf::from(if b.cwd.is_empty() { "/" } else { &b.cwd }));
        p.set_user(
            UserBuilder::default()
                .uid(b.run.ids.uid)
                .gid(b.run.ids.gid)
                .additional_gids(b.run.groups.clone())
                .build()
                .map_err(EngineError::spec("bundle user"))?,
        );
        // Docker's default is off (setuid programs work); oci-spec's default is on.
        p.set_no_new_privileges(Some(o.no_new_privileges));
        if !k.ulimits.is_empty() {
            // The runtime's default (nofile 1024) stays unless the user names it.
            let mut all = rlimits(k)?;
            for d in p.rlimits().clone().unwrap_or_default() {
                if !all.iter().any(|r| r.typ() == d.typ()) {
                    all.push(d);
                }
            }
            p.set_rlimits(Some(all));
        }
        if k.oom_score_adj != 0 {
            p.set_oom_score_adj(Some(k.oom_score_adj as i32));
        }
    }
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    if o.privileged {
        // A privileged container may write /sys, as Docker's.
        for m in mounts.iter_mut() {
            if m.typ().as_deref() == Some("sysfs") || m.typ().as_deref() == Some("cgroup") {
                let opts = m.options().clone().unwrap_or_default();
                m.set_options(Some(opts.into_iter().filter(|o| o != "ro").collect()));
            }
        }
    }
    shm(&mut mounts, k)?;
    for (src, dst) in &b.etc_files {
        mounts.push(bind(src, dst)?);
    }
    // Parents before children, so that a mount inside another mount's target lands on it.
    let mut user: Vec<_> = b.run.mounts.iter().collect();
    user.sort_by_key(|(_, m)| m.target.matches('/').count());
    for (src, m) in user {
        mounts.push(match (m.kind, src) {
            (MountKind::Tmpfs, _) => tmpfs(&m.target, &m.options, m.read_only)?,
            (_, Some(src)) => bind_mount(src, &m.target, m.read_only)?,
            (_, None) => {
                return Err(EngineError::Invariant(format!(
                    "mount {}: no source resolved",
                    m.target
                )))
            }
        });
    }
    if let Some(init) = &b.run.init {
        mounts.push(bind_mount(init, "/sbin/docker-init", true)?);
    }
    spec.set_mounts(Some(mounts));
    if let Some(linux) = spec.linux_mut() {
        // Hybrid cgroups: the host's cgroup namespace, as Docker does on cgroup v1, unless
        // `--cgroupns private`. A namespace the container shares with the host is left out.
        let mut namespaces = vec![ns(LinuxNamespaceType::Mount, None)?];
        for (typ, shared) in [
            (LinuxNamespaceType::Pid, k.host_pid()),
            (LinuxNamespaceType::Ipc, k.host_ipc()),
            (LinuxNamespaceType::Uts, k.host_uts()),
            (LinuxNamespaceType::Cgroup, k.cgroupns_mode != "private"),
        ] {
            if !shared {
                namespaces.push(ns(typ, None)?);
            }
        }
        if let Some(path) = b.netns {
            namespaces.push(ns(LinuxNamespaceType::Network, Some(path))?);
        }
        linux.set_namespaces(Some(namespaces));
        linux.set_cgroups_path(Some(PathBuf::from(&b.cgroups_path)));
        linux.set_resources(Some(resources(o)?));
        let mut sysctl: std::collections::HashMap<String, String> =
            k.sysctls.clone().into_iter().collect();
        if !b.domainname.is_empty() && !k.host_uts() {
            // runc 1.1 ignores the spec's domainname; the UTS namespace's sysctl sets it.
            sysctl.insert("kernel.domainname".into(), b.domainname.clone());
        }
        if !sysctl.is_empty() {
            linux.set_sysctl(Some(sysctl));
        }
        if o.privileged {
            linux.set_masked_paths(None);
            linux.set_readonly_paths(None);
        }
    }
    let path = bundle.join("config.json");
    spec.save(&path)
        .map_err(EngineError::spec(format!("write {}", path.display())))?;
    // The container's environment is in it, secrets included: the daemon's alone.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        EngineError::Os {
            context: format!("make {} private", path.display()),
            source,
        }
    })
}

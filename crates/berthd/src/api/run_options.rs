//! The parts of a create body that shape the process and its filesystem (`-v`, `--mount`,
//! `--tmpfs`, `-u`, `--read-only`, `--privileged`, `--cap-*`, `--memory`, `--cpus`,
//! `--pids-limit`, `--init`, `--security-opt`), and the rule that nothing is dropped silently:
//! every field berth does not implement must hold its default value, or the create is a 400
//! naming it.

use super::ApiError;
use crate::engine::kernelopts::{KernelOptions, Rlimit};
use crate::engine::runopts::{MountKind, MountSpec, RunOptions};
use berth_api::container::{CreateBody, EndpointSettings, HostConfig, Mount, Unmodelled};
use serde_json::Value;

/// Config fields berth does not model that have no effect on a Linux container's run
/// (Windows-only and build-time ones).
const CONFIG_IGNORED: &[&str] = &["ArgsEscaped", "Shell", "OnBuild"];

/// HostConfig fields that carry no meaning for the daemon: ConsoleSize is the client's
/// terminal, ContainerIDFile is written by the client.
const HOST_IGNORED: &[&str] = &["ConsoleSize", "ContainerIDFile"];

/// `--mount` fields without effect here (Consistency is for Docker Desktop's file sharing).
const MOUNT_IGNORED: &[&str] = &["Consistency"];

/// What a field holds when the user did not ask for anything.
fn is_default(key: &str, v: &Value) -> bool {
    let plain = match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    };
    plain
        || match key {
            // Docker's defaults, spelled out by some clients.
            "Isolation" => v == "default",
            "VolumeDriver" => v == "local",
            "StopSignal" => v == "SIGTERM" || v == "15",
            "StopTimeout" => v.as_i64() == Some(10),
            _ => false,
        }
}

pub(crate) fn refuse_unmodelled(
    rest: &Unmodelled,
    ignored: &[&str],
    prefix: &str,
) -> Result<(), ApiError> {
    for (k, v) in rest {
        if !ignored.contains(&k.as_str()) && !is_default(k, v) {
            return Err(ApiError::bad_request(format!(
                "{prefix}{k} is not supported by berth (got {v}); leave it unset"
            )));
        }
    }
    Ok(())
}

/// A 400 naming the first non-default field berth would otherwise drop.
pub fn refuse_unsupported(body: &CreateBody) -> Result<(), ApiError> {
    refuse_unmodelled(&body.unmodelled, CONFIG_IGNORED, "Config.")?;
    if let Some(h) = &body.healthcheck {
        refuse_unmodelled(&h.unmodelled, &[], "Config.Healthcheck.")?;
    }
    let Some(h) = &body.host_config else {
        return Ok(());
    };
    refuse_unmodelled(&h.unmodelled, HOST_IGNORED, "HostConfig.")?;
    let log = h.log_config.clone().unwrap_or_default();
    if !matches!(log.r#type.as_str(), "" | "json-file") {
        return Err(ApiError::bad_request(format!(
            "HostConfig.LogConfig.Type {} is not supported by berth: its logs are json-file's",
            log.r#type
        )));
    }
    if let Some(c) = log.config.filter(|c| !c.is_empty()) {
        return Err(ApiError::bad_request(format!(
            "HostConfig.LogConfig.Config {c:?} is not supported by berth (no log options)"
        )));
    }
    Ok(())
}

/// EndpointSettings fields that inspect shows and clients echo back; Docker ignores them.
const ENDPOINT_OUTPUT: &[&str] = &[
    "NetworkID",
    "EndpointID",
    "Gateway",
    "IPAddress",
    "IPPrefixLen",
    "IPv6Gateway",
    "GlobalIPv6Address",
    "GlobalIPv6PrefixLen",
    "DNSNames",
];

/// A 400 naming what an endpoint asks that berth would otherwise drop (`run --network` and
/// `network connect` alike).
pub fn refuse_endpoint_extras(ep: &EndpointSettings) -> Result<(), ApiError> {
    let refuse = |what: &str, v: String, why: &str| {
        Err(ApiError::bad_request(format!(
            "EndpointSettings.{what} is not supported by berth (got {v}): {why}"
        )))
    };
    if let Some(l) = ep.links.as_ref().filter(|l| !l.is_empty()) {
        return refuse(
            "Links",
            format!("{l:?}"),
            "--link works on the default bridge only; on a user network containers resolve each other by name and --network-alias",
        );
    }
    if let Some(o) = ep.driver_opts.as_ref().filter(|o| !o.is_empty()) {
        return refuse(
            "DriverOpts",
            format!("{o:?}"),
            "no endpoint driver options (--driver-opt)",
        );
    }
    if ep.gw_priority != 0 {
        return refuse(
            "GwPriority",
            ep.gw_priority.to_string(),
            "the first network gives the default route (--gw-priority)",
        );
    }
    let ipam = ep.ipam_config.clone().unwrap_or_default();
    if let Some(l) = ipam.link_local_ips.filter(|l| !l.is_empty()) {
        return refuse(
            "IPAMConfig.LinkLocalIPs",
            format!("{l:?}"),
            "no link-local addresses (--link-local-ip)",
        );
    }
    refuse_unmodelled(&ipam.unmodelled, &[], "EndpointSettings.IPAMConfig.")?;
    refuse_unmodelled(&ep.unmodelled, ENDPOINT_OUTPUT, "EndpointSettings.")
}

/// `-v SRC:DST[:OPTS]` (HostConfig.Binds): an absolute SRC is a bind, else a named volume.
fn parse_bind(spec: &str) -> Result<MountSpec, ApiError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => {
            return Err(ApiError::bad_request(format!(
                "invalid volume specification: '{spec}': expected SOURCE:TARGET[:OPTIONS]"
            )))
        }
    };
    let mut read_only = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" | "rprivate" | "private" | "nocopy" => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid volume specification: '{spec}': mount option {other} is not supported by berth (ro, rw, rprivate, nocopy are)"
                )))
            }
        }
    }
    let kind = if src.starts_with('/') {
        MountKind::Bind
    } else {
        MountKind::Volume
    };
    Ok(MountSpec {
        kind,
        source: src.to_string(),
        target: dst.to_string(),
        read_only,
        create_source: true,
        ..Default::default()
    })
}

/// `--mount` (HostConfig.Mounts): bind, volume and tmpfs; other types and options are refused.
fn parse_mount(m: &Mount) -> Result<MountSpec, ApiError> {
    let kind = match m.r#type.as_str() {
        "bind" => MountKind::Bind,
        "volume" => MountKind::Volume,
        "tmpfs" => MountKind::Tmpfs,
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid mount config: mount type {other:?} is not supported by berth (bind, volume, tmpfs are)"
            )))
        }
    };
    if kind == MountKind::Bind && m.source.is_empty() {
        return Err(ApiError::bad_request(
            "invalid mount config for type \"bind\": field Source must not be empty",
        ));
    }
    if kind == MountKind::Tmpfs && !m.source.is_empty() {
        return Err(ApiError::bad_request(
            "invalid mount config for type \"tmpfs\": field Source must not be specified",
        ));
    }
    for (field, options, allowed) in [
        ("BindOptions", m.bind_options.as_ref(), "Propagation"),
        ("VolumeOptions", m.volume_options.as_ref(), "NoCopy"),
    ] {
        for (k, v) in options.into_iter().flatten() {
            let propagation_ok =
                k != "Propagation" || matches!(v.as_str(), Some("" | "rprivate" | "private"));
            let fine = (k == allowed && propagation_ok) || is_default(k, v);
            if !fine {
                return Err(ApiError::bad_request(format!(
                    "invalid mount config: {field}.{k} {v} is not supported by berth"
                )));
            }
        }
    }
    let tmpfs = m.tmpfs_options.clone().unwrap_or_default();
    refuse_unmodelled(
        &tmpfs.unmodelled,
        &[],
        "invalid mount config: TmpfsOptions.",
    )?;
    refuse_unmodelled(&m.unmodelled, MOUNT_IGNORED, "invalid mount config: ")?;
    let mut options = Vec::new();
    if tmpfs.size_bytes > 0 {
        options.push(format!("size={}", tmpfs.size_bytes));
    }
    if tmpfs.mode > 0 {
        options.push(format!("mode={:o}", tmpfs.mode));
    }
    Ok(MountSpec {
        kind,
        source: m.source.clone(),
        target: m.target.clone(),
        read_only: m.read_only,
        options,
        ..Default::default()
    })
}

/// `--tmpfs /run:size=64m` (HostConfig.Tmpfs): mount options for each target.
fn parse_tmpfs(target: &str, opts: &str) -> Result<MountSpec, ApiError> {
    let mut read_only = false;
    let mut options = Vec::new();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        let key = o.split('=').next().unwrap_or(o);
        match key {
            "ro" => read_only = true,
            "rw" => {}
            "size" | "mode" | "uid" | "gid" | "nr_inodes" | "nr_blocks" | "exec" | "noexec"
            | "suid" | "nosuid" | "dev" | "nodev" => options.push(o.to_string()),
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid tmpfs option {other:?} for {target}"
                )))
            }
        }
    }
    Ok(MountSpec {
        kind: MountKind::Tmpfs,
        target: target.to_string(),
        read_only,
        options,
        ..Default::default()
    })
}

fn security_opts(list: &[String], o: &mut RunOptions) -> Result<(), ApiError> {
    for s in list {
        let (k, v) = s
            .split_once(['=', ':'])
            .map(|(k, v)| (k, Some(v)))
            .unwrap_or((s.as_str(), None));
        match (k, v) {
            ("no-new-privileges", None | Some("true")) => o.no_new_privileges = true,
            ("no-new-privileges", Some("false")) => o.no_new_privileges = false,
            // berth loads no seccomp, AppArmor or SELinux profile: unconfined is what it runs.
            ("seccomp" | "apparmor", Some("unconfined")) | ("label", Some("disable")) => {}
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid --security-opt {s}: berth supports no-new-privileges, seccomp=unconfined, apparmor=unconfined and label=disable"
                )))
            }
        }
    }
    Ok(())
}

/// The HostConfig fields that go to the kernel as they are (checked by the engine).
fn kernel_options(h: &HostConfig) -> KernelOptions {
    let list = |l: &Option<Vec<String>>| l.clone().unwrap_or_default();
    KernelOptions {
        sysctls: h.sysctls.clone().unwrap_or_default(),
        ulimits: h
            .ulimits
            .iter()
            .flatten()
            .map(|u| Rlimit {
                name: u.name.clone(),
                soft: u.soft,
                hard: u.hard,
            })
            .collect(),
        shm_size: h.shm_size,
        oom_kill_disable: h.oom_kill_disable.unwrap_or(false),
        oom_score_adj: h.oom_score_adj,
        group_add: list(&h.group_add),
        cpuset_cpus: h.cpuset_cpus.clone(),
        cpuset_mems: h.cpuset_mems.clone(),
        cpu_period: h.cpu_period,
        cpu_quota: h.cpu_quota,
        memory_reservation: h.memory_reservation,
        // The docker CLI sends -1 for "the kernel's default".
        memory_swappiness: h.memory_swappiness.filter(|s| *s != -1),
        annotations: h.annotations.clone().unwrap_or_default(),
        ipc_mode: h.ipc_mode.clone(),
        pid_mode: h.pid_mode.clone(),
        uts_mode: h.uts_mode.clone(),
        userns_mode: h.userns_mode.clone(),
        cgroupns_mode: h.cgroupns_mode.clone(),
        volumes_from: list(&h.volumes_from),
    }
}

/// Inspect's HostConfig fields of the kernel options, as Docker shows them.
pub fn show_kernel(k: &KernelOptions, h: &mut HostConfig) {
    let some_map =
        |m: &std::collections::BTreeMap<String, String>| (!m.is_empty()).then(|| m.clone());
    h.sysctls = some_map(&k.sysctls);
    h.ulimits = Some(
        k.ulimits
            .iter()
            .map(|u| berth_api::container::Ulimit {
                name: u.name.clone(),
                soft: u.soft,
                hard: u.hard,
            })
            .collect(),
    );
    h.shm_size = if k.shm_size > 0 {
        k.shm_size
    } else {
        64 * 1024 * 1024
    };
    h.oom_kill_disable = Some(k.oom_kill_disable);
    h.oom_score_adj = k.oom_score_adj;
    h.group_add = (!k.group_add.is_empty()).then(|| k.group_add.clone());
    h.cpuset_cpus = k.cpuset_cpus.clone();
    h.cpuset_mems = k.cpuset_mems.clone();
    h.cpu_period = k.cpu_period;
    h.cpu_quota = k.cpu_quota;
    h.memory_reservation = k.memory_reservation;
    h.memory_swappiness = k.memory_swappiness;
    h.annotations = some_map(&k.annotations);
    h.ipc_mode = if k.ipc_mode.is_empty() {
        "private".into()
    } else {
        k.ipc_mode.clone()
    };
    h.pid_mode = k.pid_mode.clone();
    h.uts_mode = k.uts_mode.clone();
    h.userns_mode = k.userns_mode.clone();
    h.cgroupns_mode = if k.cgroupns_mode.is_empty() {
        "host".into()
    } else {
        k.cgroupns_mode.clone()
    };
    h.volumes_from = (!k.volumes_from.is_empty()).then(|| k.volumes_from.clone());
}

/// The run options of a create body (Config and HostConfig).
pub fn parse(body: &CreateBody) -> Result<RunOptions, ApiError> {
    let default = HostConfig::default();
    let h = body.host_config.as_ref().unwrap_or(&default);
    let list = |l: &Option<Vec<String>>| l.clone().unwrap_or_default();
    let mut o = RunOptions {
        user: body.user.clone(),
        read_only: h.readonly_rootfs,
        privileged: h.privileged,
        cap_add: list(&h.cap_add),
        cap_drop: list(&h.cap_drop),
        memory: h.memory,
        memory_swap: h.memory_swap,
        nano_cpus: h.nano_cpus,
        cpu_shares: h.cpu_shares,
        pids_limit: h.pids_limit.unwrap_or(0).max(0),
        init: h.init.unwrap_or(false),
        kernel: kernel_options(h),
        ..Default::default()
    };
    o.healthcheck = body
        .healthcheck
        .as_ref()
        .map(super::health::parse)
        .transpose()?;
    security_opts(&list(&h.security_opt), &mut o)?;
    for b in h.binds.iter().flatten() {
        o.mounts.push(parse_bind(b)?);
    }
    for m in h.mounts.iter().flatten() {
        o.mounts.push(parse_mount(m)?);
    }
    for (target, opts) in h.tmpfs.iter().flatten() {
        o.mounts.push(parse_tmpfs(target, opts)?);
    }
    // `-v /path` and an image's VOLUME: an anonymous volume where nothing else is mounted.
    for target in body.volumes.iter().flat_map(|v| v.keys()) {
        if !o.mounts.iter().any(|m| &m.target == target) {
            o.mounts.push(MountSpec {
                kind: MountKind::Volume,
                target: target.clone(),
                ..Default::default()
            });
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: &Value) -> CreateBody {
        berth_api::container::decode(v).unwrap()
    }

    fn refuse_unsupported(v: &Value) -> Result<(), ApiError> {
        super::refuse_unsupported(&body(v))
    }

    /// What create does: the refusals, then the options.
    fn parse(v: &Value) -> Result<RunOptions, ApiError> {
        super::refuse_unsupported(&body(v))?;
        super::parse(&body(v))
    }

    #[test]
    fn defaults_pass_and_the_rest_is_named() {
        let cli = json!({"Image": "busybox", "Healthcheck": null, "StopSignal": "",
            "HostConfig": {"MemorySwappiness": -1, "OomKillDisable": false, "Devices": [],
                "LogConfig": {"Type": "", "Config": {}}, "Isolation": "", "ShmSize": 0}});
        refuse_unsupported(&cli).unwrap();
        let e =
            refuse_unsupported(&json!({"HostConfig": {"Devices": [{"PathOnHost": "/dev/kvm"}]}}))
                .unwrap_err();
        assert!(e.message.contains("HostConfig.Devices"), "{}", e.message);
        let e = refuse_unsupported(&json!({"StopSignal": "SIGUSR1"})).unwrap_err();
        assert!(e.message.contains("Config.StopSignal"), "{}", e.message);
        let e = refuse_unsupported(&json!({"HostConfig": {"LogConfig": {"Type": "syslog"}}}))
            .unwrap_err();
        assert!(e.message.contains("syslog"), "{}", e.message);
        let e = refuse_unsupported(
            &json!({"Healthcheck": {"Test": ["CMD", "true"], "StartInterval": 5, "Retries": 1}}),
        )
        .unwrap_err();
        assert!(
            e.message.contains("Config.Healthcheck.StartInterval"),
            "{}",
            e.message
        );
        let e = parse(
            &json!({"HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": "/t",
            "TmpfsOptions": {"Options": [["noexec"]]}}]}}),
        )
        .unwrap_err();
        assert!(e.message.contains("TmpfsOptions.Options"), "{}", e.message);
        let o = parse(&json!({"Healthcheck": {"Test": ["CMD", "true"], "Interval": 2_000_000}}))
            .unwrap();
        assert_eq!(o.healthcheck.unwrap().interval_ns, 2_000_000);
    }

    #[test]
    fn mounts_from_binds_mounts_tmpfs_and_volumes() {
        let o = parse(&json!({"Volumes": {"/anon": {}, "/data": {}},
            "HostConfig": {"Binds": ["/srv:/data:ro", "named:/n"],
                "Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024}}],
                "Tmpfs": {"/run": "size=1m,rw"}}}))
        .unwrap();
        let find = |t: &str| o.mounts.iter().find(|m| m.target == t).unwrap().clone();
        assert_eq!(find("/data").kind, MountKind::Bind);
        assert!(find("/data").read_only);
        assert_eq!(find("/n").kind, MountKind::Volume);
        assert_eq!(find("/n").source, "named");
        assert_eq!(find("/t").options, vec!["size=1024"]);
        assert_eq!(find("/run").options, vec!["size=1m"]);
        assert_eq!(find("/anon").kind, MountKind::Volume);
        assert!(find("/anon").source.is_empty());
        assert_eq!(
            o.mounts.len(),
            5,
            "a Config.Volumes target that is bound is not anonymous"
        );
        assert!(parse(&json!({"HostConfig": {"Binds": ["/a:/b:shared"]}})).is_err());
        assert!(
            parse(&json!({"HostConfig": {"Mounts": [{"Type": "npipe", "Target": "/x"}]}})).is_err()
        );
        assert!(parse(&json!({"HostConfig": {"SecurityOpt": ["seccomp=/my.json"]}})).is_err());
    }
}

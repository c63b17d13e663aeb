//! The parts of a create body that shape the process and its filesystem (`-v`, `--mount`,
//! `--tmpfs`, `-u`, `--read-only`, `--privileged`, `--cap-*`, `--memory`, `--cpus`,
//! `--pids-limit`, `--init`, `--security-opt`), and the rule that nothing is dropped silently:
//! every field berth does not implement must hold its default value, or the create is a 400
//! naming it.

use super::ApiError;
use crate::engine::runopts::{MountKind, MountSpec, RunOptions};
use serde_json::{Map, Value};

/// Config fields berth honours (or that only steer the client, like Attach*).
const CONFIG_DONE: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "Env",
    "Cmd",
    "Entrypoint",
    "Image",
    "WorkingDir",
    "Labels",
    "MacAddress",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "ExposedPorts",
    "Volumes",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "HostConfig",
    "NetworkingConfig",
    "Healthcheck",
    // Windows-only and build-time fields, without effect on a Linux container's run.
    "ArgsEscaped",
    "Shell",
    "OnBuild",
];

/// HostConfig fields berth honours, or that carry no meaning for the daemon (ConsoleSize is the
/// client's terminal, ContainerIDFile is written by the client).
const HOST_DONE: &[&str] = &[
    "NetworkMode",
    "AutoRemove",
    "ExtraHosts",
    "Dns",
    "DnsSearch",
    "DnsOptions",
    "Links",
    "PortBindings",
    "PublishAllPorts",
    "RestartPolicy",
    "Binds",
    "Mounts",
    "Tmpfs",
    "ReadonlyRootfs",
    "Privileged",
    "CapAdd",
    "CapDrop",
    "Memory",
    "MemorySwap",
    "NanoCpus",
    "CpuShares",
    "PidsLimit",
    "Init",
    "SecurityOpt",
    "LogConfig",
    "ConsoleSize",
    "ContainerIDFile",
];

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
            // The docker CLI sends -1 for "the kernel's default".
            "MemorySwappiness" => v.as_i64() == Some(-1),
            // Docker's defaults, spelled out by some clients.
            "IpcMode" => v == "private" || v == "shareable",
            "CgroupnsMode" => v == "host" || v == "private",
            "Isolation" => v == "default",
            "VolumeDriver" => v == "local",
            "ShmSize" => v.as_i64() == Some(64 * 1024 * 1024),
            "StopSignal" => v == "SIGTERM" || v == "15",
            "StopTimeout" => v.as_i64() == Some(10),
            _ => false,
        }
}

fn refuse_unknown(obj: &Map<String, Value>, done: &[&str], prefix: &str) -> Result<(), ApiError> {
    for (k, v) in obj {
        if !done.contains(&k.as_str()) && !is_default(k, v) {
            return Err(ApiError::bad_request(format!(
                "{prefix}{k} is not supported by berth (got {v}); leave it unset"
            )));
        }
    }
    Ok(())
}

/// A 400 naming the first non-default field berth would otherwise drop.
pub fn refuse_unsupported(body: &Value) -> Result<(), ApiError> {
    if let Some(c) = body.as_object() {
        refuse_unknown(c, CONFIG_DONE, "Config.")?;
    }
    if let Some(h) = body["HostConfig"].as_object() {
        refuse_unknown(h, HOST_DONE, "HostConfig.")?;
        let log = &h.get("LogConfig").cloned().unwrap_or(Value::Null);
        let typ = log["Type"].as_str().unwrap_or("");
        if !matches!(typ, "" | "json-file") {
            return Err(ApiError::bad_request(format!(
                "HostConfig.LogConfig.Type {typ} is not supported by berth: its logs are json-file's"
            )));
        }
        if log["Config"].as_object().is_some_and(|c| !c.is_empty()) {
            return Err(ApiError::bad_request(format!(
                "HostConfig.LogConfig.Config {} is not supported by berth (no log options)",
                log["Config"]
            )));
        }
    }
    Ok(())
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, ApiError> {
    match v {
        Value::Null => Ok(vec![]),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::bad_request(format!("{what}: expected strings, got {x}"))
                })
            })
            .collect(),
        other => Err(ApiError::bad_request(format!(
            "{what}: expected a list, got {other}"
        ))),
    }
}

fn int(v: &Value, what: &str) -> Result<i64, ApiError> {
    match v {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| ApiError::bad_request(format!("{what}: expected an integer, got {n}"))),
        other => Err(ApiError::bad_request(format!(
            "{what}: expected an integer, got {other}"
        ))),
    }
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
fn parse_mount(m: &Value) -> Result<MountSpec, ApiError> {
    let typ = m["Type"].as_str().unwrap_or("");
    let kind = match typ {
        "bind" => MountKind::Bind,
        "volume" => MountKind::Volume,
        "tmpfs" => MountKind::Tmpfs,
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid mount config: mount type {other:?} is not supported by berth (bind, volume, tmpfs are)"
            )))
        }
    };
    let target = m["Target"].as_str().unwrap_or("").to_string();
    let source = m["Source"].as_str().unwrap_or("").to_string();
    if kind == MountKind::Bind && source.is_empty() {
        return Err(ApiError::bad_request(
            "invalid mount config for type \"bind\": field Source must not be empty",
        ));
    }
    if kind == MountKind::Tmpfs && !source.is_empty() {
        return Err(ApiError::bad_request(
            "invalid mount config for type \"tmpfs\": field Source must not be specified",
        ));
    }
    for (field, allowed) in [
        ("BindOptions", &["Propagation"][..]),
        ("VolumeOptions", &["NoCopy"][..]),
        ("TmpfsOptions", &["SizeBytes", "Mode"][..]),
    ] {
        for (k, v) in m[field].as_object().into_iter().flatten() {
            let propagation_ok =
                k != "Propagation" || matches!(v.as_str(), Some("" | "rprivate" | "private"));
            let fine = (allowed.contains(&k.as_str()) && propagation_ok) || is_default(k, v);
            if !fine {
                return Err(ApiError::bad_request(format!(
                    "invalid mount config: {field}.{k} {v} is not supported by berth"
                )));
            }
        }
    }
    for (k, v) in m.as_object().into_iter().flatten() {
        if !matches!(
            k.as_str(),
            "Type"
                | "Source"
                | "Target"
                | "ReadOnly"
                | "Consistency"
                | "BindOptions"
                | "VolumeOptions"
                | "TmpfsOptions"
        ) && !is_default(k, v)
        {
            return Err(ApiError::bad_request(format!(
                "invalid mount config: {k} is not supported by berth"
            )));
        }
    }
    let mut options = Vec::new();
    if let Some(size) = m["TmpfsOptions"]["SizeBytes"].as_i64().filter(|s| *s > 0) {
        options.push(format!("size={size}"));
    }
    if let Some(mode) = m["TmpfsOptions"]["Mode"].as_u64().filter(|s| *s > 0) {
        options.push(format!("mode={mode:o}"));
    }
    Ok(MountSpec {
        kind,
        source,
        target,
        read_only: m["ReadOnly"].as_bool().unwrap_or(false),
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

/// The run options of a create body (Config and HostConfig).
pub fn parse(body: &Value) -> Result<RunOptions, ApiError> {
    let h = &body["HostConfig"];
    let mut o = RunOptions {
        user: body["User"].as_str().unwrap_or("").to_string(),
        read_only: h["ReadonlyRootfs"].as_bool().unwrap_or(false),
        privileged: h["Privileged"].as_bool().unwrap_or(false),
        cap_add: strings(&h["CapAdd"], "HostConfig.CapAdd")?,
        cap_drop: strings(&h["CapDrop"], "HostConfig.CapDrop")?,
        memory: int(&h["Memory"], "HostConfig.Memory")?,
        memory_swap: int(&h["MemorySwap"], "HostConfig.MemorySwap")?,
        nano_cpus: int(&h["NanoCpus"], "HostConfig.NanoCpus")?,
        cpu_shares: int(&h["CpuShares"], "HostConfig.CpuShares")?,
        pids_limit: int(&h["PidsLimit"], "HostConfig.PidsLimit")?.max(0),
        init: h["Init"].as_bool().unwrap_or(false),
        ..Default::default()
    };
    o.healthcheck = super::health::parse(&body["Healthcheck"])?;
    security_opts(
        &strings(&h["SecurityOpt"], "HostConfig.SecurityOpt")?,
        &mut o,
    )?;
    for b in strings(&h["Binds"], "HostConfig.Binds")? {
        o.mounts.push(parse_bind(&b)?);
    }
    for m in h["Mounts"].as_array().into_iter().flatten() {
        o.mounts.push(parse_mount(m)?);
    }
    for (target, opts) in h["Tmpfs"].as_object().into_iter().flatten() {
        o.mounts
            .push(parse_tmpfs(target, opts.as_str().unwrap_or(""))?);
    }
    // `-v /path` and an image's VOLUME: an anonymous volume where nothing else is mounted.
    for target in body["Volumes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
    {
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

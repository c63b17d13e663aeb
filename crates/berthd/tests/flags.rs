//! Every flag the stock docker CLI sends is honoured or refused by name, never dropped: the
//! kernel options (`--sysctl`, `--ulimit`, `--shm-size`, `--ipc`, `--pid`, `--uts`,
//! `--cgroupns`, the OOM killer, groups, cpusets, CFS, memory soft limits, `--annotation`,
//! `--volumes-from`, `--platform`, `--domainname`) each seen from inside the container or in
//! inspect; and a table of what berth refuses, through `run`, `network connect` and `volume
//! create`, each a 125 naming the flag that leaves nothing behind. One daemon for all.

mod common;

use common::{fails, ok, Host};

/// Runs `script` in a container with `flags`; its output.
fn run(h: &Host, flags: &[&str], script: &str) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(flags);
    a.extend_from_slice(&["busybox", "sh", "-c", script]);
    ok(h.docker(&a))
}

/// A namespace of the test's host (the holder's), as `readlink /proc/PID/ns/KIND` shows it.
fn host_ns(h: &Host, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{}/ns/{kind}", h.pid()))
        .expect("read the host's namespace")
        .to_string_lossy()
        .into_owned()
}

/// Flags that go to the kernel, with a line of shell that shows each effect and what it
/// must print: all in one container, so the table costs one start.
fn kernel_options(h: &Host) {
    let table: &[(&[&str], &str, String)] = &[
        (
            &["--sysctl", "net.ipv4.ip_forward=1"],
            "cat /proc/sys/net/ipv4/ip_forward",
            "1".into(),
        ),
        (
            &["--sysctl", "kernel.shmmax=123456"],
            "cat /proc/sys/kernel/shmmax",
            "123456".into(),
        ),
        (
            &["--ulimit", "nofile=100:200"],
            "echo $(ulimit -n) $(ulimit -Hn)",
            "100 200".into(),
        ),
        (
            &["--shm-size", "8m"],
            "df -k /dev/shm | awk 'NR==2 {print $2}'",
            "8192".into(),
        ),
        (
            &["--pid", "host"],
            "readlink /proc/self/ns/pid",
            host_ns(h, "pid"),
        ),
        (&["--userns", "host"], "id -u", "0".into()),
        (
            &["--oom-kill-disable", "-m", "64m"],
            "head -1 /sys/fs/cgroup/memory/memory.oom_control",
            "oom_kill_disable 1".into(),
        ),
        (
            &["--oom-score-adj", "300"],
            "cat /proc/self/oom_score_adj",
            "300".into(),
        ),
        (
            &["--group-add", "10", "--group-add", "20"],
            "id -G",
            "0 10 20".into(),
        ),
        (
            &["--cpuset-cpus", "0"],
            "cat /sys/fs/cgroup/cpuset/cpuset.cpus",
            "0".into(),
        ),
        (
            &["--cpu-period", "50000", "--cpu-quota", "25000"],
            "echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.cfs_quota_us)",
            "50000 25000".into(),
        ),
        (
            &["--memory-reservation", "32m"],
            "cat /sys/fs/cgroup/memory/memory.soft_limit_in_bytes",
            (32u64 << 20).to_string(),
        ),
        (
            &["--memory-swappiness", "10"],
            "cat /sys/fs/cgroup/memory/memory.swappiness",
            "10".into(),
        ),
        (
            &["--domainname", "corp.example"],
            "cat /proc/sys/kernel/domainname",
            "corp.example".into(),
        ),
        (&["--platform", "linux/amd64"], "echo ran", "ran".into()),
    ];
    let mut flags = vec!["--name", "k", "--cgroupns", "private"];
    let mut script = String::from("readlink /proc/self/ns/cgroup");
    for (f, check, _) in table {
        flags.extend_from_slice(f);
        script.push_str("; ");
        script.push_str(check);
    }
    if std::env::consts::ARCH != "x86_64" {
        flags.retain(|f| !f.starts_with("linux/") && *f != "--platform");
    }
    let out = run(h, &flags, &script);
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(
        lines.first().copied(),
        Some(host_ns(h, "cgroup").as_str()),
        "--cgroupns private: {out}"
    );
    for (i, (f, _, want)) in table.iter().enumerate() {
        assert_eq!(
            lines.get(i + 1).copied(),
            Some(want.as_str()),
            "{f:?}: {out}"
        );
    }

    // The host's IPC and UTS namespaces: its /dev/shm and its name.
    let out = run(
        h,
        &["--ipc", "host", "--uts", "host"],
        "readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; hostname",
    );
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(
        out,
        format!(
            "{}\n{}\n{}",
            host_ns(h, "ipc"),
            host_ns(h, "uts"),
            host_name
        )
    );
    // --ipc none: a namespace of its own and no /dev/shm.
    let out = run(
        h,
        &["--ipc", "none"],
        "readlink /proc/self/ns/ipc; test -e /dev/shm && echo shm; true",
    );
    assert_ne!(out.trim(), host_ns(h, "ipc"), "{out}");
    assert!(!out.contains("shm"), "--ipc none has no /dev/shm: {out}");
}

/// `--volumes-from`, read-only when asked, and inspect of the kernel options.
fn volumes_from_and_inspect(h: &Host) {
    ok(h.docker(&[
        "run",
        "-d",
        "--name",
        "src",
        "-v",
        "shared:/data",
        "--annotation",
        "org.example.a=b",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--ipc",
        "shareable",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f; sleep 300",
    ]));
    // The first container's file is there once it has written it.
    let out = run(
        h,
        &["--volumes-from", "src:ro"],
        "until test -s /data/f; do sleep 0.05; done; cat /data/f; touch /data/g 2>&1 || true",
    );
    assert!(out.starts_with("kept\n"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(h.docker(&["inspect", "src"]))).expect("inspect JSON");
    let hc = &v[0]["HostConfig"];
    assert_eq!(hc["Annotations"]["org.example.a"], "b", "{hc}");
    assert_eq!(hc["Sysctls"]["net.ipv4.ip_forward"], "1", "{hc}");
    assert_eq!(hc["IpcMode"], "shareable", "{hc}");
    assert_eq!(hc["ShmSize"], 64 << 20, "{hc}");
    // The daemon's runtime, by name, is what --runtime may ask for.
    let runtime = hc["Runtime"]
        .as_str()
        .expect("HostConfig.Runtime")
        .to_string();
    assert!(!runtime.is_empty(), "{hc}");
    assert_eq!(run(h, &["--runtime", &runtime], "echo same"), "same\n");
    ok(h.docker(&["rm", "-f", "src"]));
}

/// What berth refuses: the docker CLI exits 125 with the daemon's message naming the flag.
fn refused(h: &Host) {
    ok(h.docker(&["network", "create", "--subnet", "10.91.0.0/24", "fn"]));
    let table: &[(&[&str], &str)] = &[
        (&["--stop-signal", "SIGUSR1"], "Config.StopSignal"),
        (
            &["--health-cmd", "true", "--health-start-interval", "1s"],
            "Config.Healthcheck.StartInterval",
        ),
        (&["--log-driver", "syslog"], "syslog"),
        (
            &["--security-opt", "apparmor=custom"],
            "--security-opt apparmor=custom",
        ),
        (&["--stop-timeout", "3"], "Config.StopTimeout"),
        (&["--device", "/dev/null"], "HostConfig.Devices"),
        (&["--log-opt", "max-size=1m"], "HostConfig.LogConfig.Config"),
        (&["--runtime", "other"], "HostConfig.Runtime \"other\""),
        (&["--storage-opt", "size=1G"], "HostConfig.StorageOpt"),
        (&["--blkio-weight", "100"], "HostConfig.BlkioWeight"),
        (&["--cgroup-parent", "elsewhere"], "HostConfig.CgroupParent"),
        (&["--gpus", "all"], "HostConfig.DeviceRequests"),
        (&["--ipc", "container:k"], "invalid --ipc \"container:k\""),
        (&["--pid", "container:k"], "invalid --pid"),
        (&["--uts", "host", "-h", "x"], "hostname and the UTS mode"),
        (
            &["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"],
            "not allowed in host network namespace",
        ),
        (
            &["--cpuset-cpus", "0-99"],
            "Requested CPUs are not available",
        ),
        (
            &["--group-add", "nosuchgroup"],
            "Unable to find group nosuchgroup",
        ),
        (&["--volumes-from", "nosuch"], "No such container: nosuch"),
        (
            &["--platform", "linux/s390x"],
            "\"linux/s390x\" does not match",
        ),
        (
            &["--network", "fn", "--link-local-ip", "169.254.1.1"],
            "EndpointSettings.IPAMConfig.LinkLocalIPs",
        ),
    ];
    for (flags, want) in table {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&["busybox", "true"]);
        let (code, err) = fails(h.docker(&a));
        assert_eq!(code, 125, "{flags:?}: {err}");
        assert!(err.contains(want), "{flags:?}: {err}");
    }
    // A score below berthd's own needs CAP_SYS_RESOURCE, which this VM's root lacks: refused
    // at create, naming it, where the runtime would only fail at start; honoured elsewhere.
    let caps = std::fs::read_to_string("/proc/self/status").expect("status");
    let eff = caps
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .expect("CapEff");
    let lower = ["run", "--rm", "--oom-score-adj", "-300", "busybox"];
    if eff & (1 << 24) == 0 {
        let (code, err) = fails(h.docker(&[&lower[..], &["true"]].concat()));
        assert_eq!(code, 125, "{err}");
        assert!(
            err.contains(
                "--oom-score-adj -300 cannot be applied here: berthd lacks CAP_SYS_RESOURCE"
            ),
            "{err}"
        );
    } else {
        let out = ok(h.docker(&[&lower[..], &["cat", "/proc/self/oom_score_adj"]].concat()));
        assert_eq!(out.trim(), "-300");
    }
    assert_eq!(
        ok(h.docker(&["ps", "-aq"])).trim(),
        "",
        "refused runs leave nothing"
    );

    ok(h.docker(&["create", "--name", "c", "busybox", "true"]));
    for (flags, want) in [
        (&["--link", "c:x"][..], "EndpointSettings.Links"),
        (&["--driver-opt", "a=b"][..], "EndpointSettings.DriverOpts"),
        (&["--gw-priority", "5"][..], "EndpointSettings.GwPriority"),
        (
            &["--link-local-ip", "169.254.1.2"][..],
            "EndpointSettings.IPAMConfig.LinkLocalIPs",
        ),
    ] {
        let mut a = vec!["network", "connect"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&["fn", "c"]);
        let (_, err) = fails(h.docker(&a));
        assert!(err.contains(want), "{flags:?}: {err}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&ok(h.docker(&["inspect", "c"]))).expect("inspect JSON");
    assert!(
        v[0]["NetworkSettings"]["Networks"].get("fn").is_none(),
        "a refused connect connects nothing: {v}"
    );
    ok(h.docker(&["rm", "c"]));

    let (_, err) = fails(h.docker(&["volume", "create", "--availability", "drain", "cv"]));
    assert!(err.contains("ClusterVolumeSpec"), "{err}");
    let vols = ok(h.docker(&["volume", "ls", "-q"]));
    assert!(!vols.lines().any(|l| l == "cv"), "{vols}");
    ok(h.docker(&["network", "rm", "fn"]));
}

/// berth's own `run` takes the same flags into the same fields.
fn berth_cli(h: &Host) {
    let env = h.dir.path().join("env.list");
    std::fs::write(&env, "# comment\nFROM_FILE=yes\n").expect("write env file");
    let out = ok(h.berth(&[
        "run",
        "--rm",
        "--env-file",
        env.to_str().expect("utf-8 path"),
        "--sysctl",
        "kernel.shmmax=4242",
        "--shm-size",
        "4m",
        "--ulimit",
        "nofile=64",
        "--oom-score-adj",
        "5",
        "--group-add",
        "7",
        "busybox",
        "sh",
        "-c",
        "echo $FROM_FILE; cat /proc/sys/kernel/shmmax; df -k /dev/shm | awk 'NR==2 {print $2}'; ulimit -n; cat /proc/self/oom_score_adj; id -G",
    ]));
    assert_eq!(out, "yes\n4242\n4096\n64\n5\n0 7\n");
    let out = h.berth(&["run", "--rm", "--ipc", "container:x", "busybox", "true"]);
    let (code, err) = fails(out);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("--ipc"), "{err}");
}

#[test]
fn flags_are_honoured_or_refused_by_name() {
    let h = Host::with_busybox();
    kernel_options(&h);
    volumes_from_and_inspect(&h);
    refused(&h);
    berth_cli(&h);
}

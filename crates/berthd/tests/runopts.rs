//! `run` options through the stock docker CLI, each seen from inside the container (or on the
//! host): bind mounts, named and anonymous volumes, tmpfs, user, read-only root, capabilities,
//! privileged, memory/CPU/pids limits, --init, --security-opt. What berth refuses by name is
//! in flags.rs.

mod common;

use common::{fails, ok, Host};

fn run(h: &Host, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    ok(h.docker(&a))
}

/// A field of /proc/self/status inside a container run with `flags`.
fn status_field(h: &Host, flags: &[&str], field: &str) -> String {
    let mut a: Vec<&str> = flags.to_vec();
    let script = format!("grep '^{field}:' /proc/self/status");
    a.extend_from_slice(&["busybox", "sh", "-c", &script]);
    run(h, &a)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn bind_mounts_and_volumes() {
    let h = Host::with_busybox();
    let host_dir = h.dir.path().join("share");
    std::fs::create_dir_all(&host_dir).expect("mkdir");
    std::fs::write(host_dir.join("in.txt"), "from host\n").expect("write");
    let bind = format!("{}:/data", host_dir.display());
    let out = run(
        &h,
        &[
            "-v",
            &bind,
            "busybox",
            "sh",
            "-c",
            "cat /data/in.txt; echo back > /data/out.txt",
        ],
    );
    assert_eq!(out, "from host\n");
    assert_eq!(
        std::fs::read_to_string(host_dir.join("out.txt")).expect("out.txt"),
        "back\n"
    );
    let ro = format!("{}:/data:ro", host_dir.display());
    let (_, err) = fails(h.docker(&["run", "--rm", "-v", &ro, "busybox", "touch", "/data/x"]));
    assert!(err.contains("Read-only file system"), "{err}");
    let m = format!("type=bind,source={},target=/m,readonly", host_dir.display());
    assert_eq!(
        run(&h, &["--mount", &m, "busybox", "cat", "/m/in.txt"]),
        "from host\n"
    );
    let (_, err) = fails(h.docker(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,source=/nosuch/dir,target=/m",
        "busybox",
        "true",
    ]));
    assert!(
        err.contains("bind source path does not exist: /nosuch/dir"),
        "{err}"
    );

    // A named volume outlives its containers and is shared between them.
    run(
        &h,
        &["-v", "vol1:/v", "busybox", "sh", "-c", "echo kept > /v/f"],
    );
    assert_eq!(
        run(
            &h,
            &["--mount", "source=vol1,target=/w", "busybox", "cat", "/w/f"]
        ),
        "kept\n"
    );
    let ls = ok(h.docker(&["volume", "ls", "--format", "{{.Name}} {{.Driver}}"]));
    assert!(ls.lines().any(|l| l == "vol1 local"), "{ls}");
    let mp = ok(h.docker(&["volume", "inspect", "-f", "{{.Mountpoint}}", "vol1"]));
    assert_eq!(
        std::fs::read_to_string(format!("{}/f", mp.trim())).expect("volume file"),
        "kept\n"
    );
    ok(h.docker(&["volume", "create", "--label", "k=v", "vol2"]));
    let ls = ok(h.docker(&["volume", "ls", "-q", "--filter", "label=k=v"]));
    assert_eq!(ls.trim(), "vol2");
    ok(h.docker(&[
        "run", "-d", "--name", "user", "-v", "vol2:/x", "busybox", "sleep", "1000",
    ]));
    let (_, err) = fails(h.docker(&["volume", "rm", "vol2"]));
    assert!(err.contains("volume is in use"), "{err}");
    let insp = ok(h.docker(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}",
        "user",
    ]));
    assert_eq!(insp.trim(), "volume vol2 /x");
    ok(h.docker(&["rm", "-f", "user"]));
    ok(h.docker(&["volume", "rm", "vol2"]));
    let (_, err) = fails(h.docker(&["volume", "inspect", "vol2"]));
    assert!(err.contains("no such volume"), "{err}");

    // `-v /path` makes an anonymous volume; prune removes it (not named ones) once unused.
    ok(h.docker(&["run", "--name", "anon", "-v", "/anon", "busybox", "true"]));
    let anon = ok(h.docker(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "anon"]));
    assert_eq!(anon.trim().len(), 64, "{anon}");
    ok(h.docker(&["rm", "anon"]));
    let pruned = ok(h.docker(&["volume", "prune", "-f"]));
    assert!(pruned.contains(anon.trim()), "{pruned}");
    let ls = ok(h.docker(&["volume", "ls", "-q"]));
    assert_eq!(ls.trim(), "vol1", "named volumes stay");
}

#[test]
fn tmpfs_user_read_only_and_init() {
    let h = Host::with_busybox();
    let mounts = run(
        &h,
        &[
            "--tmpfs",
            "/scratch:size=1m",
            "busybox",
            "grep",
            " /scratch ",
            "/proc/mounts",
        ],
    );
    assert!(
        mounts.starts_with("tmpfs /scratch tmpfs") && mounts.contains("size=1024k"),
        "{mounts}"
    );
    assert_eq!(
        run(&h, &["-u", "1234:5678", "busybox", "id", "-u"]),
        "1234\n"
    );
    assert_eq!(
        run(&h, &["-u", "1234:5678", "busybox", "id", "-g"]),
        "5678\n"
    );
    let (_, err) = fails(h.docker(&["run", "--rm", "-u", "nobody-here", "busybox", "true"]));
    assert!(err.contains("unable to find user nobody-here"), "{err}");
    let (_, err) = fails(h.docker(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]));
    assert!(err.contains("Read-only file system"), "{err}");
    run(
        &h,
        &[
            "--read-only",
            "--tmpfs",
            "/tmp",
            "busybox",
            "touch",
            "/tmp/x",
        ],
    );
    let init = run(
        &h,
        &[
            "--init",
            "busybox",
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '",
        ],
    );
    assert!(init.starts_with("/sbin/docker-init -- "), "{init}");
    assert_eq!(
        status_field(&h, &["--security-opt", "no-new-privileges"], "NoNewPrivs"),
        "1"
    );
    assert_eq!(status_field(&h, &[], "NoNewPrivs"), "0");
}

#[test]
fn capabilities_and_privileged() {
    let h = Host::with_busybox();
    let caps = |flags: &[&str]| {
        u64::from_str_radix(&status_field(&h, flags, "CapEff"), 16).expect("hex caps")
    };
    const NET_ADMIN: u64 = 1 << 12;
    const NET_RAW: u64 = 1 << 13;
    const SYS_ADMIN: u64 = 1 << 21;
    let default = caps(&[]);
    assert!(
        default & NET_RAW != 0 && default & NET_ADMIN == 0,
        "{default:x}"
    );
    assert_eq!(caps(&["--cap-drop", "NET_RAW"]) & NET_RAW, 0);
    assert_ne!(caps(&["--cap-add", "net_admin"]) & NET_ADMIN, 0);
    assert_eq!(caps(&["--cap-drop", "ALL"]), 0);
    let all = caps(&["--privileged"]);
    assert!(all & SYS_ADMIN != 0 && all & NET_ADMIN != 0, "{all:x}");
    // NET_ADMIN is real: the container can make a link in its own namespace.
    let veth = [
        "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1",
    ];
    let mut with = vec!["--cap-add", "NET_ADMIN", "busybox"];
    with.extend_from_slice(&veth);
    run(&h, &with);
    let mut without = vec!["run", "--rm", "busybox"];
    without.extend_from_slice(&veth);
    let (_, err) = fails(h.docker(&without));
    assert!(
        err.contains("Operation not permitted") || err.contains("ermission"),
        "{err}"
    );
    let (_, err) = fails(h.docker(&["run", "--rm", "--cap-add", "FLY", "busybox", "true"]));
    assert!(err.contains("FLY"), "{err}");
}

#[test]
fn cgroup_limits() {
    let h = Host::with_busybox();
    let cg = |flags: &[&str], file: &str| {
        let mut a: Vec<&str> = flags.to_vec();
        a.extend_from_slice(&["busybox", "cat", file]);
        run(&h, &a).trim().to_string()
    };
    // Hybrid cgroups: runc gives the container its own v1 hierarchies under /sys/fs/cgroup.
    assert_eq!(
        cg(
            &["--memory", "64m"],
            "/sys/fs/cgroup/memory/memory.limit_in_bytes"
        ),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        cg(&["--cpus", "0.5"], "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
        "50000"
    );
    assert_eq!(
        cg(&["--pids-limit", "50"], "/sys/fs/cgroup/pids/pids.max"),
        "50"
    );
    let (_, err) = fails(h.docker(&["run", "--rm", "--memory", "1k", "busybox", "true"]));
    assert!(err.contains("Minimum memory limit"), "{err}");
}

/// `exec -u` runs as the given user (names from the container's own passwd), without it as the
/// container's user; `exec --privileged` is refused by name rather than run unprivileged.
#[test]
fn exec_user_and_privileged() {
    let h = Host::with_busybox();
    ok(h.docker(&[
        "run",
        "-d",
        "--name",
        "u",
        "-u",
        "1234:5678",
        "busybox",
        "sleep",
        "300",
    ]));
    let id = |args: &[&str]| ok(h.docker(args)).trim().to_string();
    assert_eq!(id(&["exec", "u", "id", "-u"]), "1234");
    assert_eq!(id(&["exec", "-u", "0", "u", "id", "-u"]), "0");
    // Only root may write the image's /etc; then names resolve from the container's files.
    fails(h.docker(&["exec", "u", "touch", "/etc/passwd"]));
    ok(h.docker(&[
        "exec",
        "-u",
        "0",
        "u",
        "sh",
        "-c",
        "printf 'root:x:0:0::/:/bin/sh\\nnobody:x:65534:65534::/:/bin/false\\n' >/etc/passwd",
    ]));
    assert_eq!(id(&["exec", "-u", "nobody", "u", "id", "-u"]), "65534");
    assert_eq!(id(&["exec", "-u", "nobody", "u", "id", "-g"]), "65534");
    assert_eq!(id(&["exec", "-u", "0:5", "u", "id", "-g"]), "5");
    assert_eq!(
        ok(h.berth(&["exec", "-u", "root", "u", "id", "-u"])).trim(),
        "0"
    );
    let (_, err) = fails(h.docker(&["exec", "-u", "nobody-here", "u", "true"]));
    assert!(err.contains("unable to find user nobody-here"), "{err}");
    let (_, err) = fails(h.docker(&["exec", "--privileged", "u", "true"]));
    assert!(err.contains("exec --privileged is not supported"), "{err}");
    ok(h.docker(&["rm", "-f", "u"]));
}

//! Containers end to end: real processes through runc from the busybox image, attached to
//! berth's networks in every mode, in a throwaway host namespace per test.

mod common;

use common::{fails, ok, Host};
use serde_json::Value;

fn inspect(h: &Host, name: &str) -> Value {
    let out = ok(h.berth(&["inspect", name]));
    let v: Value = serde_json::from_str(&out).expect("inspect JSON");
    v[0].clone()
}

fn ip_of(h: &Host, name: &str, net: &str) -> String {
    inspect(h, name)["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Starts `busybox sleep 1000` detached as NAME, with extra `run` flags.
fn sleeper(h: &Host, name: &str, flags: &[&str]) {
    let mut a = vec!["run", "-d", "--name", name];
    a.extend_from_slice(flags);
    a.extend_from_slice(&["busybox", "sleep", "1000"]);
    ok(h.berth(&a));
}

/// Runs a short-lived container and returns (exit code, output).
fn run(h: &Host, args: &[&str]) -> (i32, String) {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    let out = h.berth(&a);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn tutorial_flows_on_the_default_bridge_and_a_user_network() {
    let h = Host::with_busybox();
    // Default bridge: 172.17.0.x, MAC 02:42 + IP, reachable by IP.
    sleeper(&h, "b1", &[]);
    let b1 = inspect(&h, "b1");
    let ns = &b1["NetworkSettings"];
    assert_eq!(ns["IPAddress"], "172.17.0.2", "{ns}");
    assert_eq!(ns["Gateway"], "172.17.0.1");
    assert_eq!(ns["MacAddress"], "02:42:ac:11:00:02");
    assert_eq!(ns["Networks"]["bridge"]["Aliases"], Value::Null);
    assert_eq!(b1["State"]["Status"], "running");
    let key = ns["SandboxKey"].as_str().unwrap().to_string();
    assert!(
        h.sh_out(&format!("test -e {key}")).status.success(),
        "SandboxKey {key} exists"
    );
    let (code, out) = run(&h, &["busybox", "ping", "-c1", "-W2", "172.17.0.2"]);
    assert_eq!(code, 0, "ping b1 from the default bridge: {out}");
    let (_, hosts) = run(
        &h,
        &[
            "--hostname",
            "myhost",
            "--add-host",
            "foo.example:10.1.2.3",
            "busybox",
            "cat",
            "/etc/hosts",
        ],
    );
    assert!(hosts.starts_with("127.0.0.1\tlocalhost\n"), "{hosts}");
    assert!(
        hosts.contains("10.1.2.3\tfoo.example\n172.17.0.3\tmyhost\n"),
        "{hosts}"
    );
    let (_, hn) = run(&h, &["--hostname", "myhost", "busybox", "hostname"]);
    assert_eq!(hn.trim(), "myhost");
    let (_, resolv) = run(
        &h,
        &[
            "--dns",
            "10.9.9.9",
            "--dns-search",
            "corp.example",
            "--dns-option",
            "ndots:3",
            "busybox",
            "cat",
            "/etc/resolv.conf",
        ],
    );
    assert_eq!(
        resolv,
        "search corp.example\nnameserver 10.9.9.9\noptions ndots:3\n"
    );

    // A user network: containers reach each other; resolv.conf points at the embedded resolver.
    ok(h.berth(&["network", "create", "--subnet", "192.168.0.0/16", "mynet"]));
    sleeper(&h, "a1", &["--network", "mynet"]);
    sleeper(
        &h,
        "static",
        &["--network", "mynet", "--ip", "192.168.10.10"],
    );
    assert_eq!(ip_of(&h, "a1", "mynet"), "192.168.0.2");
    let st = inspect(&h, "static");
    let ep = &st["NetworkSettings"]["Networks"]["mynet"];
    assert_eq!(ep["IPAddress"], "192.168.10.10");
    assert_eq!(ep["MacAddress"], "02:42:c0:a8:0a:0a");
    assert_eq!(ep["IPAMConfig"]["IPv4Address"], "192.168.10.10");
    assert_eq!(
        st["NetworkSettings"]["IPAddress"], "",
        "legacy fields empty off the default bridge"
    );
    let (code, out) = run(
        &h,
        &[
            "--network",
            "mynet",
            "busybox",
            "ping",
            "-c1",
            "-W2",
            "192.168.10.10",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let (_, resolv) = run(
        &h,
        &["--network", "mynet", "busybox", "cat", "/etc/resolv.conf"],
    );
    assert_eq!(resolv, "nameserver 127.0.0.11\noptions ndots:0\n");
    let (_, addr) = run(
        &h,
        &[
            "--network",
            "mynet",
            "busybox",
            "ip",
            "-o",
            "-4",
            "addr",
            "show",
            "eth0",
        ],
    );
    assert!(
        addr.contains("inet 192.168.0.3/16"),
        "freed --rm addresses are reused: {addr}"
    );
    // The network lists its containers, and cannot be removed while they are attached.
    let (_, v) = h.api("GET", "/networks/mynet", None);
    let _ = v;
    let (_, err) = fails(h.berth(&["network", "rm", "mynet"]));
    assert!(err.contains("has active endpoints"), "{err}");

    // ps and logs.
    let ps = ok(h.berth(&["ps", "--format", "{{.Names}} {{.State}}"]));
    let mut lines: Vec<&str> = ps.lines().collect();
    lines.sort();
    assert_eq!(lines, ["a1 running", "b1 running", "static running"]);
    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]));
    assert_eq!(ok(h.berth(&["wait", "talker"])).trim(), "3");
    let logs = h.berth(&["logs", "talker"]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&logs.stderr), "err\n");
    assert_eq!(inspect(&h, "talker")["State"]["ExitCode"], 3);

    // Everything goes away: processes, veths, sandboxes, mounts.
    ok(h.berth(&["rm", "-f", "a1", "b1", "static", "talker"]));
    assert_eq!(ok(h.berth(&["ps", "-aq"])), "");
    ok(h.berth(&["network", "rm", "mynet"]));
    assert!(
        h.mounts_below_dir().is_empty(),
        "{:?}",
        h.mounts_below_dir()
    );
    let netns = h.dir.path().join("run/netns");
    let left: Vec<_> = std::fs::read_dir(&netns)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "pinned namespaces left: {left:?}");
}

/// IPv6 is off in a sandbox until an endpoint brings an IPv6 address (Docker's containers show
/// no inet6 on IPv4 networks); on an IPv6 network the container has its static `--ip6`, ::1,
/// a link-local address, and reaches its peers over IPv6.
#[test]
fn ipv6_only_where_the_network_has_it() {
    let h = Host::with_busybox();
    let v6_of = |name: &str| ok(h.berth(&["exec", name, "cat", "/proc/net/if_inet6"]));
    sleeper(&h, "four", &[]);
    assert_eq!(v6_of("four").trim(), "", "no IPv6 on an IPv4 network");
    ok(h.berth(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:6::/64",
        "six",
    ]));
    sleeper(&h, "s1", &["--network", "six", "--ip6", "fd00:6::10"]);
    sleeper(&h, "s2", &["--network", "six"]);
    let addrs = v6_of("s1");
    for want in [
        "fd000006000000000000000000000010",
        "00000000000000000000000000000001",
        "fe80",
    ] {
        assert!(addrs.contains(want), "{want} missing: {addrs}");
    }
    let s1 = inspect(&h, "s1");
    assert_eq!(
        s1["NetworkSettings"]["Networks"]["six"]["GlobalIPv6Address"], "fd00:6::10",
        "{s1}"
    );
    // DAD on a fresh address takes a moment; retry the ping for up to 3 s.
    let mut last = String::new();
    let reached = (0..6).any(|_| {
        let out = h.berth(&[
            "exec",
            "s2",
            "ping",
            "-6",
            "-c",
            "1",
            "-W",
            "1",
            "fd00:6::10",
        ]);
        last = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        out.status.success() || {
            std::thread::sleep(std::time::Duration::from_millis(500));
            false
        }
    });
    assert!(reached, "s2 cannot ping s1 over IPv6: {last}");
    // Connecting the IPv4-only container to the IPv6 network turns IPv6 on for that interface.
    ok(h.berth(&["network", "connect", "six", "four"]));
    assert!(v6_of("four").contains("fd00"), "{}", v6_of("four"));
    ok(h.berth(&["rm", "-f", "four", "s1", "s2"]));
}

#[test]
fn none_host_and_container_modes() {
    let h = Host::with_busybox();
    let (_, out) = run(&h, &["--network", "none", "busybox", "ip", "-o", "link"]);
    let links: Vec<&str> = out.lines().collect();
    assert_eq!(links.len(), 1, "{out}");
    assert!(links[0].contains("lo"), "{out}");
    // host mode sees the host's interfaces (here: the test host's berth0) and its hostname.
    let (_, out) = run(&h, &["--network", "host", "busybox", "ip", "-o", "link"]);
    assert!(out.contains("berth0"), "{out}");
    let (code, out) = run(
        &h,
        &["--network", "host", "-p", "8089:80", "busybox", "true"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Published ports are discarded when using host network mode"),
        "{out}"
    );

    ok(h.berth(&["network", "create", "mynet"]));
    sleeper(&h, "a1", &["--network", "mynet"]);
    let a1 = inspect(&h, "a1");
    let mac = a1["NetworkSettings"]["Networks"]["mynet"]["MacAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let ip = a1["NetworkSettings"]["Networks"]["mynet"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, out) = run(
        &h,
        &[
            "--network",
            "container:a1",
            "busybox",
            "ip",
            "-o",
            "addr",
            "show",
            "eth0",
        ],
    );
    assert!(out.contains(&format!("inet {ip}/")), "{out}");
    let (_, out) = run(
        &h,
        &[
            "--network",
            "container:a1",
            "busybox",
            "ip",
            "-o",
            "link",
            "show",
            "eth0",
        ],
    );
    assert!(out.contains(&mac), "{out}");
    let (_, hn) = run(&h, &["--network", "container:a1", "busybox", "hostname"]);
    assert_eq!(hn.trim(), a1["Config"]["Hostname"].as_str().unwrap());
    let (code, err) = run(
        &h,
        &[
            "--network",
            "container:a1",
            "--hostname",
            "x",
            "busybox",
            "true",
        ],
    );
    assert_eq!(code, 125);
    assert!(
        err.contains("conflicting options: hostname and the network mode"),
        "{err}"
    );
    let (code, err) = run(
        &h,
        &[
            "--network",
            "container:a1",
            "-p",
            "9999:80",
            "busybox",
            "true",
        ],
    );
    assert_eq!(code, 125);
    assert!(
        err.contains("conflicting options: port publishing and the container type network mode"),
        "{err}"
    );
    ok(h.berth(&["stop", "-t", "1", "a1"]));
    let (code, err) = run(&h, &["--network", "container:a1", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("non running container"), "{err}");
    ok(h.berth(&["rm", "a1"]));
    assert_eq!(
        ok(h.berth(&["ps", "-aq"])),
        "",
        "failed runs leave no containers"
    );
}

#[test]
fn bad_input_leaves_nothing_behind() {
    let h = Host::with_busybox();
    ok(h.berth(&["network", "create", "--subnet", "192.168.0.0/16", "mynet"]));
    sleeper(
        &h,
        "taken",
        &["--network", "mynet", "--ip", "192.168.10.10"],
    );
    let cases: &[(&[&str], &str)] = &[
        // berth run pulls a missing image, and a Docker Hub name is refused without traffic.
        (&["alpine", "true"], "does not reach Docker Hub"),
        (
            &["--network", "nosuchnet", "busybox", "true"],
            "network nosuchnet not found",
        ),
        (
            &["--network", "mynet", "--ip", "10.0.0.5", "busybox", "true"],
            "Invalid address 10.0.0.5: It does not belong to any of this network's subnets",
        ),
        (
            &[
                "--network",
                "mynet",
                "--ip",
                "192.168.10.10",
                "busybox",
                "true",
            ],
            "Address already in use",
        ),
        (
            &[
                "--network",
                "mynet",
                "--ip",
                "192.168.0.1",
                "busybox",
                "true",
            ],
            "Address already in use",
        ),
        (
            &["--network", "mynet", "--ip", "notanip", "busybox", "true"],
            "invalid IPv4 address: notanip",
        ),
        (
            &[
                "--network",
                "bridge",
                "--ip",
                "172.17.0.50",
                "busybox",
                "true",
            ],
            "user specified IP address is supported on user defined networks only",
        ),
        (
            &["--name", "taken", "busybox", "true"],
            "is already in use by container",
        ),
        (
            &["--add-host", "badentry", "busybox", "true"],
            "bad format for add-host: \"badentry\"",
        ),
        (
            &["--network", "container:nosuch", "busybox", "true"],
            "No such container: nosuch",
        ),
        (
            &["--detach-keys", "ctrl-pp", "busybox", "true"],
            "Invalid detach keys (ctrl-pp) provided",
        ),
    ];
    for (args, needle) in cases {
        let (code, out) = run(&h, args);
        assert_eq!(code, 125, "{args:?}: {out}");
        assert!(
            out.contains(needle),
            "{args:?}: wanted {needle:?} in {out:?}"
        );
    }
    let ps = ok(h.berth(&["ps", "-a", "--format", "{{.Names}}"]));
    assert_eq!(ps.trim(), "taken", "nothing but the first container exists");
    let (_, net) = h.api("GET", "/networks/mynet", None);
    let allocated = net["IPAM"]["Config"][0].clone();
    let _ = allocated;
    let (code, err) = fails(h.berth(&["rm", "taken"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("You cannot remove a running container"),
        "{err}"
    );
    let (_, err) = fails(h.berth(&["logs", "nosuch"]));
    assert!(err.contains("No such container: nosuch"), "{err}");
}

#[test]
fn stock_docker_cli_runs_containers() {
    let h = Host::with_busybox();
    ok(h.docker(&["network", "create", "--subnet", "10.77.0.0/24", "dnet"]));
    let id = ok(h.docker(&[
        "run",
        "-d",
        "--name",
        "d1",
        "--network",
        "dnet",
        "busybox",
        "sleep",
        "1000",
    ]));
    assert_eq!(id.trim().len(), 64, "{id}");
    let ps = ok(h.docker(&["ps", "--format", "{{.Names}} {{.Image}} {{.Status}}"]));
    assert!(ps.starts_with("d1 busybox Up"), "{ps}");
    let ip = ok(h.docker(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.dnet.IPAddress}} {{.State.Running}}",
        "d1",
    ]));
    assert_eq!(ip.trim(), "10.77.0.2 true");
    let id2 = ok(h.docker(&[
        "run",
        "-d",
        "--network",
        "dnet",
        "busybox",
        "sh",
        "-c",
        "ping -c1 -W2 10.77.0.2 && echo reached",
    ]));
    let code = ok(h.docker(&["wait", id2.trim()]));
    assert_eq!(code.trim(), "0");
    let logs = ok(h.docker(&["logs", id2.trim()]));
    assert!(logs.contains("reached"), "{logs}");
    let images = ok(h.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert_eq!(images.trim(), "busybox:latest");
    ok(h.docker(&["rm", "-f", "d1", id2.trim()]));
    assert_eq!(ok(h.docker(&["ps", "-aq"])), "");
    ok(h.docker(&["network", "rm", "dnet"]));
}

/// A follower (`logs -f`) holds its connection open for ever; SIGTERM must still stop the
/// daemon promptly (a grace period, then the stream is cut) and the client must end.
#[test]
fn sigterm_stops_the_daemon_while_a_log_stream_is_open() {
    use std::io::BufRead;
    let mut h = Host::with_busybox();
    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "while true; do echo hi; sleep 1; done",
    ]));
    let mut follower = h
        .berth_cmd(&["logs", "-f", "talker"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("berth logs -f");
    let mut lines = std::io::BufReader::new(follower.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("hi"));
    // Panics if berthd is still there after 10 s.
    h.stop_daemon();
    let t0 = std::time::Instant::now();
    while follower.try_wait().expect("wait").is_none() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(5),
            "the follower outlived the daemon"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    h.start_daemon();
    assert_eq!(inspect(&h, "talker")["State"]["Status"], "running");
    ok(h.berth(&["rm", "-f", "talker"]));
}

#[test]
fn running_containers_survive_a_daemon_restart() {
    let mut h = Host::with_busybox();
    sleeper(&h, "keep", &[]);
    ok(h.berth(&["run", "-d", "--name", "short", "busybox", "sleep", "1"]));
    let pid = inspect(&h, "keep")["State"]["Pid"].as_u64().unwrap();
    h.stop_daemon();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    h.start_daemon();
    let keep = inspect(&h, "keep");
    assert_eq!(keep["State"]["Status"], "running");
    assert_eq!(keep["State"]["Pid"].as_u64().unwrap(), pid);
    // The one that ended while the daemon was away is seen as exited, its network released.
    let mut short = inspect(&h, "short");
    for _ in 0..50 {
        if short["State"]["Status"] == "exited" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        short = inspect(&h, "short");
    }
    assert_eq!(short["State"]["Status"], "exited", "{short}");
    let (code, out) = run(
        &h,
        &[
            "busybox",
            "ping",
            "-c1",
            "-W2",
            keep["NetworkSettings"]["IPAddress"].as_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    ok(h.berth(&["rm", "-f", "keep", "short"]));
    assert!(
        h.mounts_below_dir().is_empty(),
        "{:?}",
        h.mounts_below_dir()
    );
}

#[test]
fn container_cgroups_live_under_the_parent_and_debris_is_swept_at_start() {
    let mut h = Host::with_busybox();
    sleeper(&h, "keep", &[]);
    let id = inspect(&h, "keep")["Id"].as_str().unwrap().to_string();
    let parent = h.cgroup_parent();
    let under = |name: &str| -> Vec<std::path::PathBuf> {
        common::cgroup_roots()
            .into_iter()
            .map(|r| r.join(parent.trim_start_matches('/')).join(name))
            .filter(|p| p.is_dir())
            .collect()
    };
    let pids = std::path::Path::new("/sys/fs/cgroup/pids")
        .join(parent.trim_start_matches('/'))
        .join(&id);
    let pid = inspect(&h, "keep")["State"]["Pid"].to_string();
    let procs = std::fs::read_to_string(pids.join("cgroup.procs")).expect("keep's pids cgroup");
    assert!(procs.split_whitespace().any(|p| p == pid), "{procs}");
    // What a container killed along with its daemon leaves: empty cgroups nobody knows.
    let debris = "d".repeat(64);
    for root in common::cgroup_roots() {
        let d = root.join(parent.trim_start_matches('/')).join(&debris);
        if root.join(parent.trim_start_matches('/')).is_dir() {
            std::fs::create_dir(&d).expect("make a debris cgroup");
        }
    }
    assert!(!under(&debris).is_empty());
    h.kill_daemon();
    h.start_daemon();
    assert!(under(&debris).is_empty(), "{:?}", under(&debris));
    assert!(h
        .log()
        .contains("removed cgroups left by unknown containers"));
    // The running container's cgroups are untouched; removing it removes them.
    assert_eq!(inspect(&h, "keep")["State"]["Status"], "running");
    assert!(pids.is_dir());
    ok(h.berth(&["rm", "-f", "keep"]));
    assert!(under(&id).is_empty(), "{:?}", under(&id));
}

#[test]
fn network_connect_and_disconnect_live() {
    let h = Host::with_busybox();
    ok(h.berth(&["network", "create", "--subnet", "192.168.0.0/16", "mynet"]));
    sleeper(&h, "a1", &["--network", "mynet"]);
    sleeper(&h, "b1", &[]);
    let b1 = inspect(&h, "b1");
    let key = b1["NetworkSettings"]["SandboxKey"]
        .as_str()
        .unwrap()
        .to_string();
    let in_b1 = |cmd: &str| h.sh(&format!("nsenter --net={key} {cmd}"));
    // b1 on the default bridge cannot reach mynet's a1 by its subnet directly.
    ok(h.berth(&["network", "connect", "mynet", "b1"]));
    let addrs = in_b1("ip -o -4 addr");
    assert!(
        addrs.contains("eth0") && addrs.contains("172.17.0.2/16"),
        "{addrs}"
    );
    assert!(
        addrs.contains("eth1") && addrs.contains("192.168.0.3/16"),
        "{addrs}"
    );
    let route = in_b1("ip route show default");
    assert!(
        route.contains("via 172.17.0.1 dev eth0"),
        "the default route stays on the first network: {route}"
    );
    assert!(h
        .sh_out(&format!(
            "nsenter --net={key} busybox ping -c1 -W2 192.168.0.2"
        ))
        .status
        .success());
    // resolv.conf switched to the embedded resolver, inside the running container.
    let pid = inspect(&h, "b1")["State"]["Pid"].as_u64().unwrap();
    let resolv = h.sh(&format!("cat /proc/{pid}/root/etc/resolv.conf"));
    assert_eq!(resolv, "nameserver 127.0.0.11\noptions ndots:0\n");
    let (_, net) = h.api("GET", "/networks/mynet", None);
    let names: Vec<&str> = net["Containers"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{net}");
    assert!(names.contains(&"a1") && names.contains(&"b1"), "{names:?}");
    let (_, err) = fails(h.berth(&["network", "connect", "mynet", "b1"]));
    assert!(
        err.contains("endpoint with name b1 already exists in network mynet"),
        "{err}"
    );
    let (_, err) = fails(h.berth(&["network", "connect", "host", "b1"]));
    assert!(err.contains("connected to host network"), "{err}");
    let (_, err) = fails(h.berth(&["network", "connect", "none", "b1"]));
    assert!(err.contains("private (none) mode"), "{err}");
    let (_, err) = fails(h.berth(&["network", "connect", "mynet", "nosuchctr"]));
    assert!(err.contains("No such container: nosuchctr"), "{err}");
    // Static address and alias on connect.
    sleeper(&h, "b2", &[]);
    ok(h.berth(&[
        "network",
        "connect",
        "--ip",
        "192.168.77.77",
        "--alias",
        "extra",
        "mynet",
        "b2",
    ]));
    let ep = &inspect(&h, "b2")["NetworkSettings"]["Networks"]["mynet"];
    assert_eq!(ep["IPAddress"], "192.168.77.77");
    assert!(
        ep["Aliases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "extra"),
        "{ep}"
    );
    // Disconnect removes eth1 live; a second disconnect is an error.
    ok(h.berth(&["network", "disconnect", "mynet", "b1"]));
    let mut gone = false;
    for _ in 0..100 {
        if !in_b1("ip -o link").contains("eth1") {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(gone, "eth1 removed");
    let (_, err) = fails(h.berth(&["network", "disconnect", "mynet", "b1"]));
    assert!(err.contains("is not connected to network mynet"), "{err}");
    // The stock docker CLI does the same.
    ok(h.docker(&["network", "connect", "mynet", "b1"]));
    assert!(
        inspect(&h, "b1")["NetworkSettings"]["Networks"]["mynet"]["IPAddress"]
            .as_str()
            .unwrap()
            .starts_with("192.168.")
    );
    ok(h.docker(&["network", "disconnect", "mynet", "b1"]));
    ok(h.berth(&["rm", "-f", "a1", "b1", "b2"]));
    ok(h.berth(&["network", "rm", "mynet"]));
}

#[test]
fn removing_many_containers_at_once_leaves_nothing() {
    let h = Host::with_busybox();
    ok(h.berth(&["network", "create", "benchnet"]));
    let mut names = Vec::new();
    for i in 0..20 {
        let n = format!("c{i}");
        ok(h.berth(&[
            "run",
            "-d",
            "--name",
            &n,
            "--network",
            "benchnet",
            "busybox",
            "sleep",
            "1000",
        ]));
        names.push(n);
    }
    // The daemon's mount table grows by one network namespace pin per container; each root
    // filesystem is mounted only in its container's own mount namespace.
    let mounts = h.mounts_below_dir();
    assert_eq!(mounts.len(), 20, "{mounts:?}");
    assert!(mounts.iter().all(|m| m.starts_with("nsfs ")), "{mounts:?}");
    assert!(ok(h.berth(&["exec", "c3", "ls", "/bin/busybox"])).contains("busybox"));
    let mut args = vec!["rm", "-f"];
    args.extend(names.iter().map(String::as_str));
    ok(h.berth(&args));
    // Docker 20.10 fails exactly this with "has active endpoints".
    ok(h.berth(&["network", "rm", "benchnet"]));
    assert_eq!(ok(h.berth(&["ps", "-aq"])), "");
    assert!(
        h.mounts_below_dir().is_empty(),
        "{:?}",
        h.mounts_below_dir()
    );
    let mut clean = false;
    for _ in 0..200 {
        if !h
            .links()
            .iter()
            .any(|l| l.starts_with("veth") || l.starts_with("br-"))
        {
            clean = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(clean, "veths and bridges left: {:?}", h.links());
}

#[test]
fn exec_in_running_containers_with_berth_and_docker() {
    let h = Host::with_busybox();
    ok(h.berth(&["network", "create", "--subnet", "192.168.0.0/16", "mynet"]));
    sleeper(&h, "a1", &["--network", "mynet"]);
    sleeper(&h, "a2", &["--network", "mynet"]);
    let out = ok(h.berth(&["exec", "a1", "ip", "-o", "-4", "addr", "show", "eth0"]));
    assert!(out.contains("inet 192.168.0.2/16"), "{out}");
    let out = ok(h.berth(&["exec", "a1", "ping", "-c1", "-W2", "192.168.0.3"]));
    assert!(out.contains("1 packets received"), "{out}");
    let o = h.berth(&[
        "exec",
        "-e",
        "X=7",
        "a1",
        "sh",
        "-c",
        "echo $X; echo oops >&2; exit 4",
    ]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "7\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "oops\n");
    // The stock docker CLI upgrades the connection and reads the exit code afterwards.
    let out = ok(h.docker(&["exec", "a2", "cat", "/etc/hostname"]));
    assert_eq!(
        out.trim(),
        inspect(&h, "a2")["Config"]["Hostname"].as_str().unwrap()
    );
    let o = h.docker(&["exec", "a2", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3));
    let o = h.docker(&["exec", "-i", "a2", "cat"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    ok(h.berth(&["stop", "-t", "1", "a2"]));
    let (_, err) = fails(h.berth(&["exec", "a2", "true"]));
    assert!(err.contains("is not running"), "{err}");
    ok(h.berth(&["rm", "-f", "a1", "a2"]));
}

#[test]
fn links_are_one_way_hosts_entries_on_the_default_bridge() {
    let h = Host::with_busybox();
    sleeper(&h, "b1", &[]);
    sleeper(
        &h,
        "b2",
        &["--expose", "5432", "--expose", "53/udp", "-e", "MODE=prod"],
    );
    sleeper(&h, "b3", &["--link", "b1", "--link", "b2:db"]);
    let b3 = inspect(&h, "b3");
    let pid = b3["State"]["Pid"].as_u64().unwrap();
    let hosts = h.sh(&format!("cat /proc/{pid}/root/etc/hosts"));
    let b1 = inspect(&h, "b1");
    let b2 = inspect(&h, "b2");
    let line = |c: &Value, names: String| {
        format!(
            "{}\t{names}\n",
            c["NetworkSettings"]["IPAddress"].as_str().unwrap()
        )
    };
    let h1 = b1["Config"]["Hostname"].as_str().unwrap().to_string();
    let h2 = b2["Config"]["Hostname"].as_str().unwrap().to_string();
    assert!(hosts.contains(&line(&b1, format!("b1 {h1}"))), "{hosts}");
    assert!(hosts.contains(&line(&b2, format!("db {h2} b2"))), "{hosts}");
    assert_eq!(
        b3["HostConfig"]["Links"],
        serde_json::json!(["/b1:/b3/b1", "/b2:/b3/db"])
    );
    let env = ok(h.berth(&["exec", "b3", "env"]));
    assert!(
        env.contains("B1_NAME=/b3/b1\n") && env.contains("DB_NAME=/b3/db\n"),
        "{env}"
    );
    // Docker's link variables: every exposed port (the default is the lowest TCP one, even
    // with a lower UDP port) and the target's environment.
    let ip2 = b2["NetworkSettings"]["IPAddress"].as_str().unwrap();
    for want in [
        format!("DB_PORT=tcp://{ip2}:5432"),
        format!("DB_PORT_5432_TCP=tcp://{ip2}:5432"),
        format!("DB_PORT_5432_TCP_ADDR={ip2}"),
        "DB_PORT_5432_TCP_PORT=5432".to_string(),
        "DB_PORT_5432_TCP_PROTO=tcp".to_string(),
        format!("DB_PORT_53_UDP=udp://{ip2}:53"),
        "DB_ENV_MODE=prod".to_string(),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} not in {env}");
    }
    assert!(!env.contains("B1_PORT"), "{env}");
    // One-way: b1 knows nothing of b3 (its address; its name could hide in b1's hex hostname).
    let b1_hosts = ok(h.berth(&["exec", "b1", "cat", "/etc/hosts"]));
    let b3_ip = b3["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!b1_hosts.contains(&format!("{b3_ip}\t")), "{b1_hosts}");
    assert!(
        !b1_hosts
            .lines()
            .any(|l| l.split_whitespace().any(|w| w == "b3")),
        "{b1_hosts}"
    );
    let (code, err) = run(&h, &["--link", "nosuchctr", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(
        err.contains("could not get container for nosuchctr: No such container: nosuchctr"),
        "{err}"
    );
    ok(h.berth(&["rm", "-f", "b1", "b2", "b3"]));
}

fn wait_for(h: &Host, name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..150 {
        let v = inspect(h, name);
        if pred(&v) {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(40));
    }
    panic!("{name}: timed out waiting for {what}: {}", inspect(h, name));
}

#[test]
fn restart_policies() {
    let mut h = Host::with_busybox();
    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]));
    let v = wait_for(&h, "flaky", "two restarts then rest", |v| {
        v["RestartCount"] == 2 && v["State"]["Status"] == "exited"
    });
    assert_eq!(v["State"]["ExitCode"], 3);
    assert_eq!(
        v["HostConfig"]["RestartPolicy"],
        serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 2})
    );
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(inspect(&h, "flaky")["RestartCount"], 2, "no third restart");

    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "phoenix",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2",
    ]));
    wait_for(&h, "phoenix", "a restart", |v| {
        v["RestartCount"].as_u64().unwrap_or(0) >= 1
    });
    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "steady",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "1000",
    ]));
    ok(h.berth(&["stop", "-t", "1", "steady"]));
    ok(h.berth(&["stop", "-t", "1", "phoenix"]));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        inspect(&h, "phoenix")["State"]["Status"],
        "exited",
        "a manual stop is final"
    );
    // At daemon start `always` comes back, `unless-stopped` stopped by hand does not.
    h.stop_daemon();
    h.start_daemon();
    wait_for(&h, "phoenix", "always after a daemon restart", |v| {
        v["State"]["Status"] == "running" || v["RestartCount"].as_u64().unwrap_or(0) >= 2
    });
    assert_eq!(inspect(&h, "steady")["State"]["Status"], "exited");

    for (flags, needle) in [
        (
            vec!["--restart", "sometimes"],
            "invalid restart policy 'sometimes'",
        ),
        (
            vec!["--restart", "always:3"],
            "can only be used with 'on-failure'",
        ),
        (vec!["--restart", "on-failure:x"], "must be a number"),
        (
            vec!["--restart", "always", "--rm"],
            "conflicting options: --restart and --rm",
        ),
    ] {
        let mut a = vec!["run", "-d"];
        a.extend(flags);
        a.extend(["busybox", "true"]);
        let (code, err) = fails(h.berth(&a));
        assert_eq!(code, 125);
        assert!(err.contains(needle), "{needle}: {err}");
    }
    ok(h.berth(&["rm", "-f", "flaky", "phoenix", "steady"]));
}

#[test]
fn load_a_docker_save_archive_with_layers_and_whiteouts() {
    let h = Host::new();
    let dir = h.dir.path().join("save");
    let l2 = dir.join("l2");
    std::fs::create_dir_all(l2.join("etc")).unwrap();
    std::fs::create_dir_all(l2.join("bin")).unwrap();
    std::fs::write(l2.join("etc/greeting"), "hello from layer 2\n").unwrap();
    std::fs::write(l2.join("bin/.wh.wget"), "").unwrap();
    std::fs::copy(common::busybox_tar(), dir.join("layer1.tar")).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-C")
        .arg(&l2)
        .arg("-cf")
        .arg(dir.join("layer2.tar"))
        .arg(".")
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(
        dir.join("config.json"),
        r#"{"created":"2024-01-01T00:00:00Z","config":{"Cmd":["cat","/etc/greeting"],"Env":["PATH=/bin","GREETING=yes"],"WorkingDir":"/etc"}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        r#"[{"Config":"config.json","RepoTags":["greeter:1"],"Layers":["layer1.tar","layer2.tar"]}]"#,
    )
    .unwrap();
    let out = std::process::Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(dir.join("../image.tar"))
        .args(["manifest.json", "config.json", "layer1.tar", "layer2.tar"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let archive = h.dir.path().join("image.tar");
    let loaded = ok(h.berth(&["load", "-i", archive.to_str().unwrap()]));
    assert_eq!(loaded, "Loaded image: greeter:1\n");
    let (code, out) = run(&h, &["greeter:1"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "hello from layer 2\n"),
        "the image's Cmd runs"
    );
    let (_, pwd) = run(&h, &["greeter:1", "pwd"]);
    assert_eq!(pwd.trim(), "/etc", "WorkingDir from the config");
    let (_, env) = run(&h, &["greeter:1", "env"]);
    assert!(env.contains("GREETING=yes"), "{env}");
    let (code, _) = run(&h, &["greeter:1", "ls", "/bin/wget"]);
    assert_ne!(code, 0, "the whiteout removed /bin/wget");
    let (code, _) = run(&h, &["greeter:1", "ls", "/bin/ping"]);
    assert_eq!(code, 0, "the rest of layer 1 is there");
    // The stock docker CLI loads too; a bad archive is refused with a clear message.
    ok(h.docker(&["load", "-i", archive.to_str().unwrap()]));
    let bogus = h.dir.path().join("bogus.tar");
    std::fs::copy(common::busybox_tar(), &bogus).unwrap();
    let (_, err) = fails(h.berth(&["load", "-i", bogus.to_str().unwrap()]));
    assert!(err.contains("manifest.json is missing"), "{err}");
    let images = ok(h.berth(&["images", "--quiet"]));
    assert_eq!(images.lines().count(), 1, "{images}");
}

#[test]
fn attached_docker_run_and_logs_follow() {
    let h = Host::with_busybox();
    // The docker CLI attaches before it starts, and waits for the next exit (or the removal).
    let out = h.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo hello; echo oops >&2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    let out = h.docker(&["run", "--name", "three", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        ok(h.docker(&["ps", "-aq"])).lines().count(),
        1,
        "--rm removed its container"
    );
    // logs -f follows until the container exits.
    sleeper(&h, "ticker", &[]);
    ok(h.berth(&["rm", "-f", "ticker"]));
    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick $i; sleep 0.2; done",
    ]));
    let out = ok(h.docker(&["logs", "-f", "ticker"]));
    assert_eq!(out, "tick 1\ntick 2\ntick 3\n");
    ok(h.berth(&["rm", "-f", "three", "ticker"]));
}

/// crun refuses this machine's hybrid cgroups by itself; berthd runs it with the cgroup v2
/// hierarchy out of sight, and it runs containers like runc.
#[test]
fn crun_runs_containers_on_hybrid_cgroups() {
    if std::process::Command::new("crun")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("crun is not installed: scripts/install-deps.sh installs it");
    }
    let mut h = Host::bare();
    std::fs::write(h.config_file(), r#"{"default-runtime": "crun"}"#).expect("daemon.json");
    h.start_daemon();
    h.import_busybox();
    ok(h.berth(&["network", "create", "cnet"]));
    sleeper(&h, "c1", &["--network", "cnet"]);
    let (code, out) = run(
        &h,
        &["--network", "cnet", "busybox", "ping", "-c1", "-W2", "c1"],
    );
    assert_eq!(code, 0, "{out}");
    let out = ok(h.berth(&["exec", "c1", "cat", "/proc/1/cgroup"]));
    assert!(!out.is_empty());
    for _ in 0..5 {
        let (code, out) = run(&h, &["busybox", "sh", "-c", "exit 3"]);
        assert_eq!(code, 3, "{out}");
    }
    let exec = h.berth(&["exec", "c1", "sh", "-c", "exit 4"]);
    assert_eq!(exec.status.code(), Some(4));
    // crun's `run -d` leaves its middle process to the daemon: reaped, not a zombie.
    let zombies = h.sh(&format!(
        "ps -o pid=,stat=,comm= --ppid {} | awk '$2 ~ /Z/'",
        h.daemon_pid()
    ));
    assert_eq!(zombies.trim(), "", "zombie children of berthd");
    // The host's own mount table still has the cgroup v2 hierarchy.
    assert!(h
        .sh("cat /proc/self/mounts")
        .contains("/sys/fs/cgroup/unified"));
    ok(h.berth(&["rm", "-f", "c1"]));
    assert_eq!(ok(h.berth(&["ps", "-aq"])), "");
}

/// Without a terminal, a signal sent to an attached `run` or `attach` goes to the container
/// (Docker's `--sig-proxy`, on by default); with `--sig-proxy=false` it stays with the CLI.
#[test]
fn attached_cli_proxies_signals_to_the_container() {
    use std::io::BufRead;
    let h = Host::with_busybox();
    // "ready" over and over: an `attach` sees the next one (it does not replay the log).
    let script = "trap 'echo got-term; exit 7' TERM; while :; do echo ready; sleep 0.2; done";
    // Starts the CLI with `args`, waits for the container's "ready", sends `sig` to the CLI.
    let signalled = |args: &[&str], sig: i32| -> (std::process::ExitStatus, String) {
        let mut child = h
            .berth_cmd(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn berth");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("read");
        assert_eq!(line.trim(), "ready");
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = child.wait().expect("wait");
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut rest);
        (status, rest)
    };
    let (status, out) = signalled(
        &["run", "--name", "p1", "busybox", "sh", "-c", script],
        libc::SIGTERM,
    );
    assert_eq!(status.code(), Some(7), "run: the container's exit code");
    assert!(out.contains("got-term"), "{out}");
    // `attach` to a running container forwards too.
    ok(h.berth(&["run", "-d", "--name", "p2", "busybox", "sh", "-c", script]));
    let (status, _) = signalled(&["attach", "p2"], libc::SIGTERM);
    assert_eq!(status.code(), Some(7), "attach: the container's exit code");
    // Switched off: the signal ends the CLI, and the container runs on.
    let (status, _) = signalled(
        &[
            "run",
            "--sig-proxy=false",
            "--name",
            "p3",
            "busybox",
            "sh",
            "-c",
            script,
        ],
        libc::SIGTERM,
    );
    assert_eq!(status.code(), None, "killed by the signal");
    let state = ok(h.berth(&["inspect", "-f", "{{.State.Status}}", "p3"]));
    assert_eq!(state.trim(), "running");
}

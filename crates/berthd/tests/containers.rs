//! Containers end to end: real processes through runc from the busybox image, attached to
//! berth's networks in every mode, in a throwaway host namespace per test.

mod common;

use common::{fails, inspect, ok, run_rm, sleeper, Host};
use serde_json::Value;

fn ip_of(h: &Host, name: &str, net: &str) -> String {
    inspect(h, name)["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string()
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
    let (code, out) = run_rm(&h, &["busybox", "ping", "-c1", "-W2", "172.17.0.2"]);
    assert_eq!(code, 0, "ping b1 from the default bridge: {out}");
    let (_, hosts) = run_rm(
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
    let (_, hn) = run_rm(&h, &["--hostname", "myhost", "busybox", "hostname"]);
    assert_eq!(hn.trim(), "myhost");
    let (_, resolv) = run_rm(
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
    let (code, out) = run_rm(
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
    let (_, resolv) = run_rm(
        &h,
        &["--network", "mynet", "busybox", "cat", "/etc/resolv.conf"],
    );
    assert_eq!(resolv, "nameserver 127.0.0.11\noptions ndots:0\n");
    let (_, addr) = run_rm(
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
    let (_, out) = run_rm(&h, &["--network", "none", "busybox", "ip", "-o", "link"]);
    let links: Vec<&str> = out.lines().collect();
    assert_eq!(links.len(), 1, "{out}");
    assert!(links[0].contains("lo"), "{out}");
    // host mode sees the host's interfaces (here: the test host's berth0) and its hostname.
    let (_, out) = run_rm(&h, &["--network", "host", "busybox", "ip", "-o", "link"]);
    assert!(out.contains("berth0"), "{out}");
    let (code, out) = run_rm(
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
    let (_, out) = run_rm(
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
    let (_, out) = run_rm(
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
    let (_, hn) = run_rm(&h, &["--network", "container:a1", "busybox", "hostname"]);
    assert_eq!(hn.trim(), a1["Config"]["Hostname"].as_str().unwrap());
    let (code, err) = run_rm(
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
    let (code, err) = run_rm(
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
    let (code, err) = run_rm(&h, &["--network", "container:a1", "busybox", "true"]);
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
        let (code, out) = run_rm(&h, args);
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
    let (code, err) = run_rm(&h, &["--link", "nosuchctr", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(
        err.contains("could not get container for nosuchctr: No such container: nosuchctr"),
        "{err}"
    );
    ok(h.berth(&["rm", "-f", "b1", "b2", "b3"]));
}

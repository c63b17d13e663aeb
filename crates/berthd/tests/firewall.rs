//! The firewall end to end, with real traffic: isolation between networks, egress, internal
//! and ICC-off networks, and published ports reached from an outside client, from the host
//! and from containers. Each test has its own host namespace and an "outside" namespace
//! joined to it by a veth (host side 10.99.0.1, outside 10.99.0.2, no route back to any
//! container subnet, so only masqueraded traffic gets replies).

mod common;

use common::dns::in_netns;
use common::{fails, inspect, ok, sandbox, sleeper, Host};
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

const HOST_ADDR: &str = "10.99.0.1";
const OUTSIDE_ADDR: &str = "10.99.0.2";

fn host_with_outside() -> Host {
    host_with_outside_and(&[])
}

/// `host_with_outside` with berthd started with `args`.
fn host_with_outside_and(args: &[&str]) -> Host {
    let mut h = Host::bare();
    h.extra_args = args.iter().map(|a| a.to_string()).collect();
    h.start_daemon();
    h.import_busybox();
    h.sh(&format!(
        "mkdir -p /run/netns && mount -t tmpfs berth-test /run/netns && \
         ip netns add outside && \
         ip link add vout type veth peer name vin netns outside && \
         ip addr add {HOST_ADDR}/24 dev vout && ip link set vout up && \
         ip -n outside addr add {OUTSIDE_ADDR}/24 dev vin && \
         ip -n outside link set vin up && ip -n outside link set lo up"
    ));
    h
}

fn outside_ns(h: &Host) -> PathBuf {
    PathBuf::from(format!("/proc/{}/root/run/netns/outside", h.pid()))
}

fn host_ns(h: &Host) -> PathBuf {
    PathBuf::from(format!("/proc/{}/ns/net", h.pid()))
}

fn ip_of(h: &Host, name: &str) -> String {
    let nets = inspect(h, name)["NetworkSettings"]["Networks"].clone();
    nets.as_object()
        .and_then(|m| m.values().next())
        .and_then(|n| n["IPAddress"].as_str())
        .expect("IPAddress")
        .to_string()
}

/// A container serving "hello from NAME" over HTTP on port 80 (and `extra` ports).
fn web(h: &Host, name: &str, flags: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    let script = format!(
        "mkdir -p /www && echo hello from {name} > /www/index.html && \
         httpd -p 81 -h /www && httpd -f -p 80 -h /www"
    );
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    let id = ok(h.berth(&args)).trim().to_string();
    // httpd binds right after start; wait until it answers from inside.
    let mut last = String::new();
    for _ in 0..100 {
        let out = h.berth(&[
            "exec",
            name,
            "timeout",
            "2",
            "wget",
            "-q",
            "-O",
            "-",
            "http://127.0.0.1/",
        ]);
        if out.status.success() {
            return id;
        }
        last = format!(
            "{:?} {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let logs = h.berth(&["logs", name]);
    panic!(
        "web server in {name} never answered: {last}\nlogs: {}{}\n{}",
        String::from_utf8_lossy(&logs.stdout),
        String::from_utf8_lossy(&logs.stderr),
        h.log()
    );
}

/// A TCP request to `addr` from inside the namespace at `ns`: the body, or None.
fn http_from(ns: &std::path::Path, addr: &str) -> Option<String> {
    let addr: std::net::SocketAddr = addr.parse().expect("socket address");
    in_netns(ns, move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(700)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        body.lines().last().map(str::to_string)
    })
}

/// An HTTP GET from inside a container (through the container's own stack, with wget).
fn http_in(h: &Host, name: &str, url: &str) -> Option<String> {
    let out = h.berth(&["exec", name, "timeout", "2", "wget", "-q", "-O", "-", url]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A UDP echo server inside the namespace at `ns`, answering "NAME:payload".
fn udp_echo(ns: &std::path::Path, port: u16, name: &'static str) {
    let sock = in_netns(ns, move || {
        UdpSocket::bind(("0.0.0.0", port)).expect("bind echo")
    });
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let reply = format!("{name}:{}", String::from_utf8_lossy(&buf[..n]));
            let _ = sock.send_to(reply.as_bytes(), from);
        }
    });
}

fn udp_from(ns: &std::path::Path, addr: &str) -> Option<String> {
    let addr: std::net::SocketAddr = addr.parse().expect("socket address");
    in_netns(ns, move || {
        let s = UdpSocket::bind("0.0.0.0:0").ok()?;
        s.set_read_timeout(Some(Duration::from_millis(700))).ok()?;
        let mut buf = [0u8; 512];
        for _ in 0..2 {
            s.send_to(b"ping", addr).ok()?;
            if let Ok(n) = s.recv(&mut buf) {
                return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        None
    })
}

/// Which of `targets` answer one ping from inside container `from`, probed in parallel.
fn pings(h: &Host, from: &str, targets: &[String]) -> Vec<bool> {
    let script: String = targets
        .iter()
        .enumerate()
        .map(|(i, ip)| format!("(ping -c 1 -W 1 {ip} >/dev/null 2>&1 && echo {i}) & "))
        .collect::<String>()
        + "wait";
    let out = ok(h.berth(&["exec", from, "sh", "-c", &script]));
    let up: Vec<usize> = out.lines().filter_map(|l| l.trim().parse().ok()).collect();
    (0..targets.len()).map(|i| up.contains(&i)).collect()
}

#[test]
fn reachability_matrix_isolation_internal_icc_and_egress() {
    let h = host_with_outside();
    ok(h.berth(&["network", "create", "--subnet", "10.10.0.0/24", "neta"]));
    ok(h.berth(&["network", "create", "--subnet", "10.20.0.0/24", "netb"]));
    ok(h.berth(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.30.0.0/24",
        "inside",
    ]));
    ok(h.berth(&[
        "network",
        "create",
        "--subnet",
        "10.40.0.0/24",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "noicc",
    ]));
    ok(h.berth(&[
        "network",
        "create",
        "--subnet",
        "10.50.0.0/24",
        "-o",
        "com.docker.network.bridge.enable_ip_masquerade=false",
        "nomasq",
    ]));
    let nets = [
        ("bridge", ["d1", "d2"]),
        ("neta", ["a1", "a2"]),
        ("netb", ["b1", "b2"]),
        ("inside", ["i1", "i2"]),
        ("noicc", ["n1", "n2"]),
        ("nomasq", ["m1", "m2"]),
    ];
    for (net, names) in &nets {
        for n in names {
            sleeper(&h, n, &["--network", net]);
        }
    }
    // A container on two networks reaches both.
    sleeper(&h, "ab", &["--network", "neta"]);
    ok(h.berth(&["network", "connect", "netb", "ab"]));
    let all: Vec<(&str, &str, String)> = nets
        .iter()
        .flat_map(|(net, names)| names.iter().map(move |n| (*net, *n)))
        .map(|(net, n)| (net, n, ip_of(&h, n)))
        .collect();
    let mut targets: Vec<String> = all.iter().map(|(_, _, ip)| ip.clone()).collect();
    targets.push(OUTSIDE_ADDR.into());
    let mut wrong = Vec::new();
    for (net, name, _) in &all {
        let got = pings(&h, name, &targets);
        for (i, reached) in got.iter().enumerate() {
            let want = match all.get(i) {
                Some((other_net, other, _)) if other == name => {
                    let _ = other_net;
                    true
                }
                Some((other_net, _, _)) => other_net == net && *net != "noicc",
                // The outside: through masquerade only, never from internal networks.
                None => !matches!(*net, "inside" | "nomasq"),
            };
            if *reached != want {
                let target = all.get(i).map(|t| t.1).unwrap_or("outside");
                wrong.push(format!(
                    "{name} -> {target}: reached={reached}, want {want}"
                ));
            }
        }
    }
    let ab = pings(&h, "ab", &[ip_of(&h, "a1"), ip_of(&h, "b1")]);
    if ab != [true, true] {
        wrong.push(format!("ab on both networks reaches a1, b1: {ab:?}"));
    }
    assert!(
        wrong.is_empty(),
        "reachability wrong:\n{}",
        wrong.join("\n")
    );
    // Nothing from outside reaches a container's unpublished port, even with a route.
    h.sh("ip netns exec outside ip route add 10.10.0.0/24 via 10.99.0.1");
    let a1 = ip_of(&h, "a1");
    web(&h, "wa", &["--network", "neta", "--ip", "10.10.0.100"]);
    assert_eq!(http_from(&outside_ns(&h), "10.10.0.100:80"), None, "{a1}");
    // The host itself reaches containers (as Docker).
    assert_eq!(
        http_from(&host_ns(&h), "10.10.0.100:80").as_deref(),
        Some("hello from wa")
    );
}

#[test]
fn published_ports_work_from_outside_host_loopback_and_containers() {
    let h = host_with_outside();
    ok(h.berth(&["network", "create", "--subnet", "10.10.0.0/24", "neta"]));
    web(
        &h,
        "web",
        &[
            "-p",
            "8080:80",
            "-p",
            "127.0.0.1:8081:80",
            "-p",
            "5353:53/udp",
        ],
    );
    udp_echo(&sandbox(&h, "web"), 53, "web");
    web(
        &h,
        "uweb",
        &[
            "--network",
            "neta",
            "-p",
            "9090:80",
            "-p",
            "9100-9101:80-81",
        ],
    );
    sleeper(&h, "peer", &[]);
    sleeper(&h, "apeer", &["--network", "neta"]);
    let hello = Some("hello from web".to_string());
    let outside = outside_ns(&h);
    let host = host_ns(&h);
    // From another machine, to the host's address.
    assert_eq!(http_from(&outside, &format!("{HOST_ADDR}:8080")), hello);
    assert_eq!(
        http_from(&outside, &format!("{HOST_ADDR}:9090")).as_deref(),
        Some("hello from uweb")
    );
    assert_eq!(
        http_from(&outside, &format!("{HOST_ADDR}:9101")).as_deref(),
        Some("hello from uweb"),
        "9101 maps to 81"
    );
    // 127.0.0.1:8081 is bound to loopback only: not from outside.
    assert_eq!(http_from(&outside, &format!("{HOST_ADDR}:8081")), None);
    // From the host, on its own address and on 127.0.0.1.
    assert_eq!(http_from(&host, &format!("{HOST_ADDR}:8080")), hello);
    assert_eq!(http_from(&host, "127.0.0.1:8080"), hello);
    assert_eq!(http_from(&host, "127.0.0.1:8081"), hello);
    // From containers via the host's address: same network (hairpin) and another network.
    let url = format!("http://{HOST_ADDR}:8080/");
    assert_eq!(
        http_in(&h, "peer", &url),
        hello,
        "hairpin on the default bridge"
    );
    assert_eq!(http_in(&h, "apeer", &url), hello, "from another network");
    assert_eq!(
        http_in(&h, "peer", &format!("http://{HOST_ADDR}:9090/")).as_deref(),
        Some("hello from uweb")
    );
    // A container reaching its own published port through the host's address (bridged back
    // out of the port it came in on, and masqueraded so it does not see its own address).
    assert_eq!(http_in(&h, "web", &url), hello, "own port, default bridge");
    assert_eq!(
        http_in(&h, "uweb", &format!("http://{HOST_ADDR}:9090/")).as_deref(),
        Some("hello from uweb"),
        "own port, user network"
    );
    // UDP, from outside, from the host and from a container.
    let udp = Some("web:ping".to_string());
    assert_eq!(udp_from(&outside, &format!("{HOST_ADDR}:5353")), udp);
    assert_eq!(udp_from(&host, "127.0.0.1:5353"), udp);
    assert_eq!(
        udp_from(&sandbox(&h, "apeer"), &format!("{HOST_ADDR}:5353")),
        udp
    );
    // `port` and inspect, as Docker shows them.
    let port = ok(h.berth(&["port", "web"]));
    assert_eq!(
        port,
        "53/udp -> 0.0.0.0:5353\n80/tcp -> 0.0.0.0:8080\n80/tcp -> 127.0.0.1:8081\n"
    );
    assert_eq!(
        ok(h.berth(&["port", "web", "80"])),
        "0.0.0.0:8080\n127.0.0.1:8081\n"
    );
    let (code, err) = fails(h.berth(&["port", "web", "81"]));
    assert_eq!(
        (code, err.trim()),
        (1, "Error: No public port '81/tcp' published for web")
    );
    let v = inspect(&h, "web");
    assert_eq!(
        v["NetworkSettings"]["Ports"]["80/tcp"],
        serde_json::json!([{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"127.0.0.1","HostPort":"8081"}])
    );
    assert_eq!(
        v["HostConfig"]["PortBindings"]["80/tcp"],
        serde_json::json!([{"HostIp":"","HostPort":"8080"},{"HostIp":"127.0.0.1","HostPort":"8081"}])
    );
    let ps = ok(h.berth(&["ps", "--format", "{{.Names}} {{.Ports}}"]));
    assert!(
        ps.contains("web 0.0.0.0:5353->53/udp, 0.0.0.0:8080->80/tcp, 127.0.0.1:8081->80/tcp"),
        "{ps}"
    );
}

#[test]
fn rules_follow_containers_and_survive_flush_reload_and_the_user_chain() {
    let mut h = host_with_outside();
    web(&h, "web", &["-p", "8080:80"]);
    let outside = outside_ns(&h);
    let url = format!("{HOST_ADDR}:8080");
    let hello = Some("hello from web".to_string());
    assert_eq!(http_from(&outside, &url), hello);
    // An established connection through the DNAT: an echo server on 7000.
    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "echo",
        "-p",
        "7000:7000",
        "busybox",
        "nc",
        "-ll",
        "-p",
        "7000",
        "-e",
        "cat",
    ]));
    std::thread::sleep(Duration::from_millis(200));
    let mut conn = in_netns(&outside, move || {
        TcpStream::connect_timeout(
            &format!("{HOST_ADDR}:7000").parse().expect("addr"),
            Duration::from_secs(2),
        )
        .expect("connect to the echo server")
    });
    conn.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut echo = |msg: &[u8]| -> Vec<u8> {
        conn.write_all(msg).expect("send");
        let mut buf = vec![0u8; msg.len()];
        conn.read_exact(&mut buf).expect("echo");
        buf
    };
    assert_eq!(echo(b"one\n"), b"one\n");
    // The user's chain is evaluated first and survives reloads.
    let web_ip = ip_of(&h, "web");
    h.sh(&format!(
        "nft add rule inet berth user ip daddr {web_ip} tcp dport 80 drop comment users-own"
    ));
    assert_eq!(http_from(&outside, &url), None, "the user's drop wins");
    h.sh(&format!("kill -HUP {}", h.daemon_pid()));
    std::thread::sleep(Duration::from_millis(300));
    assert!(h.sh("nft list chain inet berth user").contains("users-own"));
    assert_eq!(
        echo(b"two\n"),
        b"two\n",
        "a reload keeps established connections"
    );
    h.sh("nft flush chain inet berth user");
    assert_eq!(http_from(&outside, &url), hello);
    // SIGHUP rewrites the rules too (the daemon also does it by itself when someone changes
    // them: tests/firewall_heal.rs).
    h.sh(&format!("kill -HUP {}", h.daemon_pid()));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        http_from(&outside, &url),
        hello,
        "SIGHUP re-applies the rules"
    );
    // A restart: tables deleted while the daemon is down, everything back.
    h.stop_daemon();
    h.sh("nft delete table inet berth && nft delete table bridge berth");
    h.start_daemon();
    assert_eq!(
        http_from(&outside, &url),
        hello,
        "a restart re-applies the rules"
    );
    // The reservation came back with the daemon: the port is still taken.
    let (_, err) = fails(h.berth(&["run", "-d", "-p", "8080:80", "busybox", "sleep", "9"]));
    assert!(err.contains("port is already allocated"), "{err}");
    // Removal takes the mapping and the reservation away at once.
    ok(h.berth(&["rm", "-f", "web"]));
    assert_eq!(http_from(&outside, &url), None);
    let maps = h.sh("nft list map inet berth ports4");
    assert!(!maps.contains("8080"), "{maps}");
    web(&h, "web2", &["-p", "8080:80"]);
    assert_eq!(
        http_from(&outside, &url).as_deref(),
        Some("hello from web2"),
        "the port is free for the next container"
    );
    // Tables gone (the watcher or the next change puts them back whole, web2's mapping
    // included).
    h.sh("nft delete table inet berth && nft delete table bridge berth");
    web(&h, "web3", &["-p", "8090:80"]);
    assert_eq!(
        http_from(&outside, &format!("{HOST_ADDR}:8090")).as_deref(),
        Some("hello from web3"),
        "a change after the tables were deleted finds them back"
    );
    assert_eq!(
        http_from(&outside, &url).as_deref(),
        Some("hello from web2")
    );
    ok(h.berth(&["rm", "-f", "web3"]));
    // Stopping a container withdraws its ports too.
    ok(h.berth(&["stop", "-t", "0", "web2"]));
    assert_eq!(http_from(&outside, &url), None);
    assert_eq!(
        inspect(&h, "web2")["NetworkSettings"]["Ports"],
        serde_json::json!({})
    );
}

#[test]
fn udp_mapping_change_clears_stale_conntrack() {
    let h = host_with_outside();
    sleeper(&h, "u1", &["-p", "5300:53/udp"]);
    udp_echo(&sandbox(&h, "u1"), 53, "u1");
    let outside = outside_ns(&h);
    // One client socket keeps sending from the same source port across the change.
    let client = in_netns(&outside, || {
        UdpSocket::bind("0.0.0.0:41000").expect("bind client")
    });
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let ask = |s: &UdpSocket| -> Option<String> {
        let mut buf = [0u8; 128];
        for _ in 0..3 {
            s.send_to(b"q", format!("{HOST_ADDR}:5300")).ok()?;
            if let Ok(n) = s.recv(&mut buf) {
                return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        None
    };
    assert_eq!(ask(&client).as_deref(), Some("u1:q"));
    ok(h.berth(&["rm", "-f", "u1"]));
    sleeper(&h, "u2", &["-p", "5300:53/udp"]);
    udp_echo(&sandbox(&h, "u2"), 53, "u2");
    assert_eq!(
        ask(&client).as_deref(),
        Some("u2:q"),
        "the old flow's translation was forgotten"
    );
}

#[test]
fn iptables_false_leaves_the_firewall_alone() {
    let mut h = Host::bare();
    std::fs::write(h.config_file(), r#"{"iptables": false}"#).expect("daemon.json");
    h.sh("nft add table inet mine");
    h.start_daemon();
    ok(h.berth(&["network", "create", "n1"]));
    let tables = h.sh("nft list tables");
    assert_eq!(tables.trim(), "table inet mine", "{tables}");
}

#[test]
fn iptables_flag_false_leaves_the_firewall_alone() {
    let h = Host::with_args(&["--iptables=false"]);
    ok(h.berth(&["network", "create", "n1"]));
    let tables = h.sh("nft list tables");
    assert_eq!(tables.trim(), "", "{tables}");
}

/// `--iptables=false`: no tables, and published ports are served by a userland proxy, from
/// outside and from the host, over TCP and UDP, until the container goes; a restarted daemon
/// serves them again.
#[test]
fn iptables_false_publishes_through_a_userland_proxy() {
    let mut h = host_with_outside_and(&["--iptables=false"]);
    web(&h, "web", &["-p", "8080:80", "-p", "5353:53/udp"]);
    udp_echo(&sandbox(&h, "web"), 53, "web");
    let (outside, host) = (outside_ns(&h), host_ns(&h));
    let hello = Some("hello from web".to_string());
    assert_eq!(http_from(&outside, &format!("{HOST_ADDR}:8080")), hello);
    assert_eq!(http_from(&host, "127.0.0.1:8080"), hello);
    let udp = Some("web:ping".to_string());
    assert_eq!(udp_from(&outside, &format!("{HOST_ADDR}:5353")), udp);
    assert_eq!(h.sh("nft list tables").trim(), "");
    assert_eq!(ok(h.berth(&["port", "web", "80"])).trim(), "0.0.0.0:8080");
    // The daemon restarts: the container keeps running and its ports are served again.
    h.stop_daemon();
    h.start_daemon();
    assert_eq!(http_from(&outside, &format!("{HOST_ADDR}:8080")), hello);
    assert_eq!(udp_from(&outside, &format!("{HOST_ADDR}:5353")), udp);
    // Gone with the container: the port is free again.
    ok(h.berth(&["rm", "-f", "web"]));
    assert_eq!(http_from(&host, "127.0.0.1:8080"), None);
    let free = in_netns(&host, || {
        std::net::TcpListener::bind("0.0.0.0:8080").is_ok()
    });
    assert!(free, "port 8080 is free after rm");
}

/// `--icc=false` on the default bridge: containers cannot reach each other, except the exposed
/// ports of a `--link` target, from the linking container only; a reload keeps the hole and
/// removing the linking container closes it.
#[test]
fn icc_off_default_bridge_opens_only_what_links_expose() {
    let mut h = Host::with_args(&["--icc=false"]);
    h.import_busybox();
    let bridge = ok(h.berth(&["network", "inspect", "bridge"]));
    assert!(
        bridge.contains(r#""com.docker.network.bridge.enable_icc": "false""#),
        "{bridge}"
    );
    web(&h, "db", &["--expose", "80"]);
    sleeper(&h, "app", &["--link", "db:database"]);
    sleeper(&h, "other", &[]);
    let db = ip_of(&h, "db");
    let check = |h: &Host, when: &str| {
        let hello = Some("hello from db".to_string());
        assert_eq!(
            http_in(h, "app", "http://database/"),
            hello,
            "{when}: link, exposed port"
        );
        assert_eq!(
            http_in(h, "app", &format!("http://{db}:81/")),
            None,
            "{when}: port not exposed"
        );
        assert_eq!(
            http_in(h, "other", &format!("http://{db}/")),
            None,
            "{when}: no link"
        );
        assert_eq!(
            pings(h, "app", std::slice::from_ref(&db)),
            vec![false],
            "{when}: ICMP is not a port"
        );
        let app = ip_of(h, "app");
        assert_eq!(
            pings(h, "db", &[app]),
            vec![false],
            "{when}: the link is one-way"
        );
    };
    check(&h, "after run");
    h.sh("nft flush ruleset");
    h.sh(&format!("kill -HUP {}", h.daemon_pid()));
    std::thread::sleep(Duration::from_millis(300));
    check(&h, "after a flush and reload");
    h.stop_daemon();
    h.start_daemon();
    check(&h, "after a daemon restart");
    ok(h.berth(&["rm", "-f", "app"]));
    let set = h.sh("nft list set bridge berth links");
    assert!(
        !set.contains("elements"),
        "the hole outlived its container: {set}"
    );
}

#[test]
fn docker_cli_publishes_and_reports_ports() {
    let h = host_with_outside();
    let out = h.docker(&[
        "run",
        "-d",
        "--name",
        "dweb",
        "-p",
        "8080:80",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo hello from dweb > /www/index.html && httpd -f -p 80 -h /www",
    ]);
    ok(out);
    let mut got = None;
    for _ in 0..50 {
        got = http_from(&outside_ns(&h), &format!("{HOST_ADDR}:8080"));
        if got.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(got.as_deref(), Some("hello from dweb"));
    assert_eq!(ok(h.docker(&["port", "dweb"])), "80/tcp -> 0.0.0.0:8080\n");
    let ps = ok(h.docker(&["ps", "--format", "{{.Ports}}"]));
    assert_eq!(ps.trim(), "0.0.0.0:8080->80/tcp");
    ok(h.docker(&["rm", "-f", "dweb"]));
}

/// `-p` with IPv6: a dual-stack network's container published on every address (both
/// families) and on one IPv6 host address, reached from outside and from the host over IPv6.
#[test]
fn ipv6_published_ports_from_outside_and_the_host() {
    let h = host_with_outside();
    // The test's own link between "outside" and the host: its link-local addresses go through
    // DAD for about a second, and until then the host sends no neighbour solicitation for
    // forwarded traffic (replies to the outside client). Wait until they are settled.
    h.sh(
        "ip addr add fd99::1/64 dev vout nodad && \
         ip -n outside addr add fd99::2/64 dev vin nodad && \
         for i in $(seq 50); do \
           [ -z \"$(ip -6 addr show dev vout tentative; ip -n outside -6 addr show dev vin tentative)\" ] && break; \
           sleep 0.1; \
         done",
    );
    ok(h.berth(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "10.77.0.0/24",
        "--subnet",
        "fd00:77::/64",
        "six",
    ]));
    web(
        &h,
        "web6",
        &[
            "--network",
            "six",
            "-p",
            "8080:80",
            "-p",
            "[fd99::1]:8090:80",
        ],
    );
    let hello = Some("hello from web6".to_string());
    let outside = outside_ns(&h);
    let host = host_ns(&h);
    assert_eq!(
        http_from(&outside, "[fd99::1]:8080"),
        hello,
        "v6, all addresses"
    );
    assert_eq!(
        http_from(&outside, "[fd99::1]:8090"),
        hello,
        "v6 host address"
    );
    assert_eq!(http_from(&outside, &format!("{HOST_ADDR}:8080")), hello);
    // Bound to the IPv6 address only.
    assert_eq!(http_from(&outside, &format!("{HOST_ADDR}:8090")), None);
    assert_eq!(http_from(&host, "[fd99::1]:8080"), hello, "from the host");
    // From containers over IPv6: another one on the network, and the container itself.
    sleeper(&h, "peer6", &["--network", "six"]);
    assert_eq!(
        http_in(&h, "peer6", "http://[fd99::1]:8080/"),
        hello,
        "v6 hairpin"
    );
    assert_eq!(
        http_in(&h, "web6", "http://[fd99::1]:8080/"),
        hello,
        "v6, own port"
    );
    let port = ok(h.berth(&["port", "web6"]));
    assert_eq!(
        port,
        "80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n80/tcp -> [fd99::1]:8090\n"
    );
    // Gone with the container, in both families.
    ok(h.berth(&["rm", "-f", "web6"]));
    assert_eq!(http_from(&outside, "[fd99::1]:8080"), None);
    let rules = h.sh("nft list map inet berth ports6; nft list map inet berth hostports6");
    assert!(!rules.contains("fd00:77"), "{rules}");
}

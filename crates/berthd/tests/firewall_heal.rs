//! The firewall heals itself: whatever someone does to berth's nftables tables inside its
//! namespace, berthd notices from nf_tables' notifications and writes them again within a
//! second, and real traffic shows it: networks are isolated again, a published port answers
//! again, a connection established through a published port survives, and neither a user's own
//! table nor the rules of the user chain are touched.

mod common;

use common::dns::in_netns;
use common::{inspect, ok, sandbox, Host};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const HOST_ADDR: &str = "10.99.0.1";
const OUTSIDE_ADDR: &str = "10.99.0.2";
const HEALED: &str = "changed by someone else: rewritten";

/// A host with an "outside" namespace on a veth (host side 10.99.0.1).
fn host_with_outside() -> Host {
    let mut h = Host::bare();
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

fn ip_of(h: &Host, name: &str) -> String {
    inspect(h, name)["NetworkSettings"]["Networks"]
        .as_object()
        .and_then(|m| m.values().next())
        .and_then(|n| n["IPAddress"].as_str())
        .expect("IPAddress")
        .to_string()
}

/// A container serving "hello from NAME" on port 80, answering before this returns.
fn web(h: &Host, name: &str, flags: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    let script = format!(
        "mkdir -p /www && echo hello from {name} > /www/index.html && httpd -f -p 80 -h /www"
    );
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    ok(h.berth(&args));
    let ns = sandbox(h, name);
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_from(&ns, "127.0.0.1:80", 500).is_none() {
        assert!(
            Instant::now() < deadline,
            "web server {name} never answered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An HTTP GET from inside the namespace at `ns`: the body's last line, or None.
fn http_from(ns: &Path, addr: &str, timeout_ms: u64) -> Option<String> {
    let addr: std::net::SocketAddr = addr.parse().expect("socket address");
    in_netns(ns, move || {
        let t = Duration::from_millis(timeout_ms);
        let mut s = TcpStream::connect_timeout(&addr, t).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        body.lines().last().map(str::to_string)
    })
}

fn heals(h: &Host) -> usize {
    h.log().matches(HEALED).count()
}

#[test]
fn tampered_tables_heal_within_a_second_with_traffic_and_established_connections() {
    let h = host_with_outside();
    ok(h.berth(&["network", "create", "--subnet", "10.10.0.0/24", "neta"]));
    ok(h.berth(&["network", "create", "--subnet", "10.20.0.0/24", "netb"]));
    web(&h, "a1", &["--network", "neta", "-p", "8080:80"]);
    web(&h, "b1", &["--network", "netb"]);
    // ICC off is the bridge table's job: c2 must not reach c1 on their own network.
    ok(h.berth(&[
        "network",
        "create",
        "--subnet",
        "10.30.0.0/24",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "netc",
    ]));
    web(&h, "c1", &["--network", "netc"]);
    web(&h, "c2", &["--network", "netc"]);
    let c2 = sandbox(&h, "c2");
    let c1_addr = format!("{}:80", ip_of(&h, "c1"));
    assert_eq!(http_from(&c2, &c1_addr, 300), None, "ICC is off");
    let outside = PathBuf::from(format!("/proc/{}/root/run/netns/outside", h.pid()));
    let b1 = sandbox(&h, "b1");
    let a1_addr = format!("{}:80", ip_of(&h, "a1"));
    let published = format!("{HOST_ADDR}:8080");
    let hello = Some("hello from a1".to_string());
    assert_eq!(http_from(&outside, &published, 700), hello);
    assert_eq!(http_from(&b1, &a1_addr, 300), None, "networks are isolated");

    // An echo server behind a published port, and a connection to it that must live through
    // every heal (conntrack is never flushed).
    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "echo",
        "--network",
        "neta",
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
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut conn = loop {
        let c = in_netns(&outside, || {
            TcpStream::connect_timeout(
                &format!("{HOST_ADDR}:7000").parse().expect("addr"),
                Duration::from_secs(1),
            )
        });
        match c {
            Ok(c) => break c,
            Err(e) => assert!(Instant::now() < deadline, "echo server: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    conn.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut echo = |msg: &str| -> String {
        conn.write_all(msg.as_bytes())
            .expect("send on the established connection");
        let mut buf = vec![0u8; msg.len()];
        conn.read_exact(&mut buf)
            .expect("echo on the established connection");
        String::from_utf8_lossy(&buf).into_owned()
    };
    assert_eq!(echo("one\n"), "one\n");

    // The user's own table, and a rule of theirs in berth's user chain (for a port nobody uses).
    let mine = "nft add table inet mine && nft add chain inet mine c && \
                nft add rule inet mine c counter comment mine-kept";
    let users_own = "nft add rule inet berth user tcp dport 9999 drop comment users-own";
    h.sh(mine);
    h.sh(users_own);

    let isolation_rule = || {
        h.sh("nft -a list chain inet berth filter_forward")
            .lines()
            .find(|l| l.contains("oifname @bridges drop"))
            .and_then(|l| l.rsplit("handle ").next())
            .map(|s| s.trim().to_string())
            .expect("the isolation rule")
    };
    let tamperings = [
        "delete the isolation rule",
        "flush the bridges set",
        "delete the published port",
        "delete the bridge table",
        "delete the inet table",
        "flush the ruleset",
    ];
    for what in tamperings {
        let cmd = match what {
            "delete the isolation rule" => format!(
                "nft delete rule inet berth filter_forward handle {}",
                isolation_rule()
            ),
            "flush the bridges set" => "nft flush set inet berth bridges".into(),
            "delete the published port" => {
                "nft delete element inet berth ports4 '{ tcp . 8080 }'".into()
            }
            "delete the bridge table" => "nft delete table bridge berth".into(),
            "delete the inet table" => "nft delete table inet berth".into(),
            _ => "nft flush ruleset".into(),
        };
        let before = heals(&h);
        let start = Instant::now();
        h.sh(&cmd);
        // Bounded polling: the port answers and the other network is unreachable again.
        let mut good_at = None;
        while start.elapsed() < Duration::from_secs(2) {
            let probe = start.elapsed();
            if http_from(&outside, &published, 300) == hello
                && http_from(&b1, &a1_addr, 200).is_none()
                && http_from(&c2, &c1_addr, 200).is_none()
            {
                good_at = Some(probe);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let good_at = good_at.unwrap_or_else(|| {
            panic!(
                "{what}: isolation and the published port not back: {}\n{}",
                h.sh("nft list ruleset"),
                h.log()
            )
        });
        eprintln!("{what}: isolation and the published port back after {good_at:?}");
        assert!(
            good_at < Duration::from_secs(1),
            "{what}: back only after {good_at:?}"
        );
        // The daemon itself put it back (not a probe that raced the tampering).
        let deadline = Instant::now() + Duration::from_secs(1);
        while heals(&h) == before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            heals(&h) > before,
            "{what}: berthd did not rewrite its tables"
        );
        assert_eq!(echo(&format!("{what}\n")), format!("{what}\n"), "{what}");
        let ruleset = h.sh("nft list ruleset");
        match what {
            "flush the ruleset" => assert!(!ruleset.contains("mine-kept"), "{ruleset}"),
            _ => assert!(
                ruleset.contains("mine-kept"),
                "{what}: the user's table went"
            ),
        }
        match what {
            "delete the inet table" | "flush the ruleset" => {
                assert!(!ruleset.contains("users-own"), "{ruleset}");
                assert!(
                    ruleset.contains("chain user"),
                    "{what}: the user chain is back"
                );
            }
            _ => assert!(
                ruleset.contains("users-own"),
                "{what}: the user chain's rule went: {ruleset}"
            ),
        }
        if what == "flush the ruleset" {
            h.sh(mine);
        }
        if matches!(what, "delete the inet table" | "flush the ruleset") {
            h.sh(users_own);
        }
    }
    // Changes to the user chain and to the user's table are theirs: no rewrite.
    let before = heals(&h);
    h.sh("nft add rule inet berth user tcp dport 9998 drop comment users-second");
    h.sh("nft add rule inet mine c counter comment mine-second");
    h.sh("nft delete table inet mine");
    // A rewrite would follow within a few tens of milliseconds.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        heals(&h),
        before,
        "the user's own changes were taken for tampering"
    );
    assert!(h
        .sh("nft list chain inet berth user")
        .contains("users-second"));
    assert_eq!(http_from(&outside, &published, 700), hello);
    assert_eq!(echo("last\n"), "last\n");
}

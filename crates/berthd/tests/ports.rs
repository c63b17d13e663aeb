//! How `-p` and `-P` hand out host ports: ephemeral ports from the kernel's range, in order
//! per protocol and skipping what another program holds; ranges; conflicts with another
//! container or program refused before anything exists; bad forms refused with Docker's words.

mod common;

use common::dns::in_netns;
use common::{fails, ok, sleeper, Host};
use std::path::PathBuf;

/// A host whose kernel hands out ephemeral ports from `lo`-`hi` (set before berthd starts,
/// which reads the range then).
fn host_with_port_range(lo: u16, hi: u16) -> Host {
    let mut h = Host::bare();
    h.sh(&format!(
        "sysctl -qw net.ipv4.ip_local_port_range='{lo} {hi}'"
    ));
    h.start_daemon();
    let tar = common::busybox_tar();
    ok(h.berth(&["import", tar.to_str().expect("utf-8"), "busybox"]));
    h
}

#[test]
fn ephemeral_ports_ranges_and_conflicts() {
    let h = host_with_port_range(40000, 40009);
    // Another program holds 40001/tcp and 15201/tcp on every address.
    let _held = in_netns(&PathBuf::from(format!("/proc/{}/ns/net", h.pid())), || {
        (
            std::net::TcpListener::bind("0.0.0.0:40001").expect("bind 40001"),
            std::net::TcpListener::bind("0.0.0.0:15201").expect("bind 15201"),
        )
    });
    sleeper(
        &h,
        "all",
        &["-P", "--expose", "7000-7002", "--expose", "5353/udp"],
    );
    assert_eq!(
        ok(h.berth(&["port", "all"])),
        "5353/udp -> 0.0.0.0:40000\n7000/tcp -> 0.0.0.0:40000\n\
         7001/tcp -> 0.0.0.0:40002\n7002/tcp -> 0.0.0.0:40003\n",
        "sequential per protocol, skipping the port another program holds"
    );
    // `IP::CPORT` and `CPORT`: ephemeral too, going on from the last one.
    sleeper(&h, "eph", &["-p", "127.0.0.1::80", "-p", "81"]);
    assert_eq!(
        ok(h.berth(&["port", "eph"])),
        "80/tcp -> 127.0.0.1:40004\n81/tcp -> 0.0.0.0:40005\n"
    );
    // A range takes its first free port.
    sleeper(&h, "r1", &["-p", "8090-8095:80"]);
    sleeper(&h, "r2", &["-p", "8090-8095:80"]);
    assert_eq!(ok(h.berth(&["port", "r2", "80"])), "0.0.0.0:8091\n");
    // A port another container publishes: refused before anything exists.
    let (code, err) = fails(h.berth(&[
        "run", "-d", "--name", "dup", "-p", "8090:80", "busybox", "sleep", "9",
    ]));
    assert_eq!(code, 125);
    assert!(
        err.contains("Bind for 0.0.0.0:8090 failed: port is already allocated"),
        "{err}"
    );
    assert!(
        !h.berth(&["inspect", "dup"]).status.success(),
        "no container left behind"
    );
    // 127.0.0.1:8090 clashes with 0.0.0.0:8090 too.
    let (_, err) = fails(h.berth(&[
        "run",
        "-d",
        "-p",
        "127.0.0.1:8090:80",
        "busybox",
        "sleep",
        "9",
    ]));
    assert!(
        err.contains("Bind for 127.0.0.1:8090 failed: port is already allocated"),
        "{err}"
    );
    // A port another program holds is refused at create (409, Docker's words for the bind),
    // and leaves no container, sandbox, rule or reservation behind.
    let (code, err) = fails(h.berth(&[
        "run", "-d", "--name", "busy", "-p", "15201:80", "busybox", "sleep", "9",
    ]));
    assert_eq!(code, 125);
    assert!(
        err.contains("Error starting userland proxy: listen tcp4 0.0.0.0:15201: bind: address already in use"),
        "{err}"
    );
    // berth's `run` removes a container that could not start (Docker leaves it Created).
    assert!(!h.berth(&["inspect", "busy"]).status.success());
    let maps = h.sh("nft list map inet berth ports4");
    assert!(!maps.contains("15201"), "{maps}");
    // The same port on UDP is another port.
    sleeper(&h, "u", &["-p", "8090:80/udp"]);
    // Bad forms are refused by the CLI with Docker's words.
    for (spec, want) in [
        ("70000:80", "Invalid hostPort: 70000"),
        (
            "8096-8097:80-82",
            "Invalid ranges specified for container and host Ports: 80-82 and 8096-8097",
        ),
    ] {
        let (code, err) = fails(h.berth(&["run", "-d", "-p", spec, "busybox", "true"]));
        assert_eq!(code, 125);
        assert!(err.contains(want), "{spec}: {err}");
    }
    // And by the API, for other clients.
    let (status, body) = h.api(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"x"}]}}}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("Invalid hostPort: x"));
}

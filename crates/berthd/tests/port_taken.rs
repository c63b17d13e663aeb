//! A host port taken between create and start (issue 16): by another container that started
//! first, by another program, or by a race between two starts. The start answers 409 with
//! Docker's words (Docker itself answers 500 here), and leaves the container Created with no
//! sandbox: no pin, no veth, no mount, no firewall element.

mod common;

use common::dns::in_netns;
use common::{ok, Host};
use serde_json::{json, Value};
use std::path::PathBuf;

fn create(h: &Host, name: &str, port: u16) -> String {
    let body = json!({
        "Image": "busybox",
        "Cmd": ["sleep", "1000"],
        "ExposedPorts": {"80/tcp": {}},
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": port.to_string()}]}},
    });
    let (status, v) = h.api(
        "POST",
        &format!("/containers/create?name={name}"),
        Some(&body.to_string()),
    );
    assert_eq!(status, 201, "create {name}: {v}");
    v["Id"].as_str().expect("Id").to_string()
}

fn start(h: &Host, name: &str) -> (u16, Value) {
    h.api("POST", &format!("/containers/{name}/start"), None)
}

/// Host ends of veths. A sandbox's veth goes with its namespace, which the kernel frees in
/// the background after berth drops it, so callers wait for the set they expect.
fn veths(h: &Host) -> Vec<String> {
    let mut v: Vec<String> = h
        .sh("ip -o link show type veth")
        .lines()
        .map(|l| l.split(':').nth(1).unwrap_or(l).trim().to_string())
        .collect();
    v.sort();
    v
}

/// What a started sandbox leaves in the kernel and on disk: veths (once the kernel has freed
/// what berth let go), netns pins, mounts below the test's directory, and berth's port elements.
fn sandbox_traces(h: &Host, port: u16, veths_expected: &[String]) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut v = loop {
        let now = veths(h);
        if now == veths_expected || std::time::Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    v.iter_mut().for_each(|l| *l = format!("veth: {l}"));
    for e in std::fs::read_dir(h.dir.path().join("run/netns"))
        .into_iter()
        .flatten()
        .flatten()
    {
        v.push(format!("pin: {}", e.path().display()));
    }
    v.extend(
        h.mounts_below_dir()
            .into_iter()
            .map(|m| format!("mount: {m}")),
    );
    let nft = h.sh_out("nft list table inet berth");
    v.extend(
        String::from_utf8_lossy(&nft.stdout)
            .lines()
            .filter(|l| l.contains(&port.to_string()))
            .map(|l| format!("nft: {}", l.trim())),
    );
    v.sort();
    v
}

/// The refused container is Created, has no sandbox, and inspect shows no ports.
fn still_created(h: &Host, name: &str) {
    let (status, v) = h.api("GET", &format!("/containers/{name}/json"), None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["State"]["Status"], "created", "{name}: {}", v["State"]);
    assert_eq!(
        v["NetworkSettings"]["SandboxKey"].as_str().unwrap_or(""),
        "",
        "{name} keeps a sandbox: {}",
        v["NetworkSettings"]
    );
}

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or_default()
}

#[test]
fn a_port_another_container_took_after_create_is_a_409_and_leaves_nothing() {
    let h = Host::with_busybox();
    create(&h, "first", 15410);
    let id = create(&h, "second", 15410);
    let (status, v) = start(&h, "first");
    assert_eq!(status, 204, "{v}");
    let first_veths = veths(&h);
    let before = sandbox_traces(&h, 15410, &first_veths);
    let (status, v) = start(&h, "second");
    assert_eq!(status, 409, "{v}");
    let msg = message(&v);
    assert!(
        msg.starts_with("driver failed programming external connectivity on endpoint second (")
            && msg.ends_with("): Bind for 0.0.0.0:15410 failed: port is already allocated"),
        "{msg}"
    );
    // The endpoint's ID is given, as Docker's, not the container's.
    assert!(!msg.contains(&id), "{msg}");
    still_created(&h, "second");
    assert_eq!(
        sandbox_traces(&h, 15410, &first_veths),
        before,
        "the failed start left traces"
    );
    // Once the port is free the same container starts.
    ok(h.berth(&["rm", "-f", "first"]));
    let (status, v) = start(&h, "second");
    assert_eq!(status, 204, "{v}");
    ok(h.berth(&["rm", "-f", "second"]));
    assert_eq!(sandbox_traces(&h, 15410, &[]), Vec::<String>::new());
}

#[test]
fn a_port_another_program_took_after_create_is_a_409_and_leaves_nothing() {
    let h = Host::with_busybox();
    create(&h, "late", 15411);
    let ns = PathBuf::from(format!("/proc/{}/ns/net", h.pid()));
    let held = in_netns(&ns, || {
        std::net::TcpListener::bind("0.0.0.0:15411").expect("bind")
    });
    let (status, v) = start(&h, "late");
    assert_eq!(status, 409, "{v}");
    let msg = message(&v);
    assert!(
        msg.starts_with("driver failed programming external connectivity on endpoint late (")
            && msg.ends_with(
                "): Error starting userland proxy: listen tcp4 0.0.0.0:15411: bind: address already in use"
            ),
        "{msg}"
    );
    still_created(&h, "late");
    assert_eq!(sandbox_traces(&h, 15411, &[]), Vec::<String>::new());
    // The docker CLI shows the same words and fails.
    let out = h.docker(&["start", "late"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Error starting userland proxy"), "{err}");
    drop(held);
    let (status, v) = start(&h, "late");
    assert_eq!(status, 204, "{v}");
    ok(h.berth(&["rm", "-f", "late"]));
    assert_eq!(sandbox_traces(&h, 15411, &[]), Vec::<String>::new());
}

#[test]
fn two_starts_racing_for_one_port_give_one_winner_and_a_409() {
    let h = Host::with_busybox();
    for round in 0..5 {
        let (a, b) = (format!("a{round}"), format!("b{round}"));
        create(&h, &a, 15412);
        create(&h, &b, 15412);
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| start(&h, &a));
            let tb = s.spawn(|| start(&h, &b));
            (ta.join().expect("start a"), tb.join().expect("start b"))
        });
        let mut codes = [ra.0, rb.0];
        codes.sort();
        assert_eq!(codes, [204, 409], "round {round}: {ra:?} {rb:?}");
        let (loser, v) = if ra.0 == 409 {
            (&a, &ra.1)
        } else {
            (&b, &rb.1)
        };
        assert!(
            message(v).contains("Bind for 0.0.0.0:15412 failed: port is already allocated"),
            "{v}"
        );
        still_created(&h, loser);
        ok(h.berth(&["rm", "-f", &a, &b]));
        assert_eq!(
            sandbox_traces(&h, 15412, &[]),
            Vec::<String>::new(),
            "round {round}"
        );
    }
}

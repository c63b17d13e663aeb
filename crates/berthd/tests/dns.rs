//! The embedded DNS server, end to end: real containers in throwaway host namespaces, queries
//! from inside their sandboxes, and a fake upstream resolver in the test's own namespace.

mod common;

use common::dns::{addrs, ask, ask_raw, FakeUpstream, Mode, WWW};
use common::{inspect, ok, sandbox, sleeper, Host};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use std::time::{Duration, Instant};

fn ip_of(h: &Host, name: &str, net: &str) -> String {
    inspect(h, name)["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .expect("IPAddress")
        .to_string()
}

fn a(ns: &std::path::Path, name: &str) -> (ResponseCode, Vec<String>) {
    let m = ask(ns, name, RecordType::A, false).unwrap_or_else(|| panic!("no answer for {name}"));
    (m.metadata.response_code, addrs(&m))
}

#[test]
fn names_aliases_ids_and_ptr_resolve_only_on_shared_networks() {
    let h = Host::with_busybox();
    let up = FakeUpstream::start(h.pid(), "127.0.0.1:53", Mode::Answer);
    ok(h.berth(&["network", "create", "--subnet", "192.168.0.0/16", "mynet"]));
    ok(h.berth(&["network", "create", "other"]));
    sleeper(&h, "a1", &["--network", "mynet"]);
    let a2 = sleeper(&h, "a2", &["--network", "mynet", "--network-alias", "web"]);
    sleeper(&h, "b1", &["--network", "other", "--network-alias", "web"]);
    let ns = sandbox(&h, "a1");
    let a2_ip = ip_of(&h, "a2", "mynet");
    for name in ["a2", "a2.", "A2", "a2.mynet", "web", &a2[..12]] {
        assert_eq!(
            a(&ns, name),
            (ResponseCode::NoError, vec![a2_ip.clone()]),
            "{name}"
        );
    }
    // Docker's TTL, recursion available, not authoritative.
    let m = ask(&ns, "a2", RecordType::A, false).expect("answer");
    assert_eq!(m.answers[0].ttl, 600);
    assert!(m.metadata.recursion_available && !m.metadata.authoritative);
    // IPv4-only name: AAAA is an empty NOERROR, answered locally.
    let before = up.queries();
    let m = ask(&ns, "a2", RecordType::AAAA, false).expect("answer");
    assert_eq!(
        (m.metadata.response_code, m.answers.len()),
        (ResponseCode::NoError, 0)
    );
    assert_eq!(
        up.queries(),
        before,
        "AAAA of a local name must not go upstream"
    );
    // PTR gives name.network.
    let rev: Vec<&str> = a2_ip.split('.').rev().collect();
    let m = ask(
        &ns,
        &format!("{}.in-addr.arpa.", rev.join(".")),
        RecordType::PTR,
        false,
    )
    .expect("ptr answer");
    assert_eq!(addrs(&m), vec!["a2.mynet."]);
    // b1 lives on another network: a1 cannot resolve it (the query goes upstream: NXDOMAIN).
    assert_eq!(a(&ns, "b1").0, ResponseCode::NXDomain);
    assert!(up.queries() > before, "unknown names are forwarded");
    // ...while b1 resolves its own network's alias to itself only.
    let b1_ip = ip_of(&h, "b1", "other");
    assert_eq!(a(&sandbox(&h, "b1"), "web").1, vec![b1_ip]);
    // TCP gives the same answers.
    let m = ask(&ns, "a2", RecordType::A, true).expect("tcp answer");
    assert_eq!(addrs(&m), vec![a2_ip.clone()]);
    // One alias on several containers gives all their addresses.
    sleeper(&h, "a3", &["--network", "mynet", "--network-alias", "web"]);
    let mut got = a(&ns, "web").1;
    got.sort();
    let mut want = vec![a2_ip, ip_of(&h, "a3", "mynet")];
    want.sort();
    assert_eq!(got, want);
    // inspect lists the names the resolver answers for.
    let net = &inspect(&h, "a2")["NetworkSettings"]["Networks"]["mynet"];
    assert_eq!(net["DNSNames"], serde_json::json!(["a2", "web", &a2[..12]]));
}

#[test]
fn records_follow_containers_live() {
    let h = Host::with_busybox();
    let _up = FakeUpstream::start(h.pid(), "127.0.0.1:53", Mode::Answer);
    ok(h.berth(&["network", "create", "mynet"]));
    ok(h.berth(&["network", "create", "net2"]));
    sleeper(&h, "asker", &["--network", "mynet"]);
    let ns = sandbox(&h, "asker");
    // Resolvable as soon as run returns.
    sleeper(&h, "c1", &["--network", "mynet"]);
    assert_eq!(a(&ns, "c1").1, vec![ip_of(&h, "c1", "mynet")]);
    // Gone as soon as rm returns.
    ok(h.berth(&["rm", "-f", "c1"]));
    assert_eq!(a(&ns, "c1").0, ResponseCode::NXDomain);
    // network connect: resolvable on the new network at once; disconnect: gone at once.
    sleeper(&h, "c2", &["--network", "net2"]);
    assert_eq!(a(&ns, "c2").0, ResponseCode::NXDomain);
    ok(h.berth(&["network", "connect", "--alias", "c2alias", "mynet", "c2"]));
    assert_eq!(a(&ns, "c2alias").1, vec![ip_of(&h, "c2", "mynet")]);
    ok(h.berth(&["network", "disconnect", "mynet", "c2"]));
    assert_eq!(a(&ns, "c2").0, ResponseCode::NXDomain);
    // The asker itself joining net2 makes net2's names visible to it.
    ok(h.berth(&["network", "connect", "net2", "asker"]));
    assert_eq!(a(&ns, "c2").1, vec![ip_of(&h, "c2", "net2")]);
}

#[test]
fn forwarding_tcp_truncation_and_servfail() {
    let h = Host::with_busybox();
    let up = FakeUpstream::start(h.pid(), "127.0.0.1:53", Mode::Answer);
    let _silent = FakeUpstream::start(h.pid(), "127.0.0.3:53", Mode::Silent);
    ok(h.berth(&["network", "create", "mynet"]));
    sleeper(&h, "c1", &["--network", "mynet"]);
    let ns = sandbox(&h, "c1");
    assert_eq!(
        a(&ns, "www.test.example"),
        (ResponseCode::NoError, vec![WWW.to_string()])
    );
    // 100 addresses do not fit in UDP: berth retries upstream over TCP, then tells the UDP
    // client to come back over TCP, where it gets everything.
    let m = ask(&ns, "big.test.example", RecordType::A, false).expect("udp answer");
    assert!(
        m.metadata.truncation,
        "a reply too big for UDP is truncated"
    );
    assert!(up.tcp_queries.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let m = ask(&ns, "big.test.example", RecordType::A, true).expect("tcp answer");
    assert_eq!(m.answers.len(), 100);
    // Malformed packets are dropped without harm.
    assert!(ask_raw(&ns, b"\x00\x01garbage", false, Duration::from_millis(300)).is_none());
    assert!(ask_raw(&ns, &[0xff; 3], false, Duration::from_millis(300)).is_none());
    assert_eq!(a(&ns, "c1").0, ResponseCode::NoError);
    // --dns on a user network is the container's resolver's upstream. A refused upstream and
    // a silent one both end in a prompt SERVFAIL.
    for (name, dns) in [("refused", "127.0.0.2"), ("silent", "127.0.0.3")] {
        sleeper(&h, name, &["--network", "mynet", "--dns", dns]);
        let started = Instant::now();
        let (code, _) = a(&sandbox(&h, name), "www.test.example");
        assert_eq!(code, ResponseCode::ServFail, "{name}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{name}: {:?}",
            started.elapsed()
        );
        // Local names still resolve for it.
        assert_eq!(a(&sandbox(&h, name), "c1").0, ResponseCode::NoError);
    }
}

#[test]
fn internal_networks_do_not_forward_and_the_default_bridge_has_no_resolver() {
    let h = Host::with_busybox();
    let up = FakeUpstream::start(h.pid(), "127.0.0.1:53", Mode::Answer);
    ok(h.berth(&["network", "create", "--internal", "secret"]));
    sleeper(&h, "i1", &["--network", "secret"]);
    sleeper(&h, "i2", &["--network", "secret"]);
    let ns = sandbox(&h, "i1");
    assert_eq!(a(&ns, "i2").1, vec![ip_of(&h, "i2", "secret")]);
    assert_eq!(a(&ns, "www.test.example").0, ResponseCode::ServFail);
    assert_eq!(
        up.queries(),
        0,
        "an internal network's resolver never forwards"
    );
    // The default bridge: no embedded DNS, names do not resolve (busybox says bad address).
    sleeper(&h, "d1", &[]);
    sleeper(&h, "d2", &[]);
    assert!(ask_raw(
        &sandbox(&h, "d1"),
        &common::dns::query_bytes("d2", RecordType::A),
        false,
        Duration::from_millis(300)
    )
    .is_none());
    let out = h.berth(&["exec", "d1", "ping", "-c1", "-W1", "d2"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad address"),
        "{out:?}"
    );
}

#[test]
fn names_survive_daemon_restart_and_crash() {
    let mut h = Host::with_busybox();
    let _up = FakeUpstream::start(h.pid(), "127.0.0.1:53", Mode::Answer);
    ok(h.berth(&["network", "create", "mynet"]));
    sleeper(&h, "r1", &["--network", "mynet", "--network-alias", "svc"]);
    sleeper(&h, "r2", &["--network", "mynet"]);
    let ns = sandbox(&h, "r2");
    let ip = ip_of(&h, "r1", "mynet");
    h.stop_daemon();
    h.start_daemon();
    assert_eq!(a(&ns, "svc").1, vec![ip.clone()]);
    assert_eq!(a(&ns, "www.test.example").1, vec![WWW.to_string()]);
    h.kill_daemon();
    h.start_daemon();
    assert_eq!(a(&ns, "r1").1, vec![ip]);
    // container: mode shares the sandbox and so the resolver.
    sleeper(&h, "side", &["--network", "container:r2"]);
    let out = ok(h.berth(&["exec", "side", "nslookup", "r1"]));
    assert!(out.contains("Address"), "{out}");
}

#[test]
fn tutorial_ping_by_name_with_the_docker_cli() {
    let h = Host::with_busybox();
    let _up = FakeUpstream::start(h.pid(), "127.0.0.1:53", Mode::Answer);
    ok(h.docker(&["network", "create", "mynet"]));
    for (name, net) in [
        ("redis01", "mynet"),
        ("tomcat01", "mynet"),
        ("tomcat02", "bridge"),
    ] {
        ok(h.docker(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            "busybox",
            "sleep",
            "1000",
        ]));
    }
    let out = ok(h.docker(&["exec", "tomcat01", "ping", "-c1", "-W2", "redis01"]));
    assert!(out.contains("1 packets received"), "{out}");
    let out = h.docker(&["exec", "tomcat02", "ping", "-c1", "-W1", "redis01"]);
    assert!(!out.status.success(), "the default bridge has no names");
    ok(h.docker(&["network", "connect", "mynet", "tomcat02"]));
    let out = ok(h.docker(&["exec", "tomcat02", "ping", "-c1", "-W2", "redis01"]));
    assert!(out.contains("1 packets received"), "{out}");
    // A DNS server of the container's own can still bind port 53: the resolver is elsewhere.
    let out = ok(h.docker(&[
        "exec",
        "tomcat01",
        "sh",
        "-c",
        "nc -l -p 53 & sleep 0.3; netstat -lnt; kill $!",
    ]));
    assert!(out.contains(":::53 "), "{out}");
}

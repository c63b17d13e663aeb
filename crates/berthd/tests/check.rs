//! `network check` against real traffic: over a matrix of containers on the default bridge,
//! two user networks, one container on both, an internal network, an ICC-off network and a
//! publishing container, every verdict equals what a ping or a TCP connect really does; a rule,
//! a container's route or a bridge's forwarding entry changed by hand is reported as a
//! disagreement; bad input exits 2. Each test has its own host namespace and an "outside"
//! namespace joined to it by a veth (host 10.99.0.1, outside 10.99.0.2).

mod common;

use common::{inspect, ok, sandbox, Host};
use serde_json::Value;
use std::time::Duration;

const HOST_ADDR: &str = "10.99.0.1";
const OUTSIDE_ADDR: &str = "10.99.0.2";

fn host_with_outside() -> Host {
    let h = Host::with_busybox();
    host_with_outside_on(h)
}

/// The same host with a daemon that does not heal its firewall, so a test can change the
/// ruleset by hand and see `check` notice.
fn host_with_outside_unhealed() -> Host {
    let mut h = Host::with_busybox();
    h.stop_daemon();
    h.extra_env.push(("BERTH_FIREWALL_HEAL".into(), "0".into()));
    h.start_daemon();
    host_with_outside_on(h)
}

fn host_with_outside_on(h: Host) -> Host {
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

/// A container serving HTTP on port 80, started and answering.
fn server(h: &Host, name: &str, flags: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    let script =
        format!("mkdir -p /www && echo {name} > /www/index.html && httpd -f -p 80 -h /www");
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    ok(h.berth(&args));
    let mut last = String::new();
    for _ in 0..200 {
        let out = h.berth(&[
            "exec",
            name,
            "timeout",
            "2",
            "wget",
            "-q",
            "-O",
            "/dev/null",
            "http://127.0.0.1/",
        ]);
        if out.status.success() {
            return;
        }
        last = format!("{:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(20));
    }
    let logs = h.berth(&["logs", name]);
    panic!(
        "{name}'s web server never answered: {last}\nlogs: {}{}\n{}",
        String::from_utf8_lossy(&logs.stdout),
        String::from_utf8_lossy(&logs.stderr),
        h.log()
    );
}

/// Network name → IPv4 address of a container.
fn addrs(h: &Host, name: &str) -> Vec<(String, String)> {
    let nets = inspect(h, name)["NetworkSettings"]["Networks"].clone();
    let mut v: Vec<(String, String)> = nets
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, n)| {
                    (
                        k.clone(),
                        n["IPAddress"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Where real traffic from `src` to `dst` goes: a common network's address, else the first.
fn address_for(h: &Host, src: &str, dst: &str) -> String {
    match dst {
        "host" => HOST_ADDR.into(),
        "outside" => OUTSIDE_ADDR.into(),
        // From outside, a container is reached through the host's address (its published port).
        _ if src == "outside" => HOST_ADDR.into(),
        _ => {
            let theirs = addrs(h, dst);
            let mine: Vec<String> = match src {
                "host" | "outside" => vec![],
                s => addrs(h, s).into_iter().map(|(n, _)| n).collect(),
            };
            theirs
                .iter()
                .find(|(n, _)| mine.contains(n))
                .or(theirs.first())
                .map(|(_, a)| a.clone())
                .expect("an address")
        }
    }
}

/// One real attempt: ping without a port, an HTTP request with one. True when it got through.
fn real(h: &Host, src: &str, dst: &str, port: Option<&str>) -> bool {
    let addr = address_for(h, src, dst);
    // Inside containers the applets are on PATH; on the host and outside, through busybox.
    let bb = if matches!(src, "host" | "outside") {
        "busybox "
    } else {
        ""
    };
    let cmd = match port {
        None => format!("{bb}ping -c 1 -W 1 {addr}"),
        Some(p) => format!("{bb}timeout 2 {bb}wget -q -O /dev/null http://{addr}:{p}/"),
    };
    let out = match src {
        "host" => h.sh_out(&cmd),
        "outside" => h.sh_out(&format!("ip netns exec outside {cmd}")),
        c => {
            let mut args = vec!["exec", c, "timeout", "3", "sh", "-c"];
            args.push(&cmd);
            h.berth(&args)
        }
    };
    out.status.success()
}

/// The check's JSON and exit code.
fn check(h: &Host, src: &str, dst: &str, port: Option<&str>, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["network", "check", src, dst, "--format", "json"];
    if let Some(p) = port {
        args.extend_from_slice(&["--port", p]);
    }
    args.extend_from_slice(extra);
    let out = h.berth(&args);
    let code = out.status.code().unwrap_or(-1);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check {src} {dst}: exit {code}, not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, v)
}

#[test]
fn every_verdict_matches_real_traffic() {
    let h = host_with_outside();
    ok(h.berth(&["network", "create", "--subnet", "10.1.0.0/24", "n1"]));
    ok(h.berth(&["network", "create", "--subnet", "10.2.0.0/24", "n2"]));
    ok(h.berth(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.3.0.0/24",
        "secret",
    ]));
    ok(h.berth(&[
        "network",
        "create",
        "--subnet",
        "10.4.0.0/24",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "quiet",
    ]));
    server(&h, "a", &[]);
    server(&h, "web", &["-p", "8080:80"]);
    server(&h, "b1", &["--network", "n1"]);
    server(&h, "b2", &["--network", "n1"]);
    server(&h, "c", &["--network", "n2"]);
    server(&h, "both", &["--network", "n1"]);
    ok(h.berth(&["network", "connect", "n2", "both"]));
    server(&h, "i1", &["--network", "secret"]);
    server(&h, "i2", &["--network", "secret"]);
    server(&h, "q1", &["--network", "quiet"]);
    server(&h, "q2", &["--network", "quiet"]);
    ok(h.berth(&[
        "create",
        "--name",
        "off",
        "--network",
        "n1",
        "busybox",
        "sleep",
        "1000",
    ]));

    let cases: &[(&str, &str, Option<&str>, Option<&str>)] = &[
        ("b1", "b2", None, None),
        ("b1", "b2", Some("80"), None),
        ("b1", "c", None, Some("networks_isolated")),
        ("b1", "c", Some("80"), Some("networks_isolated")),
        ("a", "b1", Some("80"), Some("networks_isolated")),
        ("both", "c", Some("80"), None),
        ("c", "both", None, None),
        ("both", "b2", None, None),
        ("i1", "i2", Some("80"), None),
        ("i1", "outside", None, Some("internal_network")),
        ("b1", "i1", Some("80"), Some("internal_network")),
        ("q1", "q2", None, Some("icc_disabled")),
        ("q1", "q2", Some("80"), Some("icc_disabled")),
        ("a", "web", Some("80"), None),
        ("outside", "web", Some("8080"), None),
        ("outside", "host", Some("8080"), None),
        ("outside", "web", Some("9999"), Some("port_not_published")),
        ("b1", "host", Some("8080"), None),
        ("a", "outside", None, None),
        ("host", "i1", Some("80"), None),
        ("host", "web", Some("80"), None),
        ("host", "q1", None, None),
    ];
    let mut failures = Vec::new();
    for (src, dst, port, want) in cases {
        let (code, v) = check(&h, src, dst, *port, &[]);
        let verdict = code == 0;
        let got = v["code"].as_str();
        let traffic = real(&h, src, dst, *port);
        if verdict != traffic || got != *want || code != if want.is_some() { 1 } else { 0 } {
            failures.push(format!(
                "{src} → {dst} port {port:?}: check exit {code} code {got:?} (expected {want:?}), real traffic {}",
                if traffic { "got through" } else { "did not" }
            ));
        }
        if v["kernel"]["agrees"] != true || v["kernel"]["checked"] != true {
            failures.push(format!(
                "{src} → {dst}: kernel disagrees or was not read: {}",
                v["kernel"]
            ));
        }
    }
    // A stopped container.
    let (code, v) = check(&h, "b1", "off", None, &[]);
    assert_eq!(
        (code, v["code"].as_str()),
        (1, Some("container_not_running")),
        "{v}"
    );
    assert!(failures.is_empty(), "{}\n{}", failures.join("\n"), h.log());

    // The probe tries for real, from the source's namespace, and agrees.
    for (src, dst, port) in [
        ("b1", "b2", None),
        ("b1", "c", None),
        ("both", "c", Some("80")),
        ("q1", "q2", Some("80")),
        ("host", "web", Some("80")),
    ] {
        let (_, v) = check(&h, src, dst, port, &["--probe"]);
        assert_eq!(v["probe"]["agrees"], true, "{src} → {dst}: {}", v["probe"]);
    }
}

/// The handle of the rule in `chain` of `inet berth` whose text contains `needle`.
fn rule_handle(h: &Host, chain: &str, needle: &str) -> String {
    let list = h.sh(&format!("nft -a list chain inet berth {chain}"));
    let line = list
        .lines()
        .find(|l| l.contains(needle) && !l.contains("ct status"))
        .unwrap_or_else(|| panic!("no rule with {needle:?} in {list}"));
    line.rsplit("# handle ")
        .next()
        .expect("handle")
        .trim()
        .to_string()
}

#[test]
fn a_rule_deleted_by_hand_is_reported_as_a_disagreement() {
    let h = host_with_outside_unhealed();
    ok(h.berth(&["network", "create", "--subnet", "10.1.0.0/24", "n1"]));
    ok(h.berth(&["network", "create", "--subnet", "10.2.0.0/24", "n2"]));
    server(&h, "b1", &["--network", "n1"]);
    server(&h, "c", &["--network", "n2"]);
    let (code, v) = check(&h, "b1", "c", Some("80"), &[]);
    assert_eq!(
        (code, v["code"].as_str()),
        (1, Some("networks_isolated")),
        "{v}"
    );
    assert_eq!(v["kernel"]["agrees"], true, "{v}");

    let handle = rule_handle(&h, "filter_forward", "oifname @bridges drop");
    h.sh(&format!(
        "nft delete rule inet berth filter_forward handle {handle}"
    ));
    assert!(
        real(&h, "b1", "c", Some("80")),
        "the deleted rule should let traffic through"
    );
    let (code, v) = check(&h, "b1", "c", Some("80"), &["--probe"]);
    assert_eq!(code, 1, "the model still says unreachable: {v}");
    assert_eq!(v["kernel"]["agrees"], false, "{v}");
    assert_eq!(v["kernel"]["reachable"], true, "{v}");
    let diffs = v["kernel"]["differences"].to_string();
    assert!(
        diffs.contains(
            "rule missing from the kernel: inet berth filter_forward: oifname @bridges drop"
        ),
        "{diffs}"
    );
    assert_eq!(v["probe"]["reachable"], true, "{v}");
    assert_eq!(v["probe"]["agrees"], false, "{v}");
    let text = String::from_utf8_lossy(
        &h.berth(&["network", "check", "b1", "c", "--port", "80"])
            .stdout,
    )
    .into_owned();
    assert!(
        text.starts_with("unreachable\n") && text.contains("DISAGREEMENT"),
        "{text}"
    );

    // The reload (SIGHUP) rebuilds the tables, and the two agree again.
    h.sh(&format!("kill -HUP {}", h.daemon_pid()));
    let mut agreed = false;
    for _ in 0..100 {
        let (_, v) = check(&h, "b1", "c", Some("80"), &[]);
        if v["kernel"]["agrees"] == true
            && v["kernel"]["differences"]
                .as_array()
                .is_some_and(|d| d.is_empty())
        {
            agreed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(agreed, "after a reload the kernel should agree again");
    assert!(!real(&h, "b1", "c", Some("80")));
}

#[test]
fn an_element_deleted_by_hand_is_reported() {
    let h = host_with_outside_unhealed();
    ok(h.berth(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.3.0.0/24",
        "secret",
    ]));
    server(&h, "i1", &["--network", "secret"]);
    let bridge = inspect(&h, "i1")["NetworkSettings"]["Networks"]["secret"]["NetworkID"]
        .as_str()
        .map(|id| format!("br-{}", &id[..12]))
        .expect("network id");
    let (code, v) = check(&h, "i1", "outside", None, &[]);
    assert_eq!(
        (code, v["code"].as_str()),
        (1, Some("internal_network")),
        "{v}"
    );
    h.sh(&format!(
        "nft delete element inet berth internal '{{ \"{bridge}\" }}'"
    ));
    let (code, v) = check(&h, "i1", "outside", None, &[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["kernel"]["agrees"], false, "{v}");
    let diffs = v["kernel"]["differences"].to_string();
    assert!(
        diffs.contains(&format!(
            "element missing from the kernel's inet berth internal: {bridge}"
        )),
        "{diffs}"
    );
}

#[test]
fn a_route_deleted_by_hand_in_a_container_is_reported() {
    let h = host_with_outside();
    server(&h, "a", &[]);
    server(&h, "web", &["-p", "8080:80"]);
    for (src, dst, port) in [("a", "outside", None), ("outside", "web", Some("8080"))] {
        let (code, v) = check(&h, src, dst, port, &[]);
        assert_eq!(
            (code, &v["kernel"]["agrees"]),
            (0, &Value::Bool(true)),
            "{v}"
        );
    }

    // The source's way out: a's default route.
    h.sh(&format!(
        "nsenter --net={} ip route del default",
        sandbox(&h, "a").display()
    ));
    assert!(!real(&h, "a", "outside", None), "a has no way out now");
    let (code, v) = check(&h, "a", "outside", None, &[]);
    assert_eq!(code, 0, "the model still says reachable: {v}");
    assert_eq!(v["kernel"]["agrees"], false, "{v}");
    assert_eq!(v["kernel"]["code"], "no_route", "{v}");
    let reason = v["kernel"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("inside a") && reason.contains("no route"),
        "{v}"
    );
    // A path that needs only the on-link route still agrees.
    let (code, v) = check(&h, "a", "web", Some("80"), &[]);
    assert_eq!(
        (code, &v["kernel"]["agrees"]),
        (0, &Value::Bool(true)),
        "{v}"
    );
    assert!(real(&h, "a", "web", Some("80")));

    // The destination's way back: replies to an outside client leave by web's default route.
    h.sh(&format!(
        "nsenter --net={} ip route del default",
        sandbox(&h, "web").display()
    ));
    assert!(
        !real(&h, "outside", "web", Some("8080")),
        "web cannot answer now"
    );
    let (code, v) = check(&h, "outside", "web", Some("8080"), &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["kernel"]["agrees"], false, "{v}");
    assert_eq!(v["kernel"]["code"], "no_route", "{v}");
    let text = String::from_utf8_lossy(
        &h.berth(&["network", "check", "outside", "web", "--port", "8080"])
            .stdout,
    )
    .into_owned();
    assert!(
        text.contains("DISAGREEMENT") && text.contains("inside web"),
        "{text}"
    );
}

#[test]
fn a_forwarding_entry_changed_by_hand_is_reported() {
    let h = host_with_outside();
    ok(h.berth(&["network", "create", "--subnet", "10.1.0.0/24", "n1"]));
    server(&h, "b1", &["--network", "n1"]);
    server(&h, "b2", &["--network", "n1"]);
    let (code, v) = check(&h, "b1", "b2", Some("80"), &[]);
    assert_eq!(
        (code, &v["kernel"]["agrees"]),
        (0, &Value::Bool(true)),
        "{v}"
    );
    let hops = v["path"].as_array().cloned().unwrap_or_default();
    let of = |kind: &str| -> Vec<String> {
        hops.iter()
            .filter(|x| x["kind"] == kind)
            .filter_map(|x| x["name"].as_str().map(str::to_string))
            .collect()
    };
    let (veths, bridge) = (of("veth"), of("bridge"));
    assert_eq!((veths.len(), bridge.len()), (2, 1), "{v}");
    let mac = inspect(&h, "b2")["NetworkSettings"]["Networks"]["n1"]["MacAddress"]
        .as_str()
        .expect("MacAddress")
        .to_string();
    // Frames for b2 now go to b1's own port (sticky, so learning does not move it back).
    h.sh(&format!(
        "bridge fdb replace {mac} dev {} master static sticky",
        veths[0]
    ));
    assert!(!real(&h, "b1", "b2", Some("80")), "frames for b2 go astray");
    let (code, v) = check(&h, "b1", "b2", Some("80"), &[]);
    assert_eq!(code, 0, "the model still says reachable: {v}");
    assert_eq!(v["kernel"]["agrees"], false, "{v}");
    assert_eq!(v["kernel"]["code"], "fdb_mismatch", "{v}");
    let reason = v["kernel"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!("bridge {}", bridge[0])) && reason.contains(&veths[1]),
        "{v}"
    );
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let h = Host::with_busybox();
    ok(h.berth(&["run", "-d", "--name", "x", "busybox", "sleep", "1000"]));
    let out = h.berth(&["network", "check", "nosuch", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such container: nosuch"));
    let out = h.berth(&["network", "check", "x", "host", "--port", "http"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid port \"http\""));
    let (status, v) = h.api("GET", "/berth/check?src=x", None);
    assert_eq!(status, 400);
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("dst is required"),
        "{v}"
    );
    let (status, v) = h.api("GET", "/berth/check?src=x&dst=nosuch", None);
    assert_eq!(status, 404, "{v}");
    let (status, v) = h.api("GET", "/berth/check?src=x&dst=host&probe=maybe", None);
    assert_eq!(status, 400, "{v}");
    // Reachable: exit 0, the text starts with the verdict.
    let out = h.berth(&["network", "check", "x", "host"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("reachable\n"));
}

#[test]
fn graph_shows_networks_containers_ports_and_links() {
    let h = Host::with_busybox();
    ok(h.berth(&["network", "create", "--subnet", "10.1.0.0/24", "front"]));
    ok(h.berth(&["run", "-d", "--name", "db", "busybox", "sleep", "1000"]));
    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "app",
        "-p",
        "8080:80",
        "--link",
        "db:database",
        "busybox",
        "sleep",
        "1000",
    ]));
    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "fe",
        "--network",
        "front",
        "--network-alias",
        "www",
        "busybox",
        "sleep",
        "1000",
    ]));
    let json: Value = serde_json::from_str(&ok(h.berth(&["network", "graph", "--format", "json"])))
        .expect("json");
    let names: Vec<&str> = json["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["app", "db", "fe"]);
    assert!(json["networks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["name"] == "front"));
    let svg = ok(h.berth(&["network", "graph"]));
    for want in [
        "front",
        "10.1.0.0/24",
        "app",
        "⇢ 0.0.0.0:8080 → 80/tcp",
        "link db as database",
        "aka www",
        "legend",
    ] {
        assert!(svg.contains(want), "{want} missing from the SVG");
    }
    let file = h.dir.path().join("g.dot");
    ok(h.berth(&[
        "network",
        "graph",
        "--format",
        "dot",
        "-o",
        file.to_str().unwrap(),
    ]));
    let dot = std::fs::read_to_string(&file).unwrap();
    assert!(dot.contains("\"ctr:fe\" -- \"net:front\""), "{dot}");
    let out = h.berth(&["network", "graph", "--format", "png"]);
    assert_eq!(out.status.code(), Some(2));
}

//! `network check` and `network graph` across an overlay (issue 22) on one 3-host namespace
//! cluster: a path to another host's container goes out through VXLAN to its node; overlay ↔
//! bridge and overlay ↔ overlay isolation verdicts equal real traffic; a VXLAN FDB entry
//! pointed at the wrong host and a VXLAN device MTU lowered by hand are seen in the kernel
//! (fdb_mismatch, mtu_mismatch); a host whose berthd is killed -9 stays reachable until its
//! lease goes, and is then named (remote_lease_expired); the graph groups containers by host.

mod common;

use common::cluster::{Cluster, ClusterOptions};
use common::ok;
use serde_json::Value;

/// The lease of a node whose daemon died: short, so that the test waits seconds.
const TTL: &str = "discovery.ttl=5";

fn run(c: &Cluster, i: usize, name: &str, net: &str) -> String {
    ok(c.berth(
        i,
        &[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            "busybox",
            "sh",
            "-c",
            "echo up > /tmp/index.html && httpd -f -p 80 -h /tmp",
        ],
    ))
}

/// `network check` on host `i`, as JSON, with its exit code.
fn check(c: &Cluster, i: usize, src: &str, dst: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["network", "check", src, dst, "--format", "json"];
    args.extend_from_slice(extra);
    let out = c.berth(i, &args);
    let code = out.status.code().unwrap_or(-1);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check {src} {dst}: exit {code}, not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, v)
}

/// Whether `src` (on host `i`) gets an answer from `ip`: one ping of `size` bytes.
fn pings(c: &Cluster, i: usize, src: &str, ip: &str, size: u32) -> bool {
    let size = size.to_string();
    c.berth(i, &["exec", src, "ping", "-c1", "-W2", "-s", &size, ip])
        .status
        .success()
}

fn kinds(v: &Value) -> Vec<String> {
    v["path"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| h["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The VXLAN device of network `net` on host `i`.
fn vxlan_of(c: &Cluster, i: usize, net: &str) -> String {
    format!("vx-{}", &c.network_id(i, net)[..12])
}

#[test]
fn overlay_paths_are_checked_against_the_kernel_and_real_traffic() {
    let mut c = Cluster::with_options(
        3,
        ClusterOptions {
            busybox: true,
            daemon_args: vec!["--cluster-store-opt".into(), TTL.into()],
        },
    );
    for (net, subnet) in [("ov", "10.0.9.0/24"), ("ov2", "10.0.8.0/24")] {
        ok(c.berth(
            0,
            &[
                "network", "create", "-d", "overlay", "--subnet", subnet, net,
            ],
        ));
    }
    ok(c.berth(0, &["network", "create", "--subnet", "10.66.0.0/24", "lan"]));
    for i in 1..3 {
        c.wait(&format!("host {i} has both overlays"), || {
            let ls = ok(c.berth(i, &["network", "ls", "--format", "{{.Name}}"]));
            ls.lines().any(|l| l == "ov") && ls.lines().any(|l| l == "ov2")
        });
    }
    run(&c, 0, "web", "ov");
    run(&c, 0, "lonely", "lan");
    run(&c, 0, "web2", "ov2");
    run(&c, 1, "db", "ov");
    run(&c, 1, "db2", "ov2");
    run(&c, 2, "far", "ov");
    let db = c.ip_on(1, "db", "ov");
    let db2 = c.ip_on(1, "db2", "ov2");
    let far = c.ip_on(2, "far", "ov");
    c.wait("web reaches db across hosts", || {
        pings(&c, 0, "web", &db, 56)
    });
    c.wait("host 0 knows every remote endpoint", || {
        let (_, t) = c.api(0, "GET", "/berth/topology", None);
        t["cluster"]["remote"].as_array().map_or(0, Vec::len) >= 3
    });

    // Across hosts: out through VXLAN to the node by its underlay address; a probe agrees.
    let (code, v) = check(&c, 0, "web", "db", &["--port", "80", "--probe"]);
    assert_eq!((code, v["reachable"].as_bool()), (0, Some(true)), "{v}");
    assert_eq!(
        kinds(&v),
        [
            "container",
            "veth",
            "bridge",
            "vxlan",
            "host",
            "bridge",
            "container"
        ],
        "{v}"
    );
    let peer = &v["path"][4];
    assert!(
        peer["detail"]
            .as_str()
            .is_some_and(|d| d.ends_with(&format!("at {}", Cluster::addr_of(1)))),
        "{v}"
    );
    let vx = vxlan_of(&c, 0, "ov");
    let ns = c.in_ovns(0, &c.network_id(0, "ov"));
    assert_eq!(
        v["kernel"]["agrees"],
        true,
        "{v}\n{}",
        c.sh(
            0,
            &format!("{ns} bridge -d fdb show dev {vx}; {ns} ip -d neigh show dev {vx}")
        )
    );
    assert_eq!(v["probe"]["outcome"], "connected", "{v}");
    assert_eq!(v["probe"]["agrees"], true, "{v}");
    // By address, and to the third host.
    let (code, v) = check(&c, 0, "web", &far, &[]);
    assert_eq!(
        (code, v["kernel"]["agrees"].as_bool()),
        (0, Some(true)),
        "{v}"
    );
    assert!(pings(&c, 0, "web", &far, 56));

    // Isolation, as traffic has it: bridge → overlay and overlay → overlay.
    for (src, dst, ip) in [("lonely", "db", &db), ("web", "db2", &db2)] {
        let (code, v) = check(&c, 0, src, dst, &[]);
        assert_eq!(code, 1, "{src} → {dst}: {v}");
        assert_eq!(v["code"], "networks_isolated", "{src} → {dst}: {v}");
        assert!(!pings(&c, 0, src, ip, 56), "{src} reached {dst} at {ip}");
    }
    let (code, _) = check(&c, 0, "web2", "db2", &[]);
    assert_eq!(code, 0);

    // The graph: each node a group, the remote endpoints on their host.
    let (_, t) = c.api(0, "GET", "/berth/topology", None);
    assert_eq!(
        t["cluster"]["nodes"].as_array().map(Vec::len),
        Some(3),
        "{t}"
    );
    let svg = ok(c.berth(0, &["network", "graph"]));
    for want in [
        Cluster::addr_of(1),
        Cluster::addr_of(2),
        "this host".into(),
        db.clone(),
    ] {
        assert!(svg.contains(&want), "{want} missing from the SVG");
    }
    let dot = ok(c.berth(0, &["network", "graph", "--format", "dot"]));
    assert_eq!(dot.matches("subgraph \"cluster_host").count(), 3, "{dot}");

    // The FDB entry for db sent to the wrong host: the kernel disagrees, and traffic stops.
    // The daemon's resync repairs such an entry within seconds, so each try breaks it again.
    let mac = c.mac_on(1, "db", "ov");
    let wrong =
        |to: &str| format!("{ns} bridge fdb replace {mac} dev {vx} dst {to} self permanent");
    c.wait("check to see the misdirected FDB entry", || {
        c.sh(0, &wrong(&Cluster::addr_of(2)));
        let (code, v) = check(&c, 0, "web", "db", &[]);
        let seen =
            code == 0 && v["kernel"]["agrees"] == false && v["kernel"]["code"] == "fdb_mismatch";
        seen && !pings(&c, 0, "web", &db, 56)
    });
    // Put right (by hand, and by the daemon's resync, which may briefly remove the entry while
    // it takes the stray one away): check and traffic agree again.
    c.sh(0, &wrong(&Cluster::addr_of(1)));
    let agrees = || {
        let (code, v) = check(&c, 0, "web", "db", &[]);
        code == 0 && v["kernel"]["agrees"] == true
    };
    c.wait("check and traffic to agree again", || {
        agrees() && pings(&c, 0, "web", &db, 56)
    });

    // The VXLAN device made smaller than the container's interface: large frames are dropped.
    c.sh(0, &format!("{ns} ip link set {vx} mtu 1400"));
    let (_, v) = check(&c, 0, "web", "db", &[]);
    assert_eq!(v["kernel"]["code"], "mtu_mismatch", "{v}");
    assert_eq!(v["kernel"]["agrees"], false, "{v}");
    assert!(
        !pings(&c, 0, "web", &db, 1400),
        "1428-byte packets crossed a 1400 MTU"
    );
    assert!(pings(&c, 0, "web", &db, 56));
    c.sh(0, &format!("{ns} ip link set {vx} mtu 1450"));
    c.wait("full-size packets and agreement again", || {
        agrees() && pings(&c, 0, "web", &db, 1400)
    });

    // Host 1's daemon dies: its containers run on, and reach until its lease goes.
    c.kill_daemon(1);
    let (code, v) = check(&c, 0, "web", "db", &[]);
    assert_eq!(
        (code, v["kernel"]["agrees"].as_bool()),
        (0, Some(true)),
        "{v}"
    );
    assert!(pings(&c, 0, "web", &db, 56));
    c.wait("host 0 to see host 1's lease go", || {
        let (_, t) = c.api(0, "GET", "/berth/topology", None);
        t["cluster"]["lost"]
            .as_array()
            .is_some_and(|l| l.iter().any(|e| e["name"] == "db"))
    });
    // No wait for check here: the endpoint watch hands its fresher node listing to the live-node
    // cache before topology calls the endpoint lost, so check is never behind topology.
    let (code, v) = check(&c, 0, "web", "db", &[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["code"], "remote_lease_expired", "{v}");
    assert_eq!(v["kernel"]["agrees"], true, "{v}");
    assert!(
        v["reason"]
            .as_str()
            .is_some_and(|r| r.contains(&Cluster::addr_of(1))),
        "{v}"
    );
    c.wait("the FDB entry for db to go", || {
        !pings(&c, 0, "web", &db, 56)
    });
    // By address too; and the host that lives on is still reached.
    let (code, v) = check(&c, 0, "web", &db, &[]);
    assert_eq!(
        (code, v["code"].as_str()),
        (1, Some("remote_lease_expired")),
        "{v}"
    );
    assert!(pings(&c, 0, "web", &far, 56));

    // Host 1 comes back: its endpoint is claimed again and reached.
    c.start_daemon(1);
    c.wait("web reaches db once host 1 is back", || {
        check(&c, 0, "web", "db", &[]).0 == 0 && pings(&c, 0, "web", &db, 56)
    });
}

//! berthd in a cluster (issue 19): membership through etcd, what `/info` shows, restarts,
//! dead hosts and etcd outages, on a 3-host cluster of namespaces (see common/cluster.rs).

mod common;

use common::cluster::{node_ids, Cluster, ClusterOptions};
use common::{fails, ok, Host};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

fn store_status(c: &Cluster, i: usize) -> String {
    c.info(i)["BerthCluster"]["Store"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn every_host_lists_all_three_and_a_restart_within_the_lease_is_invisible() {
    let mut c = Cluster::new(3);
    let ids = sorted((0..3).map(|i| c.daemon_id(i)).collect());
    for i in 0..3 {
        let v = c.info(i);
        assert_eq!(c.node_ids(i), ids, "host {i}: {v}");
        assert!(
            v["ClusterStore"]
                .as_str()
                .is_some_and(|s| s.starts_with("etcd://192.168.77.11:2379,")),
            "{v}"
        );
        assert_eq!(v["ClusterAdvertise"], Cluster::addr_of(i).as_str(), "{v}");
        assert_eq!(v["BerthCluster"]["Store"], "up", "{v}");
        let addrs = sorted(
            v["BerthCluster"]["Nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n["Address"].as_str().map(str::to_string))
                .collect(),
        );
        assert_eq!(
            addrs,
            (0..3).map(Cluster::addr_of).collect::<Vec<_>>(),
            "{v}"
        );
    }
    let text = ok(c.berth(1, &["info"]));
    for line in [
        " Cluster Store: etcd://192.168.77.11:2379,192.168.77.12:2379,192.168.77.13:2379",
        " Cluster Advertise: 192.168.77.12",
        " Cluster Store Status: up",
        " Cluster Nodes: 3",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let json = ok(c.berth(1, &["info", "--format", "{{.ClusterAdvertise}}"]));
    assert_eq!(json.trim(), "192.168.77.12");

    // A crash and a restart within the lease: hosts 1 and 2 keep listing host 0 throughout.
    let done = AtomicBool::new(false);
    let short: Mutex<Vec<String>> = Mutex::default();
    let (first, others) = c.hosts.split_at_mut(1);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                for (i, h) in others.iter().enumerate() {
                    let seen = node_ids(h);
                    if seen != ids {
                        short
                            .lock()
                            .unwrap()
                            .push(format!("host {}: {seen:?}", i + 1));
                    }
                }
            }
        });
        let h0 = &mut first[0];
        h0.kill_daemon();
        h0.start_daemon();
        while node_ids(h0) != ids {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        done.store(true, Ordering::SeqCst);
    });
    let short = short.into_inner().unwrap();
    assert!(
        short.is_empty(),
        "host 0 disappeared while it restarted: {short:?}"
    );
    assert_eq!(c.node_ids(0), ids);
    let log = c.host(0).log();
    assert!(
        log.contains("previous_life=true"),
        "the restart did not take over its node key:\n{log}"
    );
}

#[test]
fn a_dead_host_vanishes_and_a_clean_stop_leaves_at_once() {
    let mut c = Cluster::with_options(
        3,
        ClusterOptions {
            daemon_args: vec!["--cluster-store-opt".into(), "discovery.ttl=5".into()],
            ..ClusterOptions::default()
        },
    );
    let dead = c.daemon_id(2);
    c.kill_daemon(2);
    // Its lease is not renewed any more: within the TTL and a keepalive round it is gone.
    c.wait("the dead host 2 to vanish from hosts 0 and 1", || {
        !c.node_ids(0).contains(&dead) && !c.node_ids(1).contains(&dead)
    });
    assert_eq!(c.node_ids(0).len(), 2);

    // SIGTERM with no containers running: the lease is revoked before the daemon exits.
    let stopped = c.daemon_id(1);
    c.stop_daemon(1);
    let left = c.node_ids(0);
    assert!(
        !left.contains(&stopped),
        "host 1 still listed after a clean stop: {left:?}\n{}",
        c.host(1).log()
    );
    assert!(c.host(1).log().contains("left the cluster"));
    c.start_daemon(1);
    c.wait_nodes(0, 2);
    assert!(c.node_ids(0).contains(&stopped));
}

#[test]
fn etcd_outages_leave_local_networks_alone_and_recover() {
    let mut c = Cluster::with_options(
        3,
        ClusterOptions {
            busybox: true,
            ..ClusterOptions::default()
        },
    );
    ok(c.berth(
        0,
        &["network", "create", "--subnet", "10.55.0.0/24", "before"],
    ));
    ok(c.berth(
        0,
        &[
            "run",
            "-d",
            "--name",
            "b1",
            "--network",
            "before",
            "busybox",
            "sleep",
            "1000",
        ],
    ));

    // One member of three down (the first one listed, which every daemon talks to first).
    c.stop_etcd(0);
    for i in 0..3 {
        assert_eq!(store_status(&c, i), "up", "host {i}\n{}", c.logs());
        assert_eq!(c.node_ids(i).len(), 3);
    }
    // Registration still works: host 1 leaves and joins again.
    let id1 = c.daemon_id(1);
    c.stop_daemon(1);
    assert!(!c.node_ids(0).contains(&id1));
    c.start_daemon(1);
    c.wait_nodes(0, 3);
    c.wait_nodes(1, 3);

    // Every member down: the store is reported unavailable, local networking goes on.
    c.stop_etcd(1);
    c.stop_etcd(2);
    for i in 0..3 {
        c.wait(&format!("host {i} to report the store unavailable"), || {
            store_status(&c, i).starts_with("unavailable: ")
        });
    }
    let text = ok(c.berth(2, &["info"]));
    assert!(
        text.contains(" Cluster Store Status: unavailable: ") && text.contains(" Cluster Nodes: 0"),
        "{text}"
    );
    ok(c.berth(
        0,
        &["network", "create", "--subnet", "10.56.0.0/24", "during"],
    ));
    ok(c.berth(
        0,
        &[
            "run",
            "-d",
            "--name",
            "b2",
            "--network",
            "during",
            "busybox",
            "sleep",
            "1000",
        ],
    ));
    ok(c.berth(0, &["network", "connect", "before", "b2"]));
    ok(c.berth(0, &["exec", "b2", "ping", "-c1", "-W2", "b1"]));
    // A daemon that starts while etcd is down starts all the same, and says why it is alone.
    c.kill_daemon(2);
    c.start_daemon(2);
    let s = store_status(&c, 2);
    assert!(s.starts_with("unavailable: "), "{s}");
    assert!(c.node_ids(2).is_empty());

    // etcd returns: every host sees all three again, host 2 joins from its background retry.
    for m in 0..3 {
        c.start_etcd(m);
    }
    for i in 0..3 {
        c.wait(
            &format!("host {i} to see the store and 3 nodes again"),
            || store_status(&c, i) == "up" && c.node_ids(i).len() == 3,
        );
    }
    ok(c.berth(0, &["exec", "b1", "ping", "-c1", "-W2", "b2"]));
}

#[test]
fn consul_and_zk_are_refused_at_start_and_by_validate() {
    let h = Host::bare();
    for url in ["consul://127.0.0.1:8500", "zk://127.0.0.1:2181"] {
        let out = h
            .daemon_command(&["--cluster-store".into(), url.into()])
            .output()
            .expect("run berthd");
        let (code, err) = fails(out);
        assert_eq!(code, 1);
        assert!(
            err.contains(url) && err.contains("berth uses etcd") && err.contains("etcd://"),
            "{err}"
        );
        let out = h
            .daemon_command(&["--validate".into(), "--cluster-store".into(), url.into()])
            .output()
            .expect("run berthd");
        let (_, err) = fails(out);
        assert!(err.contains("berth uses etcd"), "{err}");
    }
    // A good store with an address of no local interface: valid, with Docker's warning.
    let out = h
        .daemon_command(&[
            "--validate".into(),
            "--cluster-store".into(),
            "etcd://127.0.0.1:2379".into(),
            "--cluster-advertise".into(),
            "10.9.9.9:2376".into(),
        ])
        .output()
        .expect("run berthd");
    let stdout = ok(out.clone());
    assert!(stdout.contains("configuration OK"), "{stdout}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("10.9.9.9") && err.contains("not an address of any local interface"),
        "{err}"
    );
    let out = h
        .daemon_command(&[
            "--validate".into(),
            "--cluster-advertise".into(),
            "lo".into(),
        ])
        .output()
        .expect("run berthd");
    let (_, err) = fails(out);
    assert!(err.contains("--cluster-store"), "{err}");
}

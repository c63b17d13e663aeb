//! Overlay networks when things fail (issue 19), with real traffic between hosts, on the 3-host
//! namespace cluster of common/cluster.rs. Traffic is a `ping -i 0.2` stream from a container on
//! one host to one on another; "no interruption" means every sequence number sent while the
//! failure lasted got its reply (counted in the pinger's log), never a timing.
//!
//! - etcd: one member of three down, then all down (local networks and the stream go on,
//!   overlay create/run/rm answer 503 "cluster store unavailable: …"), then back: the keys in
//!   etcd and the FDB and neighbour entries in every kernel are exactly what the containers
//!   explain, nothing lost or duplicated. Two overlay networks stay isolated throughout.
//! - kill -9 of berthd in the middle of an overlay `network create`, `run` and `rm` (delays
//!   from a printed seed, BERTH_OVFAIL_SEED replays): every key in etcd is explained and the
//!   same names and `--ip` work again. Then a host dies: within its lease it leaves the others'
//!   DNS, FDB and neighbours, and its address is free for a new `--ip`.

mod common;

use common::cluster::{Cluster, ClusterOptions};
use common::{fails, ok, Rng};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;

fn run(c: &Cluster, i: usize, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    ok(c.berth(i, &all))
}

fn sleeper(c: &Cluster, i: usize, name: &str, net: &str) -> String {
    run(
        c,
        i,
        &["--name", name, "--network", net, "busybox", "sleep", "1000"],
    )
}

fn overlay(c: &Cluster, i: usize, name: &str, subnet: &str) -> String {
    ok(c.berth(
        i,
        &[
            "network", "create", "-d", "overlay", "--subnet", subnet, name,
        ],
    ));
    for h in 0..c.hosts.len() {
        c.wait(&format!("host {h} builds {name}"), || {
            c.api(h, "GET", &format!("/networks/{name}"), None).0 == 200
        });
    }
    c.network_id(i, name)
}

/// The sequence numbers the pinger got replies for, from its log.
fn replies(c: &Cluster, i: usize, pinger: &str) -> BTreeSet<u64> {
    let out = c.berth(i, &["logs", pinger]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| {
            l.split("seq=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// Waits for `more` further replies; returns the highest sequence number seen before and after.
fn more_replies(c: &Cluster, i: usize, pinger: &str, more: u64) -> (u64, u64) {
    let from = replies(c, i, pinger).last().copied().unwrap_or(0);
    let mut to = from;
    c.wait(&format!("{more} more replies to {pinger}"), || {
        to = replies(c, i, pinger).last().copied().unwrap_or(0);
        to >= from + more
    });
    (from, to)
}

/// Every sequence number from `from` to `to` got its reply.
fn assert_unbroken(c: &Cluster, i: usize, pinger: &str, (from, to): (u64, u64), during: &str) {
    let got = replies(c, i, pinger);
    let lost: Vec<u64> = (from..=to).filter(|s| !got.contains(s)).collect();
    assert!(
        lost.is_empty(),
        "{pinger} lost replies {lost:?} (of {from}..={to}) while {during}"
    );
}

fn store_up(c: &Cluster, i: usize) -> bool {
    c.info(i)["BerthCluster"]["Store"] == "up"
}

/// The 503 of an overlay operation while etcd is down, with Docker's body.
fn assert_unavailable(status: u16, v: &Value, what: &str) {
    let msg = v["message"].as_str().unwrap_or_default();
    assert_eq!(status, 503, "{what}: {v}");
    assert!(msg.contains("cluster store unavailable: "), "{what}: {msg}");
}

/// Checks every key under berth's prefix against what the live hosts hold, and that no
/// endpoint of theirs is missing: nodes are the live daemons, networks (with their name and
/// VNI claims) are the global networks the hosts list, each endpoint record is a container on
/// its node with that address on that network, and each address claim belongs to one of them.
fn explain_keys(c: &Cluster, alive: &[usize]) -> Result<usize, String> {
    let keys = c.etcd_keys();
    let nodes: BTreeMap<String, usize> = alive.iter().map(|&i| (c.daemon_id(i), i)).collect();
    let (_, nets) = c.api(alive[0], "GET", "/networks", None);
    // Global networks by ID: (name, VNI).
    let globals: BTreeMap<String, (String, String)> = nets
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["Scope"] == "global")
        .map(|n| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                s(&n["Id"]),
                (
                    s(&n["Name"]),
                    s(&n["Options"]["com.docker.network.driver.overlay.vxlanid_list"]),
                ),
            )
        })
        .collect();
    // What the hosts' containers hold on global networks: (network, container) → (IP, node).
    let mut want: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for (node, &i) in &nodes {
        let (_, list) = c.api(i, "GET", "/containers/json?all=1", None);
        for ct in list.as_array().into_iter().flatten() {
            let id = ct["Id"].as_str().unwrap_or_default();
            let (_, v) = c.api(i, "GET", &format!("/containers/{id}/json"), None);
            let on = v["NetworkSettings"]["Networks"].as_object().cloned();
            for (_, ep) in on.into_iter().flatten() {
                let net = ep["NetworkID"].as_str().unwrap_or_default();
                let ip = ep["IPAddress"].as_str().unwrap_or_default();
                if globals.contains_key(net) && !ip.is_empty() {
                    want.insert((net.into(), id.into()), (ip.into(), node.clone()));
                }
            }
        }
    }
    let mut unexplained = Vec::new();
    let mut seen = BTreeSet::new();
    for (k, v) in &keys {
        let parts: Vec<&str> = k.trim_start_matches("/berth/").split('/').collect();
        let json: Value = serde_json::from_str(v).unwrap_or(Value::Null);
        let s = |f: &str| json[f].as_str().unwrap_or_default().to_string();
        let explained = match parts.as_slice() {
            ["nodes", id] => nodes.contains_key(*id),
            ["networks", id] => globals.contains_key(*id),
            ["names", name] => globals.get(v).is_some_and(|(n, _)| n == name),
            ["vnis", vni] => globals.get(v).is_some_and(|(_, x)| x == vni),
            ["guard", "networks"] => true,
            ["endpoints", net, _] => {
                let key = (net.to_string(), s("container_id"));
                let ok = want.get(&key) == Some(&(s("ip"), s("node")));
                ok && seen.insert(key)
            }
            ["ips", net, ip] => keys
                .get(&format!("/berth/endpoints/{net}/{}", s("endpoint")))
                .and_then(|e| serde_json::from_str::<Value>(e).ok())
                .is_some_and(|e| e["ip"] == *ip && e["node"] == s("node").as_str()),
            _ => false,
        };
        if !explained {
            unexplained.push(format!("{k} = {v}"));
        }
    }
    let lost: Vec<_> = want.keys().filter(|k| !seen.contains(*k)).collect();
    if !unexplained.is_empty() || !lost.is_empty() {
        return Err(format!(
            "unexplained keys: {unexplained:#?}\nendpoints without keys: {lost:?}\nglobals: {globals:?}"
        ));
    }
    Ok(keys.len())
}

/// Waits until every key is explained (repairs after a restart or an outage run in the
/// background); panics with the last reason.
fn wait_explained(c: &Cluster, alive: &[usize], what: &str) -> usize {
    let mut last = String::new();
    let mut n = 0;
    c.wait(
        &format!("{what}: every etcd key explained"),
        || match explain_keys(c, alive) {
            Ok(k) => {
                n = k;
                true
            }
            Err(e) => {
                last = e;
                false
            }
        },
    );
    if n == 0 {
        panic!("{what}: {last}");
    }
    n
}

/// The remote entries every host should hold for a network: one neighbour and one FDB entry
/// per endpoint on another host, none twice.
fn assert_entries(c: &Cluster, hosts: &[usize], net_id: &str, remote_eps: &[(usize, &str)]) {
    for &i in hosts {
        let (fdb, neigh) = c.vxlan_entries(i, net_id);
        let expected = remote_eps.iter().filter(|(h, _)| *h != i).count();
        let uniq: BTreeSet<&String> = fdb.iter().collect();
        assert!(
            fdb.len() == expected && neigh.len() == expected && uniq.len() == fdb.len(),
            "host {i}: want {expected} remote entries, have fdb {fdb:?} neigh {neigh:?}"
        );
        for (h, ip) in remote_eps.iter().filter(|(h, _)| *h != i) {
            assert!(
                neigh.iter().any(|n| n.starts_with(&format!("{ip} "))),
                "host {i} has no neighbour for {ip} (on host {h}): {neigh:?}"
            );
        }
    }
}

#[test]
fn etcd_outages_keep_overlay_traffic_flowing_and_resync_exactly() {
    let mut c = Cluster::with_options(
        3,
        ClusterOptions {
            busybox: true,
            ..ClusterOptions::default()
        },
    );
    let ov = overlay(&c, 0, "ov", "10.0.9.0/24");
    let ov2 = overlay(&c, 1, "ov2", "10.0.10.0/24");
    sleeper(&c, 1, "a1", "ov");
    sleeper(&c, 0, "b0", "ov2");
    sleeper(&c, 1, "b1", "ov2");
    let a1 = c.ip_on(1, "a1", "ov");
    let b0 = c.ip_on(0, "b0", "ov2");
    let b1 = c.ip_on(1, "b1", "ov2");
    run(
        &c,
        0,
        &[
            "--name",
            "a0",
            "--network",
            "ov",
            "busybox",
            "ping",
            "-i",
            "0.2",
            &a1,
        ],
    );
    let a0 = c.ip_on(0, "a0", "ov");
    more_replies(&c, 0, "a0", 5);
    c.wait("b0 reaches b1 across hosts", || {
        c.berth(0, &["exec", "b0", "ping", "-c1", "-W2", &b1])
            .status
            .success()
    });

    // Isolation: no traffic from one overlay network to the other, on this host or another.
    for (from, host, to) in [
        ("b0", 0, &a0),
        ("b0", 0, &a1),
        ("b1", 1, &a0),
        ("a1", 1, &b0),
    ] {
        let (code, out) = fails(c.berth(host, &["exec", from, "ping", "-c1", "-W1", to]));
        assert_ne!(code, 0, "{from} reached {to} on the other overlay: {out}");
    }

    // One etcd member of three down (the one every daemon asks first): the stream and the
    // control plane go on.
    c.stop_etcd(0);
    sleeper(&c, 2, "a2", "ov");
    let a2 = c.ip_on(2, "a2", "ov");
    let window = more_replies(&c, 0, "a0", 15);
    assert_unbroken(&c, 0, "a0", window, "one etcd member was down");
    ok(c.berth(2, &["exec", "a2", "ping", "-c1", "-W2", "a0"]));
    c.start_etcd(0);
    let eps = [(0, a0.as_str()), (1, a1.as_str()), (2, a2.as_str())];
    let before = wait_explained(&c, &[0, 1, 2], "with one member back");
    assert_entries(&c, &[0, 1, 2], &ov, &eps);

    // Every member down.
    for m in 0..3 {
        c.stop_etcd(m);
    }
    for i in 0..3 {
        c.wait(&format!("host {i} notices the store is gone"), || {
            !store_up(&c, i)
        });
    }
    let outage = more_replies(&c, 0, "a0", 5);
    // Overlay create, run and network rm fail at once with 503, through the API and both CLIs.
    let (status, v) = c.api(
        0,
        "POST",
        "/networks/create",
        Some(r#"{"Name":"ov3","Driver":"overlay"}"#),
    );
    assert_unavailable(status, &v, "network create");
    let out = c
        .host(1)
        .docker(&["network", "create", "-d", "overlay", "ov3"]);
    let (_, msg) = fails(out);
    assert!(msg.contains("cluster store unavailable: "), "docker: {msg}");
    let (code, msg) = fails(c.berth(
        0,
        &[
            "run",
            "-d",
            "--name",
            "late",
            "--network",
            "ov",
            "busybox",
            "sleep",
            "1",
        ],
    ));
    assert!(
        code != 0 && msg.contains("cluster store unavailable: "),
        "run during the outage: {msg}"
    );
    let (status, v) = c.api(2, "DELETE", &format!("/networks/{ov2}"), None);
    assert_unavailable(status, &v, "network rm");
    // A container on the overlay can still be removed here; its claim goes when etcd returns.
    ok(c.berth(2, &["rm", "-f", "a2"]));
    // As Docker, a run whose start failed leaves the created container.
    let _ = c.berth(0, &["rm", "-f", "late"]);
    // A daemon restarted meanwhile starts, and says its overlay requests wait for the join.
    c.kill_daemon(2);
    c.start_daemon(2);
    let (status, v) = c.api(
        2,
        "POST",
        "/networks/create",
        Some(r#"{"Name":"ov3","Driver":"overlay"}"#),
    );
    assert_unavailable(status, &v, "network create before the join");
    // Local networks work as before.
    ok(c.berth(1, &["network", "create", "--subnet", "10.57.0.0/24", "lan"]));
    sleeper(&c, 1, "l1", "lan");
    ok(c.berth(1, &["exec", "l1", "ping", "-c1", "-W2", "10.57.0.1"]));
    // The remote entries stay in the kernel, and the stream flows.
    assert_entries(&c, &[0, 1, 2], &ov, &eps);
    let window = more_replies(&c, 0, "a0", 15);
    assert_unbroken(&c, 0, "a0", (outage.0, window.1), "etcd was down");

    // etcd returns: the removal done meanwhile is applied, nothing else changes.
    for m in 0..3 {
        c.start_etcd(m);
    }
    for i in 0..3 {
        c.wait(&format!("host {i} sees the store again"), || {
            store_up(&c, i)
        });
    }
    let after = wait_explained(&c, &[0, 1, 2], "after the outage");
    // a2's endpoint record and address claim went; the local network is not in etcd.
    assert_eq!(after, before - 2, "{:#?}", c.etcd_keys());
    let eps = [(0, a0.as_str()), (1, a1.as_str())];
    c.wait("a2's entries leave the other hosts", || {
        c.vxlan_entries(0, &ov).1.len() == 1 && c.vxlan_entries(1, &ov).1.len() == 1
    });
    assert_entries(&c, &[0, 1, 2], &ov, &eps);
    let window = more_replies(&c, 0, "a0", 5);
    assert_unbroken(&c, 0, "a0", (outage.0, window.1), "etcd came back");
    // And overlay operations work again.
    sleeper(&c, 2, "a3", "ov");
    ok(c.berth(2, &["exec", "a3", "ping", "-c1", "-W2", "a1"]));
    ok(c.berth(0, &["network", "create", "-d", "overlay", "ov3"]));
    ok(c.berth(1, &["network", "rm", "ov3"]));
    // A local subnet that meets a global one: refused where the global one is known, and
    // reported (not built) where a global one arrives over an existing local one.
    let (_, msg) = fails(c.berth(
        1,
        &["network", "create", "--subnet", "10.0.9.128/25", "clash"],
    ));
    assert!(msg.contains("Pool overlaps") && msg.contains("ov"), "{msg}");
    ok(c.berth(
        2,
        &["network", "create", "--subnet", "10.0.11.0/24", "mine"],
    ));
    ok(c.berth(
        0,
        &[
            "network",
            "create",
            "-d",
            "overlay",
            "--subnet",
            "10.0.11.0/24",
            "ov4",
        ],
    ));
    c.wait("host 2 reports ov4 over its local network", || {
        c.info(2)["Warnings"].as_array().is_some_and(|w| {
            w.iter()
                .any(|m| m.as_str().is_some_and(|m| m.contains("ov4")))
        })
    });
    let text = String::from_utf8_lossy(&c.host(2).docker(&["info"]).stderr).into_owned();
    assert!(text.contains("local network mine"), "docker info: {text}");
    assert_eq!(c.api(2, "GET", "/networks/ov4", None).0, 404);
    ok(c.berth(0, &["network", "rm", "ov4"]));
    ok(c.berth(2, &["network", "rm", "mine"]));
    ok(c.berth(1, &["rm", "-f", "l1"]));
    ok(c.berth(1, &["network", "rm", "lan"]));
}

/// Runs `args` on host 0 and kills its berthd -9 after `delay_ms`, then restarts it and waits
/// until it follows the cluster again.
fn cut_short(c: &mut Cluster, args: &[&str], delay_ms: u64) {
    let follows = |c: &Cluster| {
        c.host(0)
            .log()
            .matches("overlay networks follow the cluster")
            .count()
    };
    let before = follows(c);
    let mut child = c
        .host(0)
        .berth_cmd(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(delay_ms));
    c.kill_daemon(0);
    // The client sees the daemon die (or its answer, if it came first).
    let _ = child.wait();
    c.start_daemon(0);
    c.wait("host 0 follows the cluster again", || follows(c) > before);
}

#[test]
fn kill_9_mid_overlay_operations_and_a_dead_host_leave_nothing_behind() {
    let mut rng = Rng::from_env("BERTH_OVFAIL_SEED", "overlay kill -9");
    let seed = rng.seed;
    let mut c = Cluster::with_options(
        3,
        ClusterOptions {
            busybox: true,
            daemon_args: vec!["--cluster-store-opt".into(), "discovery.ttl=5".into()],
        },
    );
    let ov = overlay(&c, 1, "ov", "10.0.9.0/24");
    sleeper(&c, 1, "peer", "ov");
    let all = [0, 1, 2];
    for round in 0..3 {
        let what = |op: &str| format!("seed {seed}, round {round}, {op}");
        // network create, cut short: afterwards the network is everywhere or nowhere, and
        // the name can be removed and taken again.
        let name = format!("cut{round}");
        cut_short(
            &mut c,
            &["network", "create", "-d", "overlay", &name],
            rng.below(40),
        );
        wait_explained(&c, &all, &what("create"));
        let _ = c.berth(1, &["network", "rm", &name]);
        ok(c.berth(0, &["network", "create", "-d", "overlay", &name]));
        ok(c.berth(1, &["network", "rm", &name]));

        // run with --ip, cut short: the same name and address work again.
        let name = format!("run{round}");
        let ip = format!("10.0.9.{}", 100 + round);
        let args = [
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "ov",
            "--ip",
            &ip,
            "busybox",
            "sleep",
            "1000",
        ];
        cut_short(&mut c, &args, rng.below(400));
        wait_explained(&c, &all, &what("run"));
        let _ = c.berth(0, &["rm", "-f", &name]);
        wait_explained(&c, &all, &what("rm after the cut run"));
        ok(c.berth(0, &args));
        assert_eq!(c.ip_on(0, &name, "ov"), ip, "{}", what("run again"));
        ok(c.berth(0, &["exec", &name, "ping", "-c1", "-W2", "peer"]));

        // rm, cut short: the endpoint goes with the container, whenever the kill came.
        cut_short(&mut c, &["rm", "-f", &name], rng.below(60));
        let _ = c.berth(0, &["rm", "-f", &name]);
        wait_explained(&c, &all, &what("rm"));
        assert!(
            !c.etcd_keys().keys().any(|k| k.ends_with(&format!("/{ip}"))),
            "{}: {ip} still claimed",
            what("rm")
        );
    }

    // A host dies: its daemon and its containers go at once.
    run(
        &c,
        2,
        &[
            "--name",
            "victim",
            "--network",
            "ov",
            "--ip",
            "10.0.9.77",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let victim_mac = c.mac_on(2, "victim", "ov");
    sleeper(&c, 0, "watcher", "ov");
    let resolves = |c: &Cluster| {
        let out = c.berth(0, &["exec", "watcher", "nslookup", "victim", "127.0.0.11"]);
        String::from_utf8_lossy(&out.stdout).contains("10.0.9.77")
    };
    c.wait("host 0 resolves the victim", || resolves(&c));
    let knows = |c: &Cluster, i: usize| {
        let (fdb, neigh) = c.vxlan_entries(i, &ov);
        fdb.iter().any(|f| f.starts_with(&victim_mac))
            || neigh.iter().any(|n| n.starts_with("10.0.9.77 "))
    };
    assert!(knows(&c, 0) && knows(&c, 1), "the victim is not programmed");
    let dead = c.daemon_id(2);
    c.kill_host(2);
    c.wait("the dead host leaves DNS, FDB and neighbours", || {
        !resolves(&c) && !knows(&c, 0) && !knows(&c, 1) && !c.node_ids(0).contains(&dead)
    });
    // Its address is free for a new --ip elsewhere.
    run(
        &c,
        1,
        &[
            "--name",
            "heir",
            "--network",
            "ov",
            "--ip",
            "10.0.9.77",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    ok(c.berth(0, &["exec", "watcher", "ping", "-c1", "-W2", "heir"]));
    wait_explained(&c, &[0, 1], "after the host died");
}

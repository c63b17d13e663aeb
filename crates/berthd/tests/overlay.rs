//! Overlay networks end to end (issue 19) on the 3-host namespace cluster of common/cluster.rs:
//! a network made on one host is seen and built everywhere, containers on different hosts reach
//! each other by address and by name across VXLAN with full-size packets, concurrent runs never
//! share an address, and the outside world is reached (egress) and reaches in (`-p`).

mod common;

use common::cluster::{Cluster, ClusterOptions, OUTSIDE_ADDR};
use common::{fails, ok};

fn run(c: &Cluster, i: usize, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    ok(c.berth(i, &all))
}

/// `hosts` hosts with busybox, and an overlay network made on the first with `args`.
fn cluster_with_overlay(hosts: usize, args: &[&str]) -> Cluster {
    let c = Cluster::with_options(
        hosts,
        ClusterOptions {
            busybox: true,
            ..ClusterOptions::default()
        },
    );
    ok(c.berth(
        0,
        &[&["network", "create", "-d", "overlay"][..], args].concat(),
    ));
    c
}

#[test]
fn containers_on_three_hosts_share_an_overlay() {
    let c = cluster_with_overlay(3, &["--subnet", "10.0.9.0/24", "ov"]);
    // Every host has it (the watch, not a poll of ours, brings it).
    for i in 0..3 {
        c.wait(&format!("host {i} lists ov"), || {
            ok(c.berth(
                i,
                &[
                    "network",
                    "ls",
                    "--format",
                    "{{.Name}} {{.Driver}} {{.Scope}}",
                ],
            ))
            .contains("ov overlay global")
        });
    }
    let (_, v) = c.api(2, "GET", "/networks/ov", None);
    let vni = v["Options"]["com.docker.network.driver.overlay.vxlanid_list"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(vni.parse::<u32>().is_ok_and(|n| n >= 4096), "{v}");

    // Concurrent runs on all hosts: addresses are claimed cluster-wide.
    let names = ["web", "db", "cache"];
    std::thread::scope(|s| {
        for (i, name) in names.iter().enumerate() {
            let c = &c;
            s.spawn(move || {
                run(
                    c,
                    i,
                    &["--name", name, "--network", "ov", "busybox", "sleep", "600"],
                )
            });
        }
    });
    let ips: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| c.ip_on(i, n, "ov"))
        .collect();
    let mut uniq = ips.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 3, "{ips:?}");
    let (_, v) = c.api(0, "GET", "/networks/ov", None);
    assert_eq!(v["Peers"].as_array().map(Vec::len), Some(3), "{v}");

    // Across hosts by address, by name, and with 1400-byte packets.
    c.wait("web pings db by address", || {
        c.berth(0, &["exec", "web", "ping", "-c1", "-W2", &ips[1]])
            .status
            .success()
    });
    ok(c.berth(0, &["exec", "web", "ping", "-c1", "-W2", "db"]));
    ok(c.berth(2, &["exec", "cache", "ping", "-c1", "-W2", "web"]));
    ok(c.berth(
        1,
        &["exec", "db", "ping", "-c1", "-W2", "-s", "1400", &ips[2]],
    ));

    // The host a container runs on reaches it through the transfer link (Docker's overlay
    // containers are reached only through their docker_gwbridge address).
    c.sh(0, &format!("busybox ping -c1 -W2 {}", ips[0]));

    // Egress to the outside namespace (masqueraded on the container's own host).
    ok(c.berth(1, &["exec", "db", "ping", "-c1", "-W2", OUTSIDE_ADDR]));

    // A published port answers on the host the container runs on.
    run(
        &c,
        2,
        &[
            "--name",
            "www",
            "--network",
            "ov",
            "-p",
            "8080:80",
            "busybox",
            "sh",
            "-c",
            "echo hello-overlay > /tmp/index.html && httpd -f -p 80 -h /tmp",
        ],
    );
    let url = format!("http://{}:8080/index.html", Cluster::addr_of(2));
    let answered = (0..50).any(|_| {
        let got = c
            .outside
            .sh_out(&format!("busybox timeout 2 busybox wget -q -O - {url}"))
            .status
            .success();
        if !got {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        got
    });
    assert!(
        answered,
        "published port: outside: {}\nhost: {}",
        String::from_utf8_lossy(
            &c.outside
                .sh_out(&format!("busybox timeout 2 busybox wget -O - {url} 2>&1; ip route"))
                .stdout
        ),
        c.host(2).sh(
            "busybox timeout 2 busybox wget -q -O - http://10.0.9.5/index.html 2>&1; nft list ruleset 2>&1 | head -150; true"
        ),
    );
    let page = c
        .outside
        .sh(&format!("busybox timeout 2 busybox wget -q -O - {url}"));
    assert!(page.contains("hello-overlay"), "{page}");

    // Isolation: a bridge network's container reaches neither a local nor a remote overlay one.
    ok(c.berth(0, &["network", "create", "--subnet", "10.66.0.0/24", "lan"]));
    run(
        &c,
        0,
        &[
            "--name",
            "lonely",
            "--network",
            "lan",
            "busybox",
            "sleep",
            "600",
        ],
    );
    for ip in [&ips[0], &ips[1]] {
        let (code, out) = fails(c.berth(0, &["exec", "lonely", "ping", "-c1", "-W1", ip]));
        assert_ne!(code, 0, "lan reached the overlay at {ip}: {out}");
    }
    ok(c.berth(0, &["rm", "-f", "lonely"]));
    ok(c.berth(0, &["network", "rm", "lan"]));

    // rm is refused anywhere while any host has endpoints, and works from any host after.
    let (code, msg) = fails(c.berth(1, &["network", "rm", "ov"]));
    assert_ne!(code, 0, "{msg}");
    for (i, n) in names.iter().enumerate() {
        ok(c.berth(i, &["rm", "-f", n]));
    }
    ok(c.berth(2, &["rm", "-f", "www"]));
    ok(c.berth(1, &["network", "rm", "ov"]));
    for i in 0..3 {
        c.wait(&format!("host {i} drops ov"), || {
            !ok(c.berth(i, &["network", "ls", "--format", "{{.Name}}"]))
                .lines()
                .any(|l| l == "ov")
        });
    }
}

/// An `--internal` overlay, as Docker's: its containers reach each other across hosts and
/// nothing else, and neither the outside nor the host they run on reaches them (the network's
/// namespace has no route out, so nothing answers through the transfer link).
#[test]
fn an_internal_overlay_has_no_way_out_and_no_way_in() {
    let c = cluster_with_overlay(2, &["--internal", "--subnet", "10.0.19.0/24", "ovi"]);
    c.wait("host 1 lists ovi", || {
        ok(c.berth(1, &["network", "ls", "--format", "{{.Name}}"]))
            .lines()
            .any(|l| l == "ovi")
    });
    let (_, v) = c.api(1, "GET", "/networks/ovi", None);
    assert_eq!(v["Internal"], true, "{v}");
    run(
        &c,
        0,
        &["--name", "a", "--network", "ovi", "busybox", "sleep", "600"],
    );
    run(
        &c,
        1,
        &["--name", "b", "--network", "ovi", "busybox", "sleep", "600"],
    );
    let (ip_a, ip_b) = (c.ip_on(0, "a", "ovi"), c.ip_on(1, "b", "ovi"));
    c.wait("a pings b across hosts", || {
        c.berth(0, &["exec", "a", "ping", "-c1", "-W2", &ip_b])
            .status
            .success()
    });
    ok(c.berth(1, &["exec", "b", "ping", "-c1", "-W2", "a"]));
    let (code, out) = fails(c.berth(0, &["exec", "a", "ping", "-c1", "-W1", OUTSIDE_ADDR]));
    assert_ne!(code, 0, "an internal overlay reached the outside: {out}");
    for (i, ip) in [(0, &ip_a), (1, &ip_b)] {
        // busybox's ping: the machine has no other, and a missing one must not pass for a loss.
        let got = c.host(i).sh_out(&format!("busybox ping -c1 -W1 {ip}"));
        let said = String::from_utf8_lossy(&got.stdout).into_owned()
            + &String::from_utf8_lossy(&got.stderr);
        assert!(
            !got.status.success() && said.contains("0 packets received"),
            "host {i} reached its container {ip} on an internal overlay: {said}"
        );
    }
    for (i, n) in [(0, "a"), (1, "b")] {
        ok(c.berth(i, &["rm", "-f", n]));
    }
    ok(c.berth(0, &["network", "rm", "ovi"]));
}

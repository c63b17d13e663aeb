//! The firewall's watcher against the real kernel: whatever someone else does to berth's
//! tables, they are back as berth wrote them within a second, the user's own table and the user
//! chain's rules untouched, and berth's own writes are never taken for tampering. The test
//! re-runs itself inside fresh network and mount namespaces, so its tables die with it.

use berth_net::firewall::nftables::NftFirewall;
use berth_net::firewall::{Change, Firewall, FirewallState, NetRule, PortRule, Proto};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MARK: &str = "BERTH_TEST_IN_NS";

fn inside_fresh_namespaces(name: &str) -> bool {
    if std::env::var_os(MARK).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new("unshare")
        .args(["--net", "--mount", "--propagation", "private", "--"])
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(MARK, "1")
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} failed inside its namespaces:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().expect("sh");
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// berth's two tables as nft lists them (no handles, so a rewrite lists the same).
fn tables() -> String {
    let out = Command::new("sh")
        .args([
            "-c",
            "nft list table inet berth 2>&1; nft list table bridge berth 2>&1",
        ])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rules of berth's forward chain with their handles: a rewrite gives new handles.
fn handles() -> String {
    sh("nft -a list chain inet berth filter_forward")
}

fn port(host_port: u16) -> PortRule {
    PortRule {
        proto: Proto::Tcp,
        host_ip: None,
        host_port,
        container_ip: std::net::Ipv4Addr::new(172, 17, 0, 2).into(),
        container_port: 80,
    }
}

#[test]
fn tables_changed_by_others_are_rewritten_within_a_second() {
    if !inside_fresh_namespaces("tables_changed_by_others_are_rewritten_within_a_second") {
        return;
    }
    let fw = Arc::new(NftFirewall::default());
    let state = FirewallState {
        networks: vec![
            NetRule {
                bridge: "berth0".into(),
                internal: false,
                masquerade: true,
                icc: true,
            },
            NetRule {
                bridge: "br-noicc".into(),
                internal: false,
                masquerade: true,
                icc: false,
            },
        ],
        isolated_ports: vec!["veth1234567".into()],
        ports: vec![port(8080)],
        links: vec![],
    };
    fw.apply(&state).expect("apply");
    fw.clone().watch().expect("watch");
    let users_own = "nft add rule inet berth user ip daddr 10.1.2.3 drop comment users-own";
    let mine = "nft add table inet mine && nft add chain inet mine c && \
                nft add rule inet mine c counter comment mine-kept";
    sh(users_own);
    sh(mine);

    // berth's own writes, many and quick, are not taken for someone else's: nothing is
    // rewritten (the forward chain's rule handles stay).
    let before = handles();
    for p in 9000..9040 {
        fw.change(&[Change::AddPorts(vec![port(p)])])
            .expect("add port");
    }
    for p in 9000..9040 {
        fw.change(&[Change::RemovePorts(vec![port(p)])])
            .expect("remove port");
    }
    fw.apply(&state).expect("reapply");
    std::thread::sleep(Duration::from_millis(600));
    let after = handles();
    assert_eq!(
        before.lines().filter(|l| l.contains("handle")).count(),
        after.lines().filter(|l| l.contains("handle")).count()
    );
    let baseline = tables();
    assert!(
        baseline.contains("users-own") && baseline.contains("8080"),
        "{baseline}"
    );
    // A full rewrite of its own gives new handles to the forward chain; its own element
    // changes never do.
    fw.change(&[Change::AddPorts(vec![port(9999)])])
        .expect("add port");
    fw.change(&[Change::RemovePorts(vec![port(9999)])])
        .expect("remove port");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        handles(),
        after,
        "berth's own element changes caused a rewrite"
    );

    let drop_rule = || -> String {
        handles()
            .lines()
            .find(|l| l.contains("oifname @bridges drop"))
            .and_then(|l| l.rsplit("handle ").next())
            .expect("isolation rule")
            .trim()
            .to_string()
    };
    let tamperings: Vec<(&str, String)> = vec![
        (
            "delete the isolation rule",
            format!(
                "nft delete rule inet berth filter_forward handle {}",
                drop_rule()
            ),
        ),
        (
            "add a rule to berth's chain",
            "nft insert rule inet berth filter_forward accept".into(),
        ),
        ("flush a set", "nft flush set inet berth bridges".into()),
        ("flush a map", "nft flush map inet berth ports4".into()),
        (
            "delete an element",
            "nft delete element inet berth ports4 '{ tcp . 8080 }'".into(),
        ),
        (
            "flush a chain",
            "nft flush chain inet berth nat_postrouting".into(),
        ),
        (
            "delete the bridge table",
            "nft delete table bridge berth".into(),
        ),
        (
            "delete both tables",
            "nft delete table inet berth && nft delete table bridge berth".into(),
        ),
        ("flush the ruleset", "nft flush ruleset".into()),
    ];
    for (what, cmd) in &tamperings {
        let cmd = if what.starts_with("delete the isolation") {
            format!(
                "nft delete rule inet berth filter_forward handle {}",
                drop_rule()
            )
        } else {
            cmd.clone()
        };
        let start = Instant::now();
        sh(&cmd);
        let whole_table = what.contains("both") || what.contains("ruleset");
        let expected = if whole_table {
            // The user chain went with the table; berth makes it again, empty.
            baseline.replace("\t\tip daddr 10.1.2.3 drop comment \"users-own\"\n", "")
        } else {
            baseline.clone()
        };
        let mut got = tables();
        while got != expected && start.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_millis(10));
            got = tables();
        }
        assert_eq!(
            got, expected,
            "{what}: berth's tables were not back within a second"
        );
        eprintln!("{what}: back in {:?}", start.elapsed());
        let theirs = sh("nft list ruleset");
        if what.contains("ruleset") {
            assert!(!theirs.contains("mine-kept"));
            sh(mine);
        } else {
            assert!(
                theirs.contains("mine-kept"),
                "{what}: the user's table went: {theirs}"
            );
        }
        if whole_table {
            sh(users_own);
        }
    }
    // Still settled: nothing rewrites itself again and again.
    let settled = handles();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(handles(), settled, "the watcher keeps rewriting");
}

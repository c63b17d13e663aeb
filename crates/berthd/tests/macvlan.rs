//! macvlan (and ipvlan) networks on a real kernel. Each test's host namespace has an uplink
//! `uplink`, a veth whose other end is in a second namespace `lan` playing another machine on
//! the LAN (192.168.90.1, also the LAN's gateway). Containers get macvlan children of the
//! uplink, so they sit on that LAN with MACs of their own.

mod common;

use common::{fails, ok, Host};
use serde_json::Value;

const LAN_HOST: &str = "192.168.90.1";
const SUBNET: &str = "192.168.90.0/24";

fn host_with_lan() -> Host {
    let h = Host::with_busybox();
    h.sh(
        "mkdir -p /run/netns && mount -t tmpfs berth-test /run/netns && \
         ip netns add lan && \
         ip link add uplink type veth peer name lanif netns lan && \
         ip link set uplink up && \
         ip -n lan addr add 192.168.90.1/24 dev lanif && \
         ip -n lan link set lanif up && ip -n lan link set lo up",
    );
    h
}

/// Says on the terminal, past the test harness's capture, that a test did not run its checks.
fn skipped(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Runs `busybox CMD` in the LAN host's namespace.
fn lan(h: &Host, cmd: &str) -> std::process::Output {
    h.sh_out(&format!("ip netns exec lan busybox {cmd}"))
}

/// `berth inspect ARGS` (or `berth network inspect NAME` with `["network", NAME]`).
fn inspect(h: &Host, what: &[&str]) -> Value {
    let mut args = match what {
        ["network", _] => vec!["network", "inspect"],
        _ => vec!["inspect"],
    };
    args.extend_from_slice(&what[what.len() - 1..]);
    let v: Value = serde_json::from_str(&ok(h.berth(&args))).expect("inspect json");
    v[0].clone()
}

fn run(h: &Host, name: &str, flags: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sleep", "600"]);
    ok(h.berth(&args));
}

fn exec(h: &Host, name: &str, cmd: &str) -> std::process::Output {
    h.berth(&["exec", name, "sh", "-c", cmd])
}

fn links_of(h: &Host) -> Vec<String> {
    let mut l = h.links();
    l.sort();
    l
}

/// Everything but the test's own links (lo, uplink) is gone once the network is removed.
fn assert_nothing_left(h: &Host, before: &[String]) {
    for _ in 0..100 {
        if links_of(h) == before {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(links_of(h), before, "links left behind");
}

#[test]
fn macvlan_containers_sit_on_the_lan_with_their_own_macs() {
    let h = host_with_lan();
    let before = links_of(&h);
    ok(h.berth(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        SUBNET,
        "--gateway",
        LAN_HOST,
        "-o",
        "parent=uplink",
        "lan",
    ]));
    let net = inspect(&h, &["network", "lan"]);
    assert_eq!(net["Driver"], "macvlan");
    assert_eq!(net["Options"]["parent"], "uplink");
    assert_eq!(net["Internal"], false);
    run(&h, "c1", &["--network", "lan"]);
    // `-p` is accepted and ignored, as Docker: a macvlan container is reached at its address.
    // The create answer warns, and the CLI prints it as the docker CLI does.
    let out = h.berth(&[
        "run",
        "-d",
        "--name",
        "c2",
        "--network",
        "lan",
        "-p",
        "8080:80",
        "busybox",
        "sleep",
        "600",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(out);
    assert!(
        stderr.contains("WARNING: macvlan driver does not support port mappings"),
        "{stderr}"
    );
    let mac = ok(exec(&h, "c1", "cat /sys/class/net/eth0/address"));
    assert_eq!(mac.trim(), "02:42:c0:a8:5a:02");
    let ip = inspect(&h, &["c1"])["NetworkSettings"]["Networks"]["lan"]["IPAddress"].clone();
    assert_eq!(ip, "192.168.90.2");
    // The container reaches the LAN host directly; the LAN host learns the container's MAC.
    ok(exec(&h, "c1", &format!("ping -c1 -W2 {LAN_HOST}")));
    let neigh =
        String::from_utf8_lossy(&h.sh_out("ip -n lan neigh show 192.168.90.2").stdout).into_owned();
    assert!(
        neigh.contains("02:42:c0:a8:5a:02"),
        "LAN neighbours: {neigh}"
    );
    // The LAN host reaches the container, and containers reach each other (bridge mode), by
    // name through the embedded DNS too.
    ok(lan(&h, "ping -c1 -W2 192.168.90.3"));
    ok(exec(&h, "c1", "ping -c1 -W2 c2"));
    assert!(
        h.log().contains("does not support port mappings"),
        "Docker's warning for -p on macvlan is logged"
    );
    // The default route goes to the LAN's gateway: no NAT, no host in between.
    let routes = ok(exec(&h, "c1", "ip route"));
    assert!(
        routes.contains(&format!("default via {LAN_HOST} dev eth0")),
        "{routes}"
    );
    // A live `network connect` adds eth1 on a second macvlan network.
    ok(h.docker(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "192.168.91.0/24",
        "-o",
        "parent=uplink",
        "lan2",
    ]));
    ok(h.docker(&["network", "connect", "lan2", "c1"]));
    let eth1 = ok(exec(&h, "c1", "ip -4 addr show eth1"));
    assert!(eth1.contains("192.168.91.2/24"), "{eth1}");
    ok(h.docker(&["network", "disconnect", "lan2", "c1"]));
    // Down at once; the kernel unregisters it moments later.
    assert!(
        (0..100).any(|_| {
            let gone = !exec(&h, "c1", "ip addr show eth1").status.success();
            if !gone {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            gone
        }),
        "eth1 left in c1"
    );
    ok(h.berth(&["rm", "-f", "c1", "c2"]));
    ok(h.berth(&["network", "rm", "lan", "lan2"]));
    assert_nothing_left(&h, &before);
}

#[test]
fn private_mode_keeps_containers_apart_but_on_the_lan() {
    let h = host_with_lan();
    let (status, body) = h.api(
        "POST",
        "/v1.43/networks/create",
        Some(&format!(
            r#"{{"Name":"priv","Driver":"macvlan","Options":{{"parent":"uplink","macvlan_mode":"private"}},
               "IPAM":{{"Config":[{{"Subnet":"{SUBNET}","Gateway":"{LAN_HOST}"}}]}}}}"#
        )),
    );
    assert_eq!(status, 201, "{body}");
    run(&h, "a", &["--network", "priv"]);
    run(&h, "b", &["--network", "priv"]);
    ok(exec(&h, "a", &format!("ping -c1 -W2 {LAN_HOST}")));
    let (code, _) = fails(exec(&h, "a", "ping -c1 -W1 192.168.90.3"));
    assert_ne!(
        code, 0,
        "private mode: no traffic between children of one parent"
    );
}

#[test]
fn a_macvlan_without_parent_is_internal_and_has_no_way_out() {
    let h = host_with_lan();
    let before = links_of(&h);
    ok(h.docker(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "10.66.0.0/24",
        "iso",
    ]));
    let net = inspect(&h, &["network", "iso"]);
    assert_eq!(net["Internal"], true, "{net}");
    let id = net["Id"].as_str().expect("Id").to_string();
    let dm = format!("dm-{}", &id[..12]);
    assert!(links_of(&h).contains(&dm), "a stand-in parent {dm}");
    run(&h, "a", &["--network", "iso"]);
    run(&h, "b", &["--network", "iso"]);
    ok(exec(&h, "a", "ping -c1 -W2 10.66.0.3"));
    ok(exec(&h, "a", "ping -c1 -W2 b"));
    let routes = ok(exec(&h, "a", "ip route"));
    assert!(!routes.contains("default"), "{routes}");
    assert_ne!(
        fails(exec(&h, "a", &format!("ping -c1 -W1 {LAN_HOST}"))).0,
        0
    );
    ok(h.berth(&["rm", "-f", "a", "b"]));
    ok(h.berth(&["network", "rm", "iso"]));
    assert_nothing_left(&h, &before);
}

#[test]
fn the_host_reaches_its_containers_through_its_own_macvlan_link() {
    let h = host_with_lan();
    let before = links_of(&h);
    ok(h.berth(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        SUBNET,
        "--gateway",
        LAN_HOST,
        "--ip-range",
        "192.168.90.128/25",
        "--aux-address",
        "host=192.168.90.250",
        "-o",
        "parent=uplink",
        "-o",
        "berth.macvlan.host_link=true",
        "lan",
    ]));
    run(&h, "c", &["--network", "lan"]);
    // From the daemon's own namespace, the host: through mh-<id>, not through the parent.
    ok(h.sh_out("busybox ping -c1 -W2 192.168.90.128"));
    ok(exec(&h, "c", "ping -c1 -W2 192.168.90.250"));
    ok(h.berth(&["rm", "-f", "c"]));
    ok(h.berth(&["network", "rm", "lan"]));
    assert_nothing_left(&h, &before);
}

#[test]
fn macvlan_refusals_get_dockers_status_and_change_nothing() {
    let h = host_with_lan();
    ok(h.berth(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "10.70.0.0/24",
        "-o",
        "parent=uplink",
        "-o",
        "macvlan_mode=passthru",
        "pt",
    ]));
    let links = links_of(&h);
    let nets = ok(h.berth(&["network", "ls", "-q"]));
    let create = |opts: &str, subnet: &str| {
        h.api(
            "POST",
            "/v1.43/networks/create",
            Some(&format!(
                r#"{{"Name":"x","Driver":"macvlan","Options":{{{opts}}},"IPAM":{{"Config":[{{"Subnet":"{subnet}"}}]}}}}"#
            )),
        )
    };
    for (opts, subnet, status, needle) in [
        (
            r#""parent":"lo""#,
            "10.71.0.0/24",
            400,
            "loopback interface is not a valid macvlan parent",
        ),
        (
            r#""parent":"eth9""#,
            "10.71.0.0/24",
            400,
            "parent interface was not found on the host: eth9",
        ),
        (
            r#""parent":"uplink","macvlan_mode":"l2""#,
            "10.71.0.0/24",
            400,
            "requested macvlan mode 'l2' is not valid",
        ),
        (
            r#""parent":"uplink""#,
            "10.71.0.0/24",
            403,
            "in mode passthru",
        ),
        (r#""parent":"lanx""#, "10.70.0.0/25", 403, "Pool overlaps"),
        (
            r#""parent":"uplink.10""#,
            "10.71.0.0/24",
            400,
            "no 802.1q VLAN support",
        ),
    ] {
        let (code, body) = create(opts, subnet);
        assert_eq!(code, status, "{opts}: {body}");
        let msg = body["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{opts}: {msg}");
        assert_eq!(links_of(&h), links, "{opts}: nothing made");
        assert_eq!(
            ok(h.berth(&["network", "ls", "-q"])),
            nets,
            "{opts}: nothing stored"
        );
    }
    // Through the docker CLI too.
    let (_, err) = fails(h.docker(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "-o",
        "parent=lo",
        "--subnet",
        "10.72.0.0/24",
        "y",
    ]));
    assert!(
        err.contains("loopback interface is not a valid macvlan parent"),
        "{err}"
    );
}

/// Whether this kernel has ipvlan (this machine's has not).
fn kernel_has_ipvlan(h: &Host) -> bool {
    let made = h.sh_out("ip link add ipvprobe link uplink type ipvlan mode l2");
    if made.status.success() {
        h.sh("ip link del ipvprobe");
    }
    made.status.success()
}

#[test]
fn ipvlan_create_fails_cleanly_without_kernel_support() {
    let h = host_with_lan();
    if kernel_has_ipvlan(&h) {
        skipped(
            "ipvlan_create_fails_cleanly_without_kernel_support",
            "this kernel has ipvlan",
        );
        return;
    }
    let links = links_of(&h);
    for opts in [&["-o", "parent=uplink"][..], &[][..]] {
        let mut args = vec![
            "network",
            "create",
            "-d",
            "ipvlan",
            "--subnet",
            "10.80.0.0/24",
        ];
        args.extend_from_slice(opts);
        args.push("ipv");
        let (_, err) = fails(h.docker(&args));
        assert!(
            err.contains("no ipvlan support (CONFIG_IPVLAN, module ipvlan)"),
            "{err}"
        );
        assert_nothing_left(&h, &links);
        assert!(!ok(h.berth(&["network", "ls"])).contains("ipv"));
    }
}

#[test]
fn ipvlan_l2_containers_reach_the_lan() {
    let h = host_with_lan();
    if !kernel_has_ipvlan(&h) {
        skipped(
            "ipvlan_l2_containers_reach_the_lan",
            "this kernel has no ipvlan (CONFIG_IPVLAN); the driver's kernel calls are unit-tested on the fake kernel instead",
        );
        return;
    }
    let before = links_of(&h);
    ok(h.berth(&[
        "network",
        "create",
        "-d",
        "ipvlan",
        "--subnet",
        SUBNET,
        "--gateway",
        LAN_HOST,
        "-o",
        "parent=uplink",
        "-o",
        "ipvlan_mode=l2",
        "ipv",
    ]));
    run(&h, "a", &["--network", "ipv"]);
    run(&h, "b", &["--network", "ipv"]);
    ok(exec(&h, "a", &format!("ping -c1 -W2 {LAN_HOST}")));
    ok(exec(&h, "a", "ping -c1 -W2 b"));
    ok(lan(&h, "ping -c1 -W2 192.168.90.3"));
    ok(h.berth(&["rm", "-f", "a", "b"]));
    ok(h.berth(&["network", "rm", "ipv"]));
    assert_nothing_left(&h, &before);
}

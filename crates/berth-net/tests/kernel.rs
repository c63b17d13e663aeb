//! The network layer against the real kernel. Each test re-runs itself inside fresh network and
//! mount namespaces (`unshare --net --mount`), so every bridge, veth, pinned namespace and mount
//! it makes dies with it.

use berth_net::controller::{CreateNetwork, SubnetRequest};
use berth_net::endpoint::{format_mac, EndpointOptions, SandboxOptions};
use berth_net::network::new_id;
use berth_net::sys::netlink::NetlinkKernel;
use berth_net::{Controller, ControllerConfig};
use berth_store::Store;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MARK: &str = "BERTH_TEST_IN_NS";

/// Runs `name` again in new namespaces; returns true when already inside them.
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
    assert!(
        out.status.success(),
        "{name} failed inside its namespaces:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 passed"),
        "{name} did not run inside its namespaces:\n{stdout}"
    );
    false
}

fn sh(cmd: &str) -> (bool, String) {
    let out = Command::new("sh").args(["-c", cmd]).output().expect("sh");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn in_sandbox(path: &Path, cmd: &str) -> (bool, String) {
    sh(&format!("nsenter --net={} {cmd}", path.display()))
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}

fn net(name: &str, subnet: &str) -> CreateNetwork {
    CreateNetwork {
        name: name.into(),
        subnets: vec![SubnetRequest {
            subnet: subnet.into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn opts(name: &str) -> EndpointOptions {
    EndpointOptions {
        owner: name.into(),
        name: name.into(),
        ..Default::default()
    }
}

/// A sandbox made on `network` alone, as the daemon makes one for a starting container.
async fn sandbox_on(
    ctl: &Controller,
    network: &str,
    name: &str,
) -> (berth_net::endpoint::Sandbox, berth_net::endpoint::Endpoint) {
    let (sb, mut eps) = ctl
        .create_sandbox_with(
            &new_id(),
            SandboxOptions {
                dns: Vec::new(),
                networks: vec![(network.into(), opts(name))],
            },
        )
        .await
        .expect("sandbox")
        .durable()
        .await
        .expect("sandbox stored");
    (sb, eps.remove(0))
}

async fn start(dir: &Path) -> Controller {
    let store = Arc::new(Store::open(&dir.join("berth.db")).expect("store"));
    let kernel = Arc::new(NetlinkKernel::connect().expect("netlink"));
    let cfg = ControllerConfig {
        netns_dir: dir.join("netns"),
        ..Default::default()
    };
    Controller::start(kernel, Arc::new(berth_net::firewall::Disabled), store, cfg)
        .await
        .expect("controller")
}

#[test]
fn sandboxes_attach_reach_each_other_and_detach() {
    if !inside_fresh_namespaces("sandboxes_attach_reach_each_other_and_detach") {
        return;
    }
    assert!(sh("ip link set lo up").0);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctl = start(dir.path()).await;
        ctl.create(net("mynet", "10.123.0.0/24"))
            .await
            .expect("mynet");
        let a = ctl.create_sandbox(&new_id()).await.expect("sandbox a");
        let b = ctl.create_sandbox(&new_id()).await.expect("sandbox b");
        let ea = ctl
            .attach(&a.id, "mynet", opts("a"))
            .await
            .expect("attach a");
        let eb = ctl
            .attach(&b.id, "mynet", opts("b"))
            .await
            .expect("attach b");

        let (ok, addr) = in_sandbox(&a.path, "ip -o addr show eth0");
        assert!(ok && addr.contains("inet 10.123.0.2/24"), "{addr}");
        let (_, link) = in_sandbox(&a.path, "ip -o link show eth0");
        assert!(
            link.contains(&format_mac(&ea.mac)) && link.contains("02:42:0a:7b:00:02"),
            "{link}"
        );
        assert!(link.contains("state UP"), "{link}");
        let (_, route) = in_sandbox(&a.path, "ip route show default");
        assert!(route.contains("default via 10.123.0.1 dev eth0"), "{route}");
        let (_, lo) = in_sandbox(&a.path, "ip -o link show lo");
        assert!(lo.contains("UP"), "{lo}");
        let (_, pgr) = in_sandbox(&a.path, "cat /proc/sys/net/ipv4/ping_group_range");
        assert_eq!(
            pgr.split_whitespace().collect::<Vec<_>>(),
            ["0", "2147483647"]
        );
        let (_, master) = sh(&format!("ip -o link show {}", ea.host_ifname));
        assert!(master.contains("master br-"), "{master}");
        // No IPv6 where none is needed: not on the bridge port, not in an IPv4-only sandbox.
        let (_, v6) = sh(&format!(
            "cat /proc/sys/net/ipv6/conf/{}/disable_ipv6; ip -6 -o addr show dev {}",
            ea.host_ifname, ea.host_ifname
        ));
        assert_eq!(v6.trim(), "1", "{v6}");
        let (_, v6) = in_sandbox(&a.path, "ip -6 -o addr");
        assert!(v6.trim().is_empty(), "{v6}");

        // Traffic between the two sandboxes and to the gateway.
        let (ok, out) = in_sandbox(&a.path, "busybox ping -c1 -W2 10.123.0.3");
        assert!(ok, "a -> b: {out}");
        let (ok, out) = in_sandbox(&b.path, "busybox ping -c1 -W2 10.123.0.1");
        assert!(ok, "b -> gateway: {out}");

        // A second network appears as eth1 and keeps the default route on eth0.
        ctl.create(net("other", "10.124.0.0/24"))
            .await
            .expect("other");
        let e1 = ctl
            .attach(&a.id, "other", opts("a"))
            .await
            .expect("attach a to other");
        assert_eq!(e1.ifname, "eth1");
        let (_, addr) = in_sandbox(&a.path, "ip -o addr show eth1");
        assert!(addr.contains("inet 10.124.0.2/24"), "{addr}");
        let (_, route) = in_sandbox(&a.path, "ip route show default");
        assert!(
            route.contains("dev eth0") && !route.contains("eth1"),
            "{route}"
        );

        // Disconnect: eth1 stops at once and disappears shortly after.
        ctl.detach(&a.id, "other").await.expect("detach");
        wait_until("eth1 to vanish", || {
            !in_sandbox(&a.path, "ip link show eth1").0
        });
        ctl.settle().await;

        // Restart: the endpoints are still there, and still work.
        drop(ctl);
        let ctl = start(dir.path()).await;
        assert_eq!(ctl.sandbox_endpoints(&a.id).await, vec![ea.clone()]);
        let (ok, out) = in_sandbox(&b.path, "busybox ping -c1 -W2 10.123.0.2");
        assert!(ok, "b -> a after restart: {out}");

        let e = ctl.remove("mynet").await.unwrap_err().to_string();
        assert!(e.contains("has active endpoints"), "{e}");
        // Something else holds a's namespace for a while (as the kernel's own teardown does),
        // so a's veth stays on the bridge after the removal.
        let held = std::fs::File::open(&a.path).expect("open a's namespace");
        ctl.remove_sandbox(&a.id).await.expect("remove a");
        assert!(!a.path.exists(), "namespace file removed");
        // a's address (and so its MAC) is free again and goes to the next endpoint, while
        // a's veth may still be on the bridge: b, which still knows that MAC, reaches c at once.
        let (c, ec) = sandbox_on(&ctl, "mynet", "c").await;
        assert_eq!(ec.ipv4, ea.ipv4);
        assert_eq!(ec.mac, ea.mac);
        let a_held = std::path::PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            std::os::fd::AsRawFd::as_raw_fd(&held)
        ));
        // /proc/net/dev is the reader's namespace's (sysfs would show the test's own).
        let a_rx = || in_sandbox(&a_held, "grep eth0: /proc/net/dev").1;
        let rx_before = a_rx();
        let (ok, out) = in_sandbox(&b.path, "busybox ping -c1 -W2 10.123.0.2");
        assert!(ok, "b -> c, a's successor: {out}");
        assert_eq!(a_rx(), rx_before, "a's namespace still received traffic");
        drop(held);
        wait_until("a's host veth to vanish", || {
            !sh(&format!("ip link show {}", ea.host_ifname)).0
        });
        ctl.remove_sandbox(&b.id).await.expect("remove b");
        ctl.remove_sandbox(&c.id).await.expect("remove c");
        wait_until("b's host veth to vanish", || {
            !sh(&format!("ip link show {}", eb.host_ifname)).0
        });
        ctl.remove("mynet").await.expect("rm mynet");
        ctl.settle().await;
    });
}

#[test]
fn firewall_ruleset_loads_and_elements_change_over_netlink() {
    use berth_net::firewall::nftables::NftFirewall;
    use berth_net::firewall::{
        Change, Firewall, FirewallState, LinkRule, NetRule, PortRule, Proto,
    };
    if !inside_fresh_namespaces("firewall_ruleset_loads_and_elements_change_over_netlink") {
        return;
    }
    let net = |b: &str, internal: bool, icc: bool| NetRule {
        bridge: b.into(),
        internal,
        masquerade: true,
        icc,
    };
    let port = PortRule {
        proto: Proto::Tcp,
        host_ip: None,
        host_port: 8080,
        container_ip: std::net::Ipv4Addr::new(172, 17, 0, 2).into(),
        container_port: 80,
    };
    let fw = NftFirewall::default();
    let state = FirewallState {
        networks: vec![net("berth0", false, true)],
        isolated_ports: vec![],
        ports: vec![port.clone()],
        links: vec![],
    };
    fw.apply(&state).expect("first apply");
    // The user's chain survives a re-apply untouched.
    assert!(sh("nft add rule inet berth user counter comment mine").0);
    fw.apply(&state).expect("second apply is idempotent");
    let (_, listing) = sh("nft list ruleset");
    assert!(listing.contains("comment \"mine\""), "{listing}");
    assert_eq!(listing.matches("jump user").count(), 1, "{listing}");
    assert!(
        listing.contains("tcp . 8080 : 172.17.0.2 . 80"),
        "{listing}"
    );
    // Netlink element changes: a network with icc off, a link through it, a port on a host
    // address.
    let link = LinkRule {
        from: "veth7654321".into(),
        to: "veth1234567".into(),
        proto: Proto::Udp,
        port: 6379,
    };
    let host_port = PortRule {
        host_ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        host_port: 5353,
        proto: Proto::Udp,
        ..port.clone()
    };
    fw.change(&[
        Change::AddNetwork(net("br-x", true, false)),
        Change::Isolate("veth1234567".into()),
        Change::AddLinks(vec![link.clone()]),
        Change::AddPorts(vec![host_port.clone()]),
    ])
    .expect("add elements");
    let (_, listing) = sh("nft list ruleset");
    for want in [
        "\"br-x\" . \"br-x\"",
        "127.0.0.1 . udp . 5353 : 172.17.0.2 . 80",
        "elements = { \"br-x\" }",
        "elements = { \"veth1234567\" }",
        "\"veth7654321\" . \"veth1234567\" . udp . 6379",
    ] {
        assert!(listing.contains(want), "missing {want}: {listing}");
    }
    fw.change(&[
        Change::RemoveNetwork(net("br-x", true, false)),
        Change::Unisolate("veth1234567".into()),
        Change::RemoveLinks(vec![link]),
        Change::RemovePorts(vec![host_port, port]),
    ])
    .expect("remove elements");
    let (_, listing) = sh("nft list ruleset");
    assert!(
        !listing.contains("br-x") && !listing.contains("8080") && !listing.contains("veth123"),
        "{listing}"
    );
    // Someone deletes berth's tables: the next change fails as a batch of elements, and the
    // firewall writes everything it holds again, with the change.
    assert!(sh("nft delete table inet berth && nft delete table bridge berth").0);
    fw.change(&[Change::AddNetwork(net("br-y", false, true))])
        .expect("rewritten after the tables were deleted");
    let (_, listing) = sh("nft list ruleset");
    for want in [
        "\"berth0\" . \"berth0\"",
        "\"br-y\" . \"br-y\"",
        "jump user",
    ] {
        assert!(listing.contains(want), "missing {want}: {listing}");
    }
}

#[test]
fn resolver_redirect_over_netlink_lists_as_nft_wrote_it() {
    use berth_net::sys::nftnl::resolver_redirect;
    if !inside_fresh_namespaces("resolver_redirect_over_netlink_lists_as_nft_wrote_it") {
        return;
    }
    let golden = include_str!("testdata/resolver_redirect.nft");
    let addr = std::net::Ipv4Addr::new(127, 0, 0, 11);
    let list = || sh("nft list table ip berth_dns");
    resolver_redirect(addr, 40001, 40002, false).expect("add the redirect");
    let (ok, out) = list();
    assert!(ok, "{out}");
    assert_eq!(out, golden);
    // A daemon that restarts and cannot bind the same ports swaps the table in one go.
    resolver_redirect(addr, 40011, 40012, true).expect("replace the redirect");
    let (_, out) = list();
    assert_eq!(
        out,
        golden.replace("40001", "40011").replace("40002", "40012")
    );
    // Without replace the rules go into the chain that is there (callers use it only in a
    // fresh namespace, where there is none).
    resolver_redirect(addr, 40011, 40012, false).expect("add again");
    let (_, out) = list();
    assert_eq!(out.matches("notrack").count(), 8, "{out}");
}

#[test]
fn a_sandbox_not_yet_stored_when_the_daemon_died_is_cleaned_at_start() {
    use berth_net::sys::{Kernel, VethSpec};
    if !inside_fresh_namespaces("a_sandbox_not_yet_stored_when_the_daemon_died_is_cleaned_at_start")
    {
        return;
    }
    assert!(sh("ip link set lo up").0);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctl = start(dir.path()).await;
        let net = ctl
            .create(net("mynet", "10.125.0.0/24"))
            .await
            .expect("mynet");
        // What create_sandbox_with has made when the daemon dies before its commit: a pinned
        // namespace and a veth from the network's bridge into it, and no record of either.
        drop(ctl);
        let kernel = NetlinkKernel::connect().expect("netlink");
        let pin = dir.path().join("netns").join("0123456789ab");
        kernel.create_netns(&pin, &[]).await.expect("namespace");
        let bridge = net.bridge().expect("bridge").name.clone();
        let master = kernel
            .link_index(&bridge)
            .await
            .expect("lookup")
            .expect("bridge index");
        kernel
            .create_veth(&VethSpec {
                host_name: "vethdeadbee".into(),
                master,
                mtu: 1500,
                peer_name: "eth0".into(),
                peer_mac: [2, 0x42, 10, 125, 0, 2],
                peer_ns: pin.clone(),
            })
            .await
            .expect("veth");
        assert!(sh("ip link show vethdeadbee").0);
        drop(kernel);
        let ctl = start(dir.path()).await;
        assert!(!pin.exists(), "the orphan namespace is unpinned");
        wait_until("the orphan's veth to go with its namespace", || {
            !sh("ip link show vethdeadbee").0
        });
        // Its address was never stored, so it is the next one handed out.
        let (_, ep) = sandbox_on(&ctl, "mynet", "a").await;
        assert_eq!(ep.ipv4.expect("v4").to_string(), "10.125.0.2/24");
    });
}

//! The overlay data path against the real kernel and a real etcd: two namespaces play two hosts
//! joined by an underlay veth, each with its own controller on one etcd; a container on host A
//! pings one on host B across VXLAN, by address and with full-size packets, and the static
//! entries follow the endpoints. The test re-runs itself inside fresh network and mount
//! namespaces, so the hosts, etcd's port and every device die with it.

use berth_cluster::etcd::EtcdStore;
use berth_cluster::store::ClusterStore;
use berth_cluster::{Cluster, NodeRecord};
use berth_net::controller::{CreateNetwork, SubnetRequest};
use berth_net::endpoint::{EndpointOptions, SandboxOptions};
use berth_net::network::new_id;
use berth_net::sys::netlink::NetlinkKernel;
use berth_net::sys::Kernel;
use berth_net::{Controller, ControllerConfig};
use berth_store::Store;
use std::path::Path;
use std::process::{Command, Stdio};
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

fn sh(cmd: &str) -> (bool, String) {
    let out = Command::new("sh").args(["-c", cmd]).output().expect("sh");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn must(cmd: &str) {
    let (ok, out) = sh(cmd);
    assert!(ok, "{cmd}: {out}");
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

/// One etcd member on 127.0.0.1:2379 of the test's namespace, killed when dropped.
struct Etcd {
    _dir: tempfile::TempDir,
    child: std::process::Child,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        // SIGKILL: the data dir is a temp dir, and SIGTERM can take seconds.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn etcd() -> (Etcd, Arc<dyn ClusterStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = Command::new("etcd")
        .arg(format!("--data-dir={}", dir.path().join("d").display()))
        .args([
            "--listen-client-urls=http://127.0.0.1:2379",
            "--advertise-client-urls=http://127.0.0.1:2379",
            "--listen-peer-urls=http://127.0.0.1:2380",
            "--log-level=warn",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start etcd (Debian etcd-server)");
    let e = Etcd { _dir: dir, child };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(s) = EtcdStore::connect_endpoints(&["127.0.0.1:2379".to_string()]).await {
            if s.put("/health", b"1".to_vec(), None).await.is_ok() {
                return (e, Arc::new(s));
            }
        }
        assert!(Instant::now() < deadline, "etcd not healthy in 15 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A host: a namespace on the underlay with address `ip`, its controller joined to the cluster.
async fn host(
    dir: &Path,
    name: &str,
    ip: &str,
    store: Arc<dyn ClusterStore>,
) -> (Arc<Controller>, Arc<NetlinkKernel>) {
    let ns = Path::new("/run/netns").join(name);
    let kernel = Arc::new(NetlinkKernel::connect_in(&ns).expect("netlink in host"));
    let local = Arc::new(Store::open(&dir.join(format!("{name}.db"))).expect("store"));
    let cfg = ControllerConfig {
        // A directory per host: the overlay namespaces are pinned beside `netns_dir`
        // (`ovns/`), as under each daemon's own exec root.
        netns_dir: dir.join(name).join("netns"),
        firewall: false,
        ip_forward: false,
        ..Default::default()
    };
    let ctl = Arc::new(
        Controller::start(
            kernel.clone(),
            Arc::new(berth_net::firewall::Disabled),
            local,
            cfg,
        )
        .await
        .expect("controller"),
    );
    let record = NodeRecord {
        id: name.into(),
        hostname: name.into(),
        advertise: ip.into(),
        started: 0,
    };
    let (cluster, _) = Cluster::join(store, "/berth", record, 15, |_| false)
        .await
        .expect("join cluster");
    ctl.attach_cluster(Arc::new(cluster))
        .await
        .expect("attach cluster");
    (ctl, kernel)
}

fn opts(name: &str) -> EndpointOptions {
    EndpointOptions {
        owner: format!("{name}0123456789abcdef"),
        name: name.into(),
        ..Default::default()
    }
}

#[test]
fn containers_on_two_hosts_ping_across_vxlan() {
    if !inside_fresh_namespaces("containers_on_two_hosts_ping_across_vxlan") {
        return;
    }
    must("ip link set lo up");
    // A tmpfs of this mount namespace's own: the hosts' pins never touch the machine's /run/netns.
    must("mkdir -p /run/netns && mount -t tmpfs berth-test /run/netns");
    must("ip netns add ha && ip netns add hb");
    must("ip link add ua type veth peer name ub && ip link set ua netns ha && ip link set ub netns hb");
    must("ip -n ha addr add 192.168.77.1/24 dev ua && ip -n ha link set ua up && ip -n ha link set lo up");
    must("ip -n hb addr add 192.168.77.2/24 dev ub && ip -n hb link set ub up && ip -n hb link set lo up");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_etcd, store) = etcd().await;
        let (a, _ka) = host(dir.path(), "ha", "192.168.77.1", store.clone()).await;
        let (b, _kb) = host(dir.path(), "hb", "192.168.77.2", store.clone()).await;
        let net = a
            .create(CreateNetwork {
                name: "ov".into(),
                driver: "overlay".into(),
                subnets: vec![SubnetRequest {
                    subnet: "10.0.9.0/24".into(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .await
            .expect("create overlay");
        let vni = &net.options["com.docker.network.driver.overlay.vxlanid_list"];
        // The bridge and VXLAN device live in the network's own namespace on each host.
        let ovns = |h: &str| {
            format!(
                "nsenter --net={}",
                dir.path()
                    .join(h)
                    .join("ovns")
                    .join(&net.id[..12])
                    .display()
            )
        };
        let (ok, out) = sh(&format!("{} ip -d link show type vxlan", ovns("hb")));
        assert!(ok, "{out}");
        let on_b = b.get("ov").await.expect("b has ov");
        assert_eq!(on_b.id, net.id);
        let (_, link) = sh(&format!("{} ip -d link show type vxlan", ovns("hb")));
        assert!(
            link.contains(&format!("id {vni}"))
                && link.contains("local 192.168.77.2")
                && link.contains("dstport 4789")
                && link.contains("nolearning")
                && link.contains("proxy"),
            "{link}"
        );

        let sandbox = |ctl: Arc<Controller>, name: &'static str| async move {
            let (sb, mut eps) = ctl
                .create_sandbox_with(
                    &new_id(),
                    SandboxOptions {
                        dns: Vec::new(),
                        networks: vec![("ov".into(), opts(name))],
                    },
                )
                .await
                .expect("sandbox")
                .durable()
                .await
                .expect("sandbox stored");
            (sb, eps.remove(0))
        };
        let (sa, ea) = sandbox(a.clone(), "web").await;
        let (sb, eb) = sandbox(b.clone(), "db").await;
        let ip_a = ea.ipv4.expect("a has an address").addr();
        let ip_b = eb.ipv4.expect("b has an address").addr();
        assert_ne!(ip_a, ip_b);
        let (_, mtu) = sh(&format!(
            "nsenter --net={} ip -o link show eth0",
            sa.path.display()
        ));
        assert!(mtu.contains("mtu 1450"), "{mtu}");

        // Both hosts programmed the other's endpoint.
        for (h, ip) in [("ha", ip_b), ("hb", ip_a)] {
            eventually(&format!("{h} has a neighbour for {ip}"), || {
                sh(&format!("{} ip neigh show nud permanent", ovns(h)))
                    .1
                    .contains(&ip.to_string())
            })
            .await;
        }
        let (_, fdb) = sh(&format!("{} bridge fdb show", ovns("ha")));
        assert!(fdb.contains("dst 192.168.77.2"), "{fdb}");

        let (ok, out) = sh(&format!(
            "nsenter --net={} busybox ping -c1 -W2 {ip_b}",
            sa.path.display()
        ));
        assert!(ok, "a -> b across vxlan: {out}");
        let (ok, out) = sh(&format!(
            "nsenter --net={} busybox ping -c1 -W2 -s 1400 {ip_a}",
            sb.path.display()
        ));
        assert!(ok, "1400-byte ping b -> a: {out}");

        // The endpoint goes, and so do its entries on the other host.
        a.remove_sandbox(&sa.id).await.expect("remove a");
        eventually("hb forgets web", || {
            !sh(&format!("{} ip neigh show nud permanent", ovns("hb")))
                .1
                .contains(&ip_a.to_string())
        })
        .await;
        let kin =
            NetlinkKernel::connect_in(&dir.path().join("hb").join("ovns").join(&net.id[..12]))
                .expect("netlink in b's overlay namespace");
        let dev = kin
            .link_index(&format!("vx-{}", &net.id[..12]))
            .await
            .expect("lookup")
            .expect("vxlan on b");
        let t = kin.remote_table(dev).await.expect("table");
        assert!(t.fdb.is_empty() && t.neighbours.is_empty(), "{t:?}");
        b.remove_sandbox(&sb.id).await.expect("remove b");
        b.remove("ov").await.expect("rm from b");
        eventually("a drops ov", || {
            !sh(&format!("{} ip link show", ovns("ha")))
                .1
                .contains("vx-")
        })
        .await;
        a.settle().await;
        b.settle().await;
    });
    must("ip netns del ha && ip netns del hb");
}

//! The benchmark's cluster: the underlay bridge and etcd in the benchmark's namespace, one
//! namespace-host with a berthd per node, the busybox image on each, and one overlay network.
//! Dropping it takes the hosts (containers, daemons, namespaces) down before etcd.

use berth_bench::etcd::Etcd;
use berth_bench::nshost::{self, NsHost};
use berth_cluster::store::ClusterStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const NETWORK: &str = "ov";
pub const SUBNET: &str = "10.10.0.0/16";
/// The cluster store's key prefix (berthd's default).
pub const PREFIX: &str = "/berth/";

pub struct OvCluster {
    pub hosts: Vec<NsHost>,
    pub etcd: Etcd,
    pub store: Arc<dyn ClusterStore>,
    pub rt: tokio::runtime::Runtime,
    /// The overlay network's ID.
    pub net_id: String,
    /// Holds etcd's data and the image tarball; goes last.
    _dir: tempfile::TempDir,
}

impl OvCluster {
    pub fn new(n: usize) -> OvCluster {
        nshost::make_underlay();
        let dir = tempfile::Builder::new()
            .prefix("berth-bench-ov-")
            .tempdir()
            .expect("tempdir");
        let etcd = Etcd::start(dir.path(), &nshost::underlay_gateway());
        let rt = berth_bench::runtime();
        let store = rt.block_on(etcd.connect());
        let tar = berth_bench::busybox_tar(dir.path());
        let mut hosts = Vec::new();
        let cluster_args = vec![
            "--cluster-store".to_string(),
            format!("etcd://{}", etcd.endpoint),
        ];
        for i in 0..n {
            let mut h = NsHost::plugged(11 + i as u8);
            let mut args = cluster_args.clone();
            args.extend(["--cluster-advertise".to_string(), h.addr.clone()]);
            h.start_daemon(&args);
            h.import(&tar);
            hosts.push(h);
        }
        let mut c = OvCluster {
            hosts,
            etcd,
            store,
            rt,
            net_id: String::new(),
            _dir: dir,
        };
        c.wait_with(
            "every host to list every node",
            |c| c.hosts.iter().all(|h| nodes(h) == n),
            |c| {
                c.hosts
                    .iter()
                    .enumerate()
                    .map(|(i, h)| format!("host {i} ({}): {}\n", h.addr, cluster_info(h)))
                    .collect()
            },
        );
        c.hosts[0].cli(&[
            "network", "create", "-d", "overlay", "--subnet", SUBNET, NETWORK,
        ]);
        c.wait("every host to have the overlay", |c| {
            c.hosts.iter().all(|h| {
                berth_bench::api(&h.sock, "GET", &format!("/networks/{NETWORK}"), "")
                    .is_ok_and(|(s, _)| s == 200)
            })
        });
        let v: serde_json::Value =
            serde_json::from_str(&c.hosts[0].api_ok("GET", &format!("/networks/{NETWORK}"), ""))
                .expect("network json");
        c.net_id = v["Id"].as_str().expect("network id").to_string();
        c
    }

    /// Polls `cond` every 20 ms for up to 60 s; panics naming `what`, with host 0's log.
    pub fn wait(&self, what: &str, cond: impl FnMut(&OvCluster) -> bool) {
        self.wait_with(what, cond, |c| c.hosts[0].log())
    }

    /// As [`OvCluster::wait`], panicking with what `why` says of the cluster then.
    pub fn wait_with(
        &self,
        what: &str,
        mut cond: impl FnMut(&OvCluster) -> bool,
        why: impl Fn(&OvCluster) -> String,
    ) {
        let t0 = Instant::now();
        while !cond(self) {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}\n{}",
                why(self)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The body of a container create on the overlay, with `ip` if given.
    pub fn create_body(ip: Option<&str>) -> String {
        let ipam = ip.map_or(
            serde_json::Value::Null,
            |ip| serde_json::json!({ "IPv4Address": ip }),
        );
        serde_json::json!({
            "Image": "busybox",
            "Cmd": ["sleep", "100000"],
            "HostConfig": { "NetworkMode": NETWORK },
            "NetworkingConfig": { "EndpointsConfig": { NETWORK: { "IPAMConfig": ipam } } },
        })
        .to_string()
    }

    /// `run -d` through the API on host `i` (create, then start).
    pub fn run(&self, i: usize, name: &str, ip: Option<&str>) {
        let h = &self.hosts[i];
        h.api_ok(
            "POST",
            &format!("/containers/create?name={name}"),
            &Self::create_body(ip),
        );
        h.api_ok("POST", &format!("/containers/{name}/start"), "");
    }

    /// `rm -f` through the API on host `i`.
    pub fn rm(&self, i: usize, name: &str) {
        self.hosts[i].api_ok("DELETE", &format!("/containers/{name}?force=1"), "");
    }
}

/// `/info`'s BerthCluster of `h` as text, or why there is none.
fn cluster_info(h: &NsHost) -> String {
    match berth_bench::api(&h.sock, "GET", "/info", "") {
        Ok((s, b)) => serde_json::from_str::<serde_json::Value>(&b)
            .map(|v| format!("{s} {}", v["BerthCluster"]))
            .unwrap_or_else(|e| format!("{s} not JSON ({e}): {b}")),
        Err(e) => format!("no answer: {e}"),
    }
}

fn nodes(h: &NsHost) -> usize {
    berth_bench::api(&h.sock, "GET", "/info", "")
        .ok()
        .and_then(|(_, b)| serde_json::from_str::<serde_json::Value>(&b).ok())
        .and_then(|v| v["BerthCluster"]["Nodes"].as_array().map(Vec::len))
        .unwrap_or(0)
}

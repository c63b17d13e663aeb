//! A cluster of namespace-hosts on one machine: an underlay namespace holding a bridge, N
//! hosts each with a veth on it (192.168.77.1x/24), one etcd member per host on its underlay
//! address (together one N-member etcd cluster), one berthd per host started with
//! `--cluster-store` (all members) and `--cluster-advertise`, and an "outside" namespace on the
//! underlay (192.168.77.100). Every host is a [`Host`], with its own data root, socket and
//! fake-upstream resolv.conf. Dropping the cluster kills every etcd and daemon and removes the
//! namespaces (and with them every veth and bridge) and the directories.

use super::Host;
use berth_testkit::{etcd, ns};
use std::path::PathBuf;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

pub const UNDERLAY_NET: &str = "192.168.77";
pub const OUTSIDE_ADDR: &str = "192.168.77.100";
const ETCD_CLIENT_PORT: u16 = 2379;
const ETCD_PEER_PORT: u16 = 2380;

/// One etcd member, running in the namespace of the host of the same index.
pub struct EtcdMember {
    pub name: String,
    pub addr: String,
    spec: etcd::Member,
    log: PathBuf,
    child: Option<Child>,
}

impl EtcdMember {
    pub fn client_endpoint(&self) -> String {
        self.spec.client.clone()
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGKILL: etcd can take seconds over SIGTERM, and a test member has nothing to save.
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// What a cluster is built with.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// More berthd arguments for every host (e.g. `--cluster-store-opt discovery.ttl=5`).
    pub daemon_args: Vec<String>,
    /// Import busybox:latest on every host.
    pub busybox: bool,
}

pub struct Cluster {
    pub underlay: Host,
    pub outside: Host,
    pub hosts: Vec<Host>,
    pub etcd: Vec<EtcdMember>,
    /// etcd data and logs.
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// `n` hosts, each with its etcd member and berthd, all listing all `n` nodes.
    pub fn new(n: usize) -> Cluster {
        Cluster::with_options(n, ClusterOptions::default())
    }

    pub fn with_options(n: usize, opts: ClusterOptions) -> Cluster {
        assert!((1..=9).contains(&n), "1 to 9 hosts");
        let underlay = Host::bare();
        underlay.sh("ip link add br0 type bridge && ip link set br0 up");
        let dir = tempfile::Builder::new()
            .prefix("berth-etcd-")
            .tempdir()
            .expect("tempdir");
        let outside = Host::bare();
        let mut c = Cluster {
            underlay,
            outside,
            hosts: Vec::new(),
            etcd: Vec::new(),
            dir,
        };
        c.plug(&c.outside, "uout", OUTSIDE_ADDR);
        for i in 0..n {
            let h = Host::bare();
            let addr = Cluster::addr_of(i);
            c.plug(&h, &format!("u{i}"), &addr);
            c.etcd.push(EtcdMember {
                name: format!("h{i}"),
                spec: etcd::Member {
                    name: format!("h{i}"),
                    data_dir: c.dir.path().join(format!("h{i}")),
                    client: format!("{addr}:{ETCD_CLIENT_PORT}"),
                    peer: format!("{addr}:{ETCD_PEER_PORT}"),
                },
                log: c.dir.path().join(format!("etcd-h{i}.log")),
                addr,
                child: None,
            });
            c.hosts.push(h);
        }
        for m in 0..n {
            c.start_etcd(m);
        }
        let store = format!(
            "etcd://{}",
            c.etcd
                .iter()
                .map(EtcdMember::client_endpoint)
                .collect::<Vec<_>>()
                .join(",")
        );
        for i in 0..n {
            let mut args = vec![
                "--cluster-store".to_string(),
                store.clone(),
                "--cluster-advertise".to_string(),
                Cluster::addr_of(i),
            ];
            args.extend(opts.daemon_args.iter().cloned());
            c.hosts[i].extra_args = args;
            c.hosts[i].start_daemon();
            if opts.busybox {
                c.hosts[i].import_busybox();
            }
        }
        for i in 0..n {
            c.wait_nodes(i, n);
        }
        c
    }

    /// The underlay address of host `i`.
    pub fn addr_of(i: usize) -> String {
        format!("{UNDERLAY_NET}.{}", 11 + i)
    }

    /// A veth from the underlay bridge into `h`, as eth0 with `addr`/24.
    fn plug(&self, h: &Host, underlay_end: &str, addr: &str) {
        self.underlay.sh(&format!(
            "ip link add {underlay_end} type veth peer name eth0 netns {pid} && \
             ip link set {underlay_end} master br0 up",
            pid = h.pid()
        ));
        h.sh(&format!(
            "ip addr add {addr}/24 dev eth0 && ip link set eth0 up"
        ));
    }

    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    pub fn host_mut(&mut self, i: usize) -> &mut Host {
        &mut self.hosts[i]
    }

    pub fn berth(&self, i: usize, args: &[&str]) -> Output {
        self.hosts[i].berth(args)
    }

    pub fn api(
        &self,
        i: usize,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        self.hosts[i].api(method, path, body)
    }

    /// A field of container `name`'s endpoint on network `net`, as host `i` inspects it ("" when
    /// it is not there).
    pub fn endpoint_field(&self, i: usize, name: &str, net: &str, field: &str) -> String {
        let (_, v) = self.api(i, "GET", &format!("/containers/{name}/json"), None);
        v["NetworkSettings"]["Networks"][net][field]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Container `name`'s IPv4 address on network `net`, as host `i` inspects it.
    pub fn ip_on(&self, i: usize, name: &str, net: &str) -> String {
        self.endpoint_field(i, name, net, "IPAddress")
    }

    /// Container `name`'s MAC address on network `net`, as host `i` inspects it.
    pub fn mac_on(&self, i: usize, name: &str, net: &str) -> String {
        self.endpoint_field(i, name, net, "MacAddress")
    }

    /// Network `net`'s ID as host `i` knows it; panics unless host `i` has it.
    pub fn network_id(&self, i: usize, net: &str) -> String {
        let (status, v) = self.api(i, "GET", &format!("/networks/{net}"), None);
        assert_eq!(status, 200, "{v}");
        v["Id"].as_str().unwrap_or_default().to_string()
    }

    /// Runs a shell command in host `i`'s namespaces; panics on failure.
    pub fn sh(&self, i: usize, cmd: &str) -> String {
        self.hosts[i].sh(cmd)
    }

    /// SIGKILL of host `i`'s berthd: a crash (its containers keep running).
    pub fn kill_daemon(&mut self, i: usize) {
        self.hosts[i].kill_daemon();
    }

    /// SIGTERM of host `i`'s berthd, waiting for its clean exit.
    pub fn stop_daemon(&mut self, i: usize) {
        self.hosts[i].stop_daemon();
    }

    pub fn start_daemon(&mut self, i: usize) {
        self.hosts[i].start_daemon();
    }

    /// Starts etcd member `m` in host `m`'s namespace (again, after `stop_etcd`: same data).
    pub fn start_etcd(&mut self, m: usize) {
        assert!(!self.etcd[m].running(), "etcd member {m} already runs");
        let cluster: Vec<etcd::Member> = self.etcd.iter().map(|e| e.spec.clone()).collect();
        let e = &self.etcd[m];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&e.log)
            .expect("etcd log");
        let mut cmd = e.spec.command(&cluster);
        cmd.stdout(log.try_clone().expect("dup log")).stderr(log);
        ns::enter_on_exec(&mut cmd, self.hosts[m].pid(), ns::Enter::Net).expect("host netns");
        let child = cmd.spawn().expect(etcd::MISSING);
        self.etcd[m].child = Some(child);
    }

    /// SIGKILL of etcd member `m`.
    pub fn stop_etcd(&mut self, m: usize) {
        self.etcd[m].kill();
    }

    /// `GET /info` of host `i`.
    pub fn info(&self, i: usize) -> serde_json::Value {
        let (status, v) = self.api(i, "GET", "/info", None);
        assert_eq!(status, 200, "{v}");
        v
    }

    /// The node IDs host `i`'s `/info` lists (empty while its store is unavailable).
    pub fn node_ids(&self, i: usize) -> Vec<String> {
        node_ids(&self.hosts[i])
    }

    /// Host `i`'s daemon ID (its node ID in the cluster).
    pub fn daemon_id(&self, i: usize) -> String {
        self.info(i)["ID"].as_str().unwrap_or_default().to_string()
    }

    /// Waits until host `i` lists `n` nodes; panics with the logs after 60 s.
    pub fn wait_nodes(&self, i: usize, n: usize) {
        self.wait(&format!("host {i} to list {n} nodes"), || {
            self.node_ids(i).len() == n
        });
    }

    /// Polls `cond` every 100 ms; after 60 s panics naming `what`, with every log attached.
    pub fn wait(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if cond() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}\n{}", self.logs());
    }

    /// Every daemon's and etcd member's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (i, h) in self.hosts.iter().enumerate() {
            out.push_str(&format!("--- berthd {i}\n{}\n", h.log()));
        }
        for e in &self.etcd {
            out.push_str(&format!("--- etcd {}\n{}\n", e.name, e.log()));
        }
        out
    }
}

impl Cluster {
    /// Every key under berth's prefix in etcd, with its value, as a running member answers
    /// (through etcd's JSON gateway, from that member's namespace). A member just started may
    /// not listen or have a leader yet: the next one is asked, for up to 60 s.
    pub fn etcd_keys(&self) -> std::collections::BTreeMap<String, String> {
        // The range "/berth/" up to "/berth0", base64 as the gateway wants it.
        let body = r#"{"key":"L2JlcnRoLw==","range_end":"L2JlcnRoMA=="}"#;
        let mut answer = None;
        self.wait("an etcd member to list the keys", || {
            for (m, e) in self.etcd.iter().enumerate().filter(|(_, e)| e.running()) {
                let out = self.hosts[m].sh_out(&format!(
                    "curl -sS --max-time 5 -X POST http://{}/v3/kv/range -d '{body}'",
                    e.client_endpoint()
                ));
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
                if out.status.success() && v["header"]["revision"].is_string() {
                    answer = Some(v);
                    return true;
                }
            }
            false
        });
        let v = answer.unwrap_or_default();
        v["kvs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|kv| {
                let field = |f: &str| {
                    String::from_utf8_lossy(&base64_decode(kv[f].as_str().unwrap_or_default()))
                        .into_owned()
                };
                (field("key"), field("value"))
            })
            .collect()
    }

    /// The command prefix that runs a command inside host `i`'s namespace of overlay network
    /// `network_id`, where its bridge and VXLAN device are (berthd pins it below its exec root).
    pub fn in_ovns(&self, i: usize, network_id: &str) -> String {
        let path = self.hosts[i]
            .dir
            .path()
            .join("run")
            .join("ovns")
            .join(&network_id[..12]);
        format!("nsenter --net={}", path.display())
    }

    /// The permanent FDB entries (`MAC dst ADDR`) and neighbours (`IP MAC`) of a global
    /// network's VXLAN device on host `i`, sorted; empty when the device is not there.
    pub fn vxlan_entries(&self, i: usize, network_id: &str) -> (Vec<String>, Vec<String>) {
        let dev = format!("vx-{}", &network_id[..12]);
        let ns = self.in_ovns(i, network_id);
        let fdb = self.hosts[i].sh_out(&format!("{ns} bridge -j fdb show dev {dev}"));
        let neigh = self.hosts[i].sh_out(&format!("{ns} ip -j neigh show dev {dev} nud permanent"));
        let parse = |o: &Output| -> Vec<serde_json::Value> {
            serde_json::from_slice(&o.stdout).unwrap_or_default()
        };
        let mut f: Vec<String> = parse(&fdb)
            .iter()
            .filter(|e| e["dst"].is_string())
            .map(|e| {
                format!(
                    "{} dst {}",
                    e["mac"].as_str().unwrap_or(""),
                    e["dst"].as_str().unwrap_or("")
                )
            })
            .collect();
        let mut n: Vec<String> = parse(&neigh)
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["dst"].as_str().unwrap_or(""),
                    e["lladdr"].as_str().unwrap_or("")
                )
            })
            .collect();
        f.sort();
        n.sort();
        (f, n)
    }

    /// Host `i` dies: its berthd is killed (-9) and its containers with it.
    pub fn kill_host(&mut self, i: usize) {
        self.hosts[i].kill_daemon();
        self.hosts[i].force_delete_containers();
    }
}

/// Standard base64 (with padding), as etcd's gateway encodes keys and values.
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let digits: Vec<u32> = s.bytes().filter_map(val).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().fold(0u32, |acc, d| (acc << 6) | d) << (6 * (4 - chunk.len()));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// The node IDs a host's `/info` lists, sorted (empty while its store is unavailable).
pub fn node_ids(h: &Host) -> Vec<String> {
    let (status, v) = h.api("GET", "/info", None);
    assert_eq!(status, 200, "{v}");
    let mut ids: Vec<String> = v["BerthCluster"]["Nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["ID"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The daemons go first (each Host's drop removes its containers and kills berthd), then
        // etcd, then the namespaces: the underlay's bridge and every veth die with them.
        self.hosts.clear();
        for e in &mut self.etcd {
            e.kill();
        }
    }
}

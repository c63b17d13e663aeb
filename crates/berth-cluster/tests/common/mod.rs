//! Real etcd for the integration tests: each test runs on a thread of its own in a fresh network
//! namespace (so fixed ports are free and nothing leaves loopback of that namespace), with its
//! own members in a temp data dir, killed with SIGKILL at the end (SIGTERM can hang ~7 s).

#![allow(dead_code)]

use std::future::Future;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_cluster::etcd::EtcdStore;
use berth_cluster::store::{ClusterStore, KeyRange};
use berth_testkit::etcd;

/// Runs `f` on a new thread that has left for a fresh network namespace with loopback up.
/// Processes started from that thread (etcd) live in the namespace too.
pub fn in_netns<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let t = std::thread::spawn(move || {
        // SAFETY: unshare only changes the calling thread's namespaces.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            panic!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error());
        }
        let st = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("run ip");
        assert!(st.success(), "ip link set lo up");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(f());
    });
    if let Err(p) = t.join() {
        std::panic::resume_unwind(p);
    }
}

pub struct Member {
    pub name: String,
    pub client_port: u16,
    child: Option<Child>,
}

pub struct Etcd {
    pub dir: tempfile::TempDir,
    pub members: Vec<Member>,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.kill();
        }
    }
}

impl Member {
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }
}

impl Etcd {
    /// `n` members on 127.0.0.1 of the current namespace, healthy before this returns.
    pub async fn start(n: usize) -> Etcd {
        let dir = tempfile::tempdir().expect("tempdir");
        let specs: Vec<etcd::Member> = (0..n)
            .map(|i| etcd::Member {
                name: format!("m{i}"),
                data_dir: dir.path().join(format!("m{i}")),
                client: format!("127.0.0.1:{}", 2379 + 10 * i as u16),
                peer: format!("127.0.0.1:{}", 2380 + 10 * i as u16),
            })
            .collect();
        let mut members = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let log =
                std::fs::File::create(dir.path().join(format!("{}.log", spec.name))).expect("log");
            let child = spec
                .command(&specs)
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect(etcd::MISSING);
            members.push(Member {
                name: spec.name.clone(),
                client_port: 2379 + 10 * i as u16,
                child: Some(child),
            });
        }
        let etcd = Etcd { dir, members };
        etcd.wait_healthy().await;
        etcd
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::endpoint).collect()
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        for m in &self.members {
            loop {
                let ok = match EtcdStore::connect_endpoints(&[m.endpoint()]).await {
                    Ok(s) => s.put("/health", b"1".to_vec(), None).await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    break;
                }
                if Instant::now() > deadline {
                    let log =
                        std::fs::read_to_string(self.dir.path().join(format!("{}.log", m.name)))
                            .unwrap_or_default();
                    panic!("etcd member {} not healthy in 15 s:\n{log}", m.name);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// The index of the member that leads now.
    pub async fn leader(&self) -> usize {
        for (i, m) in self.members.iter().enumerate() {
            let url = format!("http://{}", m.endpoint());
            let Ok(mut c) = etcd_client::Client::connect([url], None).await else {
                continue;
            };
            if let Ok(st) = c.status().await {
                if st.header().map(|h| h.member_id()) == Some(st.leader()) {
                    return i;
                }
            }
        }
        panic!("no etcd member says it leads");
    }

    pub async fn client(&self) -> Arc<dyn ClusterStore> {
        Arc::new(
            EtcdStore::connect_endpoints(&self.endpoints())
                .await
                .expect("connect"),
        )
    }
}

/// Polls `f` until it is true; panics after `secs`.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn count(store: &dyn ClusterStore, prefix: &str) -> usize {
    store
        .get_keys(KeyRange::Prefix(prefix.into()))
        .await
        .map(|r| r.kvs.len())
        .unwrap_or(usize::MAX)
}

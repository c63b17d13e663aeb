//! One etcd member (Debian etcd-server) for the cluster benchmarks, and a client of it once it
//! answers. The member dies with the guard.

use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_cluster::etcd::EtcdStore;
use berth_cluster::store::{ClusterStore, KeyRange};

/// The running member; dropping it kills it.
pub struct Etcd {
    child: Child,
    /// `IP:2379`, what clients connect to.
    pub endpoint: String,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        // SIGKILL: etcd's SIGTERM path can take seconds, and a benchmark's data is thrown away.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Etcd {
    /// A one-member cluster listening on `ip` (clients 2379, peers 2380) in the caller's
    /// network namespace, its data and log under `dir`.
    pub fn start(dir: &Path, ip: &str) -> Etcd {
        let log = std::fs::File::create(dir.join("etcd.log")).expect("etcd log");
        let me = berth_testkit::etcd::Member {
            name: "default".into(),
            data_dir: dir.join("etcd-data"),
            client: format!("{ip}:2379"),
            peer: format!("{ip}:2380"),
        };
        let child = me
            .command(std::slice::from_ref(&me))
            .stdout(log.try_clone().expect("etcd log"))
            .stderr(log)
            .spawn()
            .expect(berth_testkit::etcd::MISSING);
        Etcd {
            child,
            endpoint: format!("{ip}:2379"),
        }
    }

    /// A client of this member, once it answers reads (up to 15 s).
    pub async fn connect(&self) -> Arc<dyn ClusterStore> {
        let eps = vec![self.endpoint.clone()];
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(s) = EtcdStore::connect_endpoints(&eps).await {
                if s.get(KeyRange::Key("/x".into())).await.is_ok() {
                    return Arc::new(s);
                }
            }
            assert!(Instant::now() < deadline, "etcd did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

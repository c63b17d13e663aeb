//! etcd members (Debian's etcd-server) for tests and benchmarks: the command line of one
//! member of a new cluster, with the short heartbeat and election timeout a throwaway cluster
//! on one machine wants. Callers choose where it runs, where it logs and how it dies.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// One member: its name, data directory and the `IP:port` pairs it serves.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub data_dir: PathBuf,
    /// `IP:port` clients connect to.
    pub client: String,
    /// `IP:port` the other members connect to.
    pub peer: String,
}

impl Member {
    pub fn peer_url(&self) -> String {
        format!("http://{}", self.peer)
    }

    pub fn client_url(&self) -> String {
        format!("http://{}", self.client)
    }

    /// `etcd` with this member's flags, as one of `cluster` (all members, this one included),
    /// stdin closed. Running it again on the same data directory rejoins with the same data.
    pub fn command(&self, cluster: &[Member]) -> Command {
        let initial = cluster
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        let mut cmd = Command::new("etcd");
        cmd.arg(format!("--name={}", self.name))
            .arg(format!("--data-dir={}", self.data_dir.display()))
            .arg(format!("--listen-client-urls={}", self.client_url()))
            .arg(format!("--advertise-client-urls={}", self.client_url()))
            .arg(format!("--listen-peer-urls={}", self.peer_url()))
            .arg(format!("--initial-advertise-peer-urls={}", self.peer_url()))
            .arg(format!("--initial-cluster={initial}"))
            .args([
                "--initial-cluster-state=new",
                "--initial-cluster-token=berth-test",
                "--heartbeat-interval=50",
                "--election-timeout=500",
                "--logger=zap",
                "--log-level=warn",
            ])
            .stdin(Stdio::null());
        cmd
    }
}

/// What to say when `etcd` cannot be started.
pub const MISSING: &str = "start etcd (Debian etcd-server; scripts/install-deps.sh)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_names_every_peer_and_its_own_urls() {
        let m = |i: u8| Member {
            name: format!("h{i}"),
            data_dir: PathBuf::from(format!("/d/h{i}")),
            client: format!("10.0.0.{i}:2379"),
            peer: format!("10.0.0.{i}:2380"),
        };
        let all = [m(1), m(2)];
        let cmd = all[1].command(&all);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"--name=h2".to_string()), "{args:?}");
        assert!(
            args.contains(&"--listen-client-urls=http://10.0.0.2:2379".to_string()),
            "{args:?}"
        );
        assert!(
            args.contains(
                &"--initial-cluster=h1=http://10.0.0.1:2380,h2=http://10.0.0.2:2380".to_string()
            ),
            "{args:?}"
        );
    }
}

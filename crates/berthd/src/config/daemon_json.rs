//! daemon.json: the keys berth acts on, the keys dockerd knows that berth accepts and ignores
//! (so a Docker user's existing file starts berthd), and everything else refused by name.

use super::ConfigError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file's settings that berth acts on.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DaemonJson {
    pub bip: Option<String>,
    pub default_address_pools: Option<Vec<PoolJson>>,
    pub dns: Option<Vec<String>>,
    pub iptables: Option<bool>,
    pub icc: Option<bool>,
    pub ip_forward: Option<bool>,
    pub hosts: Option<Vec<String>>,
    pub data_root: Option<PathBuf>,
    pub exec_root: Option<PathBuf>,
    pub log_level: Option<String>,
    pub mtu: Option<u32>,
    pub default_runtime: Option<String>,
    pub runtimes: Option<serde_json::Map<String, serde_json::Value>>,
    pub cgroup_parent: Option<String>,
    pub tls: Option<bool>,
    pub tlsverify: Option<bool>,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
    pub group: Option<String>,
    pub cluster_store: Option<String>,
    pub cluster_advertise: Option<String>,
    pub cluster_store_opts: Option<std::collections::BTreeMap<String, String>>,
    pub insecure_registries: Option<Vec<String>>,
    pub registry_mirrors: Option<Vec<String>>,
    /// dockerd keys present in the file that berth does not act on, for one warning at start.
    #[serde(skip)]
    pub ignored: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolJson {
    pub base: String,
    pub size: u8,
}

/// The keys of [`DaemonJson`], as the file spells them.
const BERTH_KEYS: &[&str] = &[
    "bip",
    "default-address-pools",
    "dns",
    "iptables",
    "icc",
    "ip-forward",
    "hosts",
    "data-root",
    "exec-root",
    "log-level",
    "mtu",
    "default-runtime",
    "runtimes",
    "cgroup-parent",
    "tls",
    "tlsverify",
    "tlscacert",
    "tlscert",
    "tlskey",
    "group",
    "cluster-store",
    "cluster-advertise",
    "cluster-store-opts",
    "insecure-registries",
    "registry-mirrors",
];

/// Keys dockerd 20.10 accepts in daemon.json (its configuration's JSON names) that berth has no
/// use for: logs are berth's own, there is no swarm.
const DOCKERD_ONLY_KEYS: &[&str] = &[
    "allow-nondistributable-artifacts",
    "api-cors-header",
    "authorization-plugins",
    "bridge",
    "builder",
    "containerd",
    "containerd-namespace",
    "containerd-plugins-namespace",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "cri-containerd",
    "debug",
    "default-cgroupns-mode",
    "default-gateway",
    "default-gateway-v6",
    "default-ipc-mode",
    "default-shm-size",
    "default-ulimits",
    "dns-opts",
    "dns-search",
    "exec-opts",
    "experimental",
    "features",
    "fixed-cidr",
    "fixed-cidr-v6",
    "graph",
    "host-gateway-ip",
    "init",
    "init-path",
    "ip",
    "ip-masq",
    "ip6tables",
    "ipv6",
    "labels",
    "live-restore",
    "log-driver",
    "log-opts",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "max-download-attempts",
    "metrics-addr",
    "network-control-plane-mtu",
    "network-diagnostic-port",
    "no-new-privileges",
    "node-generic-resources",
    "oom-score-adjust",
    "pidfile",
    "raw-logs",
    "rootless",
    "seccomp-profile",
    "selinux-enabled",
    "shutdown-timeout",
    "storage-driver",
    "storage-opts",
    "swarm-default-advertise-addr",
    "userland-proxy",
    "userland-proxy-path",
    "userns-remap",
];

/// Reads a daemon.json; a missing file is empty unless it was named on the command line.
pub fn read_file(path: &Path, must_exist: bool) -> Result<DaemonJson, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
            return Ok(DaemonJson::default())
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    parse(path, &text)
}

fn parse(path: &Path, text: &str) -> Result<DaemonJson, ConfigError> {
    let perr = |message: String| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    };
    if text.trim().is_empty() {
        return Ok(DaemonJson::default());
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| perr(e.to_string()))?;
    let serde_json::Value::Object(mut map) = value else {
        return Err(perr("expected a JSON object".into()));
    };
    let unknown: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !BERTH_KEYS.contains(k) && !DOCKERD_ONLY_KEYS.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(perr(format!(
            "the following directives don't match any configuration option: {}",
            unknown.join(", ")
        )));
    }
    let mut ignored = Vec::new();
    map.retain(|k, _| {
        if DOCKERD_ONLY_KEYS.contains(&k.as_str()) {
            ignored.push(k.clone());
            false
        } else {
            true
        }
    });
    let mut out: DaemonJson = serde_path_to_error::deserialize(serde_json::Value::Object(map))
        .map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner().to_string();
            perr(if key == "." {
                inner
            } else {
                format!("key \"{key}\": {inner}")
            })
        })?;
    out.ignored = ignored;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tutorials_file_is_accepted_and_its_mirrors_read() {
        let f = parse(
            Path::new("d.json"),
            r#"{"registry-mirrors": ["https://x"], "bip": "192.168.88.8/24", "log-driver": "json-file"}"#,
        )
        .unwrap();
        assert_eq!(f.bip.as_deref(), Some("192.168.88.8/24"));
        assert_eq!(f.registry_mirrors, Some(vec!["https://x".to_string()]));
        assert_eq!(f.ignored, vec!["log-driver"]);
    }

    #[test]
    fn unknown_keys_stop_the_start_by_name() {
        let e = parse(
            Path::new("d.json"),
            r#"{"bip":"10.0.0.1/24","nosuch-key":1}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("don't match any configuration option: nosuch-key"),
            "{e}"
        );
        let e = parse(Path::new("d.json"), "[1]").unwrap_err().to_string();
        assert!(e.contains("d.json") && e.contains("object"), "{e}");
        let e = parse(
            Path::new("d.json"),
            r#"{"cluster-store-opts":{"kv.path":1}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cluster-store-opts"), "{e}");
        let e = parse(Path::new("d.json"), r#"{"tlsverify":"yes"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("tlsverify"), "{e}");
    }
}

//! `--cluster-store`, `--cluster-advertise`, `--cluster-store-opt` and their daemon.json keys,
//! merged and handed to berth-cluster's parser (which knows what the values mean).

use super::daemon_json::DaemonJson;
use super::{Args, ConfigError};
use berth_cluster::config::split_opts;
use berth_cluster::{ClusterArgs, ClusterConfig, LocalInterfaces};

/// A daemon that is a member of a cluster: what it was given and what that means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `--cluster-store` as given (Docker's `/info` shows it so).
    pub store_url: String,
    pub config: ClusterConfig,
}

/// The cluster settings and the warnings to log at start (Docker warns, not fails, on those).
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub settings: Option<ClusterSettings>,
    pub warnings: Vec<String>,
}

/// The cluster keys given both as a flag and in daemon.json (named as dockerd names them).
pub fn both(args: &Args, file: &DaemonJson) -> Vec<&'static str> {
    let mut out = Vec::new();
    if args.cluster_store.is_some() && file.cluster_store.is_some() {
        out.push("cluster-store");
    }
    if args.cluster_advertise.is_some() && file.cluster_advertise.is_some() {
        out.push("cluster-advertise");
    }
    if !args.cluster_store_opts.is_empty() && file.cluster_store_opts.is_some() {
        out.push("cluster-store-opt");
    }
    out
}

/// Merges flags and file (conflicts already refused) and parses them against this namespace's
/// interfaces.
pub fn resolve(args: &Args, file: &DaemonJson) -> Result<Resolved, ConfigError> {
    let local = LocalInterfaces::from_system()
        .map_err(|e| ConfigError::Invalid(format!("cannot list the local interfaces: {e}")))?;
    resolve_with(args, file, &local)
}

pub fn resolve_with(
    args: &Args,
    file: &DaemonJson,
    local: &LocalInterfaces,
) -> Result<Resolved, ConfigError> {
    let invalid = |e: berth_cluster::ConfigError| ConfigError::Invalid(e.to_string());
    let opts = if !args.cluster_store_opts.is_empty() {
        let mut all = Vec::new();
        for o in &args.cluster_store_opts {
            all.extend(split_opts(o).map_err(invalid)?);
        }
        all
    } else {
        file.cluster_store_opts
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let cargs = ClusterArgs {
        store: args
            .cluster_store
            .clone()
            .or_else(|| file.cluster_store.clone()),
        advertise: args
            .cluster_advertise
            .clone()
            .or_else(|| file.cluster_advertise.clone()),
        opts,
    };
    let parsed = ClusterConfig::parse(&cargs, local).map_err(invalid)?;
    let Some(config) = parsed.config else {
        return Ok(Resolved::default());
    };
    if let Some(tls) = &config.tls {
        for (opt, path) in [
            ("kv.cacertfile", &tls.ca_cert),
            ("kv.certfile", &tls.cert),
            ("kv.keyfile", &tls.key),
        ] {
            if let Some(p) = path {
                std::fs::metadata(p).map_err(|e| {
                    ConfigError::Invalid(format!(
                        "invalid --cluster-store-opt {opt}={}: {e}",
                        p.display()
                    ))
                })?;
            }
        }
    }
    Ok(Resolved {
        settings: Some(ClusterSettings {
            store_url: cargs.store.unwrap_or_default().trim().to_string(),
            config,
        }),
        warnings: parsed.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn local() -> LocalInterfaces {
        LocalInterfaces {
            addrs: vec![
                ("lo".into(), IpAddr::from([127, 0, 0, 1])),
                ("eth0".into(), IpAddr::from([192, 168, 77, 11])),
            ],
        }
    }

    fn flags(store: Option<&str>, adv: Option<&str>, opts: &[&str]) -> Args {
        Args {
            cluster_store: store.map(str::to_string),
            cluster_advertise: adv.map(str::to_string),
            cluster_store_opts: opts.iter().map(|s| s.to_string()).collect(),
            ..Args::default()
        }
    }

    #[test]
    fn no_store_is_a_single_host() {
        let r = resolve_with(&Args::default(), &DaemonJson::default(), &local()).unwrap();
        assert!(r.settings.is_none() && r.warnings.is_empty());
    }

    #[test]
    fn flags_give_members_advertise_and_opts() {
        let a = flags(
            Some("etcd://192.168.77.11:2379,192.168.77.12:2379"),
            Some("eth0:2376"),
            &["discovery.ttl=20", "kv.path=/c1"],
        );
        let r = resolve_with(&a, &DaemonJson::default(), &local()).unwrap();
        let s = r.settings.unwrap();
        assert_eq!(s.store_url, "etcd://192.168.77.11:2379,192.168.77.12:2379");
        assert_eq!(s.config.endpoints.len(), 2);
        assert_eq!(s.config.ttl_secs, 20);
        assert_eq!(s.config.prefix, "/c1");
        assert_eq!(
            s.config.advertise.unwrap().to_string(),
            "192.168.77.11:2376"
        );
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn a_foreign_advertise_address_is_a_warning() {
        let a = flags(Some("etcd://10.0.0.1:2379"), Some("10.9.9.9"), &[]);
        let r = resolve_with(&a, &DaemonJson::default(), &local()).unwrap();
        assert!(r.settings.is_some());
        assert!(
            r.warnings.iter().any(|w| w.contains("10.9.9.9")),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn consul_and_zk_are_refused_naming_etcd() {
        for url in ["consul://10.0.0.1:8500", "zk://10.0.0.1:2181"] {
            let e = resolve_with(
                &flags(Some(url), None, &[]),
                &DaemonJson::default(),
                &local(),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(url) && e.contains("etcd://"), "{e}");
        }
    }

    #[test]
    fn advertise_or_opts_without_store_are_refused() {
        let e = resolve_with(
            &flags(None, Some("eth0"), &[]),
            &DaemonJson::default(),
            &local(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--cluster-store"), "{e}");
        let e = resolve_with(
            &flags(None, None, &["discovery.ttl=20"]),
            &DaemonJson::default(),
            &local(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--cluster-store"), "{e}");
    }

    #[test]
    fn tls_files_must_exist() {
        let a = flags(
            Some("etcd://10.0.0.1:2379"),
            Some("eth0"),
            &["kv.cacertfile=/nonexistent/ca.pem"],
        );
        let e = resolve_with(&a, &DaemonJson::default(), &local())
            .unwrap_err()
            .to_string();
        assert!(e.contains("kv.cacertfile=/nonexistent/ca.pem"), "{e}");
    }
}

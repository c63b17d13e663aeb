//! Daemon configuration: command-line flags and daemon.json, merged as Docker merges them
//! (a setting given both ways is an error; an unknown or malformed key is an error naming it).

use berth_net::ipam::PoolSpec;
use berth_net::ControllerConfig;
use clap::Parser;
use ipnet::IpNet;
use std::path::{Path, PathBuf};

mod cluster;
mod daemon_json;
mod hosts;
mod registry;

pub use cluster::ClusterSettings;

use daemon_json::read_file;
pub use hosts::Listen;

pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

/// berthd: Docker-compatible container networking daemon.
#[derive(Debug, Parser, Default)]
#[command(name = "berthd", version, about)]
pub struct Args {
    /// Daemon socket(s) to listen on: unix:///path or tcp://host:port (repeatable).
    #[arg(short = 'H', long = "host", value_name = "URL")]
    pub hosts: Vec<String>,
    /// Root of persistent state.
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Root of runtime state (sockets, namespaces).
    #[arg(long, value_name = "DIR")]
    pub exec_root: Option<PathBuf>,
    /// daemon.json to read.
    #[arg(long, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Address and prefix of the default bridge, e.g. 172.17.0.1/16.
    #[arg(long, value_name = "CIDR")]
    pub bip: Option<String>,
    /// Default address pool for new networks: base=CIDR,size=N (repeatable).
    #[arg(long = "default-address-pool", value_name = "base=CIDR,size=N")]
    pub default_address_pools: Vec<String>,
    /// Log level: debug, info, warn, error, fatal.
    #[arg(short = 'l', long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Whether berth manages the firewall (`--iptables=false` leaves it alone entirely).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub iptables: Option<bool>,
    /// Whether containers on the default bridge may talk to each other (`--icc=false`: only
    /// what `--link` opens).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub icc: Option<bool>,
    /// The cgroup every container's cgroups go under (default /berth).
    #[arg(long, value_name = "PATH")]
    pub cgroup_parent: Option<String>,
    /// Serve TCP listeners over TLS (`--tls=false`: plain TCP on a non-loopback address,
    /// accepting that anyone who reaches it controls berthd).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls: Option<bool>,
    /// Serve TLS and require a client certificate signed by --tlscacert (implies --tls).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tlsverify: Option<bool>,
    /// CA that client certificates must be signed by (default: CERT_DIR/ca.pem).
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// The server's certificate chain (default: CERT_DIR/cert.pem).
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// The server's private key (default: CERT_DIR/key.pem).
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
    /// Group that owns the unix socket (name or GID; default `berth` when that group exists).
    #[arg(short = 'G', long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Check the configuration (flags, daemon.json, certificates) and exit.
    #[arg(long)]
    pub validate: bool,
    /// The etcd cluster store that makes this daemon a member of a cluster (overlay
    /// networks): etcd://HOST:PORT[,HOST:PORT...][/PREFIX].
    #[arg(long, value_name = "URL")]
    pub cluster_store: Option<String>,
    /// The address other members reach this one at: IP or interface, with an optional port.
    #[arg(long, value_name = "IP|IFACE[:PORT]")]
    pub cluster_advertise: Option<String>,
    /// Cluster store options: kv.cacertfile, kv.certfile, kv.keyfile (TLS to etcd), kv.path,
    /// discovery.ttl (repeatable; KEY=VALUE[,KEY=VALUE...]).
    #[arg(long = "cluster-store-opt", value_name = "KEY=VALUE")]
    pub cluster_store_opts: Vec<String>,
    /// A registry pulled from over HTTPS without verification or plain HTTP: HOST[:PORT] or
    /// a CIDR (repeatable; loopback always is).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]|CIDR")]
    pub insecure_registries: Vec<String>,
    /// A mirror Docker Hub names are pulled from: http[s]://HOST[:PORT] (repeatable).
    #[arg(long = "registry-mirror", value_name = "URL")]
    pub registry_mirrors: Vec<String>,
}

/// The certificates of TCP listeners, when they serve TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Clients must present a certificate signed by `ca`.
    pub verify: bool,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Where certificates are looked for when no flag names them: `BERTH_CERT_PATH`, then
/// `DOCKER_CERT_PATH`, then berth's configuration directory.
fn cert_dir() -> PathBuf {
    ["BERTH_CERT_PATH", "DOCKER_CERT_PATH"]
        .iter()
        .filter_map(std::env::var_os)
        .find(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/berth"))
}

/// Everything the daemon needs, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Vec<Listen>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub log_level: String,
    pub dns: Vec<String>,
    pub iptables: bool,
    pub net: ControllerConfig,
    /// The OCI runtime binary (daemon.json `default-runtime` / `runtimes`), and its name.
    pub runtime: (String, PathBuf),
    /// Absolute cgroup path that containers' cgroups go under (`cgroup-parent`).
    pub cgroup_parent: String,
    /// TLS for every TCP listener, or none.
    pub tls: Option<TlsSettings>,
    /// The unix sockets' group, as given (`-G`/`group`); None means `berth` if it exists.
    pub group: Option<String>,
    /// dockerd keys in daemon.json that berth accepts without acting on them.
    pub ignored_keys: Vec<String>,
    /// The cluster this daemon is a member of, if any.
    pub cluster: Option<ClusterSettings>,
    /// What the cluster options' check warns about (logged at start, printed by --validate).
    pub cluster_warnings: Vec<String>,
    /// Where pulls may go: `insecure-registries` and `registry-mirrors`.
    pub registry: berth_image::registry::RegistryOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error(
        "the following directives are specified both as a flag and in the configuration file: {0}"
    )]
    Both(String),
    #[error("{0}")]
    Invalid(String),
}

fn parse_bip(text: &str) -> Result<IpNet, ConfigError> {
    let net: IpNet = text.parse().map_err(|_| {
        ConfigError::Invalid(format!(
            "invalid bip {text}: expected the bridge's address and prefix, e.g. 172.17.0.1/16"
        ))
    })?;
    if !net.addr().is_ipv4() || net.prefix_len() > 30 {
        return Err(ConfigError::Invalid(format!(
            "invalid bip {text}: must be an IPv4 address with a prefix of /30 or shorter"
        )));
    }
    if net.addr() == net.network() {
        // A network address was given: use its first host, as the gateway of any subnet.
        let gw = berth_net::ipam::SubnetPool::first_host(&net);
        return IpNet::new(gw, net.prefix_len())
            .map_err(|e| ConfigError::Invalid(format!("invalid bip {text}: {e}")));
    }
    Ok(net)
}

/// Resolves flags plus the configuration file into a [`Config`].
pub fn load(args: &Args) -> Result<Config, ConfigError> {
    let file = match &args.config_file {
        Some(p) => read_file(p, true)?,
        None => read_file(Path::new(DEFAULT_CONFIG_FILE), false)?,
    };
    let mut both = Vec::new();
    if !args.hosts.is_empty() && file.hosts.is_some() {
        both.push("hosts");
    }
    if args.bip.is_some() && file.bip.is_some() {
        both.push("bip");
    }
    if args.data_root.is_some() && file.data_root.is_some() {
        both.push("data-root");
    }
    if args.exec_root.is_some() && file.exec_root.is_some() {
        both.push("exec-root");
    }
    if !args.default_address_pools.is_empty() && file.default_address_pools.is_some() {
        both.push("default-address-pools");
    }
    if args.log_level.is_some() && file.log_level.is_some() {
        both.push("log-level");
    }
    if args.iptables.is_some() && file.iptables.is_some() {
        both.push("iptables");
    }
    if args.icc.is_some() && file.icc.is_some() {
        both.push("icc");
    }
    if args.cgroup_parent.is_some() && file.cgroup_parent.is_some() {
        both.push("cgroup-parent");
    }
    for (name, flag, key) in [
        ("tls", args.tls.is_some(), file.tls.is_some()),
        (
            "tlsverify",
            args.tlsverify.is_some(),
            file.tlsverify.is_some(),
        ),
        (
            "tlscacert",
            args.tlscacert.is_some(),
            file.tlscacert.is_some(),
        ),
        ("tlscert", args.tlscert.is_some(), file.tlscert.is_some()),
        ("tlskey", args.tlskey.is_some(), file.tlskey.is_some()),
        ("group", args.group.is_some(), file.group.is_some()),
    ] {
        if flag && key {
            both.push(name);
        }
    }
    both.extend(cluster::both(args, &file));
    both.extend(registry::both(args, &file));
    if !both.is_empty() {
        return Err(ConfigError::Both(both.join(", ")));
    }
    let cluster = cluster::resolve(args, &file)?;

    let hosts = if !args.hosts.is_empty() {
        args.hosts.clone()
    } else {
        file.hosts
            .clone()
            .unwrap_or_else(|| vec![berth_api::DEFAULT_HOST.to_string()])
    };
    let tls_flag = args.tls.or(file.tls);
    let verify = args.tlsverify.or(file.tlsverify).unwrap_or(false);
    let tls_on = verify || tls_flag.unwrap_or(false);
    let listen = hosts
        .iter()
        .map(|h| hosts::parse_listen(h, tls_on))
        .collect::<Result<Vec<_>, _>>()?;
    let tls = tls_on.then(|| {
        let dir = cert_dir();
        let pick = |flag: &Option<PathBuf>, key: &Option<PathBuf>, name: &str| {
            flag.clone()
                .or_else(|| key.clone())
                .unwrap_or_else(|| dir.join(name))
        };
        TlsSettings {
            verify,
            ca: pick(&args.tlscacert, &file.tlscacert, "ca.pem"),
            cert: pick(&args.tlscert, &file.tlscert, "cert.pem"),
            key: pick(&args.tlskey, &file.tlskey, "key.pem"),
        }
    });
    // Plain TCP on an address others reach hands them root: only an explicit --tls=false
    // takes that risk (dockerd merely waits 15 s first).
    if tls.is_none() && tls_flag != Some(false) {
        if let Some(addr) = listen.iter().find_map(|l| match l {
            Listen::Tcp(a) if !a.ip().is_loopback() => Some(a),
            _ => None,
        }) {
            return Err(ConfigError::Invalid(format!(
                "refusing to listen on tcp://{addr} without TLS: anyone who can reach it would control berthd as root. \
                 Serve it with mutual TLS (--tlsverify --tlscacert ca.pem --tlscert server-cert.pem --tlskey server-key.pem), \
                 listen on a loopback address, or pass --tls=false to accept the risk"
            )));
        }
    }

    let mut net = ControllerConfig::default();
    if let Some(bip) = args.bip.as_deref().or(file.bip.as_deref()) {
        net.bip = parse_bip(bip)?;
    }
    let pools: Vec<PoolSpec> = if !args.default_address_pools.is_empty() {
        args.default_address_pools
            .iter()
            .map(|p| PoolSpec::parse(p).map_err(|e| ConfigError::Invalid(e.to_string())))
            .collect::<Result<_, _>>()?
    } else if let Some(list) = &file.default_address_pools {
        list.iter()
            .map(|p| {
                let base = p.base.parse().map_err(|_| {
                    ConfigError::Invalid(format!(
                        "invalid default-address-pools base {}: not a CIDR",
                        p.base
                    ))
                })?;
                PoolSpec::new(base, p.size).map_err(|e| ConfigError::Invalid(e.to_string()))
            })
            .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    if !pools.is_empty() {
        let (v6, v4): (Vec<PoolSpec>, Vec<PoolSpec>) =
            pools.into_iter().partition(|p| p.base.addr().is_ipv6());
        if !v4.is_empty() {
            net.v4_pools = v4;
        }
        if !v6.is_empty() {
            net.v6_pools = v6;
        }
    }
    if let Some(mtu) = file.mtu {
        if !(68..=65535).contains(&mtu) {
            return Err(ConfigError::Invalid(format!(
                "invalid mtu {mtu}: expected 68 to 65535"
            )));
        }
        net.default_mtu = mtu;
    }
    net.ip_forward = file.ip_forward.unwrap_or(true);
    net.default_icc = args.icc.or(file.icc).unwrap_or(true);
    let dns = file.dns.clone().unwrap_or_default();
    for d in &dns {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "invalid dns {d}: expected an IP address"
            )));
        }
    }
    let log_level = args
        .log_level
        .clone()
        .or(file.log_level.clone())
        .unwrap_or_else(|| "info".into());
    if !matches!(
        log_level.as_str(),
        "debug" | "info" | "warn" | "error" | "fatal" | "trace"
    ) {
        return Err(ConfigError::Invalid(format!(
            "invalid log level {log_level}: use debug, info, warn, error or fatal"
        )));
    }
    let runtime_name = file
        .default_runtime
        .clone()
        .unwrap_or_else(|| "runc".into());
    let runtime_path = match file.runtimes.as_ref().and_then(|r| r.get(&runtime_name)) {
        Some(v) => v
            .get("path")
            .and_then(|p| p.as_str())
            .map(PathBuf::from)
            .ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "invalid runtimes.{runtime_name}: expected {{\"path\": \"/path/to/runtime\"}}"
                ))
            })?,
        None if runtime_name == "runc" || runtime_name == "crun" => PathBuf::from(&runtime_name),
        None => {
            return Err(ConfigError::Invalid(format!(
                "default-runtime {runtime_name} is not defined in runtimes"
            )))
        }
    };
    let cgroup_parent = crate::engine::cgroups::parent(
        args.cgroup_parent
            .as_deref()
            .or(file.cgroup_parent.as_deref())
            .unwrap_or("/berth"),
    )
    .map_err(ConfigError::Invalid)?;
    let registry = registry::resolve(args, &file)?;
    Ok(Config {
        listen,
        cgroup_parent,
        data_root: args
            .data_root
            .clone()
            .or(file.data_root)
            .unwrap_or_else(|| PathBuf::from("/var/lib/berth")),
        exec_root: args
            .exec_root
            .clone()
            .or(file.exec_root)
            .unwrap_or_else(|| PathBuf::from("/run/berth")),
        log_level,
        dns,
        iptables: args.iptables.or(file.iptables).unwrap_or(true),
        net,
        runtime: (runtime_name, runtime_path),
        tls,
        group: args.group.clone().or(file.group.clone()),
        ignored_keys: file.ignored.clone(),
        cluster: cluster.settings,
        cluster_warnings: cluster.warnings,
        registry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn args_with_file(json: &str) -> (tempfile::NamedTempFile, Args) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(json.as_bytes()).unwrap();
        let args = Args {
            config_file: Some(f.path().to_path_buf()),
            ..Default::default()
        };
        (f, args)
    }

    #[test]
    fn defaults() {
        let (_f, args) = args_with_file("{}");
        let c = load(&args).unwrap();
        assert_eq!(c.listen, vec![Listen::Unix("/run/berth/berth.sock".into())]);
        assert_eq!(c.net.bip.to_string(), "172.17.0.1/16");
        assert_eq!(c.net.v4_pools.len(), 16);
        assert_eq!(c.cgroup_parent, "/berth");
    }

    #[test]
    fn cgroup_parent_from_flag_or_file_never_both() {
        let (_f, args) = args_with_file(r#"{"cgroup-parent": "ci/berth"}"#);
        assert_eq!(load(&args).unwrap().cgroup_parent, "/ci/berth");
        let both = Args {
            cgroup_parent: Some("/x".into()),
            ..args
        };
        let e = load(&both).unwrap_err().to_string();
        assert!(
            e.contains("both as a flag and in the configuration file: cgroup-parent"),
            "{e}"
        );
        let (_f, mut args) = args_with_file("{}");
        args.cgroup_parent = Some("../up".into());
        let e = load(&args).unwrap_err().to_string();
        assert!(e.starts_with("invalid cgroup-parent \"../up\""), "{e}");
    }

    #[test]
    fn file_settings_apply() {
        let (_f, args) = args_with_file(
            r#"{"bip":"10.1.0.1/24","default-address-pools":[{"base":"10.200.0.0/16","size":24}],
                "hosts":["unix:///tmp/x.sock","tcp://127.0.0.1:2375"],"ip-forward":false}"#,
        );
        let c = load(&args).unwrap();
        assert_eq!(c.net.bip.to_string(), "10.1.0.1/24");
        assert_eq!(c.net.v4_pools[0].base.to_string(), "10.200.0.0/16");
        assert_eq!(c.listen.len(), 2);
        assert!(!c.net.ip_forward);
    }

    #[test]
    fn errors_name_the_key() {
        for (json, needle) in [
            (r#"{"bogus":1}"#, "bogus"),
            (r#"{"bip":"nope"}"#, "nope"),
            (r#"{"bip":12}"#, "bip"),
            (r#"{"hosts":["http://x"]}"#, "http://x"),
            (
                r#"{"default-address-pools":[{"base":"10.0.0.0/8","size":4}]}"#,
                "size 4",
            ),
            (r#"{"dns":["x.y"]}"#, "x.y"),
            ("{", "invalid configuration file"),
        ] {
            let (_f, args) = args_with_file(json);
            let e = load(&args).unwrap_err().to_string();
            assert!(e.contains(needle), "{json}: {e}");
        }
    }

    #[test]
    fn missing_named_file_is_an_error_and_flag_plus_file_conflict() {
        let args = Args {
            config_file: Some("/nonexistent/daemon.json".into()),
            ..Default::default()
        };
        assert!(load(&args)
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/daemon.json"));
        let (_f, mut args) = args_with_file(r#"{"bip":"10.1.0.1/24"}"#);
        args.bip = Some("10.2.0.1/24".into());
        assert!(load(&args).unwrap_err().to_string().contains("bip"));
    }

    #[test]
    fn icc_and_iptables_flags_as_docker_writes_them() {
        let (f, _) = args_with_file("{}");
        let file = f.path().to_str().unwrap();
        let args = Args::try_parse_from([
            "berthd",
            "--icc=false",
            "--iptables=false",
            "--config-file",
            file,
        ])
        .unwrap();
        let c = load(&args).unwrap();
        assert!(!c.net.default_icc && !c.iptables);
        let args = Args::try_parse_from(["berthd", "--icc", "--config-file", file]).unwrap();
        assert!(load(&args).unwrap().net.default_icc);
        assert!(Args::try_parse_from(["berthd", "--icc=maybe"]).is_err());
        let (_f, mut args) = args_with_file(r#"{"icc":false}"#);
        assert!(!load(&args).unwrap().net.default_icc);
        args.icc = Some(true);
        assert!(load(&args).unwrap_err().to_string().contains("icc"));
    }

    #[test]
    fn tcp_needs_tls_unless_loopback_or_explicitly_plain() {
        let (f, _) = args_with_file("{}");
        let file = f.path().to_str().unwrap();
        let parse = |extra: &[&str]| {
            let mut argv = vec!["berthd", "--config-file", file];
            argv.extend_from_slice(extra);
            load(&Args::try_parse_from(argv).unwrap())
        };
        let e = parse(&["-H", "tcp://0.0.0.0:2375"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--tls=false") && e.contains("--tlsverify"),
            "{e}"
        );
        assert!(parse(&["-H", "tcp://127.0.0.1"]).unwrap().tls.is_none());
        let c = parse(&["-H", "0.0.0.0:2375", "--tls=false"]).unwrap();
        assert_eq!(c.listen, vec![Listen::Tcp("0.0.0.0:2375".parse().unwrap())]);
        let c = parse(&[
            "-H",
            "tcp://10.0.0.1",
            "--tlsverify",
            "--tlscacert",
            "/c/ca.pem",
        ])
        .unwrap();
        assert_eq!(
            c.listen,
            vec![Listen::Tcp("10.0.0.1:2376".parse().unwrap())]
        );
        let tls = c.tls.unwrap();
        assert!(tls.verify);
        assert_eq!(tls.ca, PathBuf::from("/c/ca.pem"));
        let c = parse(&["-H", "tcp://10.0.0.1:9", "--tls", "--tlscert", "/c/s.pem"]).unwrap();
        assert!(!c.tls.unwrap().verify);
    }

    #[test]
    fn tls_keys_in_the_file_and_never_both_ways() {
        let (_f, args) = args_with_file(
            r#"{"hosts":["tcp://10.0.0.1"],"tlsverify":true,"tlscacert":"/x/ca.pem","tlscert":"/x/c.pem","tlskey":"/x/k.pem","group":"staff"}"#,
        );
        let c = load(&args).unwrap();
        assert_eq!(
            c.tls,
            Some(TlsSettings {
                verify: true,
                ca: "/x/ca.pem".into(),
                cert: "/x/c.pem".into(),
                key: "/x/k.pem".into()
            })
        );
        assert_eq!(c.group.as_deref(), Some("staff"));
        let both = Args {
            tlskey: Some("/y".into()),
            group: Some("g".into()),
            ..args
        };
        let e = load(&both).unwrap_err().to_string();
        assert!(e.ends_with("tlskey, group"), "{e}");
    }

    #[test]
    fn cluster_keys_in_the_file_and_never_both_ways() {
        let (_f, args) = args_with_file(
            r#"{"cluster-store":"etcd://127.0.0.1:2379","cluster-advertise":"127.0.0.1:2376",
                "cluster-store-opts":{"discovery.ttl":"20"}}"#,
        );
        let c = load(&args).unwrap();
        let s = c.cluster.clone().unwrap();
        assert_eq!(s.store_url, "etcd://127.0.0.1:2379");
        assert_eq!(s.config.ttl_secs, 20);
        assert_eq!(s.config.advertise.unwrap().to_string(), "127.0.0.1:2376");
        assert!(!c.ignored_keys.iter().any(|k| k.starts_with("cluster")));
        let both = Args {
            cluster_store: Some("etcd://127.0.0.1:2379".into()),
            cluster_advertise: Some("127.0.0.1".into()),
            cluster_store_opts: vec!["discovery.ttl=30".into()],
            ..args
        };
        let e = load(&both).unwrap_err().to_string();
        assert!(
            e.ends_with("cluster-store, cluster-advertise, cluster-store-opt"),
            "{e}"
        );
        let (_f, args) = args_with_file(r#"{"cluster-store":"consul://127.0.0.1:8500"}"#);
        let e = load(&args).unwrap_err().to_string();
        assert!(e.contains("berth uses etcd"), "{e}");
        let (_f, args) = args_with_file("{}");
        assert!(load(&args).unwrap().cluster.is_none());
    }
}

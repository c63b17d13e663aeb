//! `--cluster-store`, `--cluster-advertise` and `--cluster-store-opt`, parsed without touching
//! the network: the local interfaces are handed in, so the checks are testable.

use std::net::IpAddr;
use std::path::PathBuf;

use thiserror::Error;

/// Key prefix when the store URL names none.
pub const DEFAULT_PREFIX: &str = "/berth";
/// The node lease TTL when `discovery.ttl` is not set.
pub const DEFAULT_TTL_SECS: i64 = 15;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid --cluster-store {value:?}: {reason}")]
    Store { value: String, reason: String },
    #[error("invalid --cluster-advertise {value:?}: {reason}")]
    Advertise { value: String, reason: String },
    #[error("invalid --cluster-store-opt {value:?}: {reason}")]
    Opt { value: String, reason: String },
    #[error("invalid cluster configuration: --cluster-advertise must be accompanied by --cluster-store configuration")]
    AdvertiseWithoutStore,
    #[error("invalid cluster configuration: --cluster-store-opt must be accompanied by --cluster-store configuration")]
    OptsWithoutStore,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca_cert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertise {
    pub ip: IpAddr,
    pub port: Option<u16>,
    /// The interface the address was taken from, when given by name.
    pub interface: Option<String>,
}

impl std::fmt::Display for Advertise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.ip, self.port) {
            (IpAddr::V6(ip), Some(p)) => write!(f, "[{ip}]:{p}"),
            (ip, Some(p)) => write!(f, "{ip}:{p}"),
            (ip, None) => write!(f, "{ip}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// "HOST:PORT" of each etcd member, as given.
    pub endpoints: Vec<String>,
    /// Every key berth writes lives under this ("/berth" or the URL's path).
    pub prefix: String,
    pub advertise: Option<Advertise>,
    pub tls: Option<TlsFiles>,
    pub ttl_secs: i64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            endpoints: Vec::new(),
            prefix: DEFAULT_PREFIX.to_string(),
            advertise: None,
            tls: None,
            ttl_secs: DEFAULT_TTL_SECS,
        }
    }
}

/// The machine's interfaces and their addresses, as the advertise check needs them.
#[derive(Debug, Clone, Default)]
pub struct LocalInterfaces {
    pub addrs: Vec<(String, IpAddr)>,
}

impl LocalInterfaces {
    /// Reads the interfaces of the current network namespace.
    pub fn from_system() -> std::io::Result<LocalInterfaces> {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
        if unsafe { libc::getifaddrs(&mut head) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut addrs = Vec::new();
        let mut cur = head;
        while !cur.is_null() {
            // SAFETY: `cur` is a node of the list getifaddrs returned, valid until freeifaddrs.
            let ifa = unsafe { &*cur };
            if !ifa.ifa_addr.is_null() && !ifa.ifa_name.is_null() {
                // SAFETY: ifa_name is a NUL-terminated string owned by the list.
                let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
                    .to_string_lossy()
                    .into_owned();
                // SAFETY: ifa_addr points at a sockaddr whose family says which struct it is.
                let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
                if family == libc::AF_INET {
                    // SAFETY: the family is AF_INET, so this is a sockaddr_in.
                    let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                    let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                    addrs.push((name, IpAddr::V4(ip)));
                } else if family == libc::AF_INET6 {
                    // SAFETY: the family is AF_INET6, so this is a sockaddr_in6.
                    let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                    let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                    addrs.push((name, IpAddr::V6(ip)));
                }
            }
            cur = ifa.ifa_next;
        }
        // SAFETY: `head` came from getifaddrs and is freed once.
        unsafe { libc::freeifaddrs(head) };
        Ok(LocalInterfaces { addrs })
    }
}

/// What the daemon was started with; empty strings count as not given.
#[derive(Debug, Clone, Default)]
pub struct ClusterArgs {
    pub store: Option<String>,
    pub advertise: Option<String>,
    /// `KEY=VALUE` entries, from repeated `--cluster-store-opt` or daemon.json's map.
    pub opts: Vec<(String, String)>,
}

/// A parsed configuration and the warnings to log (Docker warns, not fails, on those).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub config: Option<ClusterConfig>,
    pub warnings: Vec<String>,
}

const ALLOWED_OPTS: &str = "kv.cacertfile, kv.certfile, kv.keyfile, kv.path, discovery.ttl";

fn given(o: &Option<String>) -> Option<&str> {
    o.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Splits one `--cluster-store-opt` value: `a=b` or `a=b,c=d`.
pub fn split_opts(value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    value
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(ConfigError::Opt {
                value: kv.to_string(),
                reason: "expected KEY=VALUE".into(),
            }),
        })
        .collect()
}

impl ClusterConfig {
    /// `None` config when no cluster store is given (a single-host daemon).
    pub fn parse(args: &ClusterArgs, local: &LocalInterfaces) -> Result<Parsed, ConfigError> {
        let Some(store) = given(&args.store) else {
            if given(&args.advertise).is_some() {
                return Err(ConfigError::AdvertiseWithoutStore);
            }
            if !args.opts.is_empty() {
                return Err(ConfigError::OptsWithoutStore);
            }
            return Ok(Parsed {
                config: None,
                warnings: Vec::new(),
            });
        };
        let mut cfg = parse_store(store)?;
        let mut warnings = Vec::new();
        apply_opts(&mut cfg, &args.opts)?;
        match given(&args.advertise) {
            Some(adv) => {
                let a = parse_advertise(adv, local)?;
                if !local.addrs.iter().any(|(_, ip)| *ip == a.ip) {
                    warnings.push(format!(
                        "cluster-advertise address {} is not an address of any local interface; \
                         other nodes may not reach this one",
                        a.ip
                    ));
                }
                cfg.advertise = Some(a);
            }
            None => warnings.push(
                "--cluster-store is set without --cluster-advertise: overlay networks need the \
                 address other nodes reach this one at"
                    .into(),
            ),
        }
        Ok(Parsed {
            config: Some(cfg),
            warnings,
        })
    }

    /// The URLs etcd-client connects to.
    pub fn endpoint_urls(&self) -> Vec<String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        self.endpoints
            .iter()
            .map(|e| format!("{scheme}://{e}"))
            .collect()
    }
}

fn parse_store(value: &str) -> Result<ClusterConfig, ConfigError> {
    let err = |reason: String| ConfigError::Store {
        value: value.to_string(),
        reason,
    };
    let Some((scheme, rest)) = value.split_once("://") else {
        return Err(err("expected etcd://HOST:PORT[,HOST:PORT...]".into()));
    };
    match scheme {
        "etcd" => {}
        "consul" | "zk" => {
            return Err(err(format!(
                "berth uses etcd as its cluster store, not {scheme}; give etcd://HOST:PORT[,HOST:PORT...]"
            )))
        }
        other => {
            return Err(err(format!(
                "unknown store {other:?}; berth uses etcd: etcd://HOST:PORT[,HOST:PORT...]"
            )))
        }
    }
    let (hosts, path) = match rest.split_once('/') {
        Some((h, p)) => (h, p.trim_matches('/')),
        None => (rest, ""),
    };
    let mut endpoints = Vec::new();
    for hp in hosts.split(',') {
        let hp = hp.trim();
        if hp.is_empty() {
            return Err(err("an empty HOST:PORT in the list".into()));
        }
        let (host, port) = split_host_port(hp).ok_or_else(|| {
            err(format!(
                "{hp:?} is not HOST:PORT (etcd's client port, usually 2379)"
            ))
        })?;
        if host.is_empty() {
            return Err(err(format!("{hp:?} has no host")));
        }
        if port.parse::<u16>().map(|p| p == 0).unwrap_or(true) {
            return Err(err(format!("{port:?} in {hp:?} is not a port (1-65535)")));
        }
        endpoints.push(hp.to_string());
    }
    let prefix = if path.is_empty() {
        DEFAULT_PREFIX.to_string()
    } else {
        format!("/{path}")
    };
    Ok(ClusterConfig {
        endpoints,
        prefix,
        ..ClusterConfig::default()
    })
}

/// "host:port" or "[v6]:port" → (host, port); None when there is no port.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        return Some((h, p));
    }
    let (h, p) = s.rsplit_once(':')?;
    if h.contains(':') {
        return None;
    }
    Some((h, p))
}

fn apply_opts(cfg: &mut ClusterConfig, opts: &[(String, String)]) -> Result<(), ConfigError> {
    let mut tls = TlsFiles::default();
    for (k, v) in opts {
        let err = |reason: String| ConfigError::Opt {
            value: format!("{k}={v}"),
            reason,
        };
        if v.is_empty() {
            return Err(err("the value is empty".into()));
        }
        match k.as_str() {
            "kv.cacertfile" => tls.ca_cert = Some(PathBuf::from(v)),
            "kv.certfile" => tls.cert = Some(PathBuf::from(v)),
            "kv.keyfile" => tls.key = Some(PathBuf::from(v)),
            "kv.path" => cfg.prefix = format!("/{}", v.trim_matches('/')),
            "discovery.ttl" => {
                let secs = v.trim_end_matches('s');
                cfg.ttl_secs = match secs.parse::<i64>() {
                    Ok(n) if (5..=3600).contains(&n) => n,
                    _ => return Err(err("the TTL must be 5 to 3600 seconds".into())),
                };
            }
            _ => return Err(err(format!("unknown option; allowed: {ALLOWED_OPTS}"))),
        }
    }
    if tls.cert.is_some() != tls.key.is_some() {
        return Err(ConfigError::Opt {
            value: opts
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            reason: "kv.certfile and kv.keyfile go together".into(),
        });
    }
    if tls != TlsFiles::default() {
        cfg.tls = Some(tls);
    }
    Ok(())
}

fn parse_advertise(value: &str, local: &LocalInterfaces) -> Result<Advertise, ConfigError> {
    let err = |reason: String| ConfigError::Advertise {
        value: value.to_string(),
        reason,
    };
    let (host, port) = match split_host_port(value) {
        Some((h, p)) => {
            let port = p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| err(format!("{p:?} is not a port (1-65535)")))?;
            (h.to_string(), Some(port))
        }
        None => (value.trim_matches(['[', ']']).to_string(), None),
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        if ip.is_unspecified() || ip.is_multicast() {
            return Err(err(format!("{ip} cannot be reached by other nodes")));
        }
        return Ok(Advertise {
            ip,
            port,
            interface: None,
        });
    }
    let mut of_iface = local.addrs.iter().filter(|(n, _)| *n == host);
    let first = of_iface.clone().next();
    if first.is_none() {
        return Err(err(format!(
            "{host:?} is neither an IP address nor a local interface"
        )));
    }
    // Docker takes the interface's first IPv4 address.
    let ip = of_iface
        .find(|(_, ip)| ip.is_ipv4())
        .map(|(_, ip)| *ip)
        .ok_or_else(|| err(format!("interface {host} has no IPv4 address")))?;
    Ok(Advertise {
        ip,
        port,
        interface: Some(host),
    })
}

#[cfg(test)]
mod tests;

//! `POST /containers/create`: the body the docker CLI, docker-compose and berth send. It is
//! Docker's container `Config` with `HostConfig` and `NetworkingConfig` beside its fields.
//!
//! Decoding follows Docker's: unknown fields are ignored (the daemon refuses the ones it would
//! otherwise drop by name, see berthd's run options), `null` means "not set", and a field of
//! the wrong type is an error naming the field ([`decode`]).

use super::health::HealthcheckConfig;
use crate::null_as_default as nd;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The fields of an object that berth does not model, as sent: kept so that the daemon can
/// refuse one that holds anything but its default instead of dropping it silently.
pub type Unmodelled = BTreeMap<String, serde_json::Value>;

/// The create body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBody {
    #[serde(deserialize_with = "nd")]
    pub hostname: String,
    #[serde(deserialize_with = "nd")]
    pub domainname: String,
    #[serde(deserialize_with = "nd")]
    pub user: String,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// `None` keeps the image's; `Some([])` clears it.
    pub entrypoint: Option<Vec<String>>,
    #[serde(deserialize_with = "nd")]
    pub image: String,
    #[serde(deserialize_with = "nd")]
    pub working_dir: String,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "nd")]
    pub mac_address: String,
    #[serde(deserialize_with = "nd")]
    pub tty: bool,
    #[serde(deserialize_with = "nd")]
    pub open_stdin: bool,
    #[serde(deserialize_with = "nd")]
    pub stdin_once: bool,
    #[serde(deserialize_with = "nd")]
    pub attach_stdin: bool,
    #[serde(deserialize_with = "nd")]
    pub attach_stdout: bool,
    #[serde(deserialize_with = "nd")]
    pub attach_stderr: bool,
    /// Keys `PORT/PROTO`; the values are empty objects.
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    /// Anonymous volume targets; the values are empty objects.
    pub volumes: Option<BTreeMap<String, Empty>>,
    /// `None` keeps the image's.
    pub healthcheck: Option<HealthcheckConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_config: Option<HostConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networking_config: Option<NetworkingConfig>,
    #[serde(flatten)]
    pub unmodelled: Unmodelled,
}

/// `{}`: the value of a set-like map (`ExposedPorts`, `Volumes`). Whatever it holds is
/// ignored, as Docker ignores it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Empty;

impl Serialize for Empty {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Empty)
    }
}

/// The part of the body that concerns the host: networking, ports, mounts, limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    #[serde(deserialize_with = "nd")]
    pub network_mode: String,
    #[serde(deserialize_with = "nd")]
    pub auto_remove: bool,
    pub extra_hosts: Option<Vec<String>>,
    pub dns: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    /// `NAME:ALIAS` (the docker CLI) or `/NAME:/ME/ALIAS` (older clients).
    pub links: Option<Vec<String>>,
    pub port_bindings: Option<PortBindings>,
    #[serde(deserialize_with = "nd")]
    pub publish_all_ports: bool,
    pub restart_policy: Option<RestartPolicy>,
    pub binds: Option<Vec<String>>,
    pub mounts: Option<Vec<Mount>>,
    /// Target → mount options (`size=1m,rw`).
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "nd")]
    pub readonly_rootfs: bool,
    #[serde(deserialize_with = "nd")]
    pub privileged: bool,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    #[serde(deserialize_with = "nd")]
    pub memory: i64,
    #[serde(deserialize_with = "nd")]
    pub memory_swap: i64,
    #[serde(deserialize_with = "nd")]
    pub nano_cpus: i64,
    #[serde(deserialize_with = "nd")]
    pub cpu_shares: i64,
    pub pids_limit: Option<i64>,
    pub init: Option<bool>,
    pub security_opt: Option<Vec<String>>,
    pub log_config: Option<LogConfig>,
    /// `--sysctl`: namespaced kernel parameters.
    pub sysctls: Option<BTreeMap<String, String>>,
    /// `--ulimit NAME=SOFT[:HARD]`.
    pub ulimits: Option<Vec<Ulimit>>,
    /// `--shm-size` in bytes; 0 is Docker's 64 MiB.
    #[serde(deserialize_with = "nd")]
    pub shm_size: i64,
    pub oom_kill_disable: Option<bool>,
    #[serde(deserialize_with = "nd")]
    pub oom_score_adj: i64,
    /// `--group-add`: group names or numbers.
    pub group_add: Option<Vec<String>>,
    #[serde(deserialize_with = "nd")]
    pub cpuset_cpus: String,
    #[serde(deserialize_with = "nd")]
    pub cpuset_mems: String,
    #[serde(deserialize_with = "nd")]
    pub cpu_period: i64,
    #[serde(deserialize_with = "nd")]
    pub cpu_quota: i64,
    #[serde(deserialize_with = "nd")]
    pub memory_reservation: i64,
    /// -1 (what the docker CLI sends) is the kernel's default.
    pub memory_swappiness: Option<i64>,
    /// `--annotation`: passed to the OCI runtime.
    pub annotations: Option<BTreeMap<String, String>>,
    /// `--ipc`: `""`, `private`, `shareable`, `host`, `none`.
    #[serde(deserialize_with = "nd")]
    pub ipc_mode: String,
    /// `--pid`: `""` or `host`.
    #[serde(deserialize_with = "nd")]
    pub pid_mode: String,
    /// `--uts`: `""` or `host`.
    #[serde(rename = "UTSMode", deserialize_with = "nd")]
    pub uts_mode: String,
    /// `--userns`: `""` or `host` (berth maps no users).
    #[serde(deserialize_with = "nd")]
    pub userns_mode: String,
    /// `--cgroupns`: `""`, `host` or `private`.
    #[serde(deserialize_with = "nd")]
    pub cgroupns_mode: String,
    /// `--volumes-from NAME[:ro|rw]`.
    pub volumes_from: Option<Vec<String>>,
    /// `--runtime`: the OCI runtime's name; berthd runs one for every container.
    #[serde(deserialize_with = "nd")]
    pub runtime: String,
    #[serde(flatten)]
    pub unmodelled: Unmodelled,
}

/// One `--ulimit`: a resource by Docker's name (`nofile`, `nproc`, ...), -1 is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    #[serde(deserialize_with = "nd")]
    pub name: String,
    #[serde(deserialize_with = "nd")]
    pub soft: i64,
    #[serde(deserialize_with = "nd")]
    pub hard: i64,
}

/// Container port key (`80/tcp`) → where it is published; `null` or `[]` publishes it on an
/// ephemeral port of every address.
pub type PortBindings = BTreeMap<String, Option<Vec<PortBinding>>>;

/// One place a container port is published.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    /// Empty for every address; IPv6 with or without brackets.
    #[serde(deserialize_with = "nd")]
    pub host_ip: String,
    /// Empty for an ephemeral port; `N` or `LO-HI`.
    #[serde(deserialize_with = "nd")]
    pub host_port: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// `""`, `no`, `always`, `unless-stopped`, `on-failure`.
    #[serde(deserialize_with = "nd")]
    pub name: String,
    #[serde(deserialize_with = "nd")]
    pub maximum_retry_count: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(deserialize_with = "nd")]
    pub r#type: String,
    pub config: Option<BTreeMap<String, String>>,
}

/// `--mount` (`HostConfig.Mounts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(deserialize_with = "nd")]
    pub r#type: String,
    #[serde(deserialize_with = "nd")]
    pub source: String,
    #[serde(deserialize_with = "nd")]
    pub target: String,
    #[serde(deserialize_with = "nd")]
    pub read_only: bool,
    pub bind_options: Option<serde_json::Map<String, serde_json::Value>>,
    pub volume_options: Option<serde_json::Map<String, serde_json::Value>>,
    pub tmpfs_options: Option<TmpfsOptions>,
    #[serde(flatten)]
    pub unmodelled: Unmodelled,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    #[serde(deserialize_with = "nd")]
    pub size_bytes: i64,
    #[serde(deserialize_with = "nd")]
    pub mode: u32,
    #[serde(flatten)]
    pub unmodelled: Unmodelled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    /// Network name or ID → the endpoint's settings.
    pub endpoints_config: Option<BTreeMap<String, EndpointSettings>>,
}

/// What a client asks of a container's endpoint on one network (create, `network connect`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpam>,
    pub aliases: Option<Vec<String>>,
    #[serde(deserialize_with = "nd")]
    pub mac_address: String,
    /// `network connect --link` (links on a user network).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<String>>,
    /// `--driver-opt`: options for the network driver's endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// `--gw-priority`: which network gives the default route.
    #[serde(deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub gw_priority: i64,
    /// What else was sent: inspect's output fields (`NetworkID`, `IPAddress`, ...), which
    /// clients echo back and Docker ignores, or something berth must refuse.
    #[serde(flatten)]
    pub unmodelled: Unmodelled,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointIpam {
    #[serde(rename = "IPv4Address", deserialize_with = "nd")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", deserialize_with = "nd")]
    pub ipv6_address: String,
    /// `--link-local-ip`.
    #[serde(rename = "LinkLocalIPs", skip_serializing_if = "Option::is_none")]
    pub link_local_ips: Option<Vec<String>>,
    #[serde(flatten)]
    pub unmodelled: Unmodelled,
}

/// Why a body could not be decoded: the path of the offending field (`HostConfig.Memory`)
/// and serde's words for what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() || self.path == "." {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a create body from parsed JSON, naming the field at fault.
pub fn decode(v: &serde_json::Value) -> Result<CreateBody, DecodeError> {
    serde_path_to_error::deserialize(v).map_err(|e| DecodeError {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// The `IPAMConfig` an endpoint asks for, as addresses; an address of the other family (an
/// IPv6 address given as `IPv4Address`) is refused.
pub fn endpoint_addresses(
    ipam: &EndpointIpam,
) -> Result<(Option<std::net::Ipv4Addr>, Option<std::net::Ipv6Addr>), String> {
    let v4 = match ipam.ipv4_address.as_str() {
        "" => None,
        t => Some(
            t.parse()
                .map_err(|_| format!("invalid IPv4 address: {t}"))?,
        ),
    };
    let v6 = match ipam.ipv6_address.as_str() {
        "" => None,
        t => Some(
            t.parse()
                .map_err(|_| format!("invalid IPv6 address: {t}"))?,
        ),
    };
    Ok((v4, v6))
}

/// `--link` as the API carries it: `NAME:ALIAS` from the docker CLI, `/NAME:/ME/ALIAS` from
/// older clients, or a bare `NAME`; as (name, alias).
pub fn parse_link(l: &str) -> Result<(String, String), String> {
    let (name, alias) = l.split_once(':').unwrap_or((l, l));
    let name = name.trim_start_matches('/');
    let alias = alias.rsplit('/').next().unwrap_or(alias);
    if name.is_empty() || alias.is_empty() {
        return Err(format!("invalid link {l}: expected NAME[:ALIAS]"));
    }
    Ok((name.to_string(), alias.to_string()))
}

/// The checks of a create body that need no daemon: its links, port keys and bindings, and
/// endpoint addresses are well formed. The daemon runs them (among its own) on every create.
pub fn check(b: &CreateBody) -> Result<(), String> {
    use crate::ports::{parse_host_ip, parse_host_port, parse_key};
    if let Some(hc) = &b.host_config {
        for l in hc.links.iter().flatten() {
            parse_link(l)?;
        }
        for (key, list) in hc.port_bindings.iter().flatten() {
            parse_key(key)?;
            for pb in list.iter().flatten() {
                parse_host_ip(&pb.host_ip)?;
                parse_host_port(&pb.host_port)?;
            }
        }
    }
    for key in b.exposed_ports.iter().flat_map(|m| m.keys()) {
        parse_key(key)?;
    }
    let endpoints = b
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref());
    for ep in endpoints.into_iter().flat_map(|m| m.values()) {
        endpoint_addresses(&ep.ipam_config.clone().unwrap_or_default())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_docker_cli_body_decodes_and_unknown_fields_are_ignored() {
        let b = decode(&json!({
            "Hostname": "", "Image": "busybox", "Cmd": ["sleep", "1"], "Entrypoint": null,
            "Healthcheck": null, "StopSignal": "", "Labels": {"a": "b"},
            "ExposedPorts": {"80/tcp": {}},
            "HostConfig": {"NetworkMode": "default", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}], "81/tcp": null},
                "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "Memory": 0, "Isolation": "",
                "LogConfig": {"Type": "", "Config": {}}},
            "NetworkingConfig": {"EndpointsConfig": {"n": {"IPAMConfig": {"IPv4Address": "10.0.0.9"}, "Aliases": null, "MacAddress": ""}}},
        }))
        .unwrap();
        assert_eq!(b.image, "busybox");
        assert_eq!(b.entrypoint, None);
        let hc = b.host_config.unwrap();
        let pb = hc.port_bindings.unwrap();
        assert_eq!(pb["80/tcp"].as_ref().unwrap()[0].host_port, "8080");
        assert_eq!(pb["81/tcp"], None);
        let ep = &b.networking_config.unwrap().endpoints_config.unwrap()["n"];
        let ipam = ep.ipam_config.as_ref().unwrap();
        assert_eq!(
            endpoint_addresses(ipam).unwrap().0,
            Some("10.0.0.9".parse().unwrap())
        );
    }

    #[test]
    fn null_is_unset_and_a_wrong_type_names_its_field() {
        let b = decode(&json!({"Hostname": null, "Tty": null, "HostConfig": {"Memory": null}}))
            .unwrap();
        assert_eq!((b.hostname.as_str(), b.tty), ("", false));
        let e = decode(&json!({"HostConfig": {"Memory": "lots"}})).unwrap_err();
        assert_eq!(e.path, "HostConfig.Memory");
        let e = decode(&json!({"NetworkingConfig": {"EndpointsConfig": {"n": {"Aliases": "a"}}}}))
            .unwrap_err();
        assert_eq!(e.path, "NetworkingConfig.EndpointsConfig.n.Aliases");
        let e = decode(&json!({"Env": [1]})).unwrap_err();
        assert!(e.to_string().starts_with("Env[0]: "), "{e}");
    }

    #[test]
    fn what_the_cli_sends_reads_back_the_same() {
        let b = CreateBody {
            image: "busybox".into(),
            cmd: Some(vec!["true".into()]),
            exposed_ports: Some(BTreeMap::from([("80/tcp".into(), Empty)])),
            host_config: Some(HostConfig {
                network_mode: "default".into(),
                port_bindings: Some(BTreeMap::from([(
                    "80/tcp".into(),
                    Some(vec![PortBinding {
                        host_ip: "".into(),
                        host_port: "8080".into(),
                    }]),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(decode(&v).unwrap(), b);
    }

    #[test]
    fn check_finds_what_is_malformed() {
        let ok = decode(
            &json!({"Image": "b", "HostConfig": {"Links": ["a:b", "/a:/me/b", "c"],
            "PortBindings": {"80/tcp": [{"HostIp": "[::1]", "HostPort": "1-2"}]}},
            "ExposedPorts": {"53/udp": {}}}),
        )
        .unwrap();
        check(&ok).unwrap();
        assert_eq!(parse_link("/a:/me/b").unwrap(), ("a".into(), "b".into()));
        for (bad, want) in [
            (json!({"HostConfig": {"Links": [":x"]}}), "invalid link :x"),
            (
                json!({"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "x"}]}}}),
                "Invalid hostPort: x",
            ),
            (
                json!({"ExposedPorts": {"0/tcp": {}}}),
                "Invalid containerPort: 0",
            ),
            (
                json!({"NetworkingConfig": {"EndpointsConfig": {"n": {"IPAMConfig": {"IPv4Address": "::1"}}}}}),
                "invalid IPv4 address",
            ),
        ] {
            let e = check(&decode(&bad).unwrap()).unwrap_err();
            assert!(e.starts_with(want), "{bad}: {e}");
        }
    }

    #[test]
    fn endpoint_addresses_keep_to_their_family() {
        let ipam = |a: &str, b: &str| EndpointIpam {
            ipv4_address: a.into(),
            ipv6_address: b.into(),
            ..Default::default()
        };
        assert!(endpoint_addresses(&ipam("fd00::1", "")).is_err());
        assert!(endpoint_addresses(&ipam("", "10.0.0.1")).is_err());
        assert!(endpoint_addresses(&ipam("x", "")).is_err());
        assert_eq!(endpoint_addresses(&ipam("", "")).unwrap(), (None, None));
    }
}

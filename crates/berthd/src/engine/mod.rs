//! The engine: images and containers. It persists intent in the store, asks the network layer
//! for sandboxes and endpoints, and runs processes through the OCI runtime.

mod bundle;
pub mod cgroups;
mod connect;
pub mod etcfiles;
pub mod exec;
pub mod image;
pub mod keeper;
mod links;
mod load;
mod names;
mod reach;
pub mod reaper;
mod runtime;
pub mod stdio;

pub use runtime::Runtime;

use berth_net::endpoint::{format_mac, parse_mac, EndpointOptions, SandboxOptions};
use berth_net::firewall::Proto;
use berth_net::portmap::{PortRequest, Published};
use berth_net::{Controller, NetError};
use berth_store::{Store, Table};
use chrono::{DateTime, Utc};
use image::Image;
use links::{LinkTarget, ResolvedLinks};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify};

const IMAGES: Table = Table("images");
const CONTAINERS: Table = Table("containers");

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Nothing to do (HTTP 304): start of a running container, stop of a stopped one.
    #[error("{0}")]
    NotModified(String),
    #[error("{0}")]
    Runtime(String),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
}

pub type Result<T> = std::result::Result<T, EngineError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub pid: u32,
    pub exit_code: i32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: String,
    /// Stopped or killed through the API: no restart policy brings it back (unless-stopped
    /// not even after a daemon restart).
    #[serde(default)]
    pub manually_stopped: bool,
    /// Restarts by the restart policy since the last start through the API.
    #[serde(default)]
    pub restart_count: u32,
    /// Exited, but its network and mounts are still being released.
    #[serde(default)]
    pub releasing: bool,
}

/// `--restart`: no, always, unless-stopped, on-failure[:N].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    pub name: String,
    pub max_retries: u32,
}

impl RestartPolicy {
    /// Parses Docker's names; errors name the value and what is allowed.
    pub fn new(name: &str, max_retries: u32) -> Result<Self> {
        match name {
            "" | "no" | "always" | "unless-stopped" if max_retries > 0 => Err(EngineError::BadRequest(format!(
                "invalid restart policy: maximum retry count can only be used with 'on-failure', not with '{name}'"
            ))),
            "" | "no" | "always" | "unless-stopped" | "on-failure" => Ok(RestartPolicy {
                name: if name.is_empty() { "no".into() } else { name.into() },
                max_retries,
            }),
            other => Err(EngineError::BadRequest(format!(
                "invalid restart policy '{other}': use no, always, unless-stopped or on-failure[:max-retries]"
            ))),
        }
    }

    /// Whether a container that exited with `code` after `restarts` restarts goes again.
    pub fn wants_restart(&self, code: i32, restarts: u32, manually_stopped: bool) -> bool {
        if manually_stopped {
            return false;
        }
        match self.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => code != 0 && (self.max_retries == 0 || restarts < self.max_retries),
            _ => false,
        }
    }
}

/// A network a container asks for, with its per-network settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRequest {
    pub ipv4: Option<IpAddr>,
    pub ipv6: Option<IpAddr>,
    pub aliases: Vec<String>,
    pub mac: Option<String>,
}

/// What `create` asks for, independent of the API's wire shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub cmd: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub hostname: String,
    pub domainname: String,
    pub labels: BTreeMap<String, String>,
    /// `default`, `bridge`, `host`, `none`, `container:<name|id>` or a network name/ID.
    pub network_mode: String,
    /// Networks by name; the first is `network_mode`'s.
    pub networks: Vec<(String, NetworkRequest)>,
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    pub auto_remove: bool,
    pub mac_address: String,
    /// `--link NAME[:ALIAS]` as (name, alias).
    #[serde(default)]
    pub links: Vec<(String, String)>,
    #[serde(default)]
    pub restart: RestartPolicy,
    /// `-p`: host ports for container ports (HostConfig.PortBindings).
    #[serde(default)]
    pub ports: Vec<PortRequest>,
    /// `-P`: publish every exposed port on an ephemeral host port.
    #[serde(default)]
    pub publish_all: bool,
    /// `--expose` and the ports of `-p` (Config.ExposedPorts).
    #[serde(default)]
    pub exposed: Vec<(u16, Proto)>,
    /// `-t`: a terminal (Config.Tty).
    #[serde(default)]
    pub tty: bool,
    /// `-i`: stdin stays open for attached clients (Config.OpenStdin).
    #[serde(default)]
    pub open_stdin: bool,
    /// Close the container's stdin when the first attached client's input ends (Config.StdinOnce).
    #[serde(default)]
    pub stdin_once: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub created: DateTime<Utc>,
    pub image_id: String,
    pub spec: ContainerSpec,
    /// Resolved: the hostname the container gets.
    pub hostname: String,
    pub state: State,
    /// The container's own sandbox while running (bridge, user-network and none modes).
    pub sandbox_id: Option<String>,
    /// The sandbox path it runs in (its own, or the one it joined in container: mode).
    pub sandbox_key: String,
}

impl Container {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    pub fn args(&self, image: Option<&Image>) -> Vec<String> {
        let entry = match &self.spec.entrypoint {
            Some(e) => e.clone(),
            None => image.map(|i| i.entrypoint.clone()).unwrap_or_default(),
        };
        let cmd = if self.spec.cmd.is_empty() && self.spec.entrypoint.is_none() {
            image.map(|i| i.cmd.clone()).unwrap_or_default()
        } else {
            self.spec.cmd.clone()
        };
        entry.into_iter().chain(cmd).collect()
    }

    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join(&self.id)
    }
}

/// Where the engine keeps things.
#[derive(Debug, Clone)]
pub struct EnginePaths {
    pub images: PathBuf,
    pub containers: PathBuf,
    pub host_resolv: PathBuf,
    pub host_hosts: PathBuf,
    /// Keepers' sockets (runtime state, under the exec root).
    pub keep: PathBuf,
}

#[derive(Default)]
struct EngineState {
    images: BTreeMap<String, Image>,
    containers: BTreeMap<String, Container>,
}

/// An exit recorded, with what is still to release.
struct Exit {
    id: String,
    name: String,
    sandbox: Option<String>,
    auto_remove: bool,
    code: i32,
}

pub struct Engine {
    store: Arc<Store>,
    pub ctl: Arc<Controller>,
    runtime: Runtime,
    paths: EnginePaths,
    /// Daemon-wide upstream DNS (daemon.json `dns`).
    dns: Vec<String>,
    state: Mutex<EngineState>,
    /// Woken whenever a container exits.
    exited: Notify,
    /// Exec instances (in memory, as Docker keeps them).
    execs: Mutex<exec::Execs>,
    /// Exit codes of containers removed on exit (--rm), for waiters that come late.
    removed_codes: std::sync::Mutex<BTreeMap<String, i32>>,
    /// Terminals and stdin pipes of running interactive containers.
    live: std::sync::Mutex<BTreeMap<String, Arc<stdio::Live>>>,
    /// Woken when a terminal's output reaches its log, so followers need not poll.
    pub output: Notify,
}

/// Docker's `wait` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// Returns at once if the container is not running (the default).
    NotRunning,
    /// Waits for the next exit, even of a container that has not started yet.
    NextExit,
    /// Waits until the container is removed.
    Removed,
}

fn new_container_id() -> String {
    berth_net::network::new_id()
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> EngineError {
    move |e| EngineError::Io(format!("{what}: {e}"))
}

fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphanumeric())
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '_' | '.' | '-'))
}

/// Parses `NAME:IP` (`host-gateway` stands for the default bridge's gateway).
pub fn parse_extra_host(entry: &str, host_gateway: IpAddr) -> Result<(String, IpAddr)> {
    let bad = || {
        EngineError::BadRequest(format!(
            "invalid argument \"{entry}\" for \"--add-host\" flag: bad format for add-host: \"{entry}\""
        ))
    };
    let (name, ip) = entry.split_once(':').ok_or_else(bad)?;
    if name.is_empty() {
        return Err(bad());
    }
    let ip = if ip == "host-gateway" {
        host_gateway
    } else {
        ip.trim_matches(|c| c == '[' || c == ']')
            .parse()
            .map_err(|_| bad())?
    };
    Ok((name.to_string(), ip))
}

impl Engine {
    pub async fn start(
        store: Arc<Store>,
        ctl: Arc<Controller>,
        runtime: Runtime,
        paths: EnginePaths,
        dns: Vec<String>,
    ) -> Result<Arc<Engine>> {
        for d in [&paths.images, &paths.containers, &runtime.root] {
            std::fs::create_dir_all(d).map_err(io(format!("create {}", d.display())))?;
        }
        let mut st = EngineState::default();
        for (id, img) in store.list::<Image>(IMAGES)? {
            st.images.insert(id, img);
        }
        for (id, c) in store.list::<Container>(CONTAINERS)? {
            st.containers.insert(id, c);
        }
        // Before any container can be made: cgroups of containers this daemon does not know.
        let known = st.containers.keys().cloned().collect();
        let swept = cgroups::sweep(&runtime.cgroup_parent, &known);
        if swept > 0 {
            tracing::info!(
                parent = %runtime.cgroup_parent,
                removed = swept,
                "removed cgroups left by unknown containers"
            );
        }
        let engine = Arc::new(Engine {
            store,
            ctl,
            runtime,
            paths,
            dns,
            state: Mutex::new(st),
            exited: Notify::new(),
            execs: Mutex::new(exec::Execs::default()),
            removed_codes: std::sync::Mutex::new(BTreeMap::new()),
            live: std::sync::Mutex::new(BTreeMap::new()),
            output: Notify::new(),
        });
        // Containers that died while the daemon was away are finished now; the rest are watched.
        let running: Vec<String> = {
            let st = engine.state.lock().await;
            st.containers
                .values()
                .filter(|c| c.state.status == Status::Running)
                .map(|c| c.id.clone())
                .collect()
        };
        for id in running {
            if !engine.check_exit(&id, true).await {
                let pid = engine
                    .container(&id)
                    .await
                    .map(|c| c.state.pid)
                    .unwrap_or(0);
                if let Ok(c) = engine.container(&id).await {
                    if c.spec.tty || c.spec.open_stdin {
                        engine.reclaim_stdio(&c).await;
                    }
                }
                engine.watch(id, pid);
            }
        }
        keeper::sweep(&engine.paths.keep);
        Ok(engine)
    }

    // ---------------------------------------------------------------- images

    pub async fn import(&self, body: Vec<u8>, repo: &str, tag: &str) -> Result<Image> {
        if !repo.is_empty() && (repo.contains(char::is_whitespace) || repo.ends_with(':')) {
            return Err(EngineError::BadRequest(format!(
                "invalid reference format: {repo}"
            )));
        }
        let staging = self
            .paths
            .images
            .join(format!("tmp-{}", new_container_id()));
        let unpacked = {
            let staging = staging.clone();
            tokio::task::spawn_blocking(move || image::unpack(&body[..], &staging.join("rootfs")))
                .await
                .map_err(|e| EngineError::Io(format!("import: {e}")))?
        };
        let (digest, size) = match unpacked {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        };
        let id = format!("sha256:{digest}");
        let tag_ref = if repo.is_empty() {
            None
        } else if tag.is_empty() {
            Some(image::normalize_ref(repo))
        } else {
            Some(format!("{repo}:{tag}"))
        };
        let mut st = self.state.lock().await;
        let final_dir = self.paths.images.join(&digest);
        let mut img = match st.images.get(&id) {
            Some(existing) => {
                let _ = std::fs::remove_dir_all(&staging);
                existing.clone()
            }
            None => {
                if final_dir.exists() {
                    let _ = std::fs::remove_dir_all(&final_dir);
                }
                std::fs::rename(&staging, &final_dir).map_err(io("store image"))?;
                Image {
                    id: id.clone(),
                    repo_tags: vec![],
                    created: Utc::now(),
                    size,
                    cmd: vec![],
                    entrypoint: vec![],
                    env: vec![
                        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                    ],
                    working_dir: String::new(),
                    exposed_ports: vec![],
                }
            }
        };
        let mut changes = Vec::new();
        if let Some(t) = tag_ref {
            // A tag names one image: move it here from wherever it was.
            for other in st.images.values_mut() {
                if other.id != id && other.repo_tags.contains(&t) {
                    other.repo_tags.retain(|x| x != &t);
                    changes.push(berth_store::Change::put(IMAGES, &other.id, &*other)?);
                }
            }
            if !img.repo_tags.contains(&t) {
                img.repo_tags.push(t);
            }
        }
        changes.push(berth_store::Change::put(IMAGES, &img.id, &img)?);
        self.store.apply(changes)?;
        st.images.insert(img.id.clone(), img.clone());
        Ok(img)
    }

    /// Loads the images of a `docker save` archive; returns their names (or IDs).
    pub async fn load(&self, body: Vec<u8>) -> Result<Vec<String>> {
        let dir = self.paths.images.clone();
        let loaded = tokio::task::spawn_blocking(move || load::load(&body, &dir))
            .await
            .map_err(|e| EngineError::Io(format!("load: {e}")))??;
        let mut st = self.state.lock().await;
        let mut changes = Vec::new();
        let mut names = Vec::new();
        for img in loaded {
            for t in &img.repo_tags {
                for other in st.images.values_mut() {
                    if other.id != img.id && other.repo_tags.contains(t) {
                        other.repo_tags.retain(|x| x != t);
                        changes.push(berth_store::Change::put(IMAGES, &other.id, &*other)?);
                    }
                }
            }
            if img.repo_tags.is_empty() {
                names.push(format!("Loaded image ID: {}", img.id));
            } else {
                names.extend(img.repo_tags.iter().map(|t| format!("Loaded image: {t}")));
            }
            changes.push(berth_store::Change::put(IMAGES, &img.id, &img)?);
            st.images.insert(img.id.clone(), img);
        }
        self.store.apply(changes)?;
        Ok(names)
    }

    pub async fn images(&self) -> Vec<Image> {
        let st = self.state.lock().await;
        let mut v: Vec<Image> = st.images.values().cloned().collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.created));
        v
    }

    pub async fn image(&self, key: &str) -> Result<Image> {
        let st = self.state.lock().await;
        image::find(&st.images, key)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("No such image: {key}")))
    }

    pub async fn remove_image(&self, key: &str, force: bool) -> Result<Vec<String>> {
        let mut st = self.state.lock().await;
        let img = image::find(&st.images, key)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("No such image: {key}")))?;
        let tag = image::normalize_ref(key);
        // Untag only, when the image has other names and was named by this one.
        if img.repo_tags.len() > 1 && img.repo_tags.contains(&tag) {
            let mut img = img;
            img.repo_tags.retain(|t| t != &tag);
            self.store.put(IMAGES, &img.id, &img)?;
            st.images.insert(img.id.clone(), img);
            return Ok(vec![format!("Untagged: {tag}")]);
        }
        if let Some(c) = st.containers.values().find(|c| c.image_id == img.id) {
            if !force || c.state.status == Status::Running {
                return Err(EngineError::Conflict(format!(
                    "conflict: unable to remove repository reference \"{key}\" (must force) - container {} is using its referenced image {}",
                    c.short_id(),
                    img.short_id()
                )));
            }
        }
        self.store.delete(IMAGES, &img.id)?;
        st.images.remove(&img.id);
        let _ =
            std::fs::remove_dir_all(self.paths.images.join(img.id.trim_start_matches("sha256:")));
        let mut out: Vec<String> = img
            .repo_tags
            .iter()
            .map(|t| format!("Untagged: {t}"))
            .collect();
        out.push(format!("Deleted: {}", img.id));
        Ok(out)
    }

    // ------------------------------------------------------------ containers

    fn lookup<'a>(st: &'a EngineState, key: &str) -> Result<&'a Container> {
        let key = key.trim_start_matches('/');
        if let Some(c) = st.containers.get(key) {
            return Ok(c);
        }
        if let Some(c) = st.containers.values().find(|c| c.name == key) {
            return Ok(c);
        }
        let hits: Vec<&Container> = st
            .containers
            .values()
            .filter(|c| !key.is_empty() && c.id.starts_with(key))
            .collect();
        match hits.len() {
            1 => Ok(hits[0]),
            0 => Err(EngineError::NotFound(format!("No such container: {key}"))),
            n => Err(EngineError::BadRequest(format!(
                "multiple IDs found with provided prefix: {key} ({n} containers)"
            ))),
        }
    }

    pub async fn container(&self, key: &str) -> Result<Container> {
        let st = self.state.lock().await;
        Self::lookup(&st, key).cloned()
    }

    pub async fn containers(&self, all: bool) -> Vec<Container> {
        let st = self.state.lock().await;
        let mut v: Vec<Container> = st
            .containers
            .values()
            .filter(|c| all || c.state.status == Status::Running)
            .cloned()
            .collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.created));
        v
    }

    /// Resolves and checks a create request; nothing is stored when it is refused.
    pub async fn create(&self, mut spec: ContainerSpec) -> Result<Container> {
        let mut st = self.state.lock().await;
        let img = image::find(&st.images, &spec.image).cloned().ok_or_else(|| {
            EngineError::NotFound(format!(
                "No such image: {}: berth has no registry to pull from; import or load it first (berth import FILE {})",
                image::normalize_ref(&spec.image),
                spec.image
            ))
        })?;
        let id = new_container_id();
        if spec.name.is_empty() {
            spec.name = names::pick(&id, |n| st.containers.values().any(|c| c.name == n));
        }
        spec.name = spec.name.trim_start_matches('/').to_string();
        if !valid_name(&spec.name) {
            return Err(EngineError::BadRequest(format!(
                "Invalid container name ({}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                spec.name
            )));
        }
        if let Some(other) = st.containers.values().find(|c| c.name == spec.name) {
            return Err(EngineError::Conflict(format!(
                "Conflict. The container name \"/{}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                spec.name, other.id
            )));
        }
        if spec.network_mode.is_empty() || spec.network_mode == "default" {
            spec.network_mode = "bridge".into();
        }
        // The docker CLI keys the primary endpoint by the mode's name, which may be "default".
        for (n, _) in spec.networks.iter_mut() {
            if n == "default" {
                *n = "bridge".into();
            }
        }
        let mode = spec.network_mode.clone();
        if let Some(target) = mode.strip_prefix("container:") {
            if !spec.hostname.is_empty() {
                return Err(EngineError::BadRequest(
                    "conflicting options: hostname and the network mode".into(),
                ));
            }
            if !spec.dns.is_empty() || !spec.dns_search.is_empty() || !spec.dns_options.is_empty() {
                return Err(EngineError::BadRequest(
                    "conflicting options: dns and the network mode".into(),
                ));
            }
            if !spec.extra_hosts.is_empty() {
                return Err(EngineError::BadRequest(
                    "conflicting options: custom host-to-IP mapping and the network mode".into(),
                ));
            }
            Self::lookup(&st, target)
                .map_err(|_| EngineError::NotFound(format!("No such container: {target}")))?;
            spec.networks.clear();
        } else if mode == "host" || mode == "none" {
            spec.networks.clear();
            if mode == "host" {
                // Docker's "Published ports are discarded when using host network mode".
                spec.ports.clear();
                spec.publish_all = false;
            }
        } else {
            // The mode names the first network; it must exist now (Docker's 404).
            let first = self
                .ctl
                .get(&mode)
                .await
                .map_err(|_| EngineError::NotFound(format!("network {mode} not found")))?;
            if !spec
                .networks
                .iter()
                .any(|(n, _)| n == &mode || n == &first.name || n == &first.id)
            {
                spec.networks
                    .insert(0, (mode.clone(), NetworkRequest::default()));
            }
            for (n, req) in &spec.networks {
                let net = self
                    .ctl
                    .get(n)
                    .await
                    .map_err(|_| EngineError::NotFound(format!("network {n} not found")))?;
                if (req.ipv4.is_some() || req.ipv6.is_some()) && net.predefined {
                    return Err(EngineError::BadRequest(
                        "user specified IP address is supported on user defined networks only"
                            .into(),
                    ));
                }
                if let Some(mac) = &req.mac {
                    parse_mac(mac).ok_or_else(|| {
                        EngineError::BadRequest(format!("invalid MAC address: {mac}"))
                    })?;
                }
            }
        }
        if !spec.mac_address.is_empty() && parse_mac(&spec.mac_address).is_none() {
            return Err(EngineError::BadRequest(format!(
                "invalid MAC address: {}",
                spec.mac_address
            )));
        }
        for (target, _) in &spec.links {
            Self::lookup(&st, target).map_err(|_| {
                EngineError::NotFound(format!(
                    "could not get container for {target}: No such container: {target}"
                ))
            })?;
        }
        let gw = self.host_gateway().await;
        for h in &spec.extra_hosts {
            parse_extra_host(h, gw)?;
        }
        for d in &spec.dns {
            d.parse::<IpAddr>().map_err(|_| {
                EngineError::BadRequest(format!(
                    "invalid argument \"{d}\" for \"--dns\" flag: {d} is not an ip address"
                ))
            })?;
        }
        // A fixed host port berth already publishes fails here, before a container exists.
        self.ctl.check_ports(&spec.ports)?;
        let hostname = if spec.hostname.is_empty() {
            id[..12].to_string()
        } else {
            spec.hostname.clone()
        };
        let c = Container {
            id: id.clone(),
            name: spec.name.clone(),
            created: Utc::now(),
            image_id: img.id.clone(),
            spec,
            hostname,
            state: State {
                status: Status::Created,
                pid: 0,
                exit_code: 0,
                started_at: None,
                finished_at: None,
                error: String::new(),
                manually_stopped: false,
                restart_count: 0,
                releasing: false,
            },
            sandbox_id: None,
            sandbox_key: String::new(),
        };
        let dir = c.dir(&self.paths.containers);
        std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
        self.store.put(CONTAINERS, &c.id, &c)?;
        st.containers.insert(c.id.clone(), c.clone());
        Ok(c)
    }

    async fn host_gateway(&self) -> IpAddr {
        self.ctl
            .get("bridge")
            .await
            .ok()
            .and_then(|b| b.subnets.first().map(|s| s.gateway))
            .unwrap_or(IpAddr::from([172, 17, 0, 1]))
    }

    async fn save(&self, st: &mut EngineState, c: Container) -> Result<()> {
        self.store.put(CONTAINERS, &c.id, &c)?;
        st.containers.insert(c.id.clone(), c);
        Ok(())
    }

    /// Starts a created or exited container.
    pub async fn start_container(self: &Arc<Self>, key: &str) -> Result<()> {
        let mut st = self.state.lock().await;
        let mut c = Self::lookup(&st, key)?.clone();
        if c.state.status == Status::Running {
            return Err(EngineError::NotModified("container already started".into()));
        }
        let img = st.images.get(&c.image_id).cloned();
        let joined = match c.spec.network_mode.strip_prefix("container:") {
            Some(target) => {
                let t = Self::lookup(&st, target)?.clone();
                if t.state.status != Status::Running {
                    return Err(EngineError::Conflict(format!(
                        "cannot join network namespace of a non running container: {}",
                        t.name
                    )));
                }
                Some(t)
            }
            None => None,
        };
        if c.state.started_at.is_some() {
            // Started before: make sure the runtime has forgotten the previous run.
            let runtime = self.runtime.clone();
            let rid = c.id.clone();
            let _ = tokio::task::spawn_blocking(move || runtime.delete(&rid, true)).await;
        }
        let mut links = Vec::new();
        for (target, alias) in &c.spec.links {
            let t = Self::lookup(&st, target)?.clone();
            if t.state.status != Status::Running {
                return Err(EngineError::Conflict(format!(
                    "Cannot link to a non running container: /{} AS /{}/{alias}",
                    t.name, c.name
                )));
            }
            let t_img = st.images.get(&t.image_id);
            let ports = Self::exposed_ports(&t, t_img);
            let env: Vec<String> = t_img
                .map(|i| i.env.clone())
                .unwrap_or_default()
                .into_iter()
                .chain(t.spec.env.iter().cloned())
                .collect();
            links.push(LinkTarget {
                container: t,
                ports,
                env,
            });
        }
        let links = self.resolve_links(&c, &links).await;
        match self
            .launch(&mut c, img.as_ref(), joined.as_ref(), &links)
            .await
        {
            Ok(started) => {
                let pid = started.pid;
                if let Err(e) = self.keep_stdio(&c, started).await {
                    tracing::warn!(container = %c.name, error = %e, "cannot keep the container's terminal or stdin");
                }
                c.state = State {
                    status: Status::Running,
                    pid,
                    exit_code: 0,
                    started_at: Some(Utc::now()),
                    finished_at: None,
                    error: String::new(),
                    manually_stopped: false,
                    restart_count: c.state.restart_count,
                    releasing: false,
                };
                let id = c.id.clone();
                self.save(&mut st, c).await?;
                self.watch(id, pid);
                Ok(())
            }
            Err(e) => {
                self.cleanup(&mut c).await;
                c.state.error = e.to_string();
                self.save(&mut st, c).await?;
                Err(e)
            }
        }
    }

    /// Network, root filesystem, /etc files, bundle, runtime: returns the init PID.
    async fn launch(
        &self,
        c: &mut Container,
        img: Option<&Image>,
        joined: Option<&Container>,
        links: &ResolvedLinks,
    ) -> Result<runtime::Started> {
        let dir = c.dir(&self.paths.containers);
        let mode = c.spec.network_mode.clone();
        let host_resolv = std::fs::read_to_string(&self.paths.host_resolv).unwrap_or_default();
        let (hosts_file, resolv_file, hostname_file) = (
            dir.join("hosts"),
            dir.join("resolv.conf"),
            dir.join("hostname"),
        );
        let mut netns: Option<PathBuf> = None;
        let mut etc_dir = dir.clone();
        if let Some(t) = joined {
            // container: mode shares the target's namespace and its /etc files.
            c.hostname = t.hostname.clone();
            c.sandbox_key = t.sandbox_key.clone();
            if !t.sandbox_key.is_empty() {
                netns = Some(PathBuf::from(&t.sandbox_key));
            }
            etc_dir = t.dir(&self.paths.containers);
        } else if mode == "host" {
            c.hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            let hosts = std::fs::read_to_string(&self.paths.host_hosts).unwrap_or_default();
            std::fs::write(&hosts_file, hosts).map_err(io("write hosts"))?;
            std::fs::write(&resolv_file, &host_resolv).map_err(io("write resolv.conf"))?;
            c.sandbox_key = String::new();
        } else {
            // A fresh sandbox per start: the previous one may still be going away.
            let networks = c
                .spec
                .networks
                .iter()
                .enumerate()
                .map(|(i, (name, req))| {
                    // --mac-address is the first network's, as in Docker.
                    let mac = req
                        .mac
                        .as_deref()
                        .or((!c.spec.mac_address.is_empty() && i == 0)
                            .then_some(c.spec.mac_address.as_str()))
                        .and_then(parse_mac);
                    let opts = EndpointOptions {
                        owner: c.id.clone(),
                        name: c.name.clone(),
                        ipv4: req.ipv4,
                        ipv6: req.ipv6,
                        mac,
                        aliases: req.aliases.clone(),
                    };
                    (name.clone(), opts)
                })
                .collect();
            let dns = c.spec.dns.iter().filter_map(|d| d.parse().ok()).collect();
            let (sb, endpoints) = self
                .ctl
                .create_sandbox_with(&new_container_id(), SandboxOptions { dns, networks })
                .await?;
            c.sandbox_id = Some(sb.id.clone());
            c.sandbox_key = sb.path.display().to_string();
            netns = Some(sb.path.clone());
            let first_ip = endpoints
                .first()
                .and_then(|ep| ep.ipv4.map(|a| a.addr()).or(ep.ipv6.map(|a| a.addr())));
            let mut embedded = false;
            for ep in &endpoints {
                embedded |= !self.ctl.get(&ep.network_id).await?.predefined;
            }
            if !links.holes.is_empty() {
                self.ctl.open_links(&sb.id, &links.holes).await?;
            }
            let reqs = Self::port_requests(c, img);
            if !reqs.is_empty() {
                self.ctl.publish(&sb.id, &reqs).await?;
            }
            let gw = self.host_gateway().await;
            let extra: Vec<(String, IpAddr)> = c
                .spec
                .extra_hosts
                .iter()
                .map(|h| parse_extra_host(h, gw))
                .collect::<Result<_>>()?;
            let hosts = if mode == "none" {
                etcfiles::hosts_localhost_only()
            } else {
                etcfiles::hosts(&etcfiles::HostsSpec {
                    hostname: &c.hostname,
                    domainname: &c.spec.domainname,
                    own_ip: first_ip,
                    extra: &extra,
                    links: &links.hosts,
                })
            };
            std::fs::write(&hosts_file, hosts).map_err(io("write hosts"))?;
            let dns = if c.spec.dns.is_empty() {
                &self.dns
            } else {
                &c.spec.dns
            };
            let resolv = etcfiles::resolv_conf(
                embedded,
                &host_resolv,
                if embedded { &[] } else { dns },
                &c.spec.dns_search,
                &c.spec.dns_options,
            );
            std::fs::write(&resolv_file, resolv).map_err(io("write resolv.conf"))?;
        }
        if joined.is_none() {
            std::fs::write(&hostname_file, format!("{}\n", c.hostname))
                .map_err(io("write hostname"))?;
        }
        let lower = img
            .map(|i| image::rootfs(&self.paths.images, i))
            .ok_or_else(|| {
                EngineError::NotFound(format!("image {} of this container is gone", c.image_id))
            })?;
        let root = runtime::Overlay {
            lower,
            upper: dir.join("upper"),
            work: dir.join("work"),
            target: dir.join("rootfs"),
        };
        let mut env = img.map(|i| i.env.clone()).unwrap_or_default();
        env.push(format!("HOSTNAME={}", c.hostname));
        env.extend(links.env.iter().cloned());
        if c.spec.tty {
            // As Docker: a terminal gets a TERM unless the user sets one.
            env.push("TERM=xterm".into());
        }
        for e in &c.spec.env {
            let key = e.split('=').next().unwrap_or_default();
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        let args = c.args(img);
        if args.is_empty() {
            return Err(EngineError::BadRequest("no command specified".into()));
        }
        let cwd = if c.spec.working_dir.is_empty() {
            img.map(|i| i.working_dir.clone()).unwrap_or_default()
        } else {
            c.spec.working_dir.clone()
        };
        bundle::write(
            &dir,
            &bundle::BundleSpec {
                args,
                env,
                cwd,
                hostname: c.hostname.clone(),
                domainname: c.spec.domainname.clone(),
                netns: netns.map(|p| self.runtime.ns_path(&p)).as_deref(),
                etc_files: vec![
                    (etc_dir.join("hosts"), "/etc/hosts"),
                    (etc_dir.join("resolv.conf"), "/etc/resolv.conf"),
                    (etc_dir.join("hostname"), "/etc/hostname"),
                ],
                terminal: c.spec.tty,
                cgroups_path: cgroups::container_path(&self.runtime.cgroup_parent, &c.id),
            },
        )?;
        let runtime = self.runtime.clone();
        let (id, out, err) = (c.id.clone(), dir.join("stdout.log"), dir.join("stderr.log"));
        let io = runtime::RunIo {
            tty: c.spec.tty,
            stdin: c.spec.open_stdin,
        };
        tokio::task::spawn_blocking(move || runtime.run(&id, &dir, &root, (&out, &err), io))
            .await
            .map_err(|e| EngineError::Runtime(format!("start: {e}")))?
    }

    /// The ports to publish: `-p` bindings, then with `-P` every other exposed port (the
    /// container's and the image's) on an ephemeral port of every address.
    fn port_requests(c: &Container, img: Option<&Image>) -> Vec<PortRequest> {
        let mut reqs = c.spec.ports.clone();
        if c.spec.publish_all {
            for (port, proto) in Self::exposed_ports(c, img) {
                if !reqs
                    .iter()
                    .any(|r| r.container_port == port && r.proto == proto)
                {
                    reqs.push(PortRequest {
                        proto,
                        container_port: port,
                        host_ip: None,
                        host_ports: None,
                    });
                }
            }
        }
        reqs
    }

    /// Every exposed port of a container: its own `--expose` and `-p`, and its image's.
    pub fn exposed_ports(c: &Container, img: Option<&Image>) -> Vec<(u16, Proto)> {
        let mut v: Vec<(u16, Proto)> = c.spec.exposed.clone();
        v.extend(c.spec.ports.iter().map(|r| (r.container_port, r.proto)));
        for e in img.map(|i| i.exposed_ports.as_slice()).unwrap_or_default() {
            let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
            let proto = match proto {
                "udp" => Proto::Udp,
                _ => Proto::Tcp,
            };
            if let Ok(p) = port.parse() {
                v.push((p, proto));
            }
        }
        v.sort();
        v.dedup();
        v
    }

    /// The ports a container publishes now (empty when it is not running).
    pub async fn published(&self, c: &Container) -> Vec<Published> {
        match &c.sandbox_id {
            Some(sb) => self
                .ctl
                .sandbox(sb)
                .await
                .map(|s| s.ports)
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// Releases what a started container held: runtime state, network, root filesystem.
    /// Slow (a runtime process and kernel work), so callers run it outside the state lock.
    async fn release(&self, id: &str, sandbox: Option<String>, name: &str) {
        let runtime = self.runtime.clone();
        let rid = id.to_string();
        // A plain delete of a stopped container is quick; --force polls, so it is the fallback.
        let _ = tokio::task::spawn_blocking(move || {
            runtime
                .delete(&rid, false)
                .or_else(|_| runtime.delete(&rid, true))
        })
        .await;
        if let Some(sb) = sandbox {
            if let Err(e) = self.ctl.remove_sandbox(&sb).await {
                tracing::warn!(container = %name, error = %e, "cannot remove sandbox");
            }
        }
        let rootfs = self.paths.containers.join(id).join("rootfs");
        let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
    }

    /// `release` for a container record, clearing its network fields.
    async fn cleanup(&self, c: &mut Container) {
        let sb = c.sandbox_id.take();
        c.sandbox_key.clear();
        self.release(&c.id, sb, &c.name).await;
    }

    /// Marks a container exited (if its init is gone) and releases its resources.
    async fn check_exit(self: &Arc<Self>, id: &str, at_start: bool) -> bool {
        match self.record_exit(id, None).await {
            Some(exit) => {
                self.finish_exit(exit, at_start).await;
                true
            }
            None => false,
        }
    }

    /// Records the exit of a container whose init is gone; what is left to release comes back.
    /// `ended` is the init's PID and exit code when the caller has reaped it already; without
    /// it the init is reaped here if it has ended.
    async fn record_exit(&self, id: &str, ended: Option<(u32, i32)>) -> Option<Exit> {
        let mut st = self.state.lock().await;
        let mut c = st.containers.get(id).cloned()?;
        if c.state.status != Status::Running || c.state.pid == 0 {
            return None;
        }
        let code = match ended {
            Some((pid, code)) if pid == c.state.pid => code,
            Some(_) => return None,
            None => reaper::try_reap(c.state.pid)?,
        };
        self.drop_stdio(id);
        let sandbox = c.sandbox_id.clone();
        c.state.status = Status::Exited;
        c.state.releasing = true;
        c.state.exit_code = code;
        c.state.pid = 0;
        c.state.finished_at = Some(Utc::now());
        let (cid, name, auto_remove) = (c.id.clone(), c.name.clone(), c.spec.auto_remove);
        if auto_remove {
            st.containers.remove(&cid);
            let _ = self.store.delete(CONTAINERS, &cid);
            self.removed_codes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(cid.clone(), code);
        } else if let Err(e) = self.save(&mut st, c).await {
            tracing::error!(container = %cid, error = %e, "cannot record exit");
        }
        Some(Exit {
            id: cid,
            name,
            sandbox,
            auto_remove,
            code,
        })
    }

    async fn finish_exit(self: &Arc<Self>, exit: Exit, at_start: bool) {
        self.release(&exit.id, exit.sandbox, &exit.name).await;
        {
            let mut st = self.state.lock().await;
            if let Some(mut c) = st.containers.get(&exit.id).cloned() {
                c.sandbox_id = None;
                c.sandbox_key.clear();
                c.state.releasing = false;
                let _ = self.save(&mut st, c).await;
            }
        }
        if exit.auto_remove {
            let _ = std::fs::remove_dir_all(self.paths.containers.join(&exit.id));
        }
        if !at_start {
            tracing::debug!(container = %exit.id, code = exit.code, "container exited");
        }
        self.exited.notify_waiters();
        self.apply_restart_policy(&exit.id).await;
    }

    /// Restarts an exited container when its policy says so, with Docker's doubling delay
    /// (100 ms, 200 ms, … capped at a minute; back to 100 ms after a run of 10 s or more).
    async fn apply_restart_policy(self: &Arc<Self>, id: &str) {
        let Ok(c) = self.container(id).await else {
            return;
        };
        if c.state.status != Status::Exited
            || !c.spec.restart.wants_restart(
                c.state.exit_code,
                c.state.restart_count,
                c.state.manually_stopped,
            )
        {
            return;
        }
        let ran = match (c.state.started_at, c.state.finished_at) {
            (Some(s), Some(f)) => (f - s).num_seconds(),
            _ => 0,
        };
        let count = if ran >= 10 { 0 } else { c.state.restart_count };
        let delay = Duration::from_millis(100u64 << count.min(9)).min(Duration::from_secs(60));
        let me = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            {
                let mut st = me.state.lock().await;
                let Some(c) = st.containers.get(&id).cloned() else {
                    return;
                };
                // Stopped, removed or started by hand in the meantime: the policy stands down.
                if c.state.status != Status::Exited || c.state.manually_stopped {
                    return;
                }
                let mut c = c;
                c.state.restart_count = count + 1;
                if me.save(&mut st, c).await.is_err() {
                    return;
                }
            }
            if let Err(e) = me.start_container(&id).await {
                tracing::warn!(container = %id, error = %e, "restart policy: start failed");
            }
        });
    }

    async fn mark_manually_stopped(&self, id: &str) {
        let mut st = self.state.lock().await;
        if let Some(mut c) = st.containers.get(id).cloned() {
            c.state.manually_stopped = true;
            let _ = self.save(&mut st, c).await;
        }
    }

    /// Watches one container's init through a pidfd: the kernel wakes exactly this task when
    /// that process ends, so the cost of an exit does not grow with the number of containers.
    fn watch(self: &Arc<Self>, id: String, pid: u32) {
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = wait_exit(pid).await {
                tracing::warn!(container = %id, error = %e, "cannot watch the container's init; polling");
                while Path::new(&format!("/proc/{pid}")).exists() {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            let code = reaper::exit_code(pid).await;
            me.drain_stdio(&id).await;
            if let Some(exit) = me.record_exit(&id, Some((pid, code))).await {
                me.finish_exit(exit, false).await;
            }
        });
    }

    /// Sends a signal (`SIGTERM`, `KILL`, `9` …) to the container's init. The PID cannot be
    /// reused while the init is unreaped, and the daemon is the one that reaps it.
    pub async fn kill(&self, key: &str, signal: &str) -> Result<()> {
        let c = self.container(key).await?;
        if c.state.status != Status::Running || c.state.pid == 0 {
            return Err(EngineError::Conflict(format!(
                "Cannot kill container: {}: container {} is not running",
                key, c.id
            )));
        }
        let sig = normalize_signal(signal)?;
        if sig == nix::sys::signal::Signal::SIGKILL {
            // As Docker: a kill by hand is a manual stop for the restart policy.
            self.mark_manually_stopped(&c.id).await;
        }
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.state.pid as i32), sig)
            .map_err(|e| EngineError::Runtime(format!("cannot signal container {}: {e}", c.name)))
    }

    /// Waits until the container is not running; returns its exit code.
    pub async fn wait(&self, key: &str, timeout: Option<Duration>) -> Result<i32> {
        self.wait_for(key, WaitCondition::NotRunning, timeout).await
    }

    /// Waits for `cond`; returns the exit code.
    pub async fn wait_for(
        &self,
        key: &str,
        cond: WaitCondition,
        timeout: Option<Duration>,
    ) -> Result<i32> {
        let first = self.container(key).await?;
        let id = first.id.clone();
        let seen_exit = first.state.finished_at;
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let notified = self.exited.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.state.lock().await;
                match st.containers.get(&id) {
                    Some(c) => {
                        let settled = c.state.status != Status::Running && !c.state.releasing;
                        let done = match cond {
                            WaitCondition::NotRunning => settled,
                            WaitCondition::NextExit => settled && c.state.finished_at != seen_exit,
                            WaitCondition::Removed => false,
                        };
                        if done {
                            return Ok(c.state.exit_code);
                        }
                    }
                    // Gone: removed on exit (--rm) or by hand.
                    None => {
                        let codes = self.removed_codes.lock().unwrap_or_else(|p| p.into_inner());
                        return Ok(codes.get(&id).copied().unwrap_or(first.state.exit_code));
                    }
                }
            }
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d, notified).await.is_err() {
                        return Err(EngineError::Runtime(
                            "timed out waiting for the container".into(),
                        ));
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Whether the container has exited since `since` (its `finished_at` then), or is gone.
    pub async fn exited_since(&self, id: &str, since: Option<DateTime<Utc>>) -> bool {
        let st = self.state.lock().await;
        match st.containers.get(id) {
            Some(c) => {
                c.state.status != Status::Running
                    && !c.state.releasing
                    && c.state.finished_at != since
            }
            None => true,
        }
    }

    /// SIGTERM, then SIGKILL after `timeout`; returns once the container has exited.
    pub async fn stop(&self, key: &str, timeout: Duration) -> Result<()> {
        let c = self.container(key).await?;
        if c.state.status != Status::Running {
            return Err(EngineError::NotModified("container already stopped".into()));
        }
        self.mark_manually_stopped(&c.id).await;
        let _ = self.kill(&c.id, "SIGTERM").await;
        if self.wait(&c.id, Some(timeout)).await.is_err() {
            let _ = self.kill(&c.id, "SIGKILL").await;
            self.wait(&c.id, Some(Duration::from_secs(10))).await?;
        }
        Ok(())
    }

    /// Removes a container; a running one only with `force` (killed first).
    pub async fn remove(&self, key: &str, force: bool) -> Result<()> {
        let c = self.container(key).await?;
        if c.state.status == Status::Running {
            if !force {
                return Err(EngineError::Conflict(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    c.id
                )));
            }
            let _ = self.kill(&c.id, "SIGKILL").await;
        }
        // Also lets an exit's release finish, so that nothing of it outlives the record.
        self.wait(&c.id, Some(Duration::from_secs(10))).await?;
        let removed = {
            let mut st = self.state.lock().await;
            let gone = st.containers.remove(&c.id);
            if gone.is_some() {
                self.store.delete(CONTAINERS, &c.id)?;
            }
            gone
        };
        if let Some(mut c) = removed {
            if c.sandbox_id.is_some() {
                self.cleanup(&mut c).await;
            } else {
                // Exited containers were released when they exited; only the mount point may be left.
                let _ = nix::mount::umount2(
                    &c.dir(&self.paths.containers).join("rootfs"),
                    nix::mount::MntFlags::MNT_DETACH,
                );
            }
            let dir = c.dir(&self.paths.containers);
            std::fs::remove_dir_all(&dir)
                .or_else(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .map_err(io(format!("remove {}", dir.display())))?;
        }
        Ok(())
    }

    /// The container's stdout and stderr logs.
    pub async fn logs(&self, key: &str) -> Result<(Vec<u8>, Vec<u8>)> {
        let c = self.container(key).await?;
        let dir = c.dir(&self.paths.containers);
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap_or_default();
        Ok((read("stdout.log"), read("stderr.log")))
    }

    /// MAC address text for API output.
    pub fn mac_text(mac: &[u8; 6]) -> String {
        format_mac(mac)
    }

    pub async fn image_by_id(&self, id: &str) -> Option<Image> {
        self.state.lock().await.images.get(id).cloned()
    }
}

fn normalize_signal(signal: &str) -> Result<nix::sys::signal::Signal> {
    use nix::sys::signal::Signal;
    use std::str::FromStr;
    let s = signal.trim().to_uppercase();
    if s.is_empty() {
        return Ok(Signal::SIGKILL);
    }
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n)
            .map_err(|_| EngineError::BadRequest(format!("Invalid signal: {signal}")));
    }
    let name = if s.starts_with("SIG") {
        s
    } else {
        format!("SIG{s}")
    };
    Signal::from_str(&name)
        .map_err(|_| EngineError::BadRequest(format!("Invalid signal: {signal}")))
}

/// Resolves when process `pid` has ended (at once if it is already gone).
pub(crate) async fn wait_exit(pid: u32) -> std::io::Result<()> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ESRCH) {
            Ok(())
        } else {
            Err(e)
        };
    }
    // SAFETY: the descriptor was just returned to us and is owned by nothing else.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: `owned` is a valid open pidfd, moved into the AsyncFd that keeps it until dropped.
    let afd = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE)
    }
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    let _ready = afd.readable().await?;
    Ok(())
}

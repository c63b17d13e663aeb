//! The container model: what a container asks for (its spec) and what it is (its state).

use super::image::Image;
use super::restart::RestartPolicy;
use berth_net::firewall::Proto;
use berth_net::portmap::PortRequest;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

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
    /// Being removed: stored before anything of it is taken apart, so that a daemon that dies
    /// half-way finishes the removal at its next start.
    #[serde(default)]
    pub removing: bool,
    /// Frozen by `pause` (its cgroup freezer) while running.
    #[serde(default)]
    pub paused: bool,
}

impl State {
    /// The state Docker names: "removing" while a removal is under way (after a crash, until
    /// the restart's repair finishes it), the status otherwise.
    pub fn name(&self) -> &'static str {
        if self.removing {
            "removing"
        } else {
            self.status.as_str()
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
    /// Mounts, user, capabilities, limits, init (runopts.rs).
    #[serde(default)]
    pub run: super::runopts::RunOptions,
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

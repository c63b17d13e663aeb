//! The engine: images and containers. It persists intent in the store, asks the network layer
//! for sandboxes and endpoints, and runs processes through the OCI runtime.

pub mod archive;
mod boot;
mod bundle;
pub mod cgroups;
mod connect;
mod create;
mod error;
pub mod etcfiles;
pub mod events;
pub mod exec;
mod exit;
pub mod fd;
pub mod health;
pub mod image;
mod image_store;
mod image_tag;
pub mod keeper;
pub mod kernelopts;
mod launch;
mod links;
mod load;
pub mod logs;
mod model;
mod names;
mod pause;
mod ports;
pub mod pull;
mod reach;
pub mod reaper;
mod remove;
mod rename;
mod restart;
pub mod runopts;
mod runtime;
mod save;
pub mod stats;
pub mod stdio;
mod stop;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_release;
mod top;
pub mod validate;
pub mod volumes;
mod wait;

pub use error::{EngineError, Result};
pub use model::{Container, ContainerSpec, NetworkRequest, Status};
pub use restart::RestartPolicy;
pub use runtime::oci::OciRuntime;
pub use runtime::{Runtime, RuntimeError};
pub use wait::WaitCondition;

use berth_net::endpoint::format_mac;
use berth_net::Controller;
use berth_store::{Change, Store, Table};
use image::Image;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{Mutex, Notify};

const IMAGES: Table = Table("images");
const CONTAINERS: Table = Table("containers");

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
    /// Exited containers their restart policy brings back after its delay: decided when the
    /// exit is recorded, so that a `stop` landing in the delay finds it and makes it final.
    restarting: BTreeSet<String>,
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
    runtime: Arc<dyn Runtime>,
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
    /// One lock per container, held across its start, stop and removal: those take a runtime
    /// process and kernel work, so they serialise per container while the map lock above is
    /// only ever held for moments.
    ops: std::sync::Mutex<BTreeMap<String, Arc<Mutex<()>>>>,
    /// What readers see: a copy of the containers, updated under the map lock once each change
    /// is stored. Reads (`ps`, `inspect`) take only this short, never-awaited lock, so they do
    /// not queue behind the store's fsyncs that writers make under the map lock.
    view: std::sync::RwLock<BTreeMap<String, Container>>,
    /// What happened, for `/events`.
    pub events: events::Events,
    /// Containers' health, from their healthchecks.
    health: health::Monitors,
    /// Where pulls may go (daemon.json `insecure-registries`, `registry-mirrors`).
    registry: std::sync::RwLock<berth_image::registry::RegistryOptions>,
}

fn new_container_id() -> String {
    berth_net::network::new_id()
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> EngineError {
    let context = what.to_string();
    move |source| EngineError::Os { context, source }
}

impl Engine {
    fn lookup<'a>(st: &'a EngineState, key: &str) -> Result<&'a Container> {
        Self::lookup_in(&st.containers, key)
    }

    fn lookup_in<'a>(all: &'a BTreeMap<String, Container>, key: &str) -> Result<&'a Container> {
        let key = key.trim_start_matches('/');
        if let Some(c) = all.get(key) {
            return Ok(c);
        }
        if let Some(c) = all.values().find(|c| c.name == key) {
            return Ok(c);
        }
        let hits: Vec<&Container> = all
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

    fn read_view(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Container>> {
        self.view.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Mirrors a change of the map into the readers' view; called with the map lock held.
    fn publish(&self, id: &str, c: Option<&Container>) {
        let mut v = self.view.write().unwrap_or_else(|p| p.into_inner());
        match c {
            Some(c) => {
                v.insert(id.to_string(), c.clone());
            }
            None => {
                v.remove(id);
            }
        }
    }

    pub async fn container(&self, key: &str) -> Result<Container> {
        Self::lookup_in(&self.read_view(), key).cloned()
    }

    pub async fn containers(&self, all: bool) -> Vec<Container> {
        let mut v: Vec<Container> = self
            .read_view()
            .values()
            .filter(|c| all || c.state.status == Status::Running)
            .cloned()
            .collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.created));
        v
    }

    /// The lock that serialises `id`'s start, stop and removal.
    fn op_lock(&self, id: &str) -> Arc<Mutex<()>> {
        self.ops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    fn forget_op_lock(&self, id: &str) {
        self.ops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Stores the record, then shows it. The commit is awaited, not blocked on, so the
    /// runtime's threads go on meanwhile; the map lock the caller holds keeps the store in the
    /// map's order.
    async fn save(&self, st: &mut EngineState, c: Container) -> Result<()> {
        self.store
            .submit(vec![Change::put(CONTAINERS, &c.id, &c)?])
            .durable()
            .await?;
        self.publish(&c.id, Some(&c));
        st.containers.insert(c.id.clone(), c);
        Ok(())
    }

    /// Queues the record's commit under the map lock (so the store sees changes in the map's
    /// order) and shows it at once; the caller awaits the commit after releasing the lock, so
    /// that other containers' changes share its fsync instead of queueing behind it.
    fn save_queued(&self, st: &mut EngineState, c: Container) -> Result<berth_store::Commit> {
        let commit = self.store.submit(vec![Change::put(CONTAINERS, &c.id, &c)?]);
        self.publish(&c.id, Some(&c));
        st.containers.insert(c.id.clone(), c);
        Ok(commit)
    }

    /// As `save_queued`, for a change nobody waits for: one the next start redoes if a crash
    /// loses it (see `Store::enqueue`).
    fn save_lazily(&self, st: &mut EngineState, c: Container) -> Result<()> {
        self.store
            .enqueue(vec![Change::put(CONTAINERS, &c.id, &c)?]);
        self.publish(&c.id, Some(&c));
        st.containers.insert(c.id.clone(), c);
        Ok(())
    }

    /// MAC address text for API output.
    pub fn mac_text(mac: &[u8; 6]) -> String {
        format_mac(mac)
    }
}

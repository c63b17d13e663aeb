//! Volumes of the `local` driver: a directory `<data-root>/volumes/<name>/_data` and a record in
//! the store. Named volumes are made by `volume create` or by the first container that mounts
//! them; anonymous ones by a container's `Config.Volumes`.

use super::runopts::{MountKind, MountSpec};
use super::{io, Engine, EngineError, EngineState, Result};
use berth_store::Table;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

const VOLUMES: Table = Table("volumes");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub created: DateTime<Utc>,
    pub labels: BTreeMap<String, String>,
    /// Made for one container (`-v /path`, `Config.Volumes`); pruned by default.
    pub anonymous: bool,
}

/// Docker's rule: two characters at least, `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    name.len() >= 2
        && c.next().is_some_and(|f| f.is_ascii_alphanumeric())
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '_' | '.' | '-'))
}

impl Engine {
    fn volumes_dir(&self) -> PathBuf {
        // The data root holds containers/, images/ and volumes/ side by side.
        self.paths.containers.with_file_name("volumes")
    }

    /// Where a volume's files live on the host.
    pub fn volume_path(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name).join("_data")
    }

    fn volume_get(&self, name: &str) -> Result<Option<Volume>> {
        Ok(self.store.get::<Volume>(VOLUMES, name)?)
    }

    /// Makes a volume unless it exists; returns it.
    fn volume_make(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<Volume> {
        if let Some(v) = self.volume_get(name)? {
            return Ok(v);
        }
        if !valid_name(name) {
            return Err(EngineError::BadRequest(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        let path = self.volume_path(name);
        std::fs::create_dir_all(&path).map_err(io(format!("create {}", path.display())))?;
        let v = Volume {
            name: name.to_string(),
            created: Utc::now(),
            labels,
            anonymous,
        };
        self.store.put(VOLUMES, name, &v)?;
        Ok(v)
    }

    /// `volume create`: a new name, or the existing volume of that name (as Docker's).
    pub async fn volume_create(
        &self,
        name: Option<String>,
        driver: &str,
        opts: &BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
    ) -> Result<Volume> {
        if !matches!(driver, "" | "local") {
            return Err(EngineError::NotFound(format!(
                "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        if let Some(k) = opts.keys().next() {
            return Err(EngineError::BadRequest(format!(
                "volume driver option {k} is not supported by berth's local driver (no device mounts)"
            )));
        }
        let _st = self.state.lock().await;
        let anonymous = name.as_deref().is_none_or(str::is_empty);
        let name = name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(berth_net::network::new_id);
        self.volume_make(&name, labels, anonymous)
    }

    pub async fn volumes(&self) -> Result<Vec<Volume>> {
        Ok(self
            .store
            .list::<Volume>(VOLUMES)?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    pub async fn volume(&self, name: &str) -> Result<Volume> {
        self.volume_get(name)?
            .ok_or_else(|| EngineError::NotFound(format!("get {name}: no such volume")))
    }

    /// IDs of the containers that mount a volume.
    fn volume_users(st: &EngineState, name: &str) -> Vec<String> {
        st.containers
            .values()
            .filter(|c| {
                c.spec
                    .run
                    .mounts
                    .iter()
                    .any(|m| m.kind == MountKind::Volume && m.source == name)
            })
            .map(|c| c.id.clone())
            .collect()
    }

    /// Names of the volumes some container mounts.
    pub async fn volumes_in_use(&self) -> Vec<String> {
        let st = self.state.lock().await;
        let mut v: Vec<String> = st
            .containers
            .values()
            .flat_map(|c| c.spec.run.mounts.iter())
            .filter(|m| m.kind == MountKind::Volume)
            .map(|m| m.source.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let st = self.state.lock().await;
        if self.volume_get(name)?.is_none() {
            if force {
                return Ok(());
            }
            return Err(EngineError::NotFound(format!("get {name}: no such volume")));
        }
        let users = Self::volume_users(&st, name);
        if !users.is_empty() {
            return Err(EngineError::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        self.volume_delete(name)
    }

    fn volume_delete(&self, name: &str) -> Result<()> {
        let dir = self.volumes_dir().join(name);
        // The record goes first: a crash in between leaves a directory that no record explains,
        // never a record whose files are half gone.
        self.store.delete(VOLUMES, name)?;
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(super::io(format!("remove {}", dir.display()))(e)),
        }
    }

    /// `volume prune`: unused volumes that `keep` does not spare; returns (names, bytes freed).
    pub async fn volume_prune(&self, keep: impl Fn(&Volume) -> bool) -> Result<(Vec<String>, u64)> {
        let st = self.state.lock().await;
        let mut removed = Vec::new();
        let mut bytes = 0;
        for (_, v) in self.store.list::<Volume>(VOLUMES)? {
            if keep(&v) || !Self::volume_users(&st, &v.name).is_empty() {
                continue;
            }
            bytes += dir_bytes(&self.volume_path(&v.name));
            self.volume_delete(&v.name)?;
            removed.push(v.name);
        }
        Ok((removed, bytes))
    }

    /// At create: named volumes are made if missing, anonymous ones get a fresh name.
    pub(super) fn prepare_volumes(&self, mounts: &mut [MountSpec]) -> Result<()> {
        for m in mounts.iter_mut().filter(|m| m.kind == MountKind::Volume) {
            if m.source.is_empty() {
                m.source = berth_net::network::new_id();
                m.anonymous = true;
            }
            self.volume_make(&m.source, BTreeMap::new(), m.anonymous)?;
        }
        Ok(())
    }
}

pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

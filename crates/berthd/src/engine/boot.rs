//! The engine at daemon start: state loaded from the store, every intent a crash left
//! finished or undone, what the kernel and the runtime hold that no record explains removed,
//! running containers found again.

use super::exit::unmount_root;
use super::image::Image;
use super::model::Container;
use super::{
    cgroups, exec, io, keeper, Engine, EnginePaths, EngineState, Result, Runtime, Status,
    CONTAINERS, IMAGES,
};
use berth_net::Controller;
use berth_store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::{Mutex, Notify};

/// How many repairs run at once after a restart: enough to overlap runtime processes, few
/// enough not to crowd out the API.
const REPAIRS_AT_ONCE: usize = 8;

/// What a container needs after a crash.
enum Repair {
    /// Its exit happened while the daemon was away: release and restart policy.
    Exit(super::Exit),
    /// A removal was cut short: finish it.
    Removal,
    /// An exit's release was cut short: finish it.
    Release,
}

fn is_container_id(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Engine {
    pub async fn start(
        store: Arc<Store>,
        ctl: Arc<Controller>,
        runtime: impl Runtime,
        paths: EnginePaths,
        dns: Vec<String>,
    ) -> Result<Arc<Engine>> {
        Self::start_with(store, ctl, Arc::new(runtime), paths, dns).await
    }

    pub(super) async fn start_with(
        store: Arc<Store>,
        ctl: Arc<Controller>,
        runtime: Arc<dyn Runtime>,
        paths: EnginePaths,
        dns: Vec<String>,
    ) -> Result<Arc<Engine>> {
        for d in [&paths.images, &paths.containers, runtime.state_root()] {
            std::fs::create_dir_all(d).map_err(io(format!("create {}", d.display())))?;
        }
        private_dir(&paths.containers)?;
        let mut st = EngineState::default();
        for (id, img) in store.list::<Image>(IMAGES)? {
            st.images.insert(id, img);
        }
        for (id, c) in store.list::<Container>(CONTAINERS)? {
            st.containers.insert(id, c);
        }
        // Before any container can be made: cgroups of containers this daemon does not know.
        let known = st.containers.keys().cloned().collect();
        let swept = cgroups::sweep(runtime.cgroup_parent(), &known);
        if swept > 0 {
            tracing::info!(
                parent = %runtime.cgroup_parent(),
                removed = swept,
                "removed cgroups left by unknown containers"
            );
        }
        let view = std::sync::RwLock::new(st.containers.clone());
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
            ops: std::sync::Mutex::new(BTreeMap::new()),
            view,
            events: super::events::Events::new(),
            health: Default::default(),
            registry: Default::default(),
        });
        engine.repair().await;
        keeper::sweep(&engine.paths.keep);
        super::image::sweep(&engine.paths.images);
        Ok(engine)
    }

    /// Finishes or undoes what the previous daemon left half-done, in an order where each step
    /// leaves a state the next start can repair again: removals are finished, exits whose
    /// release was cut short are released, runtime containers no running record explains are
    /// deleted, then sandboxes and directories no record explains go.
    async fn repair(self: &Arc<Self>) {
        let all: Vec<Container> = self
            .state
            .lock()
            .await
            .containers
            .values()
            .cloned()
            .collect();
        // The slow repairs (a runtime process and kernel work each) run in the background, a
        // few at a time, each under the container's op lock, so the API answers at once and a
        // client's `rm -f` of a container being repaired waits for it rather than racing it.
        let slots = Arc::new(tokio::sync::Semaphore::new(REPAIRS_AT_ONCE));
        let mut repairs = 0usize;
        for c in all {
            let repair = if c.state.removing {
                Repair::Removal
            } else if c.state.status == Status::Running {
                match self.record_exit(&c.id, None).await {
                    Some(exit) => Repair::Exit(exit),
                    None => {
                        self.reclaim_stdio(&c).await;
                        self.watch(c.id.clone(), c.state.pid);
                        continue;
                    }
                }
            } else if c.state.releasing || c.sandbox_id.is_some() {
                Repair::Release
            } else {
                continue;
            };
            repairs += 1;
            let (me, slots) = (self.clone(), slots.clone());
            tokio::spawn(async move {
                let Ok(_slot) = slots.acquire_owned().await else {
                    return;
                };
                me.repair_one(&c.id, repair).await;
            });
        }
        if repairs > 0 {
            tracing::info!(repairs, "repairing what the previous daemon left half-done");
        }
        let (running, sandboxes, ids) = {
            let st = self.state.lock().await;
            let running: BTreeSet<String> = st
                .containers
                .values()
                .filter(|c| c.state.status == Status::Running)
                .map(|c| c.id.clone())
                .collect();
            let sandboxes: BTreeSet<String> = st
                .containers
                .values()
                .filter_map(|c| c.sandbox_id.clone())
                .collect();
            let ids: BTreeSet<String> = st.containers.keys().cloned().collect();
            (running, sandboxes, ids)
        };
        // A start cut short leaves a runtime container (maybe with a process) and a sandbox no
        // record names; a start that never reached the runtime, the sandbox alone.
        let runtime = self.runtime.clone();
        let listed = tokio::task::spawn_blocking(move || {
            let mut deleted = Vec::new();
            match runtime.list() {
                Ok(ids) => {
                    for id in ids.into_iter().filter(|id| !running.contains(id)) {
                        match runtime.delete(&id, true) {
                            Ok(()) => deleted.push(id),
                            Err(e) => tracing::warn!(container = %id, error = %e, "cannot delete an orphaned runtime container"),
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot list the runtime's containers"),
            }
            deleted
        })
        .await;
        match listed {
            Ok(deleted) if !deleted.is_empty() => {
                tracing::info!(
                    count = deleted.len(),
                    "deleted runtime containers no running record explains"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "runtime sweep"),
        }
        let orphans = self.ctl.reconcile_sandboxes(&sandboxes).await;
        if !orphans.is_empty() {
            tracing::info!(
                count = orphans.len(),
                "removed sandboxes no container explains"
            );
        }
        let swept = self.sweep_dirs(&ids);
        if swept > 0 {
            tracing::info!(
                directories = swept,
                "removed container directories without a record"
            );
        }
    }

    /// One container's repair, under its op lock.
    #[tracing::instrument(name = "repair", skip(self, repair), fields(container = %id))]
    async fn repair_one(self: &Arc<Self>, id: &str, repair: Repair) {
        let op = self.op_lock(id);
        let _op = op.lock().await;
        match repair {
            Repair::Exit(exit) => self.finish_exit(exit, true).await,
            Repair::Removal | Repair::Release => {
                let Ok(mut c) = self.container(id).await else {
                    return;
                };
                // The runtime's forced delete ends what still runs (never a signal to a bare
                // PID: after a restart it may name another process).
                self.cleanup(&mut c).await;
                if matches!(repair, Repair::Removal) {
                    let code = c.spec.auto_remove.then_some(c.state.exit_code);
                    match self.discard(&c, code).await {
                        Ok(()) => tracing::info!("finished a removal a restart cut short"),
                        Err(e) => tracing::error!(error = %e, "cannot finish a removal"),
                    }
                } else {
                    c.state.releasing = false;
                    let mut st = self.state.lock().await;
                    if let Err(e) = self.save(&mut st, c).await {
                        tracing::error!(error = %e, "cannot record a finished release");
                    }
                    drop(st);
                    self.exited.notify_waiters();
                }
            }
        }
    }

    /// Container directories without a record (a removal whose record went first, a create
    /// cut short): their root unmounted, then removed.
    fn sweep_dirs(&self, ids: &BTreeSet<String>) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.paths.containers) else {
            return 0;
        };
        let mut swept = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !is_container_id(&name) || ids.contains(&name) {
                continue;
            }
            unmount_root(&e.path().join("rootfs"));
            match std::fs::remove_dir_all(e.path()) {
                Ok(()) => swept += 1,
                Err(err) => {
                    tracing::warn!(dir = %e.path().display(), error = %err, "cannot remove an orphaned container directory")
                }
            }
        }
        swept
    }
}

/// Docker's modes for its state: the directory traversable by its group, readable by no one else.
fn private_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o710))
        .map_err(io(format!("make {} private", dir.display())))
}

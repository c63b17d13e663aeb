//! The engine at daemon start: state loaded from the store, debris swept, running containers found again.

use super::image::Image;
use super::model::Container;
use super::{
    cgroups, exec, io, keeper, Engine, EnginePaths, EngineState, Result, Runtime, Status,
    CONTAINERS, IMAGES,
};
use berth_net::Controller;
use berth_store::Store;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{Mutex, Notify};

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
            events: super::events::Events::new(),
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
}

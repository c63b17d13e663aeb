//! The engine against the in-memory runtime and berth-net's fake kernel: create, start
//! failures, exits and restart policies, stop and removal racing a start or a restart, and a
//! daemon restart with containers in every state.

use super::error::ErrorKind;
use super::image::Image;
use super::runtime::fake::FakeRuntime;
use super::*;
use berth_net::firewall::FakeFirewall;
use berth_net::sys::fake::FakeKernel;
use berth_net::ControllerConfig;
use chrono::Utc;
use std::time::Duration;

const IMAGE_ID: &str = "sha256:abababababababababababababababababababababababababababababababab";

pub(super) struct Env {
    dir: tempfile::TempDir,
    kernel: Arc<FakeKernel>,
    pub(super) runtime: Arc<FakeRuntime>,
}

/// One daemon's life: its own tokio runtime, so that dropping it ends every task it spawned,
/// as a killed daemon's end does.
pub(super) struct Daemon {
    rt: tokio::runtime::Runtime,
    engine: Option<Arc<Engine>>,
}

impl Daemon {
    pub(super) fn run<F: std::future::Future>(
        &self,
        f: impl FnOnce(Arc<Engine>) -> F,
    ) -> F::Output {
        let e = self.engine.clone().expect("engine");
        self.rt.block_on(f(e))
    }

    /// The daemon dies: tasks dropped mid-flight, nothing flushed, the store closed.
    fn kill(mut self) {
        self.engine.take();
        self.rt.shutdown_timeout(Duration::from_secs(5));
    }
}

impl Env {
    pub(super) fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Arc::new(FakeRuntime::new(dir.path().join("runtime")));
        Env {
            dir,
            kernel: Arc::new(FakeKernel::new()),
            runtime,
        }
    }

    pub(super) fn daemon(&self) -> Daemon {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = self.dir.path().to_path_buf();
        let (kernel, runtime) = (self.kernel.clone(), self.runtime.clone());
        let engine = rt.block_on(async move {
            let store = Arc::new(Store::open(&dir.join("berth.db")).unwrap());
            let img = Image {
                id: IMAGE_ID.into(),
                repo_tags: vec!["busybox:latest".into()],
                repo_digests: vec![],
                created: Utc::now(),
                size: 0,
                cmd: vec!["sh".into()],
                entrypoint: vec![],
                env: vec![],
                working_dir: String::new(),
                exposed_ports: vec![],
                healthcheck: None,
                labels: Default::default(),
            };
            store.put(IMAGES, &img.id, &img).unwrap();
            let cfg = ControllerConfig {
                netns_dir: dir.join("netns"),
                ..Default::default()
            };
            let ctl = Controller::start(
                kernel,
                Arc::new(FakeFirewall::default()),
                store.clone(),
                cfg,
            )
            .await
            .unwrap();
            let paths = EnginePaths {
                images: dir.join("images"),
                containers: dir.join("containers"),
                host_resolv: dir.join("resolv.conf"),
                host_hosts: dir.join("hosts"),
                keep: dir.join("keep"),
            };
            Engine::start_with(store, Arc::new(ctl), runtime, paths, vec![])
                .await
                .unwrap()
        });
        Daemon {
            rt,
            engine: Some(engine),
        }
    }
}

pub(super) fn spec(name: &str, cmd: &[&str]) -> ContainerSpec {
    ContainerSpec {
        name: name.into(),
        image: "busybox".into(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

pub(super) fn with_restart(mut s: ContainerSpec, name: &str, retries: u32) -> ContainerSpec {
    s.restart = RestartPolicy::new(name, retries).unwrap();
    s
}

async fn status(e: &Engine, id: &str) -> Option<(Status, u32, bool)> {
    e.container(id)
        .await
        .ok()
        .map(|c| (c.state.status, c.state.restart_count, c.state.releasing))
}

pub(super) async fn endpoints(e: &Engine) -> usize {
    let bridge = e.ctl.get("bridge").await.unwrap();
    e.ctl.network_endpoints(&bridge.id).await.len()
}

#[test]
fn refused_creates_change_nothing() {
    let env = Env::new();
    let d = env.daemon();
    d.run(|e| async move {
        e.create(spec("first", &["sh"])).await.unwrap();
        let refusals = [
            (spec("a", &[]), "nosuch-image", ErrorKind::NotFound),
            (spec("bad name!", &[]), "", ErrorKind::InvalidParameter),
            (spec("first", &[]), "", ErrorKind::Conflict),
            (
                ContainerSpec {
                    network_mode: "nosuchnet".into(),
                    ..spec("b", &[])
                },
                "",
                // A 400, not a 404: a 404 from create makes the docker CLI pull the image.
                ErrorKind::InvalidParameter,
            ),
            (
                ContainerSpec {
                    mac_address: "not-a-mac".into(),
                    ..spec("c", &[])
                },
                "",
                ErrorKind::InvalidParameter,
            ),
            (
                ContainerSpec {
                    network_mode: "container:nosuch".into(),
                    ..spec("d", &[])
                },
                "",
                ErrorKind::NotFound,
            ),
            (
                ContainerSpec {
                    links: vec![("nosuch".into(), "x".into())],
                    ..spec("e", &[])
                },
                "",
                // A 400, not a 404: a 404 from create makes the docker CLI pull the image.
                ErrorKind::InvalidParameter,
            ),
        ];
        for (mut s, image, kind) in refusals {
            if !image.is_empty() {
                s.image = image.into();
            }
            let err = e.create(s.clone()).await.expect_err(&s.name);
            assert_eq!(err.kind(), kind, "{}: {err}", s.name);
        }
        let all = e.containers(true).await;
        assert_eq!(all.len(), 1);
        let stored = e.store.list::<Container>(CONTAINERS).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(endpoints(&e).await, 0);
    });
    assert!(
        env.kernel.namespaces().is_empty(),
        "{:?}",
        env.kernel.namespaces()
    );
}

#[test]
fn start_failures_leave_nothing_running_and_give_dockers_codes() {
    let env = Env::new();
    env.runtime.refuse(
        "/nonexistent",
        "exec: \"/nonexistent\": stat /nonexistent: no such file or directory",
    );
    env.runtime
        .refuse("/etc/passwd", "exec /etc/passwd: Permission denied");
    env.runtime.refuse("/weird", "the runtime broke");
    let d = env.daemon();
    d.run(|e| async move {
        for (exe, code, kind) in [
            ("/nonexistent", 127, ErrorKind::InvalidParameter),
            ("/etc/passwd", 126, ErrorKind::InvalidParameter),
            ("/weird", 0, ErrorKind::Internal),
        ] {
            let name = format!("c{code}");
            let c = e.create(spec(&name, &[exe])).await.unwrap();
            let err = e.start_container(&c.id).await.unwrap_err();
            assert_eq!(err.kind(), kind, "{err}");
            if code == 127 {
                assert!(
                    err.to_string().contains("no such file or directory"),
                    "{err}"
                );
            }
            if code == 126 {
                assert!(err.to_string().contains("permission denied"), "{err}");
            }
            let after = e.container(&c.id).await.unwrap();
            assert_eq!(after.state.status, Status::Created);
            assert_eq!(after.state.exit_code, code);
            assert!(after.sandbox_id.is_none());
            assert_eq!(endpoints(&e).await, 0, "the failed start's endpoint stays");
        }
        // --rm: the container goes with its failed start, and a waiter for its removal returns.
        let c = e
            .create(ContainerSpec {
                auto_remove: true,
                ..spec("gone", &["/nonexistent"])
            })
            .await
            .unwrap();
        let waiter = {
            let e = e.clone();
            let id = c.id.clone();
            tokio::spawn(async move { e.wait_for(&id, WaitCondition::Removed, None).await })
        };
        tokio::task::yield_now().await;
        e.start_container(&c.id).await.unwrap_err();
        assert!(
            e.container(&c.id).await.is_err(),
            "a --rm container outlived its failed start"
        );
        let code = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter for the removal returns")
            .unwrap()
            .unwrap();
        assert_eq!(code, 127);
        assert!(!c.dir(&e.paths.containers).exists());
    });
    assert!(env.runtime.known().is_empty(), "{:?}", env.runtime.known());
    assert!(env.kernel.namespaces().is_empty());
}

#[test]
fn exits_release_and_restart_policies_bring_back() {
    let env = Env::new();
    let d = env.daemon();
    let rt = env.runtime.clone();
    d.run(|e| async move {
        // No policy: the exit is recorded and what the container held released.
        let plain = e.create(spec("plain", &["sh"])).await.unwrap();
        e.start_container(&plain.id).await.unwrap();
        assert_eq!(endpoints(&e).await, 1);
        assert!(rt.exit(&plain.id, 3));
        assert_eq!(
            e.wait(&plain.id, Some(Duration::from_secs(5)))
                .await
                .unwrap(),
            3
        );
        let c = e.container(&plain.id).await.unwrap();
        assert_eq!((c.state.status, c.state.releasing), (Status::Exited, false));
        assert!(c.sandbox_id.is_none());
        assert_eq!(endpoints(&e).await, 0);
        assert!(!rt.known().contains(&plain.id));

        // always: back after each exit, counting.
        let a = e
            .create(with_restart(spec("always", &["sh"]), "always", 0))
            .await
            .unwrap();
        e.start_container(&a.id).await.unwrap();
        for n in 1..=2u32 {
            assert!(rt.exit(&a.id, 0));
            let mut seen = None;
            for _ in 0..500 {
                seen = status(&e, &a.id).await;
                if seen == Some((Status::Running, n, false)) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(seen, Some((Status::Running, n, false)));
        }

        // on-failure:1: one restart after a failure, then it stays down.
        let f = e
            .create(with_restart(spec("fail", &["sh"]), "on-failure", 1))
            .await
            .unwrap();
        e.start_container(&f.id).await.unwrap();
        assert!(rt.exit(&f.id, 1));
        let mut seen = None;
        for _ in 0..500 {
            seen = status(&e, &f.id).await;
            if seen == Some((Status::Running, 1, false)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(seen, Some((Status::Running, 1, false)));
        assert!(rt.exit(&f.id, 1));
        e.wait(&f.id, Some(Duration::from_secs(5))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(status(&e, &f.id).await, Some((Status::Exited, 1, false)));

        // --rm: removed at its exit, its code kept for waiters.
        let r = e
            .create(ContainerSpec {
                auto_remove: true,
                ..spec("rm", &["sh"])
            })
            .await
            .unwrap();
        e.start_container(&r.id).await.unwrap();
        assert!(rt.exit(&r.id, 7));
        let code = e
            .wait_for(&r.id, WaitCondition::Removed, Some(Duration::from_secs(5)))
            .await;
        assert!(
            matches!(code, Ok(7) | Err(EngineError::NotFound(_))),
            "{code:?}"
        );
        until_gone(&e, &r.id).await;
    });
}

async fn until_gone(e: &Engine, id: &str) {
    for _ in 0..500 {
        if e.container(id).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{id} was never removed");
}

/// The race of issue 16: a stop that lands while an `always` container waits out its restart
/// delay must be final. Tried at several points of the delay.
#[test]
fn a_stop_during_the_restart_delay_is_final() {
    let env = Env::new();
    let d = env.daemon();
    let rt = env.runtime.clone();
    d.run(|e| async move {
        for (i, pause_ms) in [0u64, 1, 5, 20, 50, 80, 95, 99, 100, 101, 105, 120]
            .iter()
            .enumerate()
        {
            let c = e
                .create(with_restart(spec(&format!("r{i}"), &["sh"]), "always", 0))
                .await
                .unwrap();
            e.start_container(&c.id).await.unwrap();
            let runs = rt.runs();
            assert!(rt.exit(&c.id, 1));
            // The exit is recorded (the restart is pending) before the stop lands.
            let mut exited = false;
            for _ in 0..500 {
                if matches!(status(&e, &c.id).await, Some((Status::Exited, _, _))) {
                    exited = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            assert!(exited);
            tokio::time::sleep(Duration::from_millis(*pause_ms)).await;
            // Either it is between restarts (the stop cancels the restart) or it was already
            // brought back (the stop stops it): both end stopped for good.
            e.stop(&c.id, Duration::from_secs(1)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let after = e.container(&c.id).await.unwrap();
            assert_eq!(
                after.state.status,
                Status::Exited,
                "pause {pause_ms} ms: restarted after the stop"
            );
            assert!(after.state.manually_stopped);
            assert!(rt.runs() <= runs + 1);
            e.remove(&c.id, false).await.unwrap();
        }
    });
}

#[test]
fn a_removal_during_a_start_waits_for_it_and_leaves_nothing() {
    let env = Env::new();
    env.runtime.set_run_delay(Duration::from_millis(300));
    let d = env.daemon();
    d.run(|e| async move {
        let c = e.create(spec("slow", &["sh"])).await.unwrap();
        let other = e.create(spec("other", &["sh"])).await.unwrap();
        let start = {
            let e = e.clone();
            let id = c.id.clone();
            tokio::spawn(async move { e.start_container(&id).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        // A read while the start is in the runtime is answered without waiting for it.
        let listed = e.containers(true).await;
        assert_eq!(listed.len(), 2);
        assert!(!start.is_finished(), "the read waited for the start");
        assert!(matches!(e.remove(&other.id, false).await, Ok(())));
        e.remove(&c.id, true).await.unwrap();
        start.await.unwrap().unwrap();
        assert!(e.container(&c.id).await.is_err());
        assert_eq!(endpoints(&e).await, 0);
    });
    assert!(env.runtime.known().is_empty(), "{:?}", env.runtime.known());
    assert!(
        env.kernel.namespaces().is_empty(),
        "{:?}",
        env.kernel.namespaces()
    );
}

/// A daemon that dies with containers in every state: the next one repairs each, and
/// removes what no record explains.
#[test]
fn a_restarted_daemon_repairs_every_state() {
    let env = Env::new();
    let d = env.daemon();
    let rt = env.runtime.clone();
    let ids = d.run(|e| async move {
        let created = e.create(spec("created", &["sh"])).await.unwrap().id;
        let running = e.create(spec("running", &["sh"])).await.unwrap().id;
        e.start_container(&running).await.unwrap();
        let exited = e.create(spec("exited", &["sh"])).await.unwrap().id;
        e.start_container(&exited).await.unwrap();
        assert!(rt.exit(&exited, 2));
        e.wait(&exited, Some(Duration::from_secs(5))).await.unwrap();
        // Died after recording an exit, before releasing it.
        let releasing = e.create(spec("releasing", &["sh"])).await.unwrap().id;
        e.start_container(&releasing).await.unwrap();
        // Died half-way through a removal (`rm -f` of a running container).
        let removing = e.create(spec("removing", &["sh"])).await.unwrap().id;
        e.start_container(&removing).await.unwrap();
        {
            let mut st = e.state.lock().await;
            let mut c = st.containers.get(&releasing).cloned().unwrap();
            c.state.status = Status::Exited;
            c.state.releasing = true;
            c.state.pid = 0;
            e.save(&mut st, c).await.unwrap();
            let mut c = st.containers.get(&removing).cloned().unwrap();
            c.state.removing = true;
            e.save(&mut st, c).await.unwrap();
        }
        assert_eq!(endpoints(&e).await, 3);
        (created, running, exited, releasing, removing)
    });
    d.kill();
    // What a crash leaves besides records: a runtime container no record names (a start cut
    // short after the runtime, before the record), and a container directory without one.
    let stray = "cd".repeat(32);
    env.runtime.plant(&stray);
    std::fs::create_dir_all(env.dir.path().join("containers").join(&stray).join("upper")).unwrap();
    let (created, running, exited, releasing, removing) = ids;
    let d = env.daemon();
    let rt = env.runtime.clone();
    let dir = env.dir.path().to_path_buf();
    d.run(|e| async move {
        // Repairs run in the background after the start; the removal's ends with the record.
        until_gone(&e, &removing).await;
        for _ in 0..500 {
            if !e.container(&releasing).await.unwrap().state.releasing {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            status(&e, &created).await,
            Some((Status::Created, 0, false))
        );
        assert_eq!(
            status(&e, &running).await,
            Some((Status::Running, 0, false))
        );
        assert_eq!(status(&e, &exited).await, Some((Status::Exited, 0, false)));
        let r = e.container(&releasing).await.unwrap();
        assert!(!r.state.releasing && r.sandbox_id.is_none());
        assert!(
            e.container(&removing).await.is_err(),
            "the removal was not finished"
        );
        assert!(!rt.known().contains(&removing));
        assert!(
            !rt.known().contains(&stray),
            "the stray runtime container stays"
        );
        assert!(!dir.join("containers").join(&stray).exists());
        assert_eq!(
            endpoints(&e).await,
            1,
            "only the running container's endpoint stays"
        );
        // The running container is still watched: its exit is seen.
        assert!(rt.exit(&running, 0));
        e.wait(&running, Some(Duration::from_secs(5)))
            .await
            .unwrap();
        for id in [&created, &running, &exited, &releasing] {
            e.remove(id, true).await.unwrap();
        }
        assert!(e.containers(true).await.is_empty());
        assert_eq!(endpoints(&e).await, 0);
    });
    assert!(env.runtime.known().is_empty(), "{:?}", env.runtime.known());
    assert!(
        env.kernel.namespaces().is_empty(),
        "{:?}",
        env.kernel.namespaces()
    );
}

#[test]
fn a_stop_escalates_to_sigkill_and_is_a_manual_stop() {
    let env = Env::new();
    let d = env.daemon();
    let rt = env.runtime.clone();
    d.run(|e| async move {
        let c = e
            .create(with_restart(spec("stubborn", &["sh"]), "always", 0))
            .await
            .unwrap();
        e.start_container(&c.id).await.unwrap();
        rt.ignore_term(&c.id);
        e.stop(&c.id, Duration::from_millis(200)).await.unwrap();
        let after = e.container(&c.id).await.unwrap();
        assert_eq!(after.state.status, Status::Exited);
        assert_eq!(after.state.exit_code, 137);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            e.container(&c.id).await.unwrap().state.status,
            Status::Exited
        );
        assert!(matches!(
            e.stop(&c.id, Duration::from_secs(1)).await,
            Err(EngineError::NotModified(_))
        ));
    });
}

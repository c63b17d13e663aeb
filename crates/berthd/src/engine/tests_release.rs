//! What a `stop` waits for and what it leaves to after its answer: the exit and the network's
//! release before, the runtime's delete after, with a start and a removal waiting for that.

use super::runtime::fake::FakeRuntime;
use super::tests::{endpoints, spec, with_restart, Env};
use super::*;
use std::time::Duration;

async fn stop_with_delete_held(e: &Arc<Engine>, rt: &FakeRuntime, id: &str) {
    rt.hold_next_delete();
    tokio::time::timeout(Duration::from_secs(20), e.stop(id, Duration::from_secs(10)))
        .await
        .expect("the stop answers while the runtime's delete is held")
        .unwrap();
    let c = e.container(id).await.unwrap();
    assert_eq!(c.state.status, Status::Exited);
    assert!(c.state.releasing, "the runtime's delete is still held");
    assert!(c.sandbox_id.is_none());
    assert_eq!(endpoints(e).await, 0, "the network goes before the answer");
    assert!(rt.known().iter().any(|k| k == id));
}

#[test]
fn a_start_after_a_stop_waits_for_the_runtime_to_forget_the_last_run() {
    let env = Env::new();
    let d = env.daemon();
    let rt = env.runtime.clone();
    d.run(|e| async move {
        let id = e.create(spec("a", &["sh"])).await.unwrap().id;
        e.start_container(&id).await.unwrap();
        assert_eq!(endpoints(&e).await, 1);
        stop_with_delete_held(&e, &rt, &id).await;
        let start = tokio::spawn({
            let (e, id) = (e.clone(), id.clone());
            async move { e.start_container(&id).await }
        });
        // Only ever finished here if the start raced the held delete (whose fallback, a
        // forced delete, would then kill the new run): with the wait it cannot be.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !start.is_finished(),
            "a start raced the release of the last run"
        );
        assert_eq!(rt.runs(), 1);
        rt.open_delete();
        start.await.unwrap().unwrap();
        e.settle(Duration::from_secs(10)).await;
        let c = e.container(&id).await.unwrap();
        assert_eq!((c.state.status, rt.runs()), (Status::Running, 2));
        assert_eq!(endpoints(&e).await, 1);
        e.remove(&id, true).await.unwrap();
        assert!(rt.known().is_empty(), "{:?}", rt.known());
        assert_eq!(endpoints(&e).await, 0);
    });
}

#[test]
fn a_removal_after_a_stop_waits_for_the_release_and_survives_a_restart() {
    let env = Env::new();
    let d = env.daemon();
    let rt = env.runtime.clone();
    let id = d.run(|e| {
        let rt = rt.clone();
        async move {
            let id = e
                .create(with_restart(spec("b", &["sh"]), "always", 0))
                .await
                .unwrap()
                .id;
            e.start_container(&id).await.unwrap();
            stop_with_delete_held(&e, &rt, &id).await;
            let rm = tokio::spawn({
                let (e, id) = (e.clone(), id.clone());
                async move { e.remove(&id, false).await }
            });
            rt.open_delete();
            rm.await.unwrap().unwrap();
            assert!(e.container(&id).await.is_err(), "removal is final");
            assert!(rt.known().is_empty(), "{:?}", rt.known());
            id
        }
    });
    // The record's delete was not waited for; a clean close still writes it.
    drop(d);
    let d = env.daemon();
    d.run(|e| async move {
        assert!(
            e.container(&id).await.is_err(),
            "a removed container came back"
        );
        assert_eq!(
            rt.runs(),
            1,
            "a manually stopped `always` container was restarted"
        );
    });
}

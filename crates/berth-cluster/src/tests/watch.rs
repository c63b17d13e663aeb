use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::{node, record, spec};
use crate::fake::MemStore;
use crate::model::{EndpointRecord, EndpointSpec, NetworkRecord};
use crate::store::ClusterStore;
use crate::watch::{Change, ResumableWatch, WatchUpdate};
use crate::{Cluster, EndpointWatcher};

fn ep(name: &str) -> EndpointSpec {
    EndpointSpec {
        name: name.into(),
        ..EndpointSpec::default()
    }
}

fn label(c: &Change<EndpointRecord>) -> String {
    match c {
        Change::Added(e) => format!("+{}", e.name),
        Change::Removed(e) => format!("-{}", e.name),
    }
}

/// Collects changes until `want` of them came; fails after 5 s.
async fn take(w: &mut EndpointWatcher, want: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < want {
        let batch = tokio::time::timeout(Duration::from_secs(5), w.next())
            .await
            .expect("watch changes in time");
        out.extend(batch.iter().map(label));
    }
    out
}

async fn quiet(w: &mut EndpointWatcher) {
    if let Ok(extra) = tokio::time::timeout(Duration::from_millis(300), w.next()).await {
        panic!(
            "unexpected changes: {:?}",
            extra.iter().map(label).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn remote_endpoints_come_and_go_and_local_ones_are_not_reported() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let b = node(&s, "b").await;
    let net = a.create_network(&spec("id1", "ov")).await.unwrap();
    b.claim_endpoint(&net.id, &ep("b0")).await.unwrap();
    let (mut w, now) = a.watch_remote_endpoints().await.unwrap();
    assert_eq!(
        now.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["b0"]
    );
    a.claim_endpoint(&net.id, &ep("a1")).await.unwrap();
    b.claim_endpoint(&net.id, &ep("b1")).await.unwrap();
    b.release_endpoint(&net.id, "b0").await.unwrap();
    assert_eq!(take(&mut w, 2).await, ["+b1", "-b0"]);
    quiet(&mut w).await;
    assert!(w.resync().await.unwrap().is_empty());
    assert_eq!(w.current().len(), 1);
}

/// Nodes a and b on one network, a watching b's endpoints and already told of b1.
async fn watching_b1() -> (MemStore, Cluster, Cluster, NetworkRecord, EndpointWatcher) {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let b = node(&s, "b").await;
    let net = a.create_network(&spec("id1", "ov")).await.unwrap();
    let (mut w, _) = a.watch_remote_endpoints().await.unwrap();
    b.claim_endpoint(&net.id, &ep("b1")).await.unwrap();
    assert_eq!(take(&mut w, 1).await, ["+b1"]);
    (s, a, b, net, w)
}

#[tokio::test]
async fn a_resync_keeps_the_open_watch_and_doubles_nothing() {
    let (s, _a, b, net, mut w) = watching_b1().await;
    let open = s.open_watches();
    // b2's event is still in the stream when the re-list finds b2: it comes once, from the
    // re-list, and the stream's copy is dropped as seen.
    b.claim_endpoint(&net.id, &ep("b2")).await.unwrap();
    let relisted: Vec<String> = w.resync().await.unwrap().iter().map(label).collect();
    assert_eq!(relisted, ["+b2"]);
    assert_eq!(
        s.open_watches(),
        open,
        "a resync must not open another watch"
    );
    quiet(&mut w).await;
    b.release_endpoint(&net.id, "b1").await.unwrap();
    assert_eq!(take(&mut w, 1).await, ["-b1"]);
    assert_eq!(s.open_watches(), open);
}

#[tokio::test]
async fn a_broken_watch_resumes_from_its_last_revision_with_nothing_lost_or_doubled() {
    let (s, _a, b, net, mut w) = watching_b1().await;
    s.drop_watches();
    b.claim_endpoint(&net.id, &ep("b2")).await.unwrap();
    b.claim_endpoint(&net.id, &ep("b3")).await.unwrap();
    b.release_endpoint(&net.id, "b1").await.unwrap();
    assert_eq!(take(&mut w, 3).await, ["+b2", "+b3", "-b1"]);
    // An outage: the watch waits it out and resumes.
    s.set_available(false);
    let waiter = tokio::spawn(async move { take(&mut w, 1).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.set_available(true);
    b.claim_endpoint(&net.id, &ep("b4")).await.unwrap();
    assert_eq!(waiter.await.unwrap(), ["+b4"]);
}

#[tokio::test]
async fn a_compacted_history_is_answered_by_a_relist() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let b = node(&s, "b").await;
    let net = a.create_network(&spec("id1", "ov")).await.unwrap();
    b.claim_endpoint(&net.id, &ep("b1")).await.unwrap();
    let (mut w, _) = a.watch_remote_endpoints().await.unwrap();
    s.drop_watches();
    b.claim_endpoint(&net.id, &ep("b2")).await.unwrap();
    b.release_endpoint(&net.id, "b1").await.unwrap();
    s.compact(s.revision());
    let got: BTreeSet<String> = take(&mut w, 2).await.into_iter().collect();
    assert_eq!(got, ["+b2", "-b1"].into_iter().map(String::from).collect());
    b.claim_endpoint(&net.id, &ep("b3")).await.unwrap();
    assert_eq!(take(&mut w, 1).await, ["+b3"]);
}

#[tokio::test]
async fn a_restart_that_keeps_its_endpoints_does_not_make_them_flap_elsewhere() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let b = node(&s, "b").await;
    let net = a.create_network(&spec("id1", "ov")).await.unwrap();
    b.claim_endpoint(&net.id, &ep("b1")).await.unwrap();
    b.claim_endpoint(&net.id, &ep("b2")).await.unwrap();
    let (mut w, now) = a.watch_remote_endpoints().await.unwrap();
    assert_eq!(now.len(), 2);
    drop(b);
    let store: Arc<dyn ClusterStore> = Arc::new(s.clone());
    let (_b, t) = Cluster::join(store, "/t", record("b"), 15, |e| e.name == "b1")
        .await
        .unwrap();
    assert_eq!(t.kept.len(), 1);
    assert_eq!(take(&mut w, 1).await, ["-b2"]);
    quiet(&mut w).await;
}

#[tokio::test]
async fn networks_are_seen_by_every_node() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let b = node(&s, "b").await;
    let (mut w, now) = a.watch_networks().await.unwrap();
    assert!(now.is_empty());
    let n = b.create_network(&spec("id1", "ov")).await.unwrap();
    assert_eq!(w.next().await, vec![Change::Added(n.clone())]);
    b.remove_network(&n.id).await.unwrap();
    assert_eq!(w.next().await, vec![Change::Removed(n)]);
}

#[tokio::test]
async fn a_raw_resumed_watch_skips_what_it_already_handed_out() {
    let s = MemStore::new();
    let store: Arc<dyn ClusterStore> = Arc::new(s.clone());
    store.put("/p/a", b"1".to_vec(), None).await.unwrap();
    let mut w = ResumableWatch::new(store.clone(), "/p/".into(), 0);
    match w.next().await {
        WatchUpdate::Events(e) => assert_eq!(e.len(), 1),
        other => panic!("{other:?}"),
    }
    let seen = w.last_revision();
    s.drop_watches();
    store.put("/p/b", b"2".to_vec(), None).await.unwrap();
    match w.next().await {
        WatchUpdate::Events(e) => {
            assert_eq!(e.len(), 1);
            assert_eq!(e[0].kv().key, "/p/b");
        }
        other => panic!("{other:?}"),
    }
    assert!(w.last_revision() > seen);
}

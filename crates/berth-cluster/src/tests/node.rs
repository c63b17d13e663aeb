use std::sync::Arc;
use std::time::Duration;

use super::{node, record, spec};
use crate::fake::MemStore;
use crate::model::EndpointSpec;
use crate::store::{ClusterStore, KeyRange};
use crate::Cluster;

fn ep(name: &str) -> EndpointSpec {
    EndpointSpec {
        name: name.into(),
        ..EndpointSpec::default()
    }
}

#[tokio::test]
async fn a_restart_takes_over_its_node_key_and_cleans_what_it_no_longer_has() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let net = a.create_network(&spec("id1", "ov")).await.unwrap();
    let c1 = a.claim_endpoint(&net.id, &ep("c1")).await.unwrap();
    let c2 = a.claim_endpoint(&net.id, &ep("c2")).await.unwrap();
    let old_lease = a.node().lease();
    drop(a); // a crash: no leave, the lease is still alive

    let store: Arc<dyn ClusterStore> = Arc::new(s.clone());
    let (a, t) = Cluster::join(store.clone(), "/t", record("a"), 15, |e| e.name == "c1")
        .await
        .unwrap();
    assert!(t.found_previous);
    assert_eq!(t.kept, vec![c1.clone()]);
    assert_eq!(t.removed, vec![c2.clone()]);
    let new_lease = a.node().lease();
    assert_ne!(new_lease, old_lease);
    // Everything of "a" is under the new lease; the old lease is gone with nothing on it.
    let all = store.get(KeyRange::Prefix("/t/".into())).await.unwrap();
    assert!(
        all.kvs
            .iter()
            .all(|kv| kv.lease == 0 || kv.lease == new_lease),
        "{:?}",
        all.kvs
    );
    assert_eq!(s.lease_keepalive_for_test(old_lease).await, 0);
    // c2's address is free, c1's is not: the next claim gets c2's.
    assert_eq!(
        a.claim_endpoint(&net.id, &ep("c3")).await.unwrap().ip,
        c2.ip
    );
    assert_eq!(a.nodes().await.unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_lease_is_kept_alive_and_expires_when_the_daemon_is_gone() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let b = node(&s, "b").await;
    let net = a.create_network(&spec("id1", "ov")).await.unwrap();
    b.claim_endpoint(&net.id, &ep("b1")).await.unwrap();
    // Renewals run every 5 s; the last before b dies is at 60 s, so its keys live until 75 s.
    tokio::time::sleep(Duration::from_secs(62)).await;
    assert_eq!(
        a.nodes().await.unwrap().len(),
        2,
        "keepalive must hold both nodes"
    );
    drop(b); // the daemon dies: nobody renews its lease
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        a.endpoints(None).await.unwrap().len(),
        1,
        "not yet: TTL 15 s"
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(a.endpoints(None).await.unwrap().is_empty());
    let nodes = a.nodes().await.unwrap();
    assert_eq!(
        nodes.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_lost_lease_is_replaced_and_announced() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let mut changes = a.node().lease_changes();
    let first = a.node().lease();
    s.expire_lease(first);
    assert!(a.nodes().await.unwrap().is_empty());
    tokio::time::timeout(Duration::from_secs(10), changes.changed())
        .await
        .unwrap()
        .unwrap();
    assert_ne!(a.node().lease(), first);
    assert_eq!(a.nodes().await.unwrap().len(), 1);
}

#[tokio::test]
async fn leave_removes_the_node_and_its_endpoints_at_once() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let b = node(&s, "b").await;
    let net = a.create_network(&spec("id1", "ov")).await.unwrap();
    b.claim_endpoint(&net.id, &ep("b1")).await.unwrap();
    b.leave().await.unwrap();
    assert!(a.endpoints(None).await.unwrap().is_empty());
    assert_eq!(a.nodes().await.unwrap().len(), 1);
}

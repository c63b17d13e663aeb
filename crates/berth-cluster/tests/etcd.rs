//! The cluster layer against real etcd 3.4 members (see common/mod.rs for the harness).

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_cluster::etcd::EtcdStore;
use berth_cluster::store::{ClusterStore, KeyRange};
use berth_cluster::watch::{Change, ResumableWatch, WatchUpdate};
use berth_cluster::{Cluster, ClusterConfig, EndpointSpec, NetworkSpec, NodeRecord};
use common::{count, eventually, in_netns, Etcd};

fn record(id: &str) -> NodeRecord {
    NodeRecord {
        id: id.into(),
        hostname: id.into(),
        advertise: "127.0.0.1".into(),
        started: 0,
    }
}

async fn join(store: Arc<dyn ClusterStore>, id: &str, ttl: i64) -> Cluster {
    Cluster::join(store, "/it", record(id), ttl, |_| false)
        .await
        .expect("join")
        .0
}

fn net(id: &str, name: &str) -> NetworkSpec {
    NetworkSpec {
        id: id.into(),
        name: name.into(),
        ..NetworkSpec::default()
    }
}

fn ep(name: &str) -> EndpointSpec {
    EndpointSpec {
        name: name.into(),
        mac: "02:42:0a:00:00:02".into(),
        container_id: name.into(),
        ..EndpointSpec::default()
    }
}

#[test]
fn two_nodes_claiming_at_once_never_collide() {
    in_netns(|| async {
        let etcd = Etcd::start(1).await;
        // Two daemons: two clients, two connections, two leases.
        let a = Arc::new(join(etcd.client().await, "a", 15).await);
        let b = Arc::new(join(etcd.client().await, "b", 15).await);
        let n = a.create_network(&net("id1", "ov")).await.expect("create");
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..60 {
            let c = if i % 2 == 0 { a.clone() } else { b.clone() };
            let id = n.id.clone();
            tasks.spawn(async move { c.claim_endpoint(&id, &ep(&format!("c{i}"))).await });
        }
        let mut ips = HashSet::new();
        while let Some(r) = tasks.join_next().await {
            let e = r.expect("task").expect("claim");
            assert!(ips.insert(e.ip), "{} given twice", e.ip);
        }
        assert_eq!(ips.len(), 60);
        let seen_by_b = b.endpoints(Some(&n.id)).await.expect("list");
        assert_eq!(seen_by_b.len(), 60);
        assert_eq!(b.peers(&n.id).await.expect("peers"), ["a", "b"]);
        // Both created the same name at once: one of them wins.
        let (sx, sy) = (net("x", "dup"), net("y", "dup"));
        let (x, y) = tokio::join!(a.create_network(&sx), b.create_network(&sy));
        assert!(x.is_ok() != y.is_ok(), "{x:?} {y:?}");
    });
}

#[test]
fn a_dead_nodes_lease_expires_and_frees_its_addresses() {
    in_netns(|| async {
        let etcd = Etcd::start(1).await;
        let a = join(etcd.client().await, "a", 15).await;
        let n = a.create_network(&net("id1", "ov")).await.expect("create");
        let (mut watch, _) = a.watch_remote_endpoints().await.expect("watch");
        let b = join(etcd.client().await, "b", 2).await;
        let b_ips: Vec<_> = [
            b.claim_endpoint(&n.id, &ep("b1")).await.expect("claim"),
            b.claim_endpoint(&n.id, &ep("b2")).await.expect("claim"),
        ]
        .iter()
        .map(|e| e.ip)
        .collect();
        let mut added = 0;
        while added < 2 {
            for c in tokio::time::timeout(Duration::from_secs(5), watch.next())
                .await
                .expect("adds")
            {
                assert!(matches!(c, Change::Added(_)), "{c:?}");
                added += 1;
            }
        }
        // Alive and kept alive beyond its TTL.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(a.endpoints(None).await.expect("list").len(), 2);
        drop(b); // the daemon dies without a word
        let died = Instant::now();
        let mut removed = 0;
        while removed < 2 {
            for c in tokio::time::timeout(Duration::from_secs(8), watch.next())
                .await
                .expect("removes")
            {
                assert!(matches!(c, Change::Removed(_)), "{c:?}");
                removed += 1;
            }
        }
        assert!(
            died.elapsed() < Duration::from_secs(5),
            "{:?}",
            died.elapsed()
        );
        assert_eq!(a.nodes().await.expect("nodes").len(), 1);
        let again = a.claim_endpoint(&n.id, &ep("a1")).await.expect("claim");
        assert!(
            b_ips.contains(&again.ip),
            "{} not one of {b_ips:?}",
            again.ip
        );
    });
}

#[test]
fn three_members_one_dies_and_writes_continue() {
    in_netns(|| async {
        let mut etcd = Etcd::start(3).await;
        let a = join(etcd.client().await, "a", 15).await;
        let n = a.create_network(&net("id1", "ov")).await.expect("create");
        a.claim_endpoint(&n.id, &ep("before")).await.expect("claim");
        // The hardest case: kill -9 of the leader.
        let leader = etcd.leader().await;
        etcd.members[leader].kill();
        let killed = Instant::now();
        // A leader election may take one election timeout (500 ms here); after that every
        // write must go through.
        let mut first = None;
        let mut failed = 0;
        while first.is_none() {
            match a.claim_endpoint(&n.id, &ep("first")).await {
                Ok(e) => first = Some(e),
                Err(e) => {
                    failed += 1;
                    assert!(
                        killed.elapsed() < Duration::from_secs(5),
                        "no write within 5 s: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        eprintln!(
            "first write after the kill: {:?} ({failed} attempts failed before it)",
            killed.elapsed()
        );
        for i in 0..20 {
            a.claim_endpoint(&n.id, &ep(&format!("after{i}")))
                .await
                .expect("claim with 2 of 3");
        }
        a.create_network(&net("id2", "second"))
            .await
            .expect("create with 2 of 3");
        assert_eq!(a.endpoints(Some(&n.id)).await.expect("list").len(), 22);
        // The lease is still kept alive through the remaining members.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(a.node().lease_changes().has_changed().is_ok());
        assert_eq!(a.nodes().await.expect("nodes").len(), 1);
    });
}

#[test]
fn an_unreachable_store_fails_at_once() {
    in_netns(|| async {
        // Nothing listens in this fresh namespace.
        let s = EtcdStore::connect_endpoints(&["127.0.0.1:2379".into()])
            .await
            .expect("lazy connect");
        let t = Instant::now();
        let e = s.get(KeyRange::Key("/x".into())).await.unwrap_err();
        assert!(
            e.to_string().starts_with("cluster store unavailable: "),
            "{e}"
        );
        // Refused connections: no waiting for timeouts.
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        let cfg = ClusterConfig {
            endpoints: vec!["127.0.0.1:2379".into()],
            ..ClusterConfig::default()
        };
        let e = Cluster::connect(&cfg, "a", "a", |_| false)
            .await
            .err()
            .expect("no store");
        assert!(
            e.to_string().starts_with("cluster store unavailable: "),
            "{e}"
        );
    });
}

#[test]
fn a_watch_from_a_compacted_revision_relists() {
    in_netns(|| async {
        let etcd = Etcd::start(1).await;
        let s = etcd.client().await;
        let first = s.put("/w/a", b"1".to_vec(), None).await.expect("put");
        s.put("/w/b", b"2".to_vec(), None).await.expect("put");
        s.delete(KeyRange::Key("/w/a".into()))
            .await
            .expect("delete");
        let rev = s.put("/w/c", b"3".to_vec(), None).await.expect("put");
        let raw = EtcdStore::connect_endpoints(&etcd.endpoints())
            .await
            .expect("connect");
        raw.compact(rev).await.expect("compact");
        let mut w = ResumableWatch::new(s.clone(), "/w/".into(), first - 1);
        match tokio::time::timeout(Duration::from_secs(5), w.next())
            .await
            .expect("update")
        {
            WatchUpdate::Resynced(l) => {
                let keys: Vec<_> = l.kvs.iter().map(|kv| kv.key.as_str()).collect();
                assert_eq!(keys, ["/w/b", "/w/c"]);
            }
            other => panic!("expected a re-list, got {other:?}"),
        }
        s.put("/w/d", b"4".to_vec(), None).await.expect("put");
        match tokio::time::timeout(Duration::from_secs(5), w.next())
            .await
            .expect("update")
        {
            WatchUpdate::Events(e) => assert_eq!(e[0].kv().key, "/w/d"),
            other => panic!("{other:?}"),
        }
        assert_eq!(count(s.as_ref(), "/w/").await, 3);
    });
}

#[test]
fn a_restarted_daemon_takes_over_its_keys() {
    in_netns(|| async {
        let etcd = Etcd::start(1).await;
        let a = join(etcd.client().await, "a", 15).await;
        let n = a.create_network(&net("id1", "ov")).await.expect("create");
        a.claim_endpoint(&n.id, &ep("keep")).await.expect("claim");
        a.claim_endpoint(&n.id, &ep("gone")).await.expect("claim");
        drop(a); // kill -9 of berthd: its lease lives on for up to 15 s
        let (a, t) = Cluster::join(etcd.client().await, "/it", record("a"), 15, |e| {
            e.name == "keep"
        })
        .await
        .expect("rejoin");
        assert!(t.found_previous);
        assert_eq!((t.kept.len(), t.removed.len()), (1, 1));
        let left = a.endpoints(Some(&n.id)).await.expect("list");
        assert_eq!(
            left.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["keep"]
        );
        // No "endpoint already exists" for the one that was cleaned up.
        a.claim_endpoint(&n.id, &ep("gone"))
            .await
            .expect("claim again");
        eventually(5, "one node key", || async {
            a.nodes().await.map(|n| n.len() == 1).unwrap_or(false)
        })
        .await;
    });
}

#[test]
fn remove_is_refused_while_another_node_has_endpoints() {
    in_netns(|| async {
        let etcd = Etcd::start(1).await;
        let a = join(etcd.client().await, "a", 15).await;
        let b = join(etcd.client().await, "b", 15).await;
        let n = a.create_network(&net("id1", "ov")).await.expect("create");
        let (mut nets, _) = b.watch_networks().await.expect("watch");
        let e = b.claim_endpoint(&n.id, &ep("b1")).await.expect("claim");
        let err = a.remove_network(&n.id).await.unwrap_err();
        assert!(err.to_string().contains("active endpoints"), "{err}");
        assert_eq!(err.status(), 409);
        assert_eq!(
            b.release_endpoint(&n.id, "b1").await.expect("release"),
            Some(e)
        );
        a.remove_network(&n.id).await.expect("remove");
        let seen = tokio::time::timeout(Duration::from_secs(5), nets.next())
            .await
            .expect("seen");
        assert_eq!(seen, vec![Change::Removed(n.clone())]);
        // Name, subnet and VNI are free again for the next create, from any node.
        let again = b
            .create_network(&net("id2", "ov"))
            .await
            .expect("create again");
        assert_eq!((again.subnet, again.vni), (n.subnet, n.vni));
        assert_eq!(count(a.store().as_ref(), "/it/ips/").await, 0);
    });
}

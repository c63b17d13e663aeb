use std::sync::Arc;

use super::{node, spec};
use crate::error::ClusterError;
use crate::fake::MemStore;
use crate::model::EndpointSpec;

#[tokio::test]
async fn defaults_come_from_the_global_pool_and_vnis_from_4096() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let n1 = a.create_network(&spec("id1", "one")).await.unwrap();
    let n2 = a.create_network(&spec("id2", "two")).await.unwrap();
    assert_eq!(
        (n1.subnet.to_string(), n1.gateway.to_string(), n1.vni),
        ("10.0.0.0/24".into(), "10.0.0.1".into(), 4096)
    );
    assert_eq!(
        (n2.subnet.to_string(), n2.vni),
        ("10.0.1.0/24".into(), 4097)
    );
    let b = node(&s, "b").await;
    assert_eq!(b.find_network("two").await.unwrap(), n2);
    assert_eq!(b.find_network("id1").await.unwrap(), n1);
    assert!(matches!(
        b.find_network("nope").await,
        Err(ClusterError::NotFound(_))
    ));
}

#[tokio::test]
async fn names_are_unique_and_subnets_never_overlap() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let b = node(&s, "b").await;
    let mut sp = spec("id1", "web");
    sp.subnet = Some("10.0.0.0/16".parse().unwrap());
    a.create_network(&sp).await.unwrap();
    let e = b.create_network(&spec("id2", "web")).await.unwrap_err();
    assert!(
        matches!(e, ClusterError::Conflict(_)) && e.to_string().contains("web already exists"),
        "{e}"
    );
    let mut over = spec("id3", "other");
    over.subnet = Some("10.0.9.0/24".parse().unwrap());
    let e = b.create_network(&over).await.unwrap_err();
    assert!(e.to_string().contains("overlaps"), "{e}");
    // The default pool steps around the /16.
    let n = b.create_network(&spec("id4", "auto")).await.unwrap();
    assert_eq!(n.subnet.to_string(), "10.1.0.0/24");
    // Bad input changes nothing.
    let mut bad = spec("id5", "bad");
    bad.gateway = Some("10.9.9.1".parse().unwrap());
    assert!(matches!(
        b.create_network(&bad).await,
        Err(ClusterError::Invalid(_))
    ));
    assert!(matches!(
        b.create_network(&spec("id6", "bad/name")).await,
        Err(ClusterError::Invalid(_))
    ));
    assert_eq!(b.networks().await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_get_one_name_and_distinct_subnets_and_vnis() {
    let s = MemStore::new();
    let nodes: Vec<_> = futures_join(4, |i| {
        let s = s.clone();
        async move { Arc::new(node(&s, &format!("n{i}")).await) }
    })
    .await;
    // Everyone races for the same name: exactly one wins.
    let same = futures_join(8, |i| {
        let c = nodes[i % 4].clone();
        async move { c.create_network(&spec(&format!("s{i}"), "shared")).await }
    })
    .await;
    assert_eq!(same.iter().filter(|r| r.is_ok()).count(), 1, "{same:?}");
    // Different names: all win, no subnet or VNI twice.
    let many = futures_join(12, |i| {
        let c = nodes[i % 4].clone();
        async move {
            c.create_network(&spec(&format!("m{i}"), &format!("net{i}")))
                .await
        }
    })
    .await;
    let many: Vec<_> = many.into_iter().map(|r| r.unwrap()).collect();
    let subnets: std::collections::HashSet<_> = many.iter().map(|n| n.subnet).collect();
    let vnis: std::collections::HashSet<_> = many.iter().map(|n| n.vni).collect();
    assert_eq!((subnets.len(), vnis.len()), (12, 12));
}

#[tokio::test]
async fn remove_is_refused_while_any_node_has_endpoints_and_frees_everything() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let b = node(&s, "b").await;
    let n = a.create_network(&spec("id1", "ov")).await.unwrap();
    let ep = EndpointSpec {
        name: "c1".into(),
        ..EndpointSpec::default()
    };
    b.claim_endpoint(&n.id, &ep).await.unwrap();
    assert_eq!(a.peers(&n.id).await.unwrap(), vec!["b".to_string()]);
    let e = a.remove_network(&n.id).await.unwrap_err();
    assert!(
        matches!(e, ClusterError::Conflict(_))
            && e.to_string().contains("active endpoints")
            && e.to_string().contains('b'),
        "{e}"
    );
    b.release_endpoint(&n.id, "c1").await.unwrap();
    a.remove_network(&n.id).await.unwrap();
    assert!(a.networks().await.unwrap().is_empty());
    // Name, subnet and VNI are free again.
    let again = b.create_network(&spec("id2", "ov")).await.unwrap();
    assert_eq!((again.subnet, again.vni), (n.subnet, n.vni));
    assert!(matches!(
        a.remove_network("nope").await,
        Err(ClusterError::NotFound(_))
    ));
}

#[tokio::test]
async fn an_unreachable_store_fails_at_once_with_a_clear_message() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    s.set_available(false);
    let e = a.create_network(&spec("id1", "ov")).await.unwrap_err();
    assert!(
        e.to_string().starts_with("cluster store unavailable: "),
        "{e}"
    );
    assert_eq!(e.status(), 503);
    s.set_available(true);
    a.create_network(&spec("id1", "ov")).await.unwrap();
}

/// Runs `n` futures made by `f` at once and collects their outputs in order.
pub async fn futures_join<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(f(i))).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

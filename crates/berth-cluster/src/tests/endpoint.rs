use std::collections::HashSet;
use std::sync::Arc;

use super::network::futures_join;
use super::{node, spec};
use crate::error::ClusterError;
use crate::fake::MemStore;
use crate::model::EndpointSpec;

fn ep(name: &str) -> EndpointSpec {
    EndpointSpec {
        name: name.into(),
        mac: "02:42:0a:00:00:02".into(),
        container_id: format!("cid-{name}"),
        ..EndpointSpec::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_claims_on_many_nodes_get_distinct_addresses() {
    let s = MemStore::new();
    let mut nodes = Vec::new();
    for i in 0..5 {
        nodes.push(Arc::new(node(&s, &format!("n{i}")).await));
    }
    let net = nodes[0].create_network(&spec("id1", "ov")).await.unwrap();
    let got = futures_join(200, |i| {
        let c = nodes[i % 5].clone();
        let id = net.id.clone();
        async move { c.claim_endpoint(&id, &ep(&format!("c{i}"))).await }
    })
    .await;
    let ips: Vec<_> = got.into_iter().map(|r| r.unwrap().ip).collect();
    let distinct: HashSet<_> = ips.iter().collect();
    assert_eq!(distinct.len(), 200);
    assert!(ips
        .iter()
        .all(|ip| net.subnet.contains(ip) && *ip != net.gateway));
    assert_eq!(nodes[3].endpoints(Some(&net.id)).await.unwrap().len(), 200);
}

#[tokio::test]
async fn an_explicit_ip_is_honoured_cluster_wide() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let b = node(&s, "b").await;
    let mut sp = spec("id1", "ov");
    sp.subnet = Some("10.0.9.0/24".parse().unwrap());
    let net = a.create_network(&sp).await.unwrap();
    let mut want = ep("c1");
    want.ip = Some("10.0.9.77".parse().unwrap());
    assert_eq!(
        a.claim_endpoint(&net.id, &want).await.unwrap().ip,
        want.ip.unwrap()
    );
    let mut dup = ep("c2");
    dup.ip = want.ip;
    let e = b.claim_endpoint(&net.id, &dup).await.unwrap_err();
    assert!(
        matches!(e, ClusterError::Conflict(_)) && e.to_string().contains("Address already in use"),
        "{e}"
    );
    let mut outside = ep("c3");
    outside.ip = Some("10.9.9.9".parse().unwrap());
    assert!(matches!(
        b.claim_endpoint(&net.id, &outside).await,
        Err(ClusterError::Invalid(_))
    ));
    let mut gw = ep("c3");
    gw.ip = Some(net.gateway);
    assert!(matches!(
        b.claim_endpoint(&net.id, &gw).await,
        Err(ClusterError::Invalid(_))
    ));
    // A free choice steps around the taken address.
    let e = b.claim_endpoint(&net.id, &ep("c4")).await.unwrap();
    assert_eq!(e.ip.to_string(), "10.0.9.2");
    // Endpoint names are unique on the network across nodes.
    let e = b.claim_endpoint(&net.id, &ep("c1")).await.unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
}

#[tokio::test]
async fn release_frees_the_address_and_exhaustion_is_reported() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let mut sp = spec("id1", "tiny");
    sp.subnet = Some("10.0.9.0/30".parse().unwrap());
    let net = a.create_network(&sp).await.unwrap();
    let first = a.claim_endpoint(&net.id, &ep("c1")).await.unwrap();
    assert_eq!(first.ip.to_string(), "10.0.9.2");
    let e = a.claim_endpoint(&net.id, &ep("c2")).await.unwrap_err();
    assert!(e.to_string().contains("no available IPv4 addresses"), "{e}");
    assert_eq!(
        a.release_endpoint(&net.id, "c1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(a.release_endpoint(&net.id, "c1").await.unwrap(), None);
    assert_eq!(
        a.claim_endpoint(&net.id, &ep("c2")).await.unwrap().ip,
        first.ip
    );
}

#[tokio::test]
async fn a_dead_nodes_lease_frees_its_addresses() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let b = node(&s, "b").await;
    let net = a.create_network(&spec("id1", "ov")).await.unwrap();
    let mine = b.claim_endpoint(&net.id, &ep("b1")).await.unwrap();
    a.claim_endpoint(&net.id, &ep("a1")).await.unwrap();
    s.expire_lease(b.node().lease());
    let left = a.endpoints(Some(&net.id)).await.unwrap();
    assert_eq!(
        left.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["a1"]
    );
    assert!(a.nodes().await.unwrap().iter().all(|n| n.id != "b"));
    // b's address is the first free one again.
    assert_eq!(
        a.claim_endpoint(&net.id, &ep("a2")).await.unwrap().ip,
        mine.ip
    );
}

#[tokio::test]
async fn a_claim_on_a_removed_network_fails() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    assert!(matches!(
        a.claim_endpoint("nope", &ep("c1")).await,
        Err(ClusterError::NotFound(_))
    ));
    assert!(matches!(
        a.claim_endpoint("x", &ep("a/b")).await,
        Err(ClusterError::Invalid(_))
    ));
}

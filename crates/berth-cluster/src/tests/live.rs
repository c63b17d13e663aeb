//! The live-node cache on the in-memory store: it follows joins and leaves, and answers at once
//! with the last set and the reason while the store is off.

use std::time::{Duration, Instant};

use super::node;
use crate::fake::MemStore;
use crate::live::LiveSnapshot;

const PROBE: Duration = Duration::from_millis(20);

/// Polls the cache until `ok` holds; the bound is a hang guard far above one probe.
async fn until(c: &crate::live::LiveNodes, what: &str, ok: impl Fn(&LiveSnapshot) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = c.snapshot();
        if ok(&s) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {s:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn ids(s: &LiveSnapshot) -> Vec<&str> {
    s.nodes.iter().map(|n| n.id.as_str()).collect()
}

#[tokio::test]
async fn the_cache_follows_joins_and_leaves() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let (cache, task) = a.follow_live_nodes(PROBE).await.unwrap();
    assert_eq!(ids(&cache.snapshot()), ["a"]);
    let b = node(&s, "b").await;
    until(&cache, "b joins", |s| ids(s) == ["a", "b"]).await;
    b.leave().await.unwrap();
    until(&cache, "b leaves", |s| ids(s) == ["a"]).await;
    assert_eq!(cache.snapshot().unavailable, None);
    task.abort();
}

#[tokio::test]
async fn with_the_store_off_the_cache_answers_with_the_last_set_and_says_why() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let _b = node(&s, "b").await;
    let (cache, task) = a.follow_live_nodes(PROBE).await.unwrap();
    s.set_available(false);
    until(&cache, "the outage is noticed", |s| s.unavailable.is_some()).await;
    let snap = cache.snapshot();
    assert_eq!(ids(&snap), ["a", "b"]);
    let why = snap.unavailable.unwrap_or_default();
    assert!(why.starts_with("cluster store unavailable: "), "{why}");
    assert!(why.contains("as last seen"), "{why}");
    s.set_available(true);
    until(&cache, "the store answers again", |s| {
        s.unavailable.is_none()
    })
    .await;
    let _c = node(&s, "c").await;
    until(&cache, "c joins after the outage", |s| {
        ids(s) == ["a", "b", "c"]
    })
    .await;
    task.abort();
}

/// A listing taken before a lease ended can be applied after a fresher reader has fed in the
/// node's departure: the older set must not bring the node back.
#[tokio::test]
async fn an_older_listing_never_replaces_a_newer_one() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let b = node(&s, "b").await;
    let (before, rev_before) = a.nodes_at().await.unwrap();
    b.leave().await.unwrap();
    let (after, rev_after) = a.nodes_at().await.unwrap();
    assert!(rev_after > rev_before, "{rev_before} {rev_after}");

    let cache = crate::live::LiveNodes::new(before.clone(), rev_before);
    assert_eq!(ids(&cache.snapshot()), ["a", "b"]);
    cache.seen_at(after, rev_after);
    assert_eq!(ids(&cache.snapshot()), ["a"]);
    cache.seen_at(before, rev_before);
    assert_eq!(ids(&cache.snapshot()), ["a"], "the stale listing won");
}

/// The follower's own sets carry the watch's revision: a fresher listing fed from outside holds
/// until the watch itself has moved past it.
#[tokio::test]
async fn the_follower_does_not_undo_a_fresher_listing() {
    let s = MemStore::new();
    let a = node(&s, "a").await;
    let (cache, task) = a
        .follow_live_nodes(Duration::from_secs(3600))
        .await
        .unwrap();
    let b = node(&s, "b").await;
    until(&cache, "b joins", |s| ids(s) == ["a", "b"]).await;
    b.leave().await.unwrap();
    let (now, rev) = a.nodes_at().await.unwrap();
    cache.seen_at(now, rev);
    assert_eq!(ids(&cache.snapshot()), ["a"]);
    let _c = node(&s, "c").await;
    until(&cache, "c joins, b stays gone", |s| ids(s) == ["a", "c"]).await;
    task.abort();
}

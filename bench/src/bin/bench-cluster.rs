//! What the cluster store costs per endpoint: etcd keys and watch events per endpoint, the time
//! to claim an address (compare-and-swap) with 10 and with 200 endpoints present, and the time
//! until another node's watcher hears of the new endpoint. Runs one etcd member (Debian
//! etcd-server) on loopback of fresh namespaces; two cluster clients play two nodes.
//! Usage: bench-cluster [RUNS]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_cluster::store::{ClusterStore, KeyRange};
use berth_cluster::watch::{Change, ResumableWatch, WatchUpdate};
use berth_cluster::{Cluster, EndpointSpec, NetworkSpec, NodeRecord};

fn node(id: &str) -> NodeRecord {
    NodeRecord {
        id: id.into(),
        hostname: id.into(),
        advertise: "127.0.0.1".into(),
        started: 0,
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

fn median_ms(v: &mut [Duration]) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

fn p90_ms(v: &mut [Duration]) -> f64 {
    v.sort();
    v[v.len() * 9 / 10].as_secs_f64() * 1000.0
}

async fn keys(store: &dyn ClusterStore) -> usize {
    store
        .get_keys(KeyRange::Prefix("/bench/".into()))
        .await
        .expect("count keys")
        .kvs
        .len()
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100)
        .max(10);
    berth_bench::enter_private_namespaces();
    let dir = tempfile::tempdir().expect("tempdir");
    let etcd = berth_bench::etcd::Etcd::start(dir.path(), "127.0.0.1");
    berth_bench::runtime().block_on(async move {
        let raw = etcd.connect().await;
        let b_store = etcd.connect().await;
        let (a, _) = Cluster::join(raw.clone(), "/bench", node("a"), 15, |_| false)
            .await
            .expect("join a");
        let (b, _) = Cluster::join(b_store, "/bench", node("b"), 15, |_| false)
            .await
            .expect("join b");
        // Two networks, 10 and 200 endpoints present; claims alternate between them so both
        // figures see the same machine (the disk's fsync latency dominates and drifts).
        let mut nets = Vec::new();
        for (k, present) in [(0u8, 10usize), (1, 200)] {
            let net = a
                .create_network(&NetworkSpec {
                    id: format!("benchnet{k}"),
                    name: format!("benchnet{k}"),
                    subnet: Some(format!("10.20{k}.0.0/16").parse().expect("subnet")),
                    ..NetworkSpec::default()
                })
                .await
                .expect("create");
            for i in 0..present {
                b.claim_endpoint(&net.id, &ep(&format!("fill{i}")))
                    .await
                    .expect("fill");
            }
            nets.push((net, present));
        }

        // Raw watch events and messages under the whole prefix, as a data-path programmer sees.
        let events = Arc::new(AtomicUsize::new(0));
        let messages = Arc::new(AtomicUsize::new(0));
        let rev = raw
            .get(KeyRange::Key("/bench/".into()))
            .await
            .expect("rev")
            .revision;
        let mut w = ResumableWatch::new(raw.clone(), "/bench/".into(), rev);
        let (ev, ms) = (events.clone(), messages.clone());
        tokio::spawn(async move {
            loop {
                if let WatchUpdate::Events(e) = w.next().await {
                    ev.fetch_add(e.len(), Ordering::Relaxed);
                    ms.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let (mut remote, _) = a.watch_remote_endpoints().await.expect("watch");

        let mut claim = [Vec::new(), Vec::new()];
        let mut seen = [Vec::new(), Vec::new()];
        let mut release = [Vec::new(), Vec::new()];
        for i in 0..runs {
            for (k, (net, present)) in nets.iter().enumerate() {
                let name = format!("m{present}-{i}");
                let keys_before = keys(raw.as_ref()).await;
                let (ev_before, msg_before) = (
                    events.load(Ordering::Relaxed),
                    messages.load(Ordering::Relaxed),
                );
                let t = Instant::now();
                b.claim_endpoint(&net.id, &ep(&name)).await.expect("claim");
                claim[k].push(t.elapsed());
                loop {
                    let ch = remote.next().await;
                    if ch
                        .iter()
                        .any(|c| matches!(c, Change::Added(e) if e.name == name))
                    {
                        break;
                    }
                }
                seen[k].push(t.elapsed());
                if i == 0 {
                    let added = keys(raw.as_ref()).await - keys_before;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    println!(
                        "per endpoint ({present} present): {added} etcd keys, {} watch events in {} watch message(s) on join",
                        events.load(Ordering::Relaxed) - ev_before,
                        messages.load(Ordering::Relaxed) - msg_before
                    );
                }
                let t = Instant::now();
                b.release_endpoint(&net.id, &name).await.expect("release");
                release[k].push(t.elapsed());
                loop {
                    let ch = remote.next().await;
                    if ch
                        .iter()
                        .any(|c| matches!(c, Change::Removed(e) if e.name == name))
                    {
                        break;
                    }
                }
            }
        }
        let mut med = Vec::new();
        for (k, (_, present)) in nets.iter().enumerate() {
            let (c, sn) = (median_ms(&mut claim[k]), median_ms(&mut seen[k]));
            println!(
                "{present:>3} endpoints present: claim median {c:.2} ms (p90 {:.2}), seen by the other node {sn:.2} ms, release {:.2} ms",
                p90_ms(&mut claim[k]),
                median_ms(&mut release[k])
            );
            med.push((c, sn));
        }
        if let [(c10, s10), (c200, s200)] = med[..] {
            println!(
                "ratio 200/10: claim {:.2}x, seen by the other node {:.2}x",
                c200 / c10,
                s200 / s10
            );
        }
    });
}

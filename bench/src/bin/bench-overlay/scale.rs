//! 10 hosts × 20 containers: the time from an endpoint key's write (as a watcher of etcd sees
//! it) until the neighbour and the FDB entry for it are in the other hosts' kernels (netlink
//! notifications of each host's namespace), with 10 and with 200 endpoints in the cluster;
//! and the etcd keys and watch events one endpoint costs.

use crate::cluster::{OvCluster, PREFIX};
use berth_bench::neighmon::{self, Entry, Event};
use berth_bench::pct;
use berth_cluster::store::{KeyRange, WatchEvent};
use berth_cluster::watch::{ResumableWatch, WatchUpdate};
use berth_cluster::EndpointRecord;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

pub const HOSTS: usize = 10;
const PER_HOST: usize = 20;
const TIMEOUT: Duration = Duration::from_secs(30);

/// A change under the cluster prefix, stamped when this benchmark's watch got it.
struct KeyEvent {
    at: Instant,
    put: bool,
    key: String,
    value: Vec<u8>,
}

struct Probes {
    keys: Receiver<KeyEvent>,
    neigh: Receiver<Event>,
    _monitors: Vec<neighmon::Monitor>,
}

/// What one new endpoint cost.
struct Sample {
    /// From the create call until the key was written.
    claim: f64,
    /// Key written → entries on the next host / on every other host, ms.
    next: f64,
    all: f64,
    /// Key deleted → entries gone on every other host, ms.
    gone: f64,
    keys: i64,
    /// Watch events under each part of the prefix, on join and on leave.
    join_events: BTreeMap<String, usize>,
    leave_events: BTreeMap<String, usize>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn parse_mac(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).expect("mac"))
        .collect();
    v.try_into().expect("6-byte mac")
}

/// `endpoints`, `ips`, `nodes`… of a key under the prefix.
fn part(key: &str) -> String {
    key.strip_prefix(PREFIX)
        .and_then(|k| k.split('/').next())
        .unwrap_or("?")
        .to_string()
}

fn key_count(c: &OvCluster) -> i64 {
    c.rt.block_on(c.store.get_keys(KeyRange::Prefix(PREFIX.into())))
        .expect("count keys")
        .kvs
        .len() as i64
}

/// The overlay network's own namespace on host `h`, where its VXLAN device and entries live:
/// pinned under the daemon's exec root inside the host's mount namespace, so opened through
/// the host's `/proc/PID/root`. Waits for the host to have built the network.
fn overlay_netns(c: &OvCluster, h: &berth_bench::nshost::NsHost) -> std::fs::File {
    let pin = h.dir.path().join("run").join("ovns").join(&c.net_id[..12]);
    let path = format!("/proc/{}/root{}", h.pid(), pin.display());
    let t0 = Instant::now();
    loop {
        match std::fs::File::open(&path) {
            Ok(f) => return f,
            Err(e) => assert!(
                t0.elapsed() < TIMEOUT,
                "the overlay's namespace {path} did not appear: {e}"
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_probes(c: &OvCluster) -> Probes {
    let (ktx, keys) = channel();
    let store = c.store.clone();
    c.rt.block_on(async {
        let rev = store
            .get(KeyRange::Key(PREFIX.into()))
            .await
            .expect("revision")
            .revision;
        let mut w = ResumableWatch::new(store, PREFIX.into(), rev);
        tokio::spawn(async move {
            loop {
                if let WatchUpdate::Events(evs) = w.next().await {
                    let at = Instant::now();
                    for e in evs {
                        let kv = e.kv();
                        let ev = KeyEvent {
                            at,
                            put: matches!(e, WatchEvent::Put(_)),
                            key: kv.key.clone(),
                            value: kv.value.clone(),
                        };
                        if ktx.send(ev).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    });
    let (ntx, neigh) = channel();
    let monitors = c
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| neighmon::watch_netns(overlay_netns(c, h), i, ntx.clone()))
        .collect();
    Probes {
        keys,
        neigh,
        _monitors: monitors,
    }
}

impl Probes {
    fn drain(&self) {
        while self.keys.try_recv().is_ok() {}
        while self.neigh.try_recv().is_ok() {}
    }

    /// Collects events until `done` holds over everything seen so far; panics after TIMEOUT.
    fn until(
        &self,
        what: &str,
        keys: &mut Vec<KeyEvent>,
        neigh: &mut Vec<Event>,
        mut done: impl FnMut(&[KeyEvent], &[Event]) -> bool,
    ) {
        let t0 = Instant::now();
        loop {
            keys.extend(self.keys.try_iter());
            neigh.extend(self.neigh.try_iter());
            if done(keys, neigh) {
                return;
            }
            assert!(t0.elapsed() < TIMEOUT, "timed out waiting for {what}");
            if let Ok(e) = self.neigh.recv_timeout(Duration::from_micros(500)) {
                neigh.push(e);
            }
        }
    }
}

/// When host `j` had both entries of the endpoint (added or removed).
fn both_at(neigh: &[Event], j: usize, ip: Ipv4Addr, mac: [u8; 6], added: bool) -> Option<Instant> {
    let mine = |e: &&Event| e.host == j && e.added == added;
    let n = neigh.iter().filter(mine).find(|e| match e.entry {
        Entry::Neigh(i, m) => i == ip && (m == mac || !added),
        Entry::Fdb(..) => false,
    })?;
    let f = neigh
        .iter()
        .filter(mine)
        .find(|e| matches!(e.entry, Entry::Fdb(m, _) if m == mac))?;
    Some(n.at.max(f.at))
}

fn count(events: &[KeyEvent]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in events {
        *m.entry(part(&e.key)).or_default() += 1;
    }
    m
}

fn one(c: &OvCluster, p: &Probes, i: usize, name: &str) -> Sample {
    let ep_key = format!("{PREFIX}endpoints/{}/{name}", c.net_id);
    let keys_before = key_count(c);
    p.drain();
    let (mut keys, mut neigh) = (Vec::new(), Vec::new());
    let t0 = Instant::now();
    c.run(i, name, None);
    let mut rec: Option<(Instant, EndpointRecord)> = None;
    let others: Vec<usize> = (0..HOSTS).filter(|j| *j != i).collect();
    p.until(
        &format!("{name} on every host"),
        &mut keys,
        &mut neigh,
        |ks, ns| {
            if rec.is_none() {
                rec = ks.iter().find(|e| e.put && e.key == ep_key).map(|e| {
                    let r: EndpointRecord = serde_json::from_slice(&e.value).expect("record");
                    (e.at, r)
                });
            }
            rec.as_ref().is_some_and(|(_, r)| {
                let mac = parse_mac(&r.mac);
                others
                    .iter()
                    .all(|j| both_at(ns, *j, r.ip, mac, true).is_some())
            })
        },
    );
    let (written, r) = rec.expect("record seen");
    let mac = parse_mac(&r.mac);
    let at = |j: usize| ms(both_at(&neigh, j, r.ip, mac, true).expect("seen") - written);
    let next = at((i + 1) % HOSTS);
    let all = others.iter().map(|j| at(*j)).fold(0.0, f64::max);
    // Whatever else the join writes lands within a few milliseconds.
    std::thread::sleep(Duration::from_millis(100));
    keys.extend(p.keys.try_iter());
    let join_events = count(&keys);
    let added = key_count(c) - keys_before;

    p.drain();
    let (mut keys, mut neigh) = (Vec::new(), Vec::new());
    c.rm(i, name);
    let mut deleted: Option<Instant> = None;
    p.until(
        &format!("{name} gone everywhere"),
        &mut keys,
        &mut neigh,
        |ks, ns| {
            if deleted.is_none() {
                deleted = ks.iter().find(|e| !e.put && e.key == ep_key).map(|e| e.at);
            }
            deleted.is_some()
                && others
                    .iter()
                    .all(|j| both_at(ns, *j, r.ip, mac, false).is_some())
        },
    );
    let deleted = deleted.expect("delete seen");
    let gone = others
        .iter()
        .map(|j| ms(both_at(&neigh, *j, r.ip, mac, false).expect("seen") - deleted))
        .fold(0.0, f64::max);
    std::thread::sleep(Duration::from_millis(100));
    keys.extend(p.keys.try_iter());
    Sample {
        claim: ms(written - t0),
        next,
        all,
        gone,
        keys: added,
        join_events,
        leave_events: count(&keys),
    }
}

/// Starts containers until every host has `per_host`, the hosts in parallel.
fn fill(c: &OvCluster, per_host: usize, have: usize) {
    std::thread::scope(|s| {
        for i in 0..HOSTS {
            s.spawn(move || {
                for k in have..per_host {
                    c.run(i, &format!("fill{i}-{k}"), None);
                }
            });
        }
    });
}

/// Waits until every host has a neighbour entry for `n` more remote endpoints than before
/// the fill (so no backlog of the fill is measured), then for a quiet moment.
fn wait_programmed(p: &Probes, n: usize) {
    let mut seen: Vec<std::collections::HashSet<Ipv4Addr>> = vec![Default::default(); HOSTS];
    let (mut keys, mut neigh) = (Vec::new(), Vec::new());
    let mut counted = 0;
    p.until(
        "every host to program the fill",
        &mut keys,
        &mut neigh,
        |_, ns| {
            for e in &ns[counted..] {
                if let (true, Entry::Neigh(ip, _)) = (e.added, e.entry) {
                    seen[e.host].insert(ip);
                }
            }
            counted = ns.len();
            seen.iter().all(|s| s.len() >= n)
        },
    );
    std::thread::sleep(Duration::from_millis(500));
    p.drain();
}

fn phase(c: &OvCluster, p: &Probes, present: usize, runs: usize) -> Vec<Sample> {
    (0..runs)
        .map(|k| one(c, p, k % HOSTS, &format!("new{present}-{k}")))
        .collect()
}

fn line(label: &str, v: &[f64]) -> String {
    format!("{label} median {:.2}  p90 {:.2}", pct(v, 0.5), pct(v, 0.9))
}

fn report(present: usize, s: &[Sample]) -> (f64, f64) {
    let get = |f: fn(&Sample) -> f64| s.iter().map(f).collect::<Vec<f64>>();
    let (next, all) = (get(|x| x.next), get(|x| x.all));
    println!(
        "  {present} endpoints in the cluster ({} runs, ms):",
        s.len()
    );
    println!(
        "    {}",
        line("key written -> neighbour + FDB on the next host:", &next)
    );
    println!(
        "    {}",
        line("key written -> on all 9 other hosts:           ", &all)
    );
    println!(
        "    {}",
        line(
            "key deleted -> gone from all 9 other hosts:    ",
            &get(|x| x.gone)
        )
    );
    println!(
        "    {}",
        line(
            "create call -> key written (claim):            ",
            &get(|x| x.claim)
        )
    );
    let first = &s[0];
    let show = |m: &BTreeMap<String, usize>| {
        m.iter()
            .map(|(k, v)| format!("{v} under {k}/"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ep_events = first.join_events.get("endpoints").copied().unwrap_or(0);
    println!(
        "    per endpoint: {} etcd keys; watch events on join: {} (each of the {HOSTS} daemons watches endpoints/ and networks/: {} deliveries); on leave: {}",
        first.keys,
        show(&first.join_events),
        ep_events * HOSTS,
        show(&first.leave_events)
    );
    (pct(&next, 0.5), pct(&all, 0.5))
}

pub fn bench(c: &OvCluster, runs: usize) {
    let p = start_probes(c);
    fill(c, 1, 0);
    println!("scale: {HOSTS} hosts, one etcd member; a new endpoint on host k, entries watched on the others (netlink)");
    let small = phase(c, &p, HOSTS, runs);
    let t = Instant::now();
    fill(c, PER_HOST, 1);
    let filled = t.elapsed();
    wait_programmed(&p, (PER_HOST - 1) * (HOSTS - 1));
    let big = phase(c, &p, HOSTS * PER_HOST, runs);
    println!(
        "  ({} more containers started in {:.1} s, {} in parallel)",
        HOSTS * (PER_HOST - 1),
        filled.as_secs_f64(),
        HOSTS
    );
    let (n10, a10) = report(HOSTS, &small);
    let (n200, a200) = report(HOSTS * PER_HOST, &big);
    println!(
        "  ratio {}/{HOSTS}: next host {:.2}x, all hosts {:.2}x  (target <= 1.2x)",
        HOSTS * PER_HOST,
        n200 / n10,
        a200 / a10
    );
}

//! From the create API call on host 0 until the new container's name resolves from a container
//! on host 1 and that container's ping is answered. The prober polls every millisecond from
//! inside its container's namespace: a DNS query to 127.0.0.11, then ICMP echo.

use crate::cluster::OvCluster;
use berth_bench::pct;
use berth_bench::probe::{answered, icmp_socket, ping_reply, ping_send, query, resolver_socket};
use berth_cluster::store::KeyRange;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(1);

/// What one run saw, in milliseconds from the create call.
struct Run {
    api: f64,
    resolved: f64,
    pinged: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn one(c: &OvCluster, ns: &std::path::Path, k: usize) -> Run {
    let name = format!("reach{k}");
    let ip = Ipv4Addr::new(10, 10, 1, 10 + k as u8);
    let dns = resolver_socket(ns, POLL);
    let icmp = icmp_socket(ns, POLL);
    let packet = query(&name, k as u16);
    let t0 = Instant::now();
    let (api, seen) = std::thread::scope(|s| {
        let poller = s.spawn(|| {
            let mut buf = [0u8; 1500];
            let mut resolved = None;
            let mut seq = 0u16;
            while t0.elapsed() < Duration::from_secs(20) {
                if resolved.is_none() {
                    let _ = dns.send(&packet);
                    if dns.recv(&mut buf).is_ok_and(|n| answered(&buf[..n])) {
                        resolved = Some(t0.elapsed());
                    }
                    continue;
                }
                seq = seq.wrapping_add(1);
                ping_send(&icmp, ip, 0xbe00 | k as u16, seq);
                if ping_reply(&icmp, ip, 0xbe00 | k as u16) {
                    return resolved.map(|r| (r, t0.elapsed()));
                }
            }
            None
        });
        c.run(0, &name, Some(&ip.to_string()));
        let api = t0.elapsed();
        (api, poller.join().expect("poller"))
    });
    let (resolved, pinged) =
        seen.unwrap_or_else(|| panic!("{name} ({ip}) never resolved and answered from host 1"));
    c.rm(0, &name);
    Run {
        api: ms(api),
        resolved: ms(resolved),
        pinged: ms(pinged),
    }
}

pub fn bench(c: &OvCluster, runs: usize) {
    let runs = runs.min(200);
    c.run(1, "prober", None);
    let pid = c.hosts[1].container_pid("prober");
    // The prober's kernel retries ARP every millisecond instead of every second: a query
    // sent before the neighbour entry exists would otherwise wait for the kernel's retry
    // timer, and the figure would measure that timer instead of berth.
    berth_bench::nshost::sh_here(&format!(
        "nsenter -t {pid} -n sh -c 'echo 1 > /proc/sys/net/ipv4/neigh/eth0/retrans_time_ms'"
    ));
    let ns = PathBuf::from(format!("/proc/{pid}/ns/net"));
    // One warm-up run (first use of the image on host 0, first ARP of the prober).
    one(c, &ns, 0);
    let all: Vec<Run> = (1..=runs).map(|k| one(c, &ns, k)).collect();
    c.rm(1, "prober");
    let api: Vec<f64> = all.iter().map(|r| r.api).collect();
    let resolved: Vec<f64> = all.iter().map(|r| r.resolved).collect();
    let pinged: Vec<f64> = all.iter().map(|r| r.pinged).collect();
    // The floor of any design on this store: one etcd write (a WAL fsync on this disk).
    let puts: Vec<f64> = (0..runs)
        .map(|i| {
            let t = Instant::now();
            c.rt.block_on(c.store.put("/bench-floor/k", vec![i as u8], None))
                .expect("etcd put");
            ms(t.elapsed())
        })
        .collect();
    c.rt.block_on(c.store.delete(KeyRange::Prefix("/bench-floor/".into())))
        .expect("etcd delete");
    println!("reach: create on host 0 (API: create + start) until host 1's container ... ({runs} runs, ms)");
    println!(
        "  resolves the name (127.0.0.11):  median {:.1}  p90 {:.1}",
        pct(&resolved, 0.5),
        pct(&resolved, 0.9)
    );
    println!(
        "  gets a ping answered:            median {:.1}  p90 {:.1}  (target median <= 50)",
        pct(&pinged, 0.5),
        pct(&pinged, 0.9)
    );
    println!(
        "  floor: create + start returned   median {:.1}  p90 {:.1}; one etcd put median {:.1}  p90 {:.1}; polling every {} ms",
        pct(&api, 0.5),
        pct(&api, 0.9),
        pct(&puts, 0.5),
        pct(&puts, 0.9),
        POLL.as_millis()
    );
}

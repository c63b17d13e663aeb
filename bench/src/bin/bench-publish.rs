//! Publishing ports: the time to publish one more port (reserve the host port, record it, add
//! the DNAT element) with 10 and with N ports already published, inside the network layer as
//! the daemon does it at container start. Ports are spread 10 per sandbox, as containers
//! would hold them. Runs in private namespaces with the real nftables firewall.
//!
//! Usage: bench-publish [N] [RUNS]   (defaults 1000 and 200)

use berth_bench::{enter_private_namespaces, pct};
use berth_net::endpoint::EndpointOptions;
use berth_net::firewall::Proto;
use berth_net::network::new_id;
use berth_net::portmap::PortRequest;
use berth_net::Controller;
use std::time::Instant;

fn req(port: u16) -> PortRequest {
    PortRequest {
        proto: Proto::Tcp,
        container_port: 80,
        host_ip: None,
        host_ports: Some((port, port)),
    }
}

async fn sandbox(ctl: &Controller) -> String {
    let sb = ctl.create_sandbox(&new_id()).await.expect("sandbox");
    ctl.attach(
        &sb.id,
        "benchnet",
        EndpointOptions {
            owner: "bench".into(),
            name: "bench".into(),
            ..Default::default()
        },
    )
    .await
    .expect("attach");
    sb.id
}

/// Brings the published total to `base` (10 per sandbox), then times `runs` single-port
/// publishes, each on a fresh sandbox, withdrawing each after, so the total stays at `base`.
async fn measure(
    ctl: &Controller,
    next_port: &mut u16,
    base: usize,
    have: &mut usize,
    runs: usize,
) -> Vec<f64> {
    while *have < base {
        let sb = sandbox(ctl).await;
        let n = (base - *have).min(10);
        let reqs: Vec<PortRequest> = (0..n)
            .map(|i| {
                let mut r = req(*next_port + i as u16);
                r.container_port = 80 + i as u16;
                r
            })
            .collect();
        *next_port += n as u16;
        ctl.publish(&sb, &reqs).await.expect("publish base ports");
        *have += n;
    }
    let mut times = Vec::new();
    for _ in 0..runs {
        let sb = sandbox(ctl).await;
        let t = Instant::now();
        ctl.publish(&sb, &[req(*next_port)]).await.expect("publish");
        times.push(t.elapsed().as_secs_f64() * 1e3);
        *next_port += 1;
        ctl.remove_sandbox(&sb).await.expect("remove");
    }
    times
}

fn main() {
    enter_private_namespaces();
    let mut args = std::env::args().skip(1);
    let big: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    berth_bench::runtime().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctl = berth_bench::controller_with_network(dir.path(), "10.124.0.0/16").await;
        let (mut port, mut have) = (20000u16, 0usize);
        let small = measure(&ctl, &mut port, 10, &mut have, runs).await;
        let large = measure(&ctl, &mut port, big, &mut have, runs).await;
        let m_small = pct(&small, 0.5);
        let m_large = pct(&large, 0.5);
        println!("publish one more port (reserve + record + DNAT element), {runs} runs (ms):");
        for (label, v) in [
            ("10 published", &small),
            (&format!("{big} published")[..], &large),
        ] {
            println!(
                "  with {label:>14}: median {:.3}  p90 {:.3}  p99 {:.3}",
                pct(v, 0.5),
                pct(v, 0.9),
                pct(v, 0.99)
            );
        }
        println!("  ratio {big}/10 of medians: {:.2}", m_large / m_small);
        let listing = std::process::Command::new("nft")
            .args(["list", "map", "inet", "berth", "ports4"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).matches(" : ").count())
            .unwrap_or(0);
        println!("  elements in the ports4 map at the end: {listing}");
    });
}

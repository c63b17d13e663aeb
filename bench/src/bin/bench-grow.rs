//! What one more container's network costs as containers accumulate: sandboxes are made one
//! after another and kept (namespace, veth on the bridge, addresses, routes, and on the user
//! network the resolver and its redirect), and the cost of the first ones is compared with the
//! last ones. Runs inside fresh network and mount namespaces. Prints medians and the ratio.

use berth_net::endpoint::{EndpointOptions, SandboxOptions};
use berth_net::network::new_id;
use std::time::Instant;

fn veths() -> usize {
    std::fs::read_to_string("/proc/net/dev")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.trim_start().starts_with("veth"))
        .count()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000)
        .max(50);
    berth_bench::enter_private_namespaces();
    berth_bench::runtime().block_on(async {
        for (net, what) in [
            ("bridge", "default bridge"),
            ("benchnet", "user network, with the resolver"),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let ctl = berth_bench::controller_with_network(dir.path(), "10.123.0.0/16").await;
            let mut took = Vec::with_capacity(n);
            let mut made = Vec::with_capacity(n);
            for i in 0..n {
                let t = Instant::now();
                let (sb, _) = ctl
                    .create_sandbox_with(
                        &new_id(),
                        SandboxOptions {
                            dns: Vec::new(),
                            networks: vec![(
                                net.to_string(),
                                EndpointOptions {
                                    owner: format!("c{i}"),
                                    name: format!("c{i}"),
                                    ..Default::default()
                                },
                            )],
                        },
                    )
                    .await
                    .expect("sandbox")
                    .durable()
                    .await
                    .expect("sandbox stored");
                took.push(t.elapsed().as_secs_f64() * 1e3);
                made.push(sb.id);
            }
            let first = berth_bench::pct(&took[10..30], 0.5);
            let last = berth_bench::pct(&took[n - 20..], 0.5);
            println!(
                "{n} sandboxes kept on the {what}: sandbox + attach, median of the 11th-30th {first:.2} ms, of the last 20 {last:.2} ms: ratio {:.2}",
                last / first
            );
            for id in made {
                ctl.remove_sandbox(&id).await.expect("remove sandbox");
            }
            ctl.settle().await;
            // The kernel frees the namespaces in the background: let it finish before the next
            // run, which it would otherwise slow down at its start.
            let t = Instant::now();
            while veths() > 0 && t.elapsed() < std::time::Duration::from_secs(300) {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    });
}

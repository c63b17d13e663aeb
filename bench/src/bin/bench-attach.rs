//! Network attach and detach inside the network layer, as the daemon does them for a container:
//! attach = pinned namespace + veth pair + address + routes, detach = unplug + unpin. Runs itself
//! inside fresh network and mount namespaces. Prints medians and percentiles: the default
//! bridge, a user bridge, and a macvlan network (its parent a veth) in the same run.

use berth_net::endpoint::{EndpointOptions, SandboxOptions};
use berth_net::network::new_id;
use std::time::{Duration, Instant};

use berth_bench::{pct, spread};

fn link_exists(name: &str) -> bool {
    std::fs::read_to_string("/proc/net/dev")
        .unwrap_or_default()
        .lines()
        .any(|l| l.trim_start().split(':').next() == Some(name))
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    berth_bench::enter_private_namespaces();
    berth_bench::runtime().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctl = berth_bench::controller_with_network(dir.path(), "10.123.0.0/16").await;
        macvlan_network(&ctl).await;
        for (net, what) in [
            ("bridge", "default bridge: no embedded DNS"),
            (
                "benchnet",
                "user network: also starts the sandbox's resolver and its redirect",
            ),
            (
                "benchmv",
                "macvlan network on a veth parent: a macvlan child made in the sandbox, with DNS",
            ),
        ] {
            measure(&ctl, net, what, runs).await;
        }
        println!("  target: attach + detach <= 5 ms (netavark 1.4 here: 80 ms without DNS)");
    });
}

/// A macvlan network `benchmv` whose parent is a veth of the benchmark's namespace.
async fn macvlan_network(ctl: &berth_net::Controller) {
    use berth_net::controller::{CreateNetwork, SubnetRequest};
    let made = std::process::Command::new("ip")
        .args([
            "link", "add", "mvparent", "type", "veth", "peer", "name", "mvpeer",
        ])
        .status()
        .expect("run ip");
    assert!(made.success(), "cannot make the macvlan parent");
    for dev in ["mvparent", "mvpeer"] {
        let up = std::process::Command::new("ip")
            .args(["link", "set", dev, "up"])
            .status()
            .expect("run ip");
        assert!(up.success(), "cannot bring up {dev}");
    }
    ctl.create(CreateNetwork {
        name: "benchmv".into(),
        driver: "macvlan".into(),
        subnets: vec![SubnetRequest {
            subnet: "10.124.0.0/16".into(),
            ..Default::default()
        }],
        options: [("parent".to_string(), "mvparent".to_string())].into(),
        ..Default::default()
    })
    .await
    .expect("macvlan network");
}

async fn measure(ctl: &berth_net::Controller, net: &str, what: &str, runs: usize) {
    let opts = || EndpointOptions {
        owner: "bench".into(),
        name: "bench".into(),
        ..Default::default()
    };
    let (mut attach, mut stored, mut detach, mut gone) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs + 5 {
        let t = Instant::now();
        // As the daemon starts a container: the sandbox made with its network, its records
        // queued in one commit.
        let made = ctl
            .create_sandbox_with(
                &new_id(),
                SandboxOptions {
                    dns: Vec::new(),
                    networks: vec![(net.to_string(), opts())],
                },
            )
            .await
            .expect("attach");
        let a = t.elapsed();
        // The daemon writes the container's /etc files and bundle meanwhile; here nothing
        // overlaps the commit, so the next detach does not either.
        let (sb, eps) = made.durable().await.expect("sandbox stored");
        let s = t.elapsed();
        let ep = &eps[0];
        let t = Instant::now();
        ctl.remove_sandbox(&sb.id).await.expect("remove sandbox");
        let d = t.elapsed();
        // The kernel frees the namespace and its veths in the background; wait it out so
        // runs do not pile up, and report how long it took (a macvlan child has no host end).
        while !ep.host_ifname.is_empty() && link_exists(&ep.host_ifname) {
            std::thread::sleep(Duration::from_micros(200));
        }
        let g = t.elapsed();
        if i >= 5 {
            attach.push(a.as_secs_f64() * 1e3);
            stored.push(s.as_secs_f64() * 1e3);
            detach.push(d.as_secs_f64() * 1e3);
            gone.push(g.as_secs_f64() * 1e3);
        }
    }
    let both: Vec<f64> = attach.iter().zip(&detach).map(|(a, d)| a + d).collect();
    let synced: Vec<f64> = stored.iter().zip(&detach).map(|(s, d)| s + d).collect();
    println!("network attach/detach in the network layer, {runs} runs on the {what} (ms):");
    println!(
        "  attach (netns + veth + address + routes, commit queued): {}",
        spread(&attach)
    );
    println!(
        "  ... until its records are durable:                      {}",
        spread(&stored)
    );
    println!(
        "  detach (port shut + unpin namespace, deletion queued):   {}",
        spread(&detach)
    );
    println!(
        "  attach + detach:                                         median {:.2}  p90 {:.2}",
        pct(&both, 0.5),
        pct(&both, 0.9)
    );
    println!(
        "  attach + detach, the commit awaited in between:          median {:.2}  p90 {:.2}",
        pct(&synced, 0.5),
        pct(&synced, 0.9)
    );
    println!(
        "  detach until the kernel has freed the veth:              median {:.2}  p90 {:.2}",
        pct(&gone, 0.5),
        pct(&gone, 0.9)
    );
}

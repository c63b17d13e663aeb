//! Overlay networks across hosts (issue 19), on namespace-hosts of this machine: the
//! benchmark's own private namespace is the underlay (a bridge and the one etcd member), each
//! host a network+mount namespace with a veth on it and a release berthd in the cluster.
//!
//! - `reach`: from the create API call on host A until the new container's name resolves from
//!   a container on host B (embedded DNS, 127.0.0.11) and it answers that container's ping.
//! - `iperf`: container-to-container TCP across two hosts on the overlay against a raw VXLAN
//!   pair (two namespaces, a vxlan device each, the same underlay and MTU), alternated.
//! - `scale`: 10 hosts × 20 containers; the time from an endpoint key's write until the
//!   neighbour and FDB entries are in the other hosts' kernels, with 10 and with 200
//!   endpoints in the cluster; etcd keys and watch events per endpoint.
//!
//! Usage: bench-overlay [all|reach|iperf|scale] [RUNS]   (default all 20)

mod cluster;
mod reach;
mod scale;
mod throughput;

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "all".into());
    let runs: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(20)
        .max(3);
    if !matches!(which.as_str(), "all" | "reach" | "iperf" | "scale") {
        eprintln!("usage: bench-overlay [all|reach|iperf|scale] [RUNS]");
        std::process::exit(2);
    }
    berth_bench::enter_private_namespaces();
    let hosts = if matches!(which.as_str(), "all" | "scale") {
        scale::HOSTS
    } else {
        2
    };
    let c = cluster::OvCluster::new(hosts);
    println!(
        "{hosts} berthd hosts, one etcd 3.4 member on the underlay ({}), overlay {} ({})",
        c.etcd.endpoint,
        cluster::NETWORK,
        cluster::SUBNET
    );
    if matches!(which.as_str(), "all" | "reach") {
        reach::bench(&c, runs);
    }
    if matches!(which.as_str(), "all" | "iperf") {
        throughput::bench(&c, runs.min(5));
    }
    if matches!(which.as_str(), "all" | "scale") {
        scale::bench(&c, runs);
    }
}

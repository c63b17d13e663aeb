//! `network check` and `network graph` with many containers: 1000 sandboxes (by default) on 10
//! bridge networks, made through the network layer directly as bench-grow does (no runc: the
//! check reads what the network layer and the kernel hold, and a container process adds
//! nothing to that). Each check does what `GET /berth/check` does: snapshot, topology, the
//! model's facts, the kernel read back (the nf_tables generation, and `nft -j` for both tables
//! when it moved; the interfaces, routes and FDB entries on the path) and both verdicts; the
//! medians of those phases are printed too. The graph is the snapshot, the JSON round trip the CLI makes, and the
//! SVG (and DOT) drawing. Prints medians and p90; targets: check <= 20 ms, graph <= 200 ms.

use berth_net::controller::{CreateNetwork, SubnetRequest};
use berth_net::endpoint::{EndpointOptions, SandboxOptions};
use berth_net::network::new_id;
use berth_net::reach::model::{ContainerView, HostView, NetSnapshot, Topology};
use berth_net::reach::{self, observe, Facts, Party, Query};
use std::collections::HashMap;
use std::time::Instant;

/// `order` maps a sandbox's ID to the index it was made with: the snapshot lists sandboxes in
/// its own order (by ID), and `c{i}` must be the one made on `nets[i % 10]` for the pairs the
/// cases name to be on the networks their labels say.
fn topology(
    net: NetSnapshot,
    addrs: Vec<std::net::IpAddr>,
    order: &HashMap<String, usize>,
) -> (Topology, Facts) {
    let containers = net
        .sandboxes
        .iter()
        .map(|sb| (order.get(&sb.id).copied().unwrap_or(usize::MAX), sb))
        .map(|(i, sb)| ContainerView {
            id: format!("{:0>64}", i),
            name: format!("c{i}"),
            running: true,
            status: "running".into(),
            network_mode: sb
                .endpoints
                .first()
                .map(|e| e.network.clone())
                .unwrap_or_default(),
            networks: sb.endpoints.iter().map(|e| e.network.clone()).collect(),
            endpoints: sb.endpoints.clone(),
            ports: sb.ports.clone(),
            links: vec![],
            sandbox_key: Some(sb.path.clone()),
        })
        .collect();
    let facts = Facts::from_model(&net.firewall);
    let topo = Topology {
        host: HostView {
            name: "bench".into(),
            addrs,
            firewall: net.firewall_enabled,
            br_netfilter: observe::br_netfilter(),
        },
        networks: net.networks,
        containers,
        cluster: None,
    };
    (topo, facts)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000)
        .max(20);
    berth_bench::enter_private_namespaces();
    berth_bench::runtime().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctl = berth_bench::controller_with_network(dir.path(), "10.130.0.0/16").await;
        let mut nets = vec!["benchnet".to_string()];
        for i in 1..10 {
            let name = format!("bench{i}");
            ctl.create(CreateNetwork {
                name: name.clone(),
                subnets: vec![SubnetRequest {
                    subnet: format!("10.{}.0.0/16", 130 + i),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .await
            .expect("network");
            nets.push(name);
        }
        let t = Instant::now();
        let mut made = Vec::with_capacity(n);
        for i in 0..n {
            let (sb, _) = ctl
                .create_sandbox_with(
                    &new_id(),
                    SandboxOptions {
                        dns: Vec::new(),
                        networks: vec![(
                            nets[i % nets.len()].clone(),
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
            made.push(sb.id);
        }
        println!(
            "{n} sandboxes on {} networks made in {:.1} s",
            nets.len(),
            t.elapsed().as_secs_f64()
        );
        let order: HashMap<String, usize> = made
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let obs = observe::Observer::connect().expect("netlink");
        // c0 and c10 share benchnet; c0 and c1 are on different networks.
        let cases = [
            ("same network", "c0", "c10", None),
            ("different networks", "c0", "c1", None),
            ("to a port on the host", "c5", "host", Some((80, berth_net::firewall::Proto::Tcp))),
        ];
        for (what, src, dst, port) in cases {
            let mut took = Vec::new();
            // Where the time goes: addresses, snapshot, kernel readback, verdicts.
            let mut phases: [Vec<f64>; 4] = Default::default();
            let mut verdict = String::new();
            for _ in 0..40 {
                let t = Instant::now();
                let addrs = obs.addresses().await.expect("addresses");
                let t1 = Instant::now();
                let (topo, model) = topology(ctl.reach_snapshot().await, addrs, &order);
                let q = Query {
                    src: Party::parse(src),
                    dst: Party::parse(dst),
                    port,
                };
                let t2 = Instant::now();
                let kernel = observe::for_question(&obs, &topo, &model, &q).await;
                let t3 = Instant::now();
                let r = reach::check(&topo, &model, kernel.as_ref().map(Some).map_err(Clone::clone), &q, (src, dst, None))
                    .expect("check");
                let t4 = Instant::now();
                took.push(t.elapsed().as_secs_f64() * 1e3);
                for (v, (a, b)) in phases.iter_mut().zip([(t, t1), (t1, t2), (t2, t3), (t3, t4)]) {
                    v.push((b - a).as_secs_f64() * 1e3);
                }
                verdict = format!(
                    "{} {} kernel {}",
                    if r.reachable { "reachable" } else { "unreachable" },
                    r.code.map(|c| c.as_str()).unwrap_or(""),
                    if r.kernel.agrees { "agrees" } else { "DISAGREES" }
                );
            }
            println!(
                "network check {what} ({src} → {dst}), {n} containers: median {:.2} ms, p90 {:.2} ms ({verdict}; target <= 20 ms)",
                berth_bench::pct(&took, 0.5),
                berth_bench::pct(&took, 0.9)
            );
            println!(
                "  medians: addresses {:.2} ms, snapshot {:.2} ms, kernel readback {:.2} ms, verdicts {:.2} ms",
                berth_bench::pct(&phases[0], 0.5),
                berth_bench::pct(&phases[1], 0.5),
                berth_bench::pct(&phases[2], 0.5),
                berth_bench::pct(&phases[3], 0.5)
            );
        }
        let mut took = Vec::new();
        let mut dot_took = Vec::new();
        let mut size = 0;
        for _ in 0..15 {
            let t = Instant::now();
            let (topo, _) = topology(ctl.reach_snapshot().await, vec![], &order);
            let wire = serde_json::to_vec(&topo).expect("json");
            let parsed: berth_api::topology::Topo = serde_json::from_slice(&wire).expect("decode");
            let svg = berth_api::topology::svg(&parsed);
            took.push(t.elapsed().as_secs_f64() * 1e3);
            size = svg.len();
            let t = Instant::now();
            let _ = berth_api::topology::dot(&parsed);
            dot_took.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "network graph, {n} containers: SVG median {:.1} ms, p90 {:.1} ms ({} KiB; target <= 200 ms); DOT drawing alone median {:.2} ms",
            berth_bench::pct(&took, 0.5),
            berth_bench::pct(&took, 0.9),
            size / 1024,
            berth_bench::pct(&dot_took, 0.5)
        );
        for id in made {
            ctl.remove_sandbox(&id).await.expect("remove sandbox");
        }
        ctl.settle().await;
    });
}

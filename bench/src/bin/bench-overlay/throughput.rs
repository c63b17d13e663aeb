//! Container-to-container TCP across two hosts on the overlay, against a raw VXLAN pair on the
//! same underlay: two more namespaces with a vxlan device each (static remote, the containers'
//! MTU), no bridge, veth or firewall of berth's. iperf3 (Debian's) runs in each namespace;
//! rounds alternate so both figures see the same machine.

use crate::cluster::{OvCluster, NETWORK};
use berth_bench::nshost::NsHost;
use berth_bench::pct;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SECS: u32 = 5;

/// An iperf3 server in a namespace; killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `iperf3 -s` in the network namespace of `pid`. From the main thread.
fn server(pid: u32) -> Server {
    Server(
        Command::new("nsenter")
            .args(["-t", &pid.to_string(), "-n", "iperf3", "-s", "-p", "5201"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("iperf3 (scripts/install-deps.sh --bench) is needed"),
    )
}

/// Gbit/s received by one iperf3 TCP stream from the namespace of `pid` to `to`.
fn iperf(pid: u32, to: &str) -> f64 {
    let mut last = String::new();
    // The server may still be starting on the first round.
    for _ in 0..10 {
        let out = Command::new("nsenter")
            .args(["-t", &pid.to_string(), "-n", "iperf3", "-J", "-c", to])
            .args(["-p", "5201", "-t", &SECS.to_string()])
            .stderr(Stdio::null())
            .output()
            .expect("run iperf3");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if let Some(bps) = v["end"]["sum_received"]["bits_per_second"].as_f64() {
            return bps / 1e9;
        }
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("iperf3 to {to} failed: {last}");
}

fn mtu(pid: u32) -> u32 {
    let out = Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-n",
            "ip",
            "-o",
            "link",
            "show",
            "eth0",
        ])
        .output()
        .expect("ip link");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .skip_while(|w| *w != "mtu")
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("no mtu in {text:?}"))
}

fn overlay_ip(c: &OvCluster, host: usize, name: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&c.hosts[host].api_ok("GET", &format!("/containers/{name}/json"), ""))
            .expect("inspect json");
    v["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]
        .as_str()
        .expect("overlay address")
        .to_string()
}

pub fn bench(c: &OvCluster, rounds: usize) {
    c.run(1, "srv", None);
    c.run(0, "cli", None);
    let (srv, cli) = (
        c.hosts[1].container_pid("srv"),
        c.hosts[0].container_pid("cli"),
    );
    let srv_ip = overlay_ip(c, 1, "srv");
    let mtu = mtu(cli);
    let a = NsHost::plugged(31);
    let b = NsHost::plugged(32);
    for (h, peer, ip) in [(&a, &b, "10.99.0.1"), (&b, &a, "10.99.0.2")] {
        h.sh(&format!(
            "ip link add vx0 type vxlan id 42 local {} remote {} dstport 4789 dev eth0 && \
             ip link set vx0 mtu {mtu} && ip addr add {ip}/24 dev vx0 && ip link set vx0 up",
            h.addr, peer.addr
        ));
    }
    let servers = [server(srv), server(b.pid())];
    let (mut ov, mut raw, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let r = iperf(a.pid(), "10.99.0.2");
        let o = iperf(cli, &srv_ip);
        raw.push(r);
        ov.push(o);
        ratio.push(o / r);
    }
    drop(servers);
    c.rm(1, "srv");
    c.rm(0, "cli");
    println!("iperf3 TCP, one stream, {SECS} s x {rounds} rounds alternated, MTU {mtu} (medians):");
    println!(
        "  raw VXLAN pair:               {:.2} Gbit/s",
        pct(&raw, 0.5)
    );
    println!(
        "  overlay container->container: {:.2} Gbit/s",
        pct(&ov, 0.5)
    );
    println!(
        "  ratio overlay/raw:            {:.2} (per round {}; target >= 0.9)",
        pct(&ratio, 0.5),
        ratio
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
}

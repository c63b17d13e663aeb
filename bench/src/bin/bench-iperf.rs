//! Throughput to a published port with iperf3 (Debian's), as a ratio to the container's own
//! address measured in the same run: via the host's 127.0.0.1, via the host's address, and
//! from another container through the host's address (hairpin), against that container
//! reaching the server directly. The iperf3 server runs in the container's network
//! namespace; the path through the kernel is the container's.
//!
//! Usage: bench-iperf [SECONDS] [ROUNDS]   (defaults 3 and 3; medians over rounds)

use berth_bench::{enter_private_namespaces, pct, Daemon};
use std::process::{Command, Stdio};

const HOST_ADDR: &str = "10.98.0.1";

fn sh(script: &str) {
    let ok = Command::new("sh").args(["-c", script]).status();
    assert!(ok.map(|s| s.success()).unwrap_or(false), "{script}");
}

fn key(d: &Daemon, name: &str) -> (String, String) {
    let v: serde_json::Value =
        serde_json::from_str(&d.cli(&["inspect", name])).expect("inspect json");
    let ns = &v[0]["NetworkSettings"];
    (
        ns["SandboxKey"].as_str().expect("key").to_string(),
        ns["IPAddress"].as_str().expect("ip").to_string(),
    )
}

/// Gbit/s received by one iperf3 TCP stream from namespace `ns` (None: the host's) to `to`.
fn iperf(ns: Option<&str>, to: &str, port: &str, secs: u32) -> f64 {
    let mut cmd = Command::new("nsenter");
    match ns {
        Some(p) => cmd.arg(format!("--net={p}")),
        None => cmd.arg("--net=/proc/self/ns/net"),
    };
    let out = cmd
        .args([
            "iperf3",
            "-J",
            "-c",
            to,
            "-p",
            port,
            "-t",
            &secs.to_string(),
        ])
        .stderr(Stdio::null())
        .output()
        .expect("iperf3 (Debian package iperf3) is needed");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| {
            panic!(
                "iperf3 to {to}:{port} failed: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
        / 1e9
}

fn main() {
    enter_private_namespaces();
    let mut args = std::env::args().skip(1);
    let secs: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    // The host's address on a link of its own (the "outside" side is never used).
    sh(&format!(
        "ip link add vbench type veth peer name vbench-peer && ip addr add {HOST_ADDR}/24 dev vbench && ip link set vbench up && ip link set vbench-peer up"
    ));
    let d = Daemon::start();
    d.cli(&[
        "run",
        "-d",
        "--name",
        "srv",
        "-p",
        "15201:5201",
        "busybox",
        "sleep",
        "100000",
    ]);
    d.cli(&["run", "-d", "--name", "cli", "busybox", "sleep", "100000"]);
    let (srv_ns, srv_ip) = key(&d, "srv");
    let (cli_ns, _) = key(&d, "cli");
    sh(&format!("nsenter --net={srv_ns} iperf3 -s -D -p 5201"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut r = vec![Vec::new(); 6];
    for _ in 0..rounds {
        let direct = iperf(None, &srv_ip, "5201", secs);
        r[0].push(direct);
        r[1].push(iperf(None, "127.0.0.1", "15201", secs) / direct);
        r[2].push(iperf(None, HOST_ADDR, "15201", secs) / direct);
        let c_direct = iperf(Some(&cli_ns), &srv_ip, "5201", secs);
        r[3].push(c_direct);
        r[4].push(iperf(Some(&cli_ns), HOST_ADDR, "15201", secs) / c_direct);
    }
    let _ = Command::new("pkill")
        .args(["-f", "iperf3 -s -D -p 5201"])
        .status();
    println!("iperf3 TCP, one stream, {secs} s x {rounds} rounds (medians):");
    println!("  host -> container address: {:.2} Gbit/s", pct(&r[0], 0.5));
    println!(
        "  host -> 127.0.0.1:15201 (published): ratio {:.2}",
        pct(&r[1], 0.5)
    );
    println!(
        "  host -> {HOST_ADDR}:15201 (published): ratio {:.2}",
        pct(&r[2], 0.5)
    );
    println!(
        "  container -> container address: {:.2} Gbit/s",
        pct(&r[3], 0.5)
    );
    println!(
        "  container -> {HOST_ADDR}:15201 (hairpin): ratio {:.2}",
        pct(&r[4], 0.5)
    );
}

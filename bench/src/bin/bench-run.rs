//! Containers: `berth run -d --network NET busybox sleep` timed until the CLI returns, N of them
//! one after another, then `berth rm -f` of all in one command. Runs a release berthd inside
//! fresh network and mount namespaces, with a busybox image built from the host's busybox.
//!
//! Usage: bench-run [N]   (default 100; the cost per container is printed for the first and
//! last ten, so `bench-run 1000` compares the 10th with the 1000th).

use berth_bench::{enter_private_namespaces, pct, Daemon};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    enter_private_namespaces();
    let d = Daemon::start();
    let cli = |args: &[&str]| d.cli(args);
    cli(&["network", "create", "--subnet", "10.200.0.0/16", "benchnet"]);
    let mut each = Vec::with_capacity(n);
    let all = Instant::now();
    for i in 0..n {
        let name = format!("c{i}");
        let t = Instant::now();
        cli(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "benchnet",
            "busybox",
            "sleep",
            "100000",
        ]);
        each.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let total = all.elapsed().as_secs_f64();
    let rss_full = d.rss();
    let names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let mut args = vec!["rm", "-f"];
    args.extend(names.iter().map(String::as_str));
    let t = Instant::now();
    cli(&args);
    let rm_all = t.elapsed().as_secs_f64();
    let t = Instant::now();
    cli(&["network", "rm", "benchnet"]);
    let net_rm = t.elapsed().as_secs_f64() * 1e3;
    let first: Vec<f64> = each.iter().take(10).copied().collect();
    let last: Vec<f64> = each.iter().rev().take(10).copied().collect();
    println!(
        "containers with runc, {n} runs of `berth run -d --network benchnet busybox sleep` (ms):"
    );
    println!("  run -d until it returns: median {:.1}  p90 {:.1}  (target <= 100 ms; Docker 20.10 447 ms)", pct(&each, 0.5), pct(&each, 0.9));
    println!("  {n} one after another: {total:.2} s  (target for 100: <= 10 s; Docker 63 s)");
    println!(
        "  rm -f of all {n} in one command: {rm_all:.2} s  (target for 100: <= 3 s; Docker 8 s)"
    );
    println!("  network rm right after: {net_rm:.1} ms (Docker 20.10: 'has active endpoints')");
    println!(
        "  cost per container, first 10 median {:.1} ms, last 10 median {:.1} ms: ratio {:.2} (target <= 1.2 at the 1000th)",
        pct(&first, 0.5),
        pct(&last, 0.5),
        pct(&last, 0.5) / pct(&first, 0.5)
    );
    println!("  berthd RSS with {n} containers: {rss_full}");
    interactive(&cli);
}

/// What an interactive container's keeper costs: `run -dit … sh` against `run -d … sleep`,
/// alternated on the default bridge, and the keepers' memory.
fn interactive(cli: &dyn Fn(&[&str]) -> String) {
    const N: usize = 20;
    let (mut plain, mut tty) = (Vec::new(), Vec::new());
    for i in 0..N {
        let (p, t) = (format!("p{i}"), format!("t{i}"));
        let start = Instant::now();
        cli(&["run", "-d", "--name", &p, "busybox", "sleep", "100000"]);
        plain.push(start.elapsed().as_secs_f64() * 1e3);
        let start = Instant::now();
        cli(&["run", "-dit", "--name", &t, "busybox", "sh"]);
        tty.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let keepers = keepers_rss_kib();
    println!("interactive containers, {N} of each on the default bridge (ms):");
    println!(
        "  run -d … sleep median {:.1}; run -dit … sh (with its keeper) median {:.1}",
        pct(&plain, 0.5),
        pct(&tty, 0.5)
    );
    let each = |f: fn(&(u64, u64)) -> u64| {
        keepers.iter().map(f).sum::<u64>() / keepers.len().max(1) as u64
    };
    println!(
        "  keepers: {} processes, each RSS {} KiB, of it private {} KiB (the rest is berthd's binary, shared)",
        keepers.len(),
        each(|k| k.0),
        each(|k| k.1)
    );
    let names: Vec<String> = (0..N)
        .flat_map(|i| [format!("p{i}"), format!("t{i}")])
        .collect();
    let mut args = vec!["rm", "-f"];
    args.extend(names.iter().map(String::as_str));
    cli(&args);
}

/// Resident and private memory (KiB) of each running keeper (`berthd keep-stdio`).
fn keepers_rss_kib() -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        if !cmdline.split(|&b| b == 0).any(|a| a == b"keep-stdio") {
            continue;
        }
        let rollup = std::fs::read_to_string(p.path().join("smaps_rollup")).unwrap_or_default();
        let field = |name: &str| -> u64 {
            rollup
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        out.push((
            field("Rss:"),
            field("Private_Clean:") + field("Private_Dirty:"),
        ));
    }
    out
}

//! Containers: `berth run -d --network NET busybox sleep` timed until the CLI returns, N of them
//! one after another, then `berth rm -f` of all in one command. Runs a release berthd inside
//! fresh network and mount namespaces, with a busybox image built from the host's busybox.
//!
//! Usage: bench-run [N]   (default 100; the cost per container is printed for the first and
//! last ten, so `bench-run 1000` compares the 10th with the 1000th).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MARK: &str = "BERTH_BENCH_IN_NS";

fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[((s.len() as f64 - 1.0) * p).round() as usize]
}

fn busybox_tar(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static is needed");
    let list = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    for a in String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|a| *a != "busybox")
    {
        let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(a));
    }
    let tar = dir.join("busybox.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status();
    assert!(ok.map(|s| s.success()).unwrap_or(false), "tar failed");
    tar
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    if std::env::var_os(MARK).is_none() {
        let status = Command::new("unshare")
            .args(["--net", "--mount", "--propagation", "private", "--"])
            .arg(std::env::current_exe().expect("own path"))
            .arg(n.to_string())
            .env(MARK, "1")
            .status()
            .expect("run unshare");
        std::process::exit(status.code().unwrap_or(1));
    }
    let bin = std::env::current_exe().expect("own path");
    let berthd = bin.with_file_name("berthd");
    let berth = bin.with_file_name("berth");
    let _ = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status();
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("berth.sock");
    let mut daemon = Command::new(&berthd)
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .arg("--data-root")
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(dir.path().join("run"))
        .args(["--config-file", "/dev/null", "--log-level", "warn"])
        .stdout(Stdio::null())
        .spawn()
        .expect("start berthd");
    let cli = |args: &[&str]| {
        let out = Command::new(&berth)
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args(args)
            .output()
            .expect("run berth");
        assert!(
            out.status.success(),
            "berth {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let t0 = Instant::now();
    while !sock.exists() && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    let tar = busybox_tar(dir.path());
    cli(&["import", tar.to_str().expect("utf-8"), "busybox"]);
    cli(&["network", "create", "--subnet", "10.200.0.0/16", "benchnet"]);
    let rss = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
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
    let rss_full = rss(daemon.id());
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
    // SAFETY: signalling our own child.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let _ = daemon.wait();
}

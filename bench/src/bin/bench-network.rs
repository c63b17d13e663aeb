//! Network create/rm round-trip benchmark: starts a release berthd inside a private network
//! namespace, times `POST /networks/create` and `DELETE /networks/{id}` through the API socket
//! (one connection per request, as the docker CLI does), and prints medians, p90 and RSS.
//!
//! Run: `bench/run.sh network` (builds release binaries, needs root for the namespace).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn request(sock: &Path, method: &str, path: &str, body: &str) -> (u16, String) {
    berth_bench::api(sock, method, path, body).expect("request to berthd")
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Whether the daemon's namespace has a link called `name` (/proc/PID/net is that namespace's).
fn has_link(pid: u32, name: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .unwrap_or_default()
        .lines()
        .any(|l| l.trim_start().split(':').next() == Some(name))
}

/// Bridges berth parked for reuse (`bp-…`) in the daemon's namespace.
fn parked(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.trim_start().starts_with("bp-"))
        .count()
}

/// Waits until the daemon's bridge pool has drained (it deletes parked bridges once idle for
/// a second); the time that took, in ms.
fn wait_pool_drained(pid: u32) -> f64 {
    let t = Instant::now();
    let deadline = t + Duration::from_secs(20);
    while parked(pid) > 0 {
        assert!(Instant::now() < deadline, "parked bridges never drained");
        std::thread::sleep(Duration::from_millis(1));
    }
    t.elapsed().as_secs_f64() * 1e3
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

struct Daemon {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn start(berthd: &Path) -> (Daemon, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("berth.sock");
    let mut cmd = Command::new(berthd);
    cmd.arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .arg("--data-root")
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(dir.path().join("run"))
        .arg("--config-file")
        .arg("/dev/null")
        .arg("--log-level")
        .arg("warn")
        .stdout(Stdio::null());
    // SAFETY: prctl and unshare are async-signal-safe. The namespace, with every bridge made in
    // it, dies with the daemon.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn berthd");
    let t0 = Instant::now();
    while Instant::now() - t0 < Duration::from_secs(20) {
        if matches!(berth_bench::api(&sock, "GET", "/_ping", ""), Ok((200, _))) {
            println!(
                "startup to API-ready: {:.1} ms",
                t0.elapsed().as_secs_f64() * 1e3
            );
            return (Daemon { child, _dir: dir }, sock);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("berthd did not become ready");
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let berthd = std::env::current_exe()
        .expect("own path")
        .with_file_name("berthd");
    let (daemon, sock) = start(&berthd);
    let pid = daemon.child.id();
    let idle_before = rss_kb(pid);
    // Warm-up, not measured.
    for i in 0..5 {
        let (c, b) = request(
            &sock,
            "POST",
            "/v1.51/networks/create",
            &format!(r#"{{"Name":"warm{i}"}}"#),
        );
        assert_eq!(c, 201, "{b}");
        assert_eq!(
            request(&sock, "DELETE", &format!("/v1.51/networks/warm{i}"), "").0,
            204
        );
    }
    // Phase 0: create + rm back to back, 30 pairs in a row, as a script or compose does; the
    // kernel is left to unregister each bridge behind the next pair.
    let mut pairs = Vec::with_capacity(30);
    let mut pair_bridges = Vec::with_capacity(30);
    let pairs_start = Instant::now();
    for i in 0..30 {
        let body =
            format!(r#"{{"Name":"pair{i}","IPAM":{{"Config":[{{"Subnet":"10.201.{i}.0/24"}}]}}}}"#);
        let t = Instant::now();
        let (c, b) = request(&sock, "POST", "/v1.51/networks/create", &body);
        assert_eq!(c, 201, "{b}");
        let (r, rb) = request(&sock, "DELETE", &format!("/v1.51/networks/pair{i}"), "");
        pairs.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(r, 204, "{rb}");
        let id = b
            .split("\"Id\":\"")
            .nth(1)
            .map(|r| r[..12].to_string())
            .expect("create answers with an Id");
        pair_bridges.push(format!("br-{id}"));
    }
    let pairs_api = pairs_start.elapsed().as_secs_f64() * 1e3;
    // rm leaves nothing once settled: every bridge of the 30 goes.
    let settle_deadline = Instant::now() + Duration::from_secs(10);
    while pair_bridges.iter().any(|b| has_link(pid, b)) {
        assert!(
            Instant::now() < settle_deadline,
            "bridges left after rm: {pair_bridges:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let pairs_settled = pairs_start.elapsed().as_secs_f64() * 1e3;
    let pairs_parked = parked(pid);
    let pairs_drained = wait_pool_drained(pid) + pairs_settled;
    pairs.sort_by(|a, b| a.total_cmp(b));
    let mut create = Vec::with_capacity(runs);
    let mut remove = Vec::with_capacity(runs);
    let mut unregistered = Vec::with_capacity(runs);
    for i in 0..runs {
        let body = format!(
            r#"{{"Name":"bench{i}","IPAM":{{"Config":[{{"Subnet":"10.{}.{}.0/24"}}]}}}}"#,
            100 + i / 256,
            i % 256
        );
        let t = Instant::now();
        let (c, b) = request(&sock, "POST", "/v1.51/networks/create", &body);
        create.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(c, 201, "{b}");
        let id = b
            .split("\"Id\":\"")
            .nth(1)
            .map(|r| r[..12].to_string())
            .expect("create answers with an Id");
        let bridge = format!("br-{id}");
        assert!(has_link(pid, &bridge), "{bridge} exists after create");
        let t = Instant::now();
        let (c, b) = request(&sock, "DELETE", &format!("/v1.51/networks/bench{i}"), "");
        remove.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(c, 204, "{b}");
        // The bridge is unregistered in the background; time until the kernel has let it go.
        while has_link(pid, &bridge) {
            std::thread::sleep(Duration::from_micros(200));
        }
        unregistered.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // Phase 2: 100 creates back to back, then 100 removals back to back.
    let mut burst_create = Vec::with_capacity(100);
    let mut bridges = Vec::with_capacity(100);
    for i in 0..100 {
        let body =
            format!(r#"{{"Name":"held{i}","IPAM":{{"Config":[{{"Subnet":"10.200.{i}.0/24"}}]}}}}"#);
        let t = Instant::now();
        let (c, b) = request(&sock, "POST", "/v1.51/networks/create", &body);
        burst_create.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(c, 201, "{b}");
        let id = b
            .split("\"Id\":\"")
            .nth(1)
            .map(|r| r[..12].to_string())
            .expect("Id");
        bridges.push(format!("br-{id}"));
    }
    let held = rss_kb(pid);
    let mut burst_rm = Vec::with_capacity(100);
    let all = Instant::now();
    for i in 0..100 {
        let t = Instant::now();
        let (c, b) = request(&sock, "DELETE", &format!("/v1.51/networks/held{i}"), "");
        burst_rm.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(c, 204, "{b}");
    }
    let api_done = all.elapsed().as_secs_f64() * 1e3;
    while bridges.iter().any(|b| has_link(pid, b)) {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Unregistration may still be finishing after the names vanish; a create waits for it.
    let t = Instant::now();
    let (c, b) = request(
        &sock,
        "POST",
        "/v1.51/networks/create",
        r#"{"Name":"after"}"#,
    );
    assert_eq!(c, 201, "{b}");
    let settle = all.elapsed().as_secs_f64() * 1e3;
    let after_create = t.elapsed().as_secs_f64() * 1e3;
    let (c, b) = request(&sock, "DELETE", "/v1.51/networks/after", "");
    assert_eq!(c, 204, "{b}");
    let drained = wait_pool_drained(pid);
    for v in [&mut burst_create, &mut burst_rm] {
        v.sort_by(|a, b| a.total_cmp(b));
    }
    for v in [&mut create, &mut remove, &mut unregistered] {
        v.sort_by(|a, b| a.total_cmp(b));
    }
    println!("phase 0: network create + rm back to back through the API, 30 pairs in a row (ms):");
    println!(
        "  pair: median {:.2}  p90 {:.2}  min {:.2}  max {:.2}  (all 30 answered in {pairs_api:.0}, every network's bridge name gone at {pairs_settled:.0}, {pairs_parked} parked for reuse then, pool drained at {pairs_drained:.0})",
        percentile(&pairs, 0.5),
        percentile(&pairs, 0.9),
        pairs[0],
        pairs[29]
    );
    println!("  target: <= 10 ms a pair");
    println!("phase 1: create then rm of one network, repeated {runs} times (ms):");
    println!(
        "  create: median {:.2}  p90 {:.2}  min {:.2}  max {:.2}",
        percentile(&create, 0.5),
        percentile(&create, 0.9),
        create[0],
        create[runs - 1]
    );
    println!(
        "  rm:     median {:.2}  p90 {:.2}  min {:.2}  max {:.2}",
        percentile(&remove, 0.5),
        percentile(&remove, 0.9),
        remove[0],
        remove[runs - 1]
    );
    println!(
        "  rm until the bridge's name is gone from the kernel (parked or deleted): median {:.2}  p90 {:.2}",
        percentile(&unregistered, 0.5),
        percentile(&unregistered, 0.9)
    );
    println!("  (a create reuses the bridge parked by the rm before it)");
    println!("phase 2: 100 creates back to back, then 100 rms back to back (ms):");
    println!(
        "  create: median {:.2}  p90 {:.2}",
        percentile(&burst_create, 0.5),
        percentile(&burst_create, 0.9)
    );
    println!(
        "  rm:     median {:.2}  p90 {:.2}  (all 100 answered in {api_done:.0})",
        percentile(&burst_rm, 0.5),
        percentile(&burst_rm, 0.9)
    );
    println!(
        "  kernel done with all 100 bridges {settle:.0} ms after the first rm (next create took {after_create:.1})"
    );
    println!(
        "  nothing parked left {drained:.0} ms after the last rm (the pool drains after 1 s idle)"
    );
    println!("targets: create <= 5 ms, rm <= 5 ms (Docker 20.10 here: 116 ms and 226 ms)");
    println!(
        "berthd RSS: idle {:.1} MB, with 100 networks {:.1} MB (target idle <= 20 MB)",
        idle_before as f64 / 1024.0,
        held as f64 / 1024.0
    );
}

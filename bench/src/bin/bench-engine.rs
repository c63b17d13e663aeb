//! The engine under load and after a crash:
//! - `GET /containers/json` latency while 20 clients run and remove containers (target:
//!   median <= 20 ms; before the per-container locks a start held the engine, 2 s median);
//! - a restart with N containers (default 100) that each have a pending intent (a removal the
//!   previous daemon recorded and never finished): time until `_ping` answers and until all
//!   are repaired.
//!
//! Usage: bench-engine [N]

use berth_bench::{api, enter_private_namespaces, pct, Daemon};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn get(sock: &Path, path: &str) -> Option<(u16, String)> {
    api(sock, "GET", path, "").ok()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    enter_private_namespaces();
    let mut d = Daemon::start();
    list_under_load(&d);
    restart_with_intents(&mut d, n);
}

fn list_under_load(d: &Daemon) {
    const CLIENTS: usize = 20;
    let stop = Arc::new(AtomicBool::new(false));
    let berth = std::env::current_exe()
        .expect("own path")
        .with_file_name("berth");
    let host = format!("unix://{}", d.sock.display());
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (stop, berth, host) = (stop.clone(), berth.clone(), host.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("load{c}x{i}");
                    let run = |args: &[&str]| {
                        Command::new(&berth)
                            .arg("-H")
                            .arg(&host)
                            .args(args)
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .status()
                    };
                    let _ = run(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"]);
                    let _ = run(&["rm", "-f", &name]);
                    i += 1;
                }
            })
        })
        .collect();
    // Let the clients get going, then sample.
    std::thread::sleep(Duration::from_secs(2));
    let mut lat = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(15) {
        let t = Instant::now();
        let ok = matches!(get(&d.sock, "/containers/json"), Some((200, _)));
        if ok {
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    println!("GET /containers/json while {CLIENTS} clients run -d and rm -f containers ({} samples, ms):", lat.len());
    println!(
        "  median {:.1}  p90 {:.1}  max {:.1}  (target: median <= 20 ms)",
        pct(&lat, 0.5),
        pct(&lat, 0.9),
        pct(&lat, 1.0)
    );
}

fn restart_with_intents(d: &mut Daemon, n: usize) {
    for i in 0..n {
        d.cli(&[
            "run",
            "-d",
            "--name",
            &format!("intent{i}"),
            "busybox",
            "sleep",
            "100000",
        ]);
    }
    // A crash, then every container marked as the previous daemon leaves a removal it began.
    let _ = d.child.kill();
    let _ = d.child.wait();
    let data = d.dir.path().join("data");
    {
        let store = berth_store::Store::open(&data.join("berth.db")).expect("open the store");
        let table = berth_store::Table("containers");
        let all = store
            .list::<serde_json::Value>(table)
            .expect("list containers");
        for (id, mut c) in all {
            c["state"]["removing"] = serde_json::Value::Bool(true);
            store.put(table, &id, &c).expect("mark removing");
        }
    }
    let bin = std::env::current_exe().expect("own path");
    let t = Instant::now();
    d.child = Command::new(bin.with_file_name("berthd"))
        .arg("-H")
        .arg(format!("unix://{}", d.sock.display()))
        .arg("--data-root")
        .arg(&data)
        .arg("--exec-root")
        .arg(d.dir.path().join("run"))
        .arg("--cgroup-parent")
        .arg(format!("/berth-bench-{}", std::process::id()))
        .args(["--config-file", "/dev/null", "--log-level", "warn"])
        .stdout(Stdio::null())
        .spawn()
        .expect("restart berthd");
    while !matches!(get(&d.sock, "/_ping"), Some((200, _))) {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "berthd did not come back"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let ping = t.elapsed().as_secs_f64();
    loop {
        if let Some((200, body)) = get(&d.sock, "/containers/json?all=1") {
            if body.trim() == "[]" {
                break;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "the removals were never finished"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let repaired = t.elapsed().as_secs_f64();
    println!("restart after a kill -9 with {n} containers each with a pending removal:");
    println!("  until _ping answers: {ping:.2} s   until all {n} are repaired (removed): {repaired:.2} s");
}

//! docker-compose against berthd: `up -d` and `down` of bench/compose/docker-compose.yml (three
//! services, two networks, one with IPAM config, an alias, a published port, depends_on), wall
//! time of Debian's docker-compose 1.29 until it returns, one warm-up then N runs. A release
//! berthd in fresh network and mount namespaces, with the busybox image the tests use.
//! bench/docker-20.10-compose.sh measures Docker 20.10 on the same project.
//!
//! Usage: bench-compose [N]   (default 10)

use berth_bench::{enter_private_namespaces, pct, Daemon};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const PROJECT: &str = include_str!("../../compose/docker-compose.yml");
const COMPOSE: &str = "/usr/bin/docker-compose";

/// Runs one docker-compose command in the project; panics with its output on failure.
fn compose(d: &Daemon, dir: &Path, args: &[&str]) {
    let out = Command::new(COMPOSE)
        .args(["--no-ansi", "-p", "bench"])
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .stdin(Stdio::null())
        .output()
        .expect("run docker-compose (Debian's docker-compose package)");
    assert!(
        out.status.success(),
        "docker-compose {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10)
        .max(1);
    enter_private_namespaces();
    let d = Daemon::start();
    let dir = d.dir.path().join("proj");
    std::fs::create_dir_all(&dir).expect("mkdir project");
    std::fs::write(dir.join("docker-compose.yml"), PROJECT).expect("write project");
    let (mut ups, mut downs) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..=n {
        let t = Instant::now();
        compose(&d, &dir, &["up", "-d"]);
        let up = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        compose(&d, &dir, &["down"]);
        let down = t.elapsed().as_secs_f64() * 1e3;
        if i == 0 {
            println!("  warm-up: up {up:.0} ms, down {down:.0} ms");
            continue;
        }
        ups.push(up);
        downs.push(down);
    }
    // docker-compose's own start-up (Python, docker-py), which no daemon can make shorter.
    let mut floor = Vec::with_capacity(3);
    for _ in 0..3 {
        let t = Instant::now();
        compose(&d, &dir, &["ps"]);
        floor.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("docker-compose 1.29 against berthd, {n} runs (ms), 3 services on 2 networks:");
    println!(
        "  up -d:  median {:.0}  p90 {:.0}  (target <= 0.3x Docker 20.10's, see README)",
        pct(&ups, 0.5),
        pct(&ups, 0.9)
    );
    println!(
        "  down:   median {:.0}  p90 {:.0}",
        pct(&downs, 0.5),
        pct(&downs, 0.9)
    );
    println!(
        "  docker-compose ps on the empty project (the client's own cost): median {:.0}",
        pct(&floor, 0.5)
    );
}

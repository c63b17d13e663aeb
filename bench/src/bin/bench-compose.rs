//! docker-compose against berthd: `up -d` and `down` of bench/compose/docker-compose.yml (three
//! services, two networks, one with IPAM config, an alias, a published port, depends_on), wall
//! time of Debian's docker-compose 1.29 until it returns, one warm-up then N runs. A release
//! berthd in fresh network and mount namespaces, with the busybox image the tests use.
//!
//! docker-compose is a Python program that costs most of a second before it sends a request, so
//! each run also times the client's floor in the same conditions: `docker-compose version` (no
//! API call), `config` (parses the project, no API call) and `ps` of the empty project (one
//! list). berthd's share of a command is its wall time less the `config` floor.
//! bench/docker-20.10-compose.sh measures Docker 20.10 on the same project, the same way.
//!
//! With `BERTH_LOG=berthd::api=debug` berthd logs every request with its status and answer
//! time (`answered status=… micros=…`) on stderr: that is how compose's calls are traced.
//!
//! Usage: bench-compose [N]   (default 10)

use berth_bench::{enter_private_namespaces, pct, Daemon};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const PROJECT: &str = include_str!("../../compose/docker-compose.yml");
const COMPOSE: &str = "/usr/bin/docker-compose";

/// Runs one docker-compose command in the project and returns its wall time in ms; panics
/// with its output on failure.
fn compose(d: &Daemon, dir: &Path, args: &[&str]) -> f64 {
    let t = Instant::now();
    let out = Command::new(COMPOSE)
        .args(["--no-ansi", "-p", "bench"])
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .stdin(Stdio::null())
        .output()
        .expect("run docker-compose (Debian's docker-compose package)");
    let ms = t.elapsed().as_secs_f64() * 1e3;
    assert!(
        out.status.success(),
        "docker-compose {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ms
}

/// One timed series per command, in the order a run makes them.
#[derive(Default)]
struct Series {
    version: Vec<f64>,
    config: Vec<f64>,
    up: Vec<f64>,
    down: Vec<f64>,
    ps: Vec<f64>,
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
    let mut s = Series::default();
    for i in 0..=n {
        let version = compose(&d, &dir, &["version"]);
        let config = compose(&d, &dir, &["config", "-q"]);
        let up = compose(&d, &dir, &["up", "-d"]);
        let down = compose(&d, &dir, &["down"]);
        let ps = compose(&d, &dir, &["ps"]);
        if i == 0 {
            println!("  warm-up: up {up:.0} ms, down {down:.0} ms");
            continue;
        }
        println!(
            "  run {i}: version {version:.0}  config {config:.0}  up {up:.0}  down {down:.0}  ps {ps:.0} ms"
        );
        s.version.push(version);
        s.config.push(config);
        s.up.push(up);
        s.down.push(down);
        s.ps.push(ps);
    }
    let med = |v: &[f64]| pct(v, 0.5);
    let floor = med(&s.config);
    println!("docker-compose 1.29 against berthd, {n} runs (ms), 3 services on 2 networks:");
    println!(
        "  client floor: version {:.0}  config {:.0}  ps (empty project) {:.0}",
        med(&s.version),
        floor,
        med(&s.ps)
    );
    println!(
        "  up -d:  median {:.0}  p90 {:.0}  berthd's share (wall - config floor) {:.0}",
        med(&s.up),
        pct(&s.up, 0.9),
        med(&s.up) - floor
    );
    println!(
        "  down:   median {:.0}  p90 {:.0}  berthd's share (wall - config floor) {:.0}",
        med(&s.down),
        pct(&s.down, 0.9),
        med(&s.down) - floor
    );
    println!(
        "  (target: wall <= 0.3x Docker 20.10's; bench/docker-20.10-compose.sh prints Docker's)"
    );
}

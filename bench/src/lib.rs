//! What the benchmarks share: running in private namespaces, a release berthd with its own
//! roots, the busybox image, percentiles.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod etcd;
pub mod neighmon;
pub mod nshost;
pub mod probe;

const MARK: &str = "BERTH_BENCH_IN_NS";

/// How long one API request of a benchmark may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

fn client(sock: &Path) -> Result<berth_client::Client, berth_client::ClientError> {
    berth_client::Client::new(&format!("unix://{}", sock.display()), None)
}

/// One request to the daemon at `sock` through the client the CLI uses, one connection per
/// request as the docker CLI does: status and body, or why there was no answer.
pub fn api(
    sock: &Path,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, String), berth_client::ClientError> {
    let body = (!body.is_empty()).then(|| body.as_bytes().to_vec());
    let r = berth_client::blocking::raw(&client(sock)?, method, path, body, REQUEST_TIMEOUT)?;
    Ok((r.status, String::from_utf8_lossy(&r.body).into_owned()))
}

/// POSTs the tar archive at `file` to `path`, streamed from disk: status and body.
pub fn post_tar_file(
    sock: &Path,
    path: &str,
    file: &Path,
) -> Result<(u16, String), berth_client::ClientError> {
    let r = berth_client::blocking::post_tar_file(&client(sock)?, path, file, REQUEST_TIMEOUT)?;
    Ok((r.status, String::from_utf8_lossy(&r.body).into_owned()))
}

/// The `p` quantile (0..=1) of `v`.
pub fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[((s.len() as f64 - 1.0) * p).round() as usize]
}

/// "median M  p90 N  p99 O" of `v`, in its unit, two decimals.
pub fn spread(v: &[f64]) -> String {
    format!(
        "median {:.2}  p90 {:.2}  p99 {:.2}",
        pct(v, 0.5),
        pct(v, 0.9),
        pct(v, 0.99)
    )
}

/// Re-runs this benchmark inside fresh network and mount namespaces (everything it makes dies
/// with them) unless it already runs there; then brings lo up and gives the namespace a
/// resolv.conf naming only its own loopback, so nothing can reach the machine's resolver.
pub fn enter_private_namespaces() {
    if std::env::var_os(MARK).is_none() {
        let status = Command::new("unshare")
            .args(["--net", "--mount", "--propagation", "private", "--"])
            .arg(std::env::current_exe().expect("own path"))
            .args(std::env::args().skip(1))
            .env(MARK, "1")
            .status()
            .expect("run unshare");
        std::process::exit(status.code().unwrap_or(1));
    }
    let _ = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status();
    let resolv = std::env::temp_dir().join(format!("berth-bench-resolv-{}", std::process::id()));
    if std::fs::write(&resolv, "nameserver 127.0.0.1\n").is_ok() {
        let _ = Command::new("mount")
            .arg("--bind")
            .arg(&resolv)
            .arg("/etc/resolv.conf")
            .status();
        // The bind mount holds the file for this namespace; the name is not needed any more.
        if let Err(e) = std::fs::remove_file(&resolv) {
            eprintln!("cannot remove {}: {e}", resolv.display());
        }
    }
}

/// A rootfs tarball of the host's busybox with its applet links.
pub fn busybox_tar(dir: &Path) -> PathBuf {
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

/// A release berthd with its own roots and socket, and the busybox image imported.
pub struct Daemon {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
    berth: PathBuf,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    /// As [`Daemon::start`], with further berthd arguments (more listeners, TLS).
    pub fn start_with(extra: &[String]) -> Daemon {
        let bin = std::env::current_exe().expect("own path");
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("berth.sock");
        let child = Command::new(bin.with_file_name("berthd"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("run"))
            .arg("--cgroup-parent")
            .arg(cgroup_parent())
            .args(["--config-file", "/dev/null", "--log-level", "warn"])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("start berthd");
        let d = Daemon {
            child,
            dir,
            sock,
            berth: bin.with_file_name("berth"),
        };
        let t0 = Instant::now();
        while !d.sock.exists() && t0.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        let tar = busybox_tar(d.dir.path());
        d.cli(&["import", tar.to_str().expect("utf-8"), "busybox"]);
        d
    }

    fn command(&self, args: &[&str]) -> Command {
        cli_command(&self.berth, &self.sock, args)
    }

    /// Runs the berth CLI against this daemon; panics on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        run_cli(self.command(args), args)
    }

    /// The daemon's resident memory, as /proc reports it.
    pub fn rss(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().to_string()))
            .unwrap_or_default()
    }
}

impl Drop for Daemon {
    /// Containers outlive their daemon (as with Docker) and would keep the benchmark's
    /// namespaces alive: they go first, then the daemon.
    fn drop(&mut self) {
        remove_all_containers(&self.berth, &self.sock);
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        remove_cgroups(&cgroup_parent());
    }
}

/// The containers' cgroups went with them; their parent `parent` goes too, from every
/// hierarchy (best effort: an empty directory that is already gone is fine).
pub(crate) fn remove_cgroups(parent: &str) {
    if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
        for h in hierarchies.flatten() {
            let _ = std::fs::remove_dir(h.path().join(parent.trim_start_matches('/')));
        }
    }
}

/// The berth CLI at `berth` pointed at the daemon on `sock`, not started yet.
pub(crate) fn cli_command(berth: &Path, sock: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(berth);
    c.arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .args(args);
    c
}

/// `rm -f` of every container of the daemon on `sock`, best effort while tearing down (what
/// survives dies with its cgroup parent).
pub(crate) fn remove_all_containers(berth: &Path, sock: &Path) {
    let ids = cli_command(berth, sock, &["ps", "-aq"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids);
        let _ = cli_command(berth, sock, &args).output();
    }
}

/// Runs a CLI command; its stdout, or a panic with its stderr.
pub(crate) fn run_cli(mut cmd: Command, args: &[&str]) -> String {
    let out = cmd.output().expect("run berth");
    assert!(
        out.status.success(),
        "berth {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The benchmark daemon's own cgroup parent, away from any real berthd's `/berth`.
fn cgroup_parent() -> String {
    format!("/berth-bench-{}", std::process::id())
}

/// A runtime like the daemon's (two workers, one per core here), for the in-daemon benchmarks.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A network controller of the real kernel with its store in `dir`, and one bridge network
/// `benchnet` on `subnet`: what the in-daemon benchmarks measure against.
pub async fn controller_with_network(dir: &Path, subnet: &str) -> berth_net::Controller {
    use berth_net::controller::{CreateNetwork, SubnetRequest};
    let store =
        std::sync::Arc::new(berth_store::Store::open(&dir.join("berth.db")).expect("store"));
    let kernel = std::sync::Arc::new(
        berth_net::sys::netlink::NetlinkKernel::connect()
            .expect("netlink")
            .with_spares(
                berth_net::sys::spare_netns::capacity_from_env().expect("spare namespace count"),
            ),
    );
    let cfg = berth_net::ControllerConfig {
        netns_dir: dir.join("netns"),
        ..Default::default()
    };
    let firewall = std::sync::Arc::new(berth_net::firewall::nftables::NftFirewall::default());
    let ctl = berth_net::Controller::start(kernel, firewall, store, cfg)
        .await
        .expect("controller");
    ctl.create(CreateNetwork {
        name: "benchnet".into(),
        subnets: vec![SubnetRequest {
            subnet: subnet.into(),
            ..Default::default()
        }],
        ..Default::default()
    })
    .await
    .expect("network");
    ctl
}

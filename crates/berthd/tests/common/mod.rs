//! Test harness: a throwaway "host" (a fresh network namespace held by a sleeping process) with
//! its own berthd, data root, exec root and socket. Everything the daemon makes in the kernel
//! lives in that namespace and dies with it when the test ends, even if the test panics.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_testkit::ns::Enter;

pub fn berthd_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berthd"))
}

/// The CLI is built by `cargo build --workspace` next to berthd.
pub fn berth_bin() -> PathBuf {
    let p = berthd_bin().with_file_name("berth");
    assert!(
        p.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        p.display()
    );
    p
}

pub mod cluster;
pub mod dns;
pub mod pty;

pub const DOCKER: &str = "/usr/local/bin/docker";

/// Status, lowercased headers, body.
pub type RawResponse = (u16, Vec<(String, String)>, String);

pub struct Host {
    holder: Child,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    daemon: Option<Child>,
    pub extra_args: Vec<String>,
    /// Environment for the daemon beyond the harness's own.
    pub extra_env: Vec<(String, String)>,
}

impl Host {
    /// A new namespace with loopback up, and no daemon yet.
    pub fn bare() -> Host {
        // Its own network and mount namespaces: bridges, veths, pinned namespaces and
        // overlay mounts all die with this host.
        let holder = berth_testkit::ns::spawn_holder().expect("spawn namespace holder");
        let dir = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir()
            .expect("tempdir");
        let socket = dir.path().join("run/berth.sock");
        let h = Host {
            holder,
            dir,
            socket,
            daemon: None,
            extra_args: vec![],
            extra_env: vec![],
        };
        h.sh("ip link set lo up");
        // The daemon reads the host's resolv.conf for upstream DNS: give it this host's own
        // loopback, where a test's fake upstream listens, never the machine's resolver.
        let resolv = h.dir.path().join("host-resolv.conf");
        std::fs::write(&resolv, "nameserver 127.0.0.1\n").expect("write host resolv.conf");
        h.sh(&format!(
            "mount --bind {} /etc/resolv.conf",
            resolv.display()
        ));
        h
    }

    /// A namespace with berthd running and ready.
    pub fn new() -> Host {
        Host::with_args(&[])
    }

    pub fn with_args(args: &[&str]) -> Host {
        let mut h = Host::bare();
        h.extra_args = args.iter().map(|s| s.to_string()).collect();
        h.start_daemon();
        h
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The cgroup this host's containers go under: its own, so that daemons of tests running
    /// side by side never sweep each other's, and dropping the host removes what is left.
    pub fn cgroup_parent(&self) -> String {
        let name = self.dir.path().file_name().unwrap_or_default();
        format!("/{}", name.to_string_lossy())
    }

    /// berthd's command line, running inside this host's namespace.
    pub fn daemon_command(&self, args: &[String]) -> Command {
        let mut cmd = Command::new(berthd_bin());
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(self.dir.path().join("run"))
            .arg("--cgroup-parent")
            .arg(self.cgroup_parent())
            .args(args)
            .env("BERTH_LOG", "info")
            .envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if !args.iter().any(|a| a == "--config-file") {
            cmd.arg("--config-file").arg(self.config_file());
        }
        berth_testkit::ns::enter_on_exec(&mut cmd, self.pid(), Enter::NetAndMount)
            .expect("the host's namespaces");
        cmd
    }

    /// The config file passed to berthd (empty unless a test writes it).
    pub fn config_file(&self) -> PathBuf {
        let p = self.dir.path().join("daemon.json");
        if !p.exists() {
            std::fs::write(&p, "{}").expect("write daemon.json");
        }
        p
    }

    pub fn start_daemon(&mut self) {
        assert!(self.daemon.is_none(), "daemon already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("berthd.log"))
            .expect("log file");
        let child = self
            .daemon_command(&self.extra_args.clone())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn berthd");
        self.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok((200, body)) = self.try_api("GET", "/_ping", None) {
                assert_eq!(body, "OK");
                return;
            }
            if let Some(status) = self
                .daemon
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("berthd exited with {status}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("berthd did not become ready:\n{}", self.log());
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn stop_daemon(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(status)) = c.try_wait() {
                    assert!(
                        status.success(),
                        "berthd exited with {status}:\n{}",
                        self.log()
                    );
                    return;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    panic!("berthd ignored SIGTERM:\n{}", self.log());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// The running daemon's PID.
    pub fn daemon_pid(&self) -> u32 {
        self.daemon.as_ref().expect("daemon running").id()
    }

    /// SIGKILL: a crash.
    pub fn kill_daemon(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    /// Runs a shell command inside the namespace; panics on failure.
    pub fn sh(&self, script: &str) -> String {
        let out = self.sh_out(script);
        assert!(
            out.status.success(),
            "`{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn sh_out(&self, script: &str) -> Output {
        Command::new("nsenter")
            .args([
                "-t",
                &self.pid().to_string(),
                "-n",
                "-m",
                "--",
                "sh",
                "-c",
                script,
            ])
            .output()
            .expect("run nsenter")
    }

    /// `ip -j` output of a command inside the namespace, parsed.
    pub fn ip_json(&self, args: &str) -> serde_json::Value {
        let out = self.sh(&format!("ip -j {args}"));
        serde_json::from_str(&out).unwrap_or(serde_json::Value::Null)
    }

    /// Names of all links in the namespace.
    pub fn links(&self) -> Vec<String> {
        self.ip_json("link show")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l["ifname"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `ADDR/PREFIX` strings of a link (global scope only).
    pub fn addrs(&self, link: &str) -> Vec<String> {
        let v = self.ip_json(&format!("addr show dev {link}"));
        let mut out = Vec::new();
        for l in v.as_array().into_iter().flatten() {
            for a in l["addr_info"].as_array().into_iter().flatten() {
                if a["scope"] == "global" {
                    out.push(format!(
                        "{}/{}",
                        a["local"].as_str().unwrap_or(""),
                        a["prefixlen"]
                    ));
                }
            }
        }
        out
    }

    /// Waits (up to 5 s) until `name` is no longer a link: a removed network's bridge is
    /// unregistered by the kernel in the background, which takes tens of milliseconds.
    pub fn wait_link_gone(&self, name: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !self.links().iter().any(|l| l == name) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    pub fn link(&self, name: &str) -> Option<serde_json::Value> {
        let v = self.ip_json(&format!("-d link show dev {name}"));
        v.as_array().and_then(|a| a.first().cloned())
    }

    pub fn try_api(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> std::io::Result<(u16, String)> {
        let (status, _, body) = self.raw_api(method, path, body)?;
        Ok((status, body))
    }

    /// One HTTP request over the daemon socket: status, headers (lowercased), body.
    pub fn raw_api(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> std::io::Result<RawResponse> {
        http(&self.socket, method, path, body)
    }

    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        let (status, text) = self.try_api(method, path, body).expect("API request");
        let v = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path}: non-JSON body {text:?}: {e}"))
        };
        (status, v)
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
    }

    /// The berth CLI pointed at this host's daemon, not started yet.
    pub fn berth_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(berth_bin());
        c.arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args);
        c
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    /// The docker CLI pointed at this host's daemon, not started yet.
    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        assert!(
            Path::new(DOCKER).exists(),
            "the docker CLI is expected at {DOCKER}"
        );
        let mut c = Command::new(DOCKER);
        c.arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"));
        c
    }
}

/// The busybox test image: a root filesystem tarball built once from the host's busybox.
pub fn busybox_tar() -> PathBuf {
    static TAR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    TAR.get_or_init(|| {
        let busybox = ["/usr/bin/busybox", "/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox is missing: install busybox-static (scripts/install-deps.sh)");
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("busybox-image-{}", std::process::id()));
        let root = base.join("rootfs");
        let _ = std::fs::remove_dir_all(&base);
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "www"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir rootfs");
        }
        std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
        let list = Command::new(busybox)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
            }
        }
        let tar = base.join("busybox.tar");
        let out = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .output()
            .expect("run tar");
        assert!(
            out.status.success(),
            "tar failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tar
    })
    .clone()
}

impl Host {
    /// A host with berthd running and the busybox image imported as busybox:latest.
    pub fn with_busybox() -> Host {
        let h = Host::new();
        h.import_busybox();
        h
    }

    /// Imports the busybox image as busybox:latest into the running daemon.
    pub fn import_busybox(&self) {
        let h = self;
        let tar = busybox_tar();
        let out = h.berth(&["import", tar.to_str().expect("utf-8 path"), "busybox"]);
        assert!(
            out.status.success(),
            "import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Mounts (in this host's mount namespace) whose mount point is below the test's dir.
    pub fn mounts_below_dir(&self) -> Vec<String> {
        let dir = self.dir.path().display().to_string();
        self.sh("cat /proc/self/mounts")
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|m| m.starts_with(&dir))
            })
            .map(str::to_string)
            .collect()
    }
}

impl Host {
    /// Kills and deletes every container through the runtimes, without the daemon (a host
    /// that dies, or a test that failed while the daemon was stopped).
    pub fn force_delete_containers(&self) {
        for rt in ["runc", "crun"] {
            let root = self.dir.path().join("run").join(rt);
            if !root.exists() {
                continue;
            }
            let list = Command::new(rt)
                .arg("--root")
                .arg(&root)
                .args(["list", "-q"])
                .output();
            let ids = list.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
            for id in ids.unwrap_or_default().split_whitespace() {
                // Best effort: whatever a runtime cannot delete, the host's drop sweeps.
                let _ = Command::new(rt)
                    .arg("--root")
                    .arg(&root)
                    .args(["delete", "--force", id])
                    .output();
            }
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // Container processes are not in the host's namespaces' lifetime: remove them while
        // the daemon is there to do it, even when the test failed half-way.
        if self.daemon.is_some() {
            let ids = self.berth(&["ps", "-aq"]);
            let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids.iter().map(String::as_str));
                let _ = self.berth(&args);
            }
        } else {
            // The daemon is gone (a test failed while it was stopped): ask the runtimes.
            self.force_delete_containers();
        }
        self.kill_daemon();
        remove_cgroups(&self.cgroup_parent());
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Mount points of the machine's cgroup hierarchies.
pub fn cgroup_roots() -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fstype = right.split_whitespace().next()?;
            (fstype == "cgroup" || fstype == "cgroup2")
                .then(|| left.split_whitespace().nth(4).map(PathBuf::from))
                .flatten()
        })
        .collect()
}

/// Kills whatever still runs under cgroup `parent` and removes it from every hierarchy.
fn remove_cgroups(parent: &str) {
    fn remove(dir: &Path) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    remove(&e.path());
                }
            }
        }
        for _ in 0..50 {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                // SAFETY: SIGKILL to a leftover process of this test's own containers.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            match std::fs::remove_dir(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => return,
            }
        }
    }
    for root in cgroup_roots() {
        remove(&root.join(parent.trim_start_matches('/')));
    }
}

/// Runs a command and returns stdout, panicking with stderr on failure.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `berth inspect NAME`'s object.
pub fn inspect(h: &Host, name: &str) -> serde_json::Value {
    let out = ok(h.berth(&["inspect", name]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("inspect json");
    v[0].clone()
}

/// A container's pinned namespace, reached through the host's mount namespace (the pin is a
/// mount there, not in the test's own).
pub fn sandbox(h: &Host, name: &str) -> PathBuf {
    let key = inspect(h, name)["NetworkSettings"]["SandboxKey"]
        .as_str()
        .expect("SandboxKey")
        .to_string();
    PathBuf::from(format!("/proc/{}/root{key}", h.pid()))
}

/// Starts `busybox sleep 1000` detached as NAME, with extra `run` flags; its id.
pub fn sleeper(h: &Host, name: &str, flags: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sleep", "1000"]);
    ok(h.berth(&args)).trim().to_string()
}

/// Runs a short-lived container (`run --rm ARGS`); its exit code and output.
pub fn run_rm(h: &Host, args: &[&str]) -> (i32, String) {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    let out = h.berth(&a);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Runs a command that must fail; returns (exit code, stderr).
pub fn fails(out: Output) -> (i32, String) {
    assert!(
        !out.status.success(),
        "command unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One HTTP request over the daemon socket, through the client the CLI uses: status, headers
/// (lowercased), body. `path` is sent as given (unversioned unless it says `/vX.Y`).
pub fn http(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<RawResponse> {
    let client = berth_client::Client::new(&format!("unix://{}", socket.display()), None)
        .map_err(std::io::Error::other)?;
    let r = berth_client::blocking::raw(
        &client,
        method,
        path,
        body.map(|b| b.as_bytes().to_vec()),
        Duration::from_secs(30),
    )
    .map_err(|e| match e {
        berth_client::ClientError::Connect { source, .. } => source,
        berth_client::ClientError::Timeout(_) => {
            std::io::Error::new(std::io::ErrorKind::TimedOut, e.to_string())
        }
        e => std::io::Error::other(e),
    })?;
    Ok((
        r.status,
        r.headers,
        String::from_utf8_lossy(&r.body).into_owned(),
    ))
}

/// Polls `f` until it gives Some, failing after a bound far above what the step needs (a
/// hang guard, not a timing assertion).
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < until, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Seconds since the Unix epoch, as `docker events --since/--until` take them.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `unix_now() + offset` with millisecond digits, for `--since`/`--until`.
pub fn unix_stamp(offset: f64) -> String {
    format!("{:.3}", unix_now() + offset)
}

/// A small deterministic generator (xorshift64*), so that a failing randomized test replays
/// from its seed.
pub struct Rng {
    state: u64,
    /// What it started from, for failure messages.
    pub seed: u64,
}

impl Rng {
    /// Seeded from the environment variable `var` if it holds a number, else from the clock;
    /// prints the seed with how to replay it.
    pub fn from_env(var: &str, what: &str) -> Rng {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    | 1
            });
        eprintln!("{what} seed: {seed} ({var}={seed} replays it)");
        Rng { state: seed, seed }
    }

    pub fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

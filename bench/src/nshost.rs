//! Namespace-hosts for the multi-host benchmarks: each host is a network and mount namespace
//! held by a sleeping process, plugged into a bridge of the benchmark's own namespace (the
//! underlay), optionally running a release berthd of its own. Everything a host makes in the
//! kernel dies with its namespaces; dropping a host removes its containers first (they are not
//! in the namespaces' lifetime), then its daemon, its cgroups and the namespaces.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_testkit::ns::Enter;

/// The underlay bridge in the benchmark's namespace, and its subnet.
pub const UNDERLAY_BRIDGE: &str = "ubr0";
pub const UNDERLAY_NET: &str = "192.168.77";

/// The benchmark's address on the underlay (where its etcd member listens).
pub fn underlay_gateway() -> String {
    format!("{UNDERLAY_NET}.1")
}

/// The release CLI next to this benchmark.
fn berth_bin() -> PathBuf {
    std::env::current_exe()
        .expect("own path")
        .with_file_name("berth")
}

/// Makes the underlay bridge (once per benchmark, in its private namespace).
pub fn make_underlay() {
    sh_here(&format!(
        "ip link add {UNDERLAY_BRIDGE} type bridge && ip addr add {}/24 dev {UNDERLAY_BRIDGE} && ip link set {UNDERLAY_BRIDGE} up",
        underlay_gateway()
    ));
}

/// Runs a shell command in the benchmark's own namespaces; panics on failure.
pub fn sh_here(script: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct NsHost {
    holder: Child,
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
    /// The host's address on the underlay.
    pub addr: String,
    daemon: Option<Child>,
}

impl NsHost {
    /// A new namespace with loopback up and eth0 on the underlay bridge with `192.168.77.<n>`
    /// (the bridge end is `u<n>`). Call from the main thread: the holder dies with the thread
    /// that spawned it.
    pub fn plugged(n: u8) -> NsHost {
        let holder = berth_testkit::ns::spawn_holder().expect("spawn namespace holder");
        let dir = tempfile::Builder::new()
            .prefix("berth-bench-host-")
            .tempdir()
            .expect("tempdir");
        let h = NsHost {
            holder,
            sock: dir.path().join("berth.sock"),
            dir,
            addr: format!("{UNDERLAY_NET}.{n}"),
            daemon: None,
        };
        h.sh("ip link set lo up");
        // berthd reads the host's resolv.conf for upstream DNS: the copy of the benchmark's
        // mount namespace already names only 127.0.0.1 (see `enter_private_namespaces`), which
        // here is this host's own loopback, never the machine's resolver.
        sh_here(&format!(
            "ip link add u{n} type veth peer name eth0 netns {pid} && ip link set u{n} master {UNDERLAY_BRIDGE} up",
            pid = h.pid()
        ));
        h.sh(&format!(
            "ip addr add {}/24 dev eth0 && ip link set eth0 up",
            h.addr
        ));
        h
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// Runs a shell command in the host's namespaces; panics on failure.
    pub fn sh(&self, script: &str) -> String {
        let out = Command::new("nsenter")
            .args(["-t", &self.pid().to_string(), "-n", "-m", "--", "sh", "-c"])
            .arg(script)
            .output()
            .expect("run nsenter");
        assert!(
            out.status.success(),
            "`{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn cgroup_parent(&self) -> String {
        let name = self.dir.path().file_name().unwrap_or_default();
        format!("/{}", name.to_string_lossy())
    }

    /// Starts the release berthd next to this benchmark in the host's namespaces, with
    /// `extra` arguments, and waits until it answers. Call from the main thread.
    pub fn start_daemon(&mut self, extra: &[String]) {
        let bin = std::env::current_exe()
            .expect("own path")
            .with_file_name("berthd");
        let log = std::fs::File::create(self.dir.path().join("berthd.log")).expect("log");
        let mut cmd = Command::new(bin);
        cmd.arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .arg("--data-root")
            .arg(self.dir.path().join("data"))
            .arg("--exec-root")
            .arg(self.dir.path().join("run"))
            .arg("--cgroup-parent")
            .arg(self.cgroup_parent())
            .args(["--config-file", "/dev/null", "--log-level", "warn"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        berth_testkit::ns::enter_on_exec(&mut cmd, self.pid(), Enter::NetAndMount)
            .expect("the host's namespaces");
        self.daemon = Some(cmd.spawn().expect("start berthd"));
        let t0 = Instant::now();
        loop {
            if let Ok((200, _)) = crate::api(&self.sock, "GET", "/_ping", "") {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "berthd did not come up:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    fn cli_command(&self, args: &[&str]) -> Command {
        crate::cli_command(&berth_bin(), &self.sock, args)
    }

    /// Runs the berth CLI against this host's daemon; panics on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        crate::run_cli(self.cli_command(args), args)
    }

    /// One API request; panics unless the status is 2xx. Returns the body.
    pub fn api_ok(&self, method: &str, path: &str, body: &str) -> String {
        let (status, text) = crate::api(&self.sock, method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {text}"
        );
        text
    }

    /// The PID of a running container's init, whose network namespace is the container's.
    pub fn container_pid(&self, name: &str) -> u32 {
        let v: serde_json::Value =
            serde_json::from_str(&self.api_ok("GET", &format!("/containers/{name}/json"), ""))
                .expect("inspect json");
        v["State"]["Pid"]
            .as_u64()
            .filter(|p| *p > 0)
            .unwrap_or_else(|| panic!("{name} has no PID: {v}")) as u32
    }

    /// Imports the busybox rootfs tarball at `tar` as busybox:latest.
    pub fn import(&self, tar: &std::path::Path) {
        self.cli(&["import", tar.to_str().expect("utf-8"), "busybox"]);
    }
}

impl Drop for NsHost {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            crate::remove_all_containers(&berth_bin(), &self.sock);
            // SAFETY: signalling our own child.
            unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while d.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
        crate::remove_cgroups(&self.cgroup_parent());
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

//! Containers' lives end to end: the daemon's stop and restart around running containers,
//! their cgroups, restart policies, loaded images, attached runs and signals, and crun, in a
//! throwaway host namespace per test.

mod common;

use common::{fails, inspect, ok, run_rm, sleeper, Host};
use serde_json::Value;

/// A follower (`logs -f`) holds its connection open for ever; SIGTERM must still stop the
/// daemon promptly (a grace period, then the stream is cut) and the client must end.
#[test]
fn sigterm_stops_the_daemon_while_a_log_stream_is_open() {
    use std::io::BufRead;
    let mut h = Host::with_busybox();
    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "while true; do echo hi; sleep 1; done",
    ]));
    let mut follower = h
        .berth_cmd(&["logs", "-f", "talker"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("berth logs -f");
    let mut lines = std::io::BufReader::new(follower.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("hi"));
    // Panics if berthd is still there after 10 s.
    h.stop_daemon();
    let t0 = std::time::Instant::now();
    while follower.try_wait().expect("wait").is_none() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(5),
            "the follower outlived the daemon"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    h.start_daemon();
    assert_eq!(inspect(&h, "talker")["State"]["Status"], "running");
    ok(h.berth(&["rm", "-f", "talker"]));
}

#[test]
fn running_containers_survive_a_daemon_restart() {
    let mut h = Host::with_busybox();
    sleeper(&h, "keep", &[]);
    ok(h.berth(&["run", "-d", "--name", "short", "busybox", "sleep", "1"]));
    let pid = inspect(&h, "keep")["State"]["Pid"].as_u64().unwrap();
    h.stop_daemon();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    h.start_daemon();
    let keep = inspect(&h, "keep");
    assert_eq!(keep["State"]["Status"], "running");
    assert_eq!(keep["State"]["Pid"].as_u64().unwrap(), pid);
    // The one that ended while the daemon was away is seen as exited, its network released.
    let mut short = inspect(&h, "short");
    for _ in 0..50 {
        if short["State"]["Status"] == "exited" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        short = inspect(&h, "short");
    }
    assert_eq!(short["State"]["Status"], "exited", "{short}");
    let (code, out) = run_rm(
        &h,
        &[
            "busybox",
            "ping",
            "-c1",
            "-W2",
            keep["NetworkSettings"]["IPAddress"].as_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    ok(h.berth(&["rm", "-f", "keep", "short"]));
    assert!(
        h.mounts_below_dir().is_empty(),
        "{:?}",
        h.mounts_below_dir()
    );
}

#[test]
fn container_cgroups_live_under_the_parent_and_debris_is_swept_at_start() {
    let mut h = Host::with_busybox();
    sleeper(&h, "keep", &[]);
    let id = inspect(&h, "keep")["Id"].as_str().unwrap().to_string();
    let parent = h.cgroup_parent();
    let under = |name: &str| -> Vec<std::path::PathBuf> {
        common::cgroup_roots()
            .into_iter()
            .map(|r| r.join(parent.trim_start_matches('/')).join(name))
            .filter(|p| p.is_dir())
            .collect()
    };
    let pids = std::path::Path::new("/sys/fs/cgroup/pids")
        .join(parent.trim_start_matches('/'))
        .join(&id);
    let pid = inspect(&h, "keep")["State"]["Pid"].to_string();
    let procs = std::fs::read_to_string(pids.join("cgroup.procs")).expect("keep's pids cgroup");
    assert!(procs.split_whitespace().any(|p| p == pid), "{procs}");
    // What a container killed along with its daemon leaves: empty cgroups nobody knows.
    let debris = "d".repeat(64);
    for root in common::cgroup_roots() {
        let d = root.join(parent.trim_start_matches('/')).join(&debris);
        if root.join(parent.trim_start_matches('/')).is_dir() {
            std::fs::create_dir(&d).expect("make a debris cgroup");
        }
    }
    assert!(!under(&debris).is_empty());
    h.kill_daemon();
    h.start_daemon();
    assert!(under(&debris).is_empty(), "{:?}", under(&debris));
    assert!(h
        .log()
        .contains("removed cgroups left by unknown containers"));
    // The running container's cgroups are untouched; removing it removes them.
    assert_eq!(inspect(&h, "keep")["State"]["Status"], "running");
    assert!(pids.is_dir());
    ok(h.berth(&["rm", "-f", "keep"]));
    assert!(under(&id).is_empty(), "{:?}", under(&id));
}

fn wait_for(h: &Host, name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..150 {
        let v = inspect(h, name);
        if pred(&v) {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(40));
    }
    panic!("{name}: timed out waiting for {what}: {}", inspect(h, name));
}

#[test]
fn restart_policies() {
    let mut h = Host::with_busybox();
    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]));
    let v = wait_for(&h, "flaky", "two restarts then rest", |v| {
        v["RestartCount"] == 2 && v["State"]["Status"] == "exited"
    });
    assert_eq!(v["State"]["ExitCode"], 3);
    assert_eq!(
        v["HostConfig"]["RestartPolicy"],
        serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 2})
    );
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(inspect(&h, "flaky")["RestartCount"], 2, "no third restart");

    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "phoenix",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2",
    ]));
    wait_for(&h, "phoenix", "a restart", |v| {
        v["RestartCount"].as_u64().unwrap_or(0) >= 1
    });
    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "steady",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "1000",
    ]));
    ok(h.berth(&["stop", "-t", "1", "steady"]));
    ok(h.berth(&["stop", "-t", "1", "phoenix"]));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        inspect(&h, "phoenix")["State"]["Status"],
        "exited",
        "a manual stop is final"
    );
    // At daemon start `always` comes back, `unless-stopped` stopped by hand does not.
    h.stop_daemon();
    h.start_daemon();
    wait_for(&h, "phoenix", "always after a daemon restart", |v| {
        v["State"]["Status"] == "running" || v["RestartCount"].as_u64().unwrap_or(0) >= 2
    });
    assert_eq!(inspect(&h, "steady")["State"]["Status"], "exited");

    for (flags, needle) in [
        (
            vec!["--restart", "sometimes"],
            "invalid restart policy 'sometimes'",
        ),
        (
            vec!["--restart", "always:3"],
            "can only be used with 'on-failure'",
        ),
        (vec!["--restart", "on-failure:x"], "must be a number"),
        (
            vec!["--restart", "always", "--rm"],
            "conflicting options: --restart and --rm",
        ),
    ] {
        let mut a = vec!["run", "-d"];
        a.extend(flags);
        a.extend(["busybox", "true"]);
        let (code, err) = fails(h.berth(&a));
        assert_eq!(code, 125);
        assert!(err.contains(needle), "{needle}: {err}");
    }
    ok(h.berth(&["rm", "-f", "flaky", "phoenix", "steady"]));
}

#[test]
fn load_a_docker_save_archive_with_layers_and_whiteouts() {
    let h = Host::new();
    let dir = h.dir.path().join("save");
    let l2 = dir.join("l2");
    std::fs::create_dir_all(l2.join("etc")).unwrap();
    std::fs::create_dir_all(l2.join("bin")).unwrap();
    std::fs::write(l2.join("etc/greeting"), "hello from layer 2\n").unwrap();
    std::fs::write(l2.join("bin/.wh.wget"), "").unwrap();
    std::fs::copy(common::busybox_tar(), dir.join("layer1.tar")).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-C")
        .arg(&l2)
        .arg("-cf")
        .arg(dir.join("layer2.tar"))
        .arg(".")
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(
        dir.join("config.json"),
        r#"{"created":"2024-01-01T00:00:00Z","config":{"Cmd":["cat","/etc/greeting"],"Env":["PATH=/bin","GREETING=yes"],"WorkingDir":"/etc"}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        r#"[{"Config":"config.json","RepoTags":["greeter:1"],"Layers":["layer1.tar","layer2.tar"]}]"#,
    )
    .unwrap();
    let out = std::process::Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(dir.join("../image.tar"))
        .args(["manifest.json", "config.json", "layer1.tar", "layer2.tar"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let archive = h.dir.path().join("image.tar");
    let loaded = ok(h.berth(&["load", "-i", archive.to_str().unwrap()]));
    assert_eq!(loaded, "Loaded image: greeter:1\n");
    let (code, out) = run_rm(&h, &["greeter:1"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "hello from layer 2\n"),
        "the image's Cmd runs"
    );
    let (_, pwd) = run_rm(&h, &["greeter:1", "pwd"]);
    assert_eq!(pwd.trim(), "/etc", "WorkingDir from the config");
    let (_, env) = run_rm(&h, &["greeter:1", "env"]);
    assert!(env.contains("GREETING=yes"), "{env}");
    let (code, _) = run_rm(&h, &["greeter:1", "ls", "/bin/wget"]);
    assert_ne!(code, 0, "the whiteout removed /bin/wget");
    let (code, _) = run_rm(&h, &["greeter:1", "ls", "/bin/ping"]);
    assert_eq!(code, 0, "the rest of layer 1 is there");
    // The stock docker CLI loads too; a bad archive is refused with a clear message.
    ok(h.docker(&["load", "-i", archive.to_str().unwrap()]));
    let bogus = h.dir.path().join("bogus.tar");
    std::fs::copy(common::busybox_tar(), &bogus).unwrap();
    let (_, err) = fails(h.berth(&["load", "-i", bogus.to_str().unwrap()]));
    assert!(err.contains("manifest.json is missing"), "{err}");
    let images = ok(h.berth(&["images", "--quiet"]));
    assert_eq!(images.lines().count(), 1, "{images}");
}

#[test]
fn attached_docker_run_and_logs_follow() {
    let h = Host::with_busybox();
    // The docker CLI attaches before it starts, and waits for the next exit (or the removal).
    let out = h.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo hello; echo oops >&2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    let out = h.docker(&["run", "--name", "three", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        ok(h.docker(&["ps", "-aq"])).lines().count(),
        1,
        "--rm removed its container"
    );
    // logs -f follows until the container exits.
    sleeper(&h, "ticker", &[]);
    ok(h.berth(&["rm", "-f", "ticker"]));
    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick $i; sleep 0.2; done",
    ]));
    let out = ok(h.docker(&["logs", "-f", "ticker"]));
    assert_eq!(out, "tick 1\ntick 2\ntick 3\n");
    ok(h.berth(&["rm", "-f", "three", "ticker"]));
}

/// crun refuses this machine's hybrid cgroups by itself; berthd runs it with the cgroup v2
/// hierarchy out of sight, and it runs containers like runc.
#[test]
fn crun_runs_containers_on_hybrid_cgroups() {
    if std::process::Command::new("crun")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("crun is not installed: scripts/install-deps.sh installs it");
    }
    let mut h = Host::bare();
    std::fs::write(h.config_file(), r#"{"default-runtime": "crun"}"#).expect("daemon.json");
    h.start_daemon();
    h.import_busybox();
    ok(h.berth(&["network", "create", "cnet"]));
    sleeper(&h, "c1", &["--network", "cnet"]);
    let (code, out) = run_rm(
        &h,
        &["--network", "cnet", "busybox", "ping", "-c1", "-W2", "c1"],
    );
    assert_eq!(code, 0, "{out}");
    let out = ok(h.berth(&["exec", "c1", "cat", "/proc/1/cgroup"]));
    assert!(!out.is_empty());
    for _ in 0..5 {
        let (code, out) = run_rm(&h, &["busybox", "sh", "-c", "exit 3"]);
        assert_eq!(code, 3, "{out}");
    }
    let exec = h.berth(&["exec", "c1", "sh", "-c", "exit 4"]);
    assert_eq!(exec.status.code(), Some(4));
    // crun's `run -d` leaves its middle process to the daemon: reaped, not a zombie.
    let zombies = h.sh(&format!(
        "ps -o pid=,stat=,comm= --ppid {} | awk '$2 ~ /Z/'",
        h.daemon_pid()
    ));
    assert_eq!(zombies.trim(), "", "zombie children of berthd");
    // The host's own mount table still has the cgroup v2 hierarchy.
    assert!(h
        .sh("cat /proc/self/mounts")
        .contains("/sys/fs/cgroup/unified"));
    ok(h.berth(&["rm", "-f", "c1"]));
    assert_eq!(ok(h.berth(&["ps", "-aq"])), "");
}

/// Without a terminal, a signal sent to an attached `run` or `attach` goes to the container
/// (Docker's `--sig-proxy`, on by default); with `--sig-proxy=false` it stays with the CLI.
#[test]
fn attached_cli_proxies_signals_to_the_container() {
    use std::io::BufRead;
    let h = Host::with_busybox();
    // "ready" over and over: an `attach` sees the next one (it does not replay the log).
    let script = "trap 'echo got-term; exit 7' TERM; while :; do echo ready; sleep 0.2; done";
    // Starts the CLI with `args`, waits for the container's "ready", sends `sig` to the CLI.
    let signalled = |args: &[&str], sig: i32| -> (std::process::ExitStatus, String) {
        let mut child = h
            .berth_cmd(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn berth");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("read");
        assert_eq!(line.trim(), "ready");
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = child.wait().expect("wait");
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut rest);
        (status, rest)
    };
    let (status, out) = signalled(
        &["run", "--name", "p1", "busybox", "sh", "-c", script],
        libc::SIGTERM,
    );
    assert_eq!(status.code(), Some(7), "run: the container's exit code");
    assert!(out.contains("got-term"), "{out}");
    // `attach` to a running container forwards too.
    ok(h.berth(&["run", "-d", "--name", "p2", "busybox", "sh", "-c", script]));
    let (status, _) = signalled(&["attach", "p2"], libc::SIGTERM);
    assert_eq!(status.code(), Some(7), "attach: the container's exit code");
    // Switched off: the signal ends the CLI, and the container runs on.
    let (status, _) = signalled(
        &[
            "run",
            "--sig-proxy=false",
            "--name",
            "p3",
            "busybox",
            "sh",
            "-c",
            script,
        ],
        libc::SIGTERM,
    );
    assert_eq!(status.code(), None, "killed by the signal");
    let state = ok(h.berth(&["inspect", "-f", "{{.State.Status}}", "p3"]));
    assert_eq!(state.trim(), "running");
}

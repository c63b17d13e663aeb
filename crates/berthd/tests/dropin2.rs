//! The stock docker CLI (and docker-compose) against berthd, continued: healthchecks, pause,
//! rename, top and stats (logs options are in logs.rs).

mod common;

use common::{eventually, fails, ok, Host};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn inspect(h: &Host, name: &str, format: &str) -> String {
    ok(h.docker(&["inspect", "--format", format, name]))
        .trim()
        .to_string()
}

#[test]
fn healthchecks_status_log_filter_and_events() {
    let h = Host::with_busybox();
    let t0 = common::unix_stamp(0.0);
    // Healthy once /tmp/ok exists; unhealthy after two failures otherwise.
    ok(h.docker(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ok && echo fine",
        "--health-interval",
        "200ms",
        "--health-timeout",
        "5s",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "1000",
    ]));
    ok(h.docker(&["run", "-d", "--name", "plain", "busybox", "sleep", "1000"]));
    let cfg = inspect(&h, "hc", "{{json .Config.Healthcheck}}");
    assert!(
        cfg.contains("CMD-SHELL") && cfg.contains("200000000"),
        "{cfg}"
    );
    eventually("hc unhealthy", || {
        (inspect(&h, "hc", "{{.State.Health.Status}}") == "unhealthy").then_some(())
    });
    assert_eq!(
        inspect(&h, "hc", "{{.State.Health.FailingStreak}}")
            .parse::<u32>()
            .map(|n| n >= 2),
        Ok(true)
    );
    let ps = ok(h.docker(&["ps", "--filter", "name=hc", "--format", "{{.Status}}"]));
    assert!(ps.contains("(unhealthy)"), "{ps}");
    let names = ok(h.docker(&[
        "ps",
        "--filter",
        "health=unhealthy",
        "--format",
        "{{.Names}}",
    ]));
    assert_eq!(names.trim(), "hc");
    ok(h.docker(&["exec", "hc", "touch", "/tmp/ok"]));
    eventually("hc healthy", || {
        (inspect(&h, "hc", "{{.State.Health.Status}}") == "healthy").then_some(())
    });
    let ps = ok(h.docker(&["ps", "--filter", "name=hc", "--format", "{{.Status}}"]));
    assert!(ps.contains("(healthy)"), "{ps}");
    let names = ok(h.docker(&["ps", "--filter", "health=healthy", "--format", "{{.Names}}"]));
    assert_eq!(names.trim(), "hc");
    let names = ok(h.docker(&["ps", "--filter", "health=none", "--format", "{{.Names}}"]));
    assert_eq!(names.trim(), "plain");
    let log = inspect(&h, "hc", "{{json .State.Health.Log}}");
    let log: serde_json::Value = serde_json::from_str(&log).expect("log json");
    let log = log.as_array().expect("log list");
    assert!(!log.is_empty() && log.len() <= 5, "{log:?}");
    let last = &log[log.len() - 1];
    assert_eq!(last["ExitCode"], 0);
    assert_eq!(last["Output"], "fine\n");
    let t1 = common::unix_stamp(1.0);
    let events = ok(h.docker(&[
        "events",
        "--since",
        &t0,
        "--until",
        &t1,
        "--filter",
        "event=health_status",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]));
    let lines: Vec<&str> = events.lines().collect();
    assert_eq!(
        lines,
        ["health_status: unhealthy hc", "health_status: healthy hc"],
        "{events}"
    );
    // --no-healthcheck and a bad value.
    ok(h.docker(&[
        "run",
        "-d",
        "--name",
        "nohc",
        "--no-healthcheck",
        "busybox",
        "sleep",
        "1000",
    ]));
    assert_eq!(inspect(&h, "nohc", "{{.State.Health}}"), "<nil>");
    let (code, err) = fails(h.docker(&[
        "run",
        "-d",
        "--health-cmd",
        "true",
        "--health-retries",
        "-1",
        "busybox",
        "true",
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("etries"), "{err}");
    ok(h.docker(&["rm", "-f", "hc", "plain", "nohc"]));
}

#[test]
fn pause_unpause_freezes_and_refuses_exec() {
    let h = Host::with_busybox();
    ok(h.docker(&["run", "-d", "--name", "p", "busybox", "sleep", "1000"]));
    ok(h.docker(&["pause", "p"]));
    assert_eq!(
        inspect(&h, "p", "{{.State.Status}} {{.State.Paused}}"),
        "paused true"
    );
    // The freezer holds every process of it.
    let pid = inspect(&h, "p", "{{.State.Pid}}");
    let state = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let frozen_cgroup = common::cgroup_roots().into_iter().any(|root| {
        let dir = root.join(h.cgroup_parent().trim_start_matches('/'));
        let id = inspect(&h, "p", "{{.Id}}");
        std::fs::read_to_string(dir.join(&id).join("freezer.state"))
            .map(|s| s.trim() == "FROZEN")
            .unwrap_or(false)
            || std::fs::read_to_string(dir.join(&id).join("cgroup.freeze"))
                .map(|s| s.trim() == "1")
                .unwrap_or(false)
    });
    assert!(frozen_cgroup, "no frozen cgroup for the container; {state}");
    let ps = ok(h.docker(&["ps", "--format", "{{.Status}}"]));
    assert!(ps.contains("(Paused)"), "{ps}");
    let st = ok(h.docker(&["ps", "--filter", "status=paused", "--format", "{{.Names}}"]));
    assert_eq!(st.trim(), "p");
    let (_, err) = fails(h.docker(&["exec", "p", "true"]));
    assert!(
        err.contains("is paused, unpause the container before exec"),
        "{err}"
    );
    let (_, err) = fails(h.docker(&["pause", "p"]));
    assert!(err.contains("already paused"), "{err}");
    ok(h.docker(&["unpause", "p"]));
    assert_eq!(
        inspect(&h, "p", "{{.State.Status}} {{.State.Paused}}"),
        "running false"
    );
    ok(h.docker(&["exec", "p", "true"]));
    let (_, err) = fails(h.docker(&["unpause", "p"]));
    assert!(err.contains("not paused"), "{err}");
    // A paused container can be stopped and removed.
    ok(h.docker(&["pause", "p"]));
    ok(h.docker(&["stop", "-t", "1", "p"]));
    assert_eq!(
        inspect(&h, "p", "{{.State.Status}} {{.State.Paused}}"),
        "exited false"
    );
    ok(h.docker(&["start", "p"]));
    ok(h.docker(&["pause", "p"]));
    ok(h.docker(&["rm", "-f", "p"]));
}

#[test]
fn rename_top_and_stats() {
    let h = Host::with_busybox();
    ok(h.docker(&["run", "-d", "--name", "old", "busybox", "sleep", "1000"]));
    ok(h.docker(&["create", "--name", "other", "busybox", "true"]));
    ok(h.docker(&["rename", "old", "new"]));
    assert_eq!(inspect(&h, "new", "{{.Name}}"), "/new");
    let (_, err) = fails(h.docker(&["inspect", "old"]));
    assert!(err.contains("No such"), "{err}");
    let (_, err) = fails(h.docker(&["rename", "new", "other"]));
    assert!(err.contains("already in use"), "{err}");
    let (_, err) = fails(h.docker(&["rename", "new", "bad/name"]));
    assert!(err.contains("Invalid container name"), "{err}");
    // On a user-defined network a running container's DNS name is fixed while it runs.
    ok(h.docker(&["network", "create", "rn"]));
    ok(h.docker(&[
        "run",
        "-d",
        "--name",
        "onnet",
        "--network",
        "rn",
        "busybox",
        "sleep",
        "1000",
    ]));
    let (_, err) = fails(h.docker(&["rename", "onnet", "moved"]));
    assert!(err.contains("user-defined network rn"), "{err}");

    let top = ok(h.docker(&["top", "new"]));
    let mut lines = top.lines();
    let titles = lines.next().unwrap_or_default();
    assert!(titles.contains("PID") && titles.contains("CMD"), "{top}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "only the container's processes: {top}");
    assert!(rows[0].contains("sleep 1000"), "{top}");
    let top = ok(h.docker(&["top", "new", "-o", "pid,comm"]));
    assert!(
        top.lines()
            .nth(1)
            .is_some_and(|l| l.trim().ends_with("sleep")),
        "{top}"
    );
    let (_, err) = fails(h.docker(&["top", "other"]));
    assert!(err.contains("is not running"), "{err}");

    // Traffic on the container's eth0 shows in its network I/O.
    let gw = inspect(&h, "new", "{{.NetworkSettings.Gateway}}");
    ok(h.docker(&["exec", "new", "ping", "-c", "3", "-W", "1", &gw]));
    let out = ok(h.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}} {{.MemUsage}} {{.NetIO}} {{.CPUPerc}}",
        "new",
    ]));
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields[0], "new", "{out}");
    assert_eq!(fields[1], "1", "one process: {out}");
    assert!(!out.contains("0B / 0B"), "network I/O is counted: {out}");
    assert!(
        fields[2].ends_with("B") && fields[2] != "0B",
        "memory: {out}"
    );
    // Streaming: the CLI prints frames until stopped; two frames are enough.
    let mut child = h
        .docker_cmd(&["stats", "--format", "{{.Name}} {{.PIDs}}", "new"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker stats");
    let mut out = child.stdout.take().expect("stdout");
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    eventually("two stats frames", || {
        use std::io::Read;
        let n = out.read(&mut buf).ok()?;
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        (seen.matches("new 1").count() >= 2).then_some(())
    });
    let _ = child.kill();
    let _ = child.wait();
    // A stopped container uses nothing.
    ok(h.docker(&["stop", "-t", "1", "new"]));
    let out = ok(h.docker(&["stats", "--no-stream", "--format", "{{.PIDs}}", "new"]));
    assert_eq!(out.trim(), "0");
    ok(h.docker(&["rm", "-f", "new", "other", "onnet"]));
    ok(h.docker(&["network", "rm", "rn"]));
}

const COMPOSE: &str = "/usr/bin/docker-compose";

fn compose(h: &Host, dir: &Path, args: &[&str]) -> Output {
    Command::new(COMPOSE)
        .args(["--no-ansi", "-p", "hc"])
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", format!("unix://{}", h.socket.display()))
        .env("DOCKER_CONFIG", h.dir.path().join("docker-config"))
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run docker-compose")
}

/// `app` waits for `db` to be healthy: db becomes healthy only once its marker exists, which
/// it writes after a moment, so app starting at all shows compose waited on the health.
const HEALTH_PROJECT: &str = r#"
version: "2.4"
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 1000"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
      timeout: 2s
      retries: 30
  app:
    image: busybox:latest
    command: ["sleep", "1000"]
    depends_on:
      db:
        condition: service_healthy
"#;

#[test]
fn compose_waits_for_service_healthy() {
    let h = Host::with_busybox();
    let dir = h.dir.path().join("hcproj");
    std::fs::create_dir_all(&dir).expect("project dir");
    std::fs::write(dir.join("docker-compose.yml"), HEALTH_PROJECT).expect("write yaml");
    let t0 = common::unix_stamp(0.0);
    ok(compose(&h, &dir, &["up", "-d"]));
    assert_eq!(
        inspect(&h, "hc_db_1", "{{.State.Health.Status}}"),
        "healthy"
    );
    // app was started only after db turned healthy.
    let t1 = common::unix_stamp(1.0);
    let events = ok(h.docker(&[
        "events",
        "--since",
        &t0,
        "--until",
        &t1,
        "--format",
        "{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}}",
    ]));
    let when = |what: &str| -> i64 {
        events
            .lines()
            .find(|l| l.ends_with(what))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no event {what}: {events}"))
    };
    assert!(
        when("health_status: healthy hc_db_1") < when("start hc_app_1"),
        "{events}"
    );
    let ps = ok(compose(&h, &dir, &["ps"]));
    assert!(ps.contains("healthy"), "{ps}");
    ok(compose(&h, &dir, &["down"]));
    assert_eq!(ok(h.docker(&["ps", "-aq"])).trim(), "");
}

#[test]
fn berth_cli_pause_rename_top() {
    let h = Host::with_busybox();
    ok(h.berth(&["run", "-d", "--name", "bc", "busybox", "sleep", "1000"]));
    ok(h.berth(&["pause", "bc"]));
    assert_eq!(inspect(&h, "bc", "{{.State.Status}}"), "paused");
    ok(h.berth(&["unpause", "bc"]));
    ok(h.berth(&["rename", "bc", "bc2"]));
    assert_eq!(inspect(&h, "bc2", "{{.Name}}"), "/bc2");
    let top = ok(h.berth(&["top", "bc2", "-o", "pid,args"]));
    let rows: Vec<&str> = top.lines().collect();
    assert_eq!(rows.len(), 2, "{top}");
    assert!(
        rows[0].contains("PID") && rows[1].ends_with("sleep 1000"),
        "{top}"
    );
    ok(h.berth(&["rm", "-f", "bc2"]));
}

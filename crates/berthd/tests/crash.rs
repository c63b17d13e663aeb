//! Crash safety (issue 16): a kill -9 of berthd at any instant leaves nothing a restart does not
//! repair; start failures return and leave nothing; a stop during a restart delay is final;
//! concurrent clients get Docker's errors, never a 5xx, and one winner per contested name.

mod common;

use common::{fails, ok, Host, Rng};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs a command and fails the test if it has not returned within `limit` (the hang of
/// `run --rm IMAGE /nonexistent` is one of the defects).
fn within(mut cmd: Command, limit: Duration) -> std::process::Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            // SAFETY: signalling a child of ours that has not been reaped (its waiter still waits).
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("{cmd:?} did not return within {limit:?}");
        }
    }
}

/// What berth made in the kernel and on disk, by kind, that is still there.
fn leftovers(h: &Host) -> Vec<String> {
    let mut left = Vec::new();
    for l in h.sh("ip -o link show type veth").lines() {
        left.push(format!("veth: {l}"));
    }
    for dir in ["run/netns"] {
        let p = h.dir.path().join(dir);
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            left.push(format!("pin: {}", e.path().display()));
        }
    }
    for rt in ["runc", "crun"] {
        let p = h.dir.path().join("run").join(rt);
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                left.push(format!("runtime state: {}", e.path().display()));
            }
        }
    }
    for m in h.mounts_below_dir() {
        left.push(format!("mount: {m}"));
    }
    for root in common::cgroup_roots() {
        let p = root.join(h.cgroup_parent().trim_start_matches('/'));
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.len() == 64 && e.file_type().is_ok_and(|t| t.is_dir()) {
                left.push(format!("cgroup: {}", e.path().display()));
            }
        }
    }
    let containers = h.data_root().join("containers");
    for e in std::fs::read_dir(&containers)
        .into_iter()
        .flatten()
        .flatten()
    {
        left.push(format!("container dir: {}", e.path().display()));
    }
    left
}

/// Published-port elements of berth's firewall (DNAT and hairpin sets and maps).
fn port_elements(h: &Host, port: u16) -> Vec<String> {
    let out = h.sh_out("nft list table inet berth");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("{port}")))
        .map(str::to_string)
        .collect()
}

fn ps_names(h: &Host) -> BTreeSet<String> {
    let out = ok(h.berth(&["ps", "-a", "--format", "{{.Names}}"]));
    out.split_whitespace().map(str::to_string).collect()
}

#[test]
fn rm_f_cut_short_by_kill_9_never_wedges() {
    let mut h = Host::with_busybox();
    ok(h.berth(&["network", "create", "crashnet"]));
    for (i, delay_ms) in [0u64, 5, 10, 20, 30, 40].into_iter().enumerate() {
        let name = format!("victim{i}");
        let port = 26000 + i as u16;
        ok(h.berth(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "crashnet",
            "-p",
            &format!("{port}:80"),
            "busybox",
            "sleep",
            "1000",
        ]));
        let socket = h.socket.clone();
        let path = format!("/containers/{name}?force=1");
        let rm = std::thread::spawn(move || {
            // The daemon may die under the request: any answer, or none.
            let _ = common::http(&socket, "DELETE", &path, None);
        });
        std::thread::sleep(Duration::from_millis(delay_ms));
        h.kill_daemon();
        rm.join().expect("rm thread");
        h.start_daemon();
        let started = Instant::now();
        let (status, body) = h
            .try_api("DELETE", &format!("/containers/{name}?force=1"), None)
            .expect("rm -f after the restart");
        assert!(
            status == 204 || status == 404,
            "delay {delay_ms} ms: rm -f answered {status} {body}\n{}",
            h.log()
        );
        assert!(started.elapsed() < Duration::from_secs(8), "rm -f was slow");
        assert!(!ps_names(&h).contains(&name));
        assert!(
            port_elements(&h, port).is_empty(),
            "delay {delay_ms} ms: DNAT or hairpin elements stay: {:?}",
            port_elements(&h, port)
        );
        // The host port is free again.
        ok(h.berth(&[
            "run",
            "-d",
            "--name",
            "again",
            "-p",
            &format!("{port}:80"),
            "busybox",
            "sleep",
            "1000",
        ]));
        ok(h.berth(&["rm", "-f", "again"]));
    }
    ok(h.berth(&["network", "rm", "crashnet"]));
    assert_eq!(leftovers(&h), Vec::<String>::new());
}

#[test]
fn a_start_failure_returns_with_dockers_code_and_leaves_nothing() {
    let h = Host::with_busybox();
    let limit = Duration::from_secs(30);
    for (cli, rm) in [
        ("berth", true),
        ("berth", false),
        ("docker", true),
        ("docker", false),
    ] {
        for (cmd, code) in [("/nonexistent", 127), ("/etc/hostname", 126)] {
            let mut args = vec!["run"];
            if rm {
                args.push("--rm");
            }
            args.extend(["busybox", cmd]);
            let c = if cli == "berth" {
                h.berth_cmd(&args)
            } else {
                h.docker_cmd(&args)
            };
            let out = within(c, limit);
            assert_eq!(
                out.status.code(),
                Some(code),
                "{cli} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if rm {
                assert!(
                    ps_names(&h).is_empty(),
                    "{cli} {args:?} left {:?}",
                    ps_names(&h)
                );
            }
        }
    }
    // The docker CLI leaves a container that could not start (as Docker): it goes with rm.
    let (status, v) = h.api("GET", "/containers/json?all=1", None);
    assert_eq!(status, 200);
    for c in v.as_array().cloned().unwrap_or_default() {
        assert_eq!(c["State"], "created");
        let id = c["Id"].as_str().unwrap_or_default();
        ok(h.berth(&["rm", id]));
    }
    assert_eq!(leftovers(&h), Vec::<String>::new());
}

/// The flaky `restart_policies` case: a stop that lands while an `always` container waits out
/// its restart delay is final. Tried at several points of the 100 ms delay.
#[test]
fn a_stop_during_the_restart_delay_is_final() {
    let h = Host::with_busybox();
    for (i, pause_ms) in [0u64, 30, 60, 90, 120].into_iter().enumerate() {
        let name = format!("phoenix{i}");
        ok(h.berth(&[
            "run",
            "-d",
            "--name",
            &name,
            "--restart",
            "always",
            "busybox",
            "sh",
            "-c",
            "exit 1",
        ]));
        // Wait for the first exit.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, v) = h.api("GET", &format!("/containers/{name}/json"), None);
            if v["RestartCount"].as_u64().unwrap_or(0) >= 1 || v["State"]["Status"] == "exited" {
                break;
            }
            assert!(Instant::now() < deadline, "{name} never exited");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(pause_ms));
        let (status, body) = h
            .try_api("POST", &format!("/containers/{name}/stop?t=1"), None)
            .expect("stop");
        assert!(status == 204 || status == 304, "stop: {status} {body}");
        let (_, v) = h.api("GET", &format!("/containers/{name}/json"), None);
        let count = v["RestartCount"].as_u64().unwrap_or(0);
        std::thread::sleep(Duration::from_millis(1500));
        let (_, v) = h.api("GET", &format!("/containers/{name}/json"), None);
        assert_eq!(
            v["State"]["Status"], "exited",
            "pause {pause_ms} ms: restarted after the stop"
        );
        assert_eq!(
            v["RestartCount"].as_u64().unwrap_or(0),
            count,
            "pause {pause_ms} ms"
        );
        ok(h.berth(&["rm", "-f", &name]));
    }
}

/// 20 clients × 50 mixed operations through the API: no 5xx, no address given twice; races on
/// one name, one `--ip` and one host port have exactly one winner and Docker's error for the rest.
#[test]
fn concurrent_clients_get_no_5xx_and_one_winner() {
    let h = Host::with_busybox();
    ok(h.berth(&["network", "create", "--subnet", "10.77.0.0/16", "busy"]));
    let socket = h.socket.clone();
    let create = |name: &str, extra: Value| -> String {
        let mut body = serde_json::json!({
            "Image": "busybox",
            "Cmd": ["sleep", "1000"],
            "HostConfig": {"NetworkMode": "busy"},
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let _ = name;
        body.to_string()
    };
    let clients: Vec<_> = (0..20)
        .map(|c| {
            let socket = socket.clone();
            let body = create("", serde_json::json!({}));
            std::thread::spawn(move || {
                let mut bad = Vec::new();
                for op in 0..50 {
                    let name = format!("k{c}x{}", op / 5);
                    let (method, path, b) = match op % 5 {
                        0 => (
                            "POST",
                            format!("/containers/create?name={name}"),
                            Some(body.as_str()),
                        ),
                        1 => ("POST", format!("/containers/{name}/start"), None),
                        2 => ("GET", "/containers/json?all=1".to_string(), None),
                        3 => ("GET", format!("/containers/{name}/json"), None),
                        _ => ("DELETE", format!("/containers/{name}?force=1"), None),
                    };
                    match common::http(&socket, method, &path, b) {
                        Ok((status, _, text)) if status >= 500 => {
                            bad.push(format!("{method} {path}: {status} {text}"))
                        }
                        Ok(_) => {}
                        Err(e) => bad.push(format!("{method} {path}: {e}")),
                    }
                }
                bad
            })
        })
        .collect();
    let mut bad = Vec::new();
    for c in clients {
        bad.extend(c.join().expect("client"));
    }
    assert!(bad.is_empty(), "5xx or failed requests: {bad:#?}");

    // Contested: one name, one --ip, one host port; 10 clients each.
    let race = |bodies: Vec<(String, String)>, start: bool| -> Vec<(u16, String)> {
        let threads: Vec<_> = bodies
            .into_iter()
            .map(|(name, body)| {
                let socket = socket.clone();
                std::thread::spawn(move || {
                    let (s, _, t) = common::http(
                        &socket,
                        "POST",
                        &format!("/containers/create?name={name}"),
                        Some(&body),
                    )
                    .expect("create");
                    if s != 201 || !start {
                        return (s, t);
                    }
                    let (s, _, t) =
                        common::http(&socket, "POST", &format!("/containers/{name}/start"), None)
                            .expect("start");
                    (s, t)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("racer"))
            .collect()
    };
    let same_name = race(
        (0..10)
            .map(|_| ("solo".to_string(), create("", serde_json::json!({}))))
            .collect(),
        false,
    );
    let winners = same_name.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(winners, 1, "{same_name:?}");
    assert!(
        same_name
            .iter()
            .all(|(s, t)| *s == 201 || (*s == 409 && t.contains("already in use"))),
        "{same_name:?}"
    );

    let ip = serde_json::json!({"NetworkingConfig": {"EndpointsConfig": {"busy": {"IPAMConfig": {"IPv4Address": "10.77.9.9"}}}}});
    let same_ip = race(
        (0..10)
            .map(|i| (format!("ip{i}"), create("", ip.clone())))
            .collect(),
        true,
    );
    let started = same_ip.iter().filter(|(s, _)| *s == 204).count();
    assert_eq!(started, 1, "{same_ip:?}");
    assert!(same_ip.iter().all(|(s, _)| *s < 500), "{same_ip:?}");

    let port = serde_json::json!({"HostConfig": {"NetworkMode": "busy", "PortBindings": {"80/tcp": [{"HostPort": "26999"}]}}, "ExposedPorts": {"80/tcp": {}}});
    let same_port = race(
        (0..10)
            .map(|i| (format!("port{i}"), create("", port.clone())))
            .collect(),
        true,
    );
    let started = same_port.iter().filter(|(s, _)| *s == 204).count();
    assert_eq!(started, 1, "{same_port:?}");
    assert!(
        same_port.iter().all(|(s, t)| *s == 201
            || *s == 204
            || (*s == 409 && t.contains("port is already allocated"))),
        "{same_port:?}"
    );

    // No address given twice among the running.
    let (_, list) = h.api("GET", "/containers/json", None);
    let mut seen = BTreeSet::new();
    for c in list.as_array().cloned().unwrap_or_default() {
        for (_, n) in c["NetworkSettings"]["Networks"]
            .as_object()
            .cloned()
            .unwrap_or_default()
        {
            let a = n["IPAddress"].as_str().unwrap_or_default().to_string();
            assert!(a.is_empty() || seen.insert(a.clone()), "{a} given twice");
        }
    }
    let ids = ok(h.berth(&["ps", "-aq"]));
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids);
        ok(h.berth(&args));
    }
    ok(h.berth(&["network", "rm", "busy"]));
    assert_eq!(leftovers(&h), Vec::<String>::new());
}

/// What the running containers explain: their IDs, sandbox pins, addresses, endpoints and
/// published host ports.
#[derive(Default)]
struct Explained {
    ids: BTreeSet<String>,
    pins: BTreeSet<String>,
    addrs: BTreeSet<String>,
    endpoints: usize,
    /// (host port, container address) of every published port.
    ports: BTreeSet<(u16, String)>,
    /// Addresses of the containers that publish (the hairpin set's elements).
    publishing: BTreeSet<String>,
}

fn explained(h: &Host) -> Result<Explained, String> {
    let (_, list) = h.api("GET", "/containers/json", None);
    let mut x = Explained::default();
    for c in list.as_array().cloned().unwrap_or_default() {
        let id = c["Id"].as_str().unwrap_or_default().to_string();
        let (_, v) = h.api("GET", &format!("/containers/{id}/json"), None);
        if v["State"]["Status"] != "running" {
            // Stopped between the two calls: the next poll sees it settled.
            return Err(format!("{id} changed state while checked"));
        }
        let key = v["NetworkSettings"]["SandboxKey"].as_str().unwrap_or("");
        if let Some(pin) = key.rsplit('/').next().filter(|p| !p.is_empty()) {
            x.pins.insert(pin.to_string());
        }
        let mut mine = Vec::new();
        for (_, n) in c["NetworkSettings"]["Networks"]
            .as_object()
            .cloned()
            .unwrap_or_default()
        {
            x.endpoints += 1;
            let a = n["IPAddress"].as_str().unwrap_or_default().to_string();
            if !a.is_empty() {
                if !x.addrs.insert(a.clone()) {
                    return Err(format!("{a} given twice"));
                }
                mine.push(a);
            }
        }
        for p in c["Ports"].as_array().cloned().unwrap_or_default() {
            if let Some(port) = p["PublicPort"].as_u64() {
                // Published on the address of the first network, whichever berth chose.
                for a in &mine {
                    x.ports.insert((port as u16, a.clone()));
                    x.publishing.insert(a.clone());
                }
            }
        }
        x.ids.insert(id);
    }
    Ok(x)
}

/// The elements of one set or map of berth's inet table, as nft prints them.
fn nft_elements(h: &Host, kind: &str, name: &str) -> Vec<String> {
    let out = h.sh_out(&format!("nft list {kind} inet berth {name}"));
    let text = String::from_utf8_lossy(&out.stdout).replace(['\n', '\t'], " ");
    let Some((_, rest)) = text.split_once("elements = {") else {
        return Vec::new();
    };
    let body = rest.split('}').next().unwrap_or_default();
    body.split(',')
        .map(|e| e.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|e| !e.is_empty())
        .collect()
}

/// After a storm's restart, once the background repairs are done: no address given twice, and
/// nothing berth made that no running container explains: pins, veths, mounts, cgroups,
/// runtime state, published-port and hairpin elements.
fn storm_state(h: &Host) -> Result<(), String> {
    let x = explained(h)?;
    for e in std::fs::read_dir(h.dir.path().join("run/netns"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if !x.pins.contains(&name) {
            return Err(format!("pin {name} of no running container"));
        }
    }
    let veths = h.sh("ip -o link show type veth").lines().count();
    if veths > x.endpoints {
        return Err(format!(
            "{veths} veths for {} endpoints of running containers",
            x.endpoints
        ));
    }
    let netns = h.dir.path().join("run/netns").display().to_string();
    for m in h.mounts_below_dir() {
        let point = m.split_whitespace().nth(1).unwrap_or_default();
        if let Some(pin) = point.strip_prefix(&format!("{netns}/")) {
            if !x.pins.contains(pin) {
                return Err(format!("mount of pin {pin} of no running container: {m}"));
            }
        }
        if let Some((_, rest)) = point.split_once("/containers/") {
            let id = rest.split('/').next().unwrap_or_default();
            if !x.ids.contains(id) {
                return Err(format!("mount of {id}, not a running container: {m}"));
            }
        }
    }
    for l in leftovers(h) {
        let id = |p: &str| p.rsplit('/').next().unwrap_or_default().to_string();
        if let Some(p) = l.strip_prefix("runtime state: ") {
            if !x.ids.contains(&id(p)) {
                return Err(format!(
                    "runtime state for {} without a running record",
                    id(p)
                ));
            }
        }
        if let Some(p) = l.strip_prefix("cgroup: ") {
            if !x.ids.contains(&id(p)) {
                return Err(format!("cgroup of {}, not a running container", id(p)));
            }
        }
    }
    // `tcp . 27003 : 172.18.0.2 . 80`
    let mut dnat = BTreeSet::new();
    for e in nft_elements(h, "map", "ports4") {
        let t: Vec<&str> = e.split_whitespace().collect();
        let port = t.get(2).and_then(|p| p.parse::<u16>().ok());
        let addr = t.get(4).map(|a| a.to_string());
        match (port, addr) {
            (Some(p), Some(a)) if x.ports.contains(&(p, a.clone())) => {
                dnat.insert((p, a));
            }
            _ => return Err(format!("ports4 element {e:?} of no running container")),
        }
    }
    // And the other way round (which also proves the elements were read at all).
    if let Some(missing) = x.ports.difference(&dnat).next() {
        return Err(format!("published port {missing:?} has no ports4 element"));
    }
    // `172.18.0.2 . 172.18.0.2`
    let mut hairpin = BTreeSet::new();
    for e in nft_elements(h, "set", "hairpin4") {
        let a = e.split_whitespace().next().unwrap_or_default().to_string();
        if !x.publishing.contains(&a) {
            return Err(format!("hairpin4 element {e:?} of no publishing container"));
        }
        hairpin.insert(a);
    }
    if let Some(missing) = x.publishing.difference(&hairpin).next() {
        return Err(format!(
            "publishing container {missing} has no hairpin4 element"
        ));
    }
    Ok(())
}

/// Random creates, runs, connects, publishes and removals with kill -9 of berthd at random
/// points. After each restart every acknowledged container exists, no address is given twice,
/// and no kernel object berth made lacks a record; then everything goes and nothing is left.
/// BERTH_STORM_SEED=<n> replays a storm.
#[test]
fn crash_storm() {
    let mut rng = Rng::from_env("BERTH_STORM_SEED", "crash_storm");
    let seed = rng.seed;
    let mut h = Host::with_busybox();
    ok(h.berth(&["network", "create", "storm"]));
    // Acknowledged: created (or run) with a 2xx, and not removed since.
    let mut acked: BTreeSet<String> = BTreeSet::new();
    let mut serial = 0;
    for cycle in 0..10 {
        // A few operations in the open, acknowledged ones remembered.
        for _ in 0..4 {
            serial += 1;
            let name = format!("s{serial}");
            let port = format!("{}:80", 27000 + serial);
            let op = rng.below(5);
            let out = match op {
                0 => h.berth(&[
                    "create",
                    "--name",
                    &name,
                    "--network",
                    "storm",
                    "busybox",
                    "sleep",
                    "1000",
                ]),
                1 => h.berth(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"]),
                2 => h.berth(&[
                    "run",
                    "-d",
                    "--name",
                    &name,
                    "--network",
                    "storm",
                    "-p",
                    &port,
                    "busybox",
                    "sleep",
                    "1000",
                ]),
                3 => {
                    let out = h.berth(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"]);
                    if out.status.success() {
                        ok(h.berth(&["network", "connect", "storm", &name]));
                    }
                    out
                }
                _ => match acked
                    .iter()
                    .nth(rng.below(acked.len().max(1) as u64) as usize)
                    .cloned()
                {
                    Some(victim) => {
                        ok(h.berth(&["rm", "-f", &victim]));
                        acked.remove(&victim);
                        continue;
                    }
                    None => continue,
                },
            };
            assert!(
                out.status.success(),
                "seed {seed}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            acked.insert(name);
        }
        // Then one operation cut short by a kill -9 at a random instant.
        serial += 1;
        let name = format!("s{serial}");
        let mut cmd = match rng.below(3) {
            0 => h.berth_cmd(&[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                "storm",
                "-p",
                &format!("{}:80", 27000 + serial),
                "busybox",
                "sleep",
                "1000",
            ]),
            1 => match acked.iter().next().cloned() {
                Some(victim) => {
                    acked.remove(&victim);
                    h.berth_cmd(&["rm", "-f", &victim])
                }
                None => h.berth_cmd(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"]),
            },
            _ => h.berth_cmd(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"]),
        };
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(rng.below(60)));
        h.kill_daemon();
        let _ = child.wait();
        h.start_daemon();
        // The cut operation may or may not have happened; everything acknowledged did.
        let names = ps_names(&h);
        for a in &acked {
            assert!(
                names.contains(a),
                "seed {seed}, cycle {cycle}: {a} is gone\n{}",
                h.log()
            );
        }
        // Repairs run in the background after a restart (the API answers at once), so the
        // kernel is checked once they are done: no container left "removing" or "releasing".
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match storm_state(&h) {
                Ok(()) => break,
                Err(e) if std::time::Instant::now() > deadline => {
                    panic!("seed {seed}, cycle {cycle}: {e}\n{}", h.log())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
    let ids = ok(h.berth(&["ps", "-aq"]));
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids);
        ok(h.berth(&args));
    }
    let out = h.berth(&["network", "rm", "storm"]);
    assert!(
        out.status.success(),
        "seed {seed}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(leftovers(&h), Vec::<String>::new(), "seed {seed}");
    let _ = fails;
}

/// berth's state is private, as Docker's: the data root and container directories 0710, the
/// store, container configs (their `Env` holds secrets) and logs 0600.
#[test]
fn private_state_is_not_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let h = Host::with_busybox();
    let id = ok(h.berth(&[
        "run",
        "-d",
        "-e",
        "SECRET=hunter2",
        "busybox",
        "sleep",
        "1000",
    ]));
    let id = id.trim();
    let mode = |p: std::path::PathBuf| {
        std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let data = h.data_root();
    let dir = data.join("containers").join(id);
    assert_eq!(mode(data.clone()), 0o710);
    assert_eq!(mode(data.join("berth.db")), 0o600);
    assert_eq!(mode(data.join("containers")), 0o710);
    assert_eq!(mode(dir.clone()), 0o710);
    assert_eq!(mode(dir.join("config.json")), 0o600);
    assert_eq!(mode(dir.join("container.log")), 0o600);
    ok(h.berth(&["rm", "-f", id]));
}

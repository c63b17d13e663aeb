//! Container logs as Docker's, through the docker CLI, the berth CLI and the API: stdout and
//! stderr in the order they were written, `--tail`, `-t`, `--since`/`--until` (RFC 3339, Unix
//! and relative times), `-f`; logs of the format before the record log; output written while
//! the daemon is down; and a container's health across a daemon restart. One daemon for all.

mod common;

use common::{eventually, fails, ok, Host};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Stdio};

/// A command's stdout and stderr through one pipe, as `2>&1` gives them.
fn merged(mut c: Command) -> String {
    let (r, w) = nix::unistd::pipe().expect("pipe");
    let w2: OwnedFd = w.try_clone().expect("dup");
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::from(w))
        .stderr(Stdio::from(w2))
        .spawn()
        .expect("spawn");
    // The child's copies are the only write ends left once `c` is gone.
    drop(c);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut out).expect("read");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{out}");
    out
}

/// The multiplexed stream of the API's logs: (stream, payload) per frame.
fn frames(body: &str) -> Vec<(u8, String)> {
    let b = body.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= b.len() {
        let len = u32::from_be_bytes([b[at + 4], b[at + 5], b[at + 6], b[at + 7]]) as usize;
        let payload = String::from_utf8_lossy(&b[at + 8..at + 8 + len]).into_owned();
        out.push((b[at], payload));
        at += 8 + len;
    }
    assert_eq!(at, b.len(), "a torn frame in {body:?}");
    out
}

fn api_logs(h: &Host, name: &str, query: &str) -> Vec<(u8, String)> {
    let (status, body) = h
        .try_api("GET", &format!("/containers/{name}/logs?{query}"), None)
        .expect("logs");
    assert_eq!(status, 200, "{body}");
    frames(&body)
}

const ROUNDS: usize = 6;

#[test]
fn logs_as_dockers() {
    let mut h = Host::with_busybox();
    let sync = tempfile::tempdir().expect("tempdir");
    let bind = format!("{}:/s", sync.path().display());

    // Each line is written only once the one before is in the log (the test answers it with a
    // file): so the order in the log is exactly the order of writing.
    let script = format!(
        "i=0; while [ $i -lt {ROUNDS} ]; do \
           echo out$i; while [ ! -e /s/o$i ]; do usleep 2000; done; \
           echo err$i >&2; while [ ! -e /s/e$i ]; do usleep 2000; done; \
           i=$((i+1)); done"
    );
    ok(h.docker(&[
        "run", "-d", "--name", "order", "-v", &bind, "busybox", "sh", "-c", &script,
    ]));
    for i in 0..ROUNDS {
        for (stream, tag) in [(1u8, "out"), (2u8, "err")] {
            let line = format!("{tag}{i}\n");
            eventually(&format!("{line:?} in the log"), || {
                api_logs(&h, "order", "stdout=1&stderr=1")
                    .contains(&(stream, line.clone()))
                    .then_some(())
            });
            std::fs::write(sync.path().join(format!("{}{i}", &tag[..1])), "").expect("answer");
        }
    }
    ok(h.docker(&["wait", "order"]));
    let expected: String = (0..ROUNDS).map(|i| format!("out{i}\nerr{i}\n")).collect();
    let via_api: String = api_logs(&h, "order", "stdout=1&stderr=1")
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert_eq!(via_api, expected);
    assert_eq!(merged(h.docker_cmd(&["logs", "order"])), expected);
    assert_eq!(merged(h.berth_cmd(&["logs", "order"])), expected);
    // Only stderr, tagged as such.
    let errs = api_logs(&h, "order", "stderr=1");
    assert!(
        errs.iter().all(|(s, l)| *s == 2 && l.starts_with("err")),
        "{errs:?}"
    );
    assert_eq!(errs.len(), ROUNDS);

    // --tail counts the merged log, newest last; -f on an exited container ends.
    let last3 = format!("err{}\nout{}\nerr{}\n", ROUNDS - 2, ROUNDS - 1, ROUNDS - 1);
    assert_eq!(
        merged(h.docker_cmd(&["logs", "--tail", "3", "order"])),
        last3
    );
    assert_eq!(
        merged(h.docker_cmd(&["logs", "-f", "-n", "3", "order"])),
        last3
    );
    assert_eq!(
        merged(h.berth_cmd(&["logs", "--tail", "3", "order"])),
        last3
    );
    assert_eq!(merged(h.docker_cmd(&["logs", "--tail", "0", "order"])), "");

    // -t: RFC 3339 with nine fraction digits, in order.
    let stamped = merged(h.docker_cmd(&["logs", "-t", "order"]));
    let mut times = Vec::new();
    for (line, want) in stamped.lines().zip(expected.lines()) {
        let (t, rest) = line.split_once(' ').expect("a stamp and a space");
        assert_eq!(rest, want, "{stamped}");
        let b = t.as_bytes();
        assert!(
            t.len() == 30 && b[10] == b'T' && b[19] == b'.' && t.ends_with('Z'),
            "not Docker's RFC 3339 nano: {t}"
        );
        times.push(t.to_string());
    }
    assert_eq!(times.len(), 2 * ROUNDS, "{stamped}");
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert_eq!(merged(h.berth_cmd(&["logs", "-t", "order"])), stamped);

    // --since and --until: RFC 3339 (the CLI sends a Unix time), inclusive as Docker's.
    let k = 5;
    let from_k: String = expected.lines().skip(k).map(|l| format!("{l}\n")).collect();
    let to_k: String = expected
        .lines()
        .take(k + 1)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        merged(h.docker_cmd(&["logs", "--since", &times[k], "order"])),
        from_k
    );
    assert_eq!(
        merged(h.docker_cmd(&["logs", "--until", &times[k], "order"])),
        to_k
    );
    assert_eq!(
        merged(h.berth_cmd(&["logs", "--since", &times[k], "order"])),
        from_k
    );
    let both = merged(h.docker_cmd(&[
        "logs", "--since", &times[2], "--until", &times[3], "-t", "order",
    ]));
    let two: String = stamped
        .lines()
        .skip(2)
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(both, two);
    // Relative times, and a Unix time with a fraction through the API.
    assert_eq!(
        merged(h.docker_cmd(&["logs", "--since", "10m", "order"])),
        expected
    );
    assert_eq!(
        merged(h.docker_cmd(&["logs", "--until", "10m", "order"])),
        ""
    );
    assert_eq!(
        merged(h.berth_cmd(&["logs", "--since", "1h", "-n", "1", "order"])),
        format!("err{}\n", ROUNDS - 1)
    );
    let (status, body) = h
        .try_api(
            "GET",
            "/containers/order/logs?stdout=1&since=yesterday",
            None,
        )
        .expect("logs");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("since") && body.contains("yesterday"),
        "{body}"
    );
    let (_, err) = fails(h.docker(&["logs", "--tail", "x", "order"]));
    assert!(err.contains("invalid tail"), "{err}");

    // A log from before the record log: two plain files the container wrote itself.
    let id = ok(h.docker(&["create", "--name", "old", "busybox", "true"]));
    let dir = h.data_root().join("containers").join(id.trim());
    std::fs::write(dir.join("stdout.log"), "old out 1\nold out 2\n").expect("write");
    std::fs::write(dir.join("stderr.log"), "old err\n").expect("write");
    assert_eq!(
        merged(h.docker_cmd(&["logs", "old"])),
        "old out 1\nold out 2\nold err\n"
    );
    assert_eq!(
        merged(h.docker_cmd(&["logs", "--tail", "2", "old"])),
        "old out 2\nold err\n"
    );
    let stamped_old = merged(h.docker_cmd(&["logs", "-t", "old"]));
    assert_eq!(stamped_old.lines().count(), 3, "{stamped_old}");

    // Output written while no daemon runs is logged by the keeper; health survives too.
    ok(h.docker(&[
        "run",
        "-d",
        "--name",
        "survivor",
        "-v",
        &bind,
        "--health-cmd",
        "test -e /s/healthy",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sh",
        "-c",
        "echo before; while [ ! -e /s/go ]; do usleep 10000; done; echo during >&2; \
         touch /s/said; sleep 1000",
    ]));
    std::fs::write(sync.path().join("healthy"), "").expect("write");
    let health = |h: &Host| {
        ok(h.docker(&[
            "inspect",
            "--format",
            "{{.State.Health.Status}}",
            "survivor",
        ]))
        .trim()
        .to_string()
    };
    eventually("healthy", || (health(&h) == "healthy").then_some(()));
    let probes_before: usize = ok(h.docker(&[
        "inspect",
        "--format",
        "{{len .State.Health.Log}}",
        "survivor",
    ]))
    .trim()
    .parse()
    .expect("a count");
    h.stop_daemon();
    std::fs::write(sync.path().join("go"), "").expect("write");
    eventually("the container wrote while the daemon was down", || {
        Path::new(&sync.path().join("said")).exists().then_some(())
    });
    h.start_daemon();
    // Healthy at once after the restart: not "starting" again, the probes kept.
    assert_eq!(health(&h), "healthy");
    let probes_after: usize = ok(h.docker(&[
        "inspect",
        "--format",
        "{{len .State.Health.Log}}",
        "survivor",
    ]))
    .trim()
    .parse()
    .expect("a count");
    assert!(
        probes_after >= probes_before.min(1),
        "{probes_before} -> {probes_after}"
    );
    let got = eventually("the line written during the restart", || {
        let got = merged(h.docker_cmd(&["logs", "survivor"]));
        got.contains("during").then_some(got)
    });
    assert_eq!(got, "before\nduring\n");
    // Probes resume: an unhealthy answer is seen after the restart.
    std::fs::remove_file(sync.path().join("healthy")).expect("remove");
    eventually("unhealthy after the restart", || {
        (health(&h) == "unhealthy").then_some(())
    });
    ok(h.docker(&["rm", "-f", "survivor", "order", "old"]));
}

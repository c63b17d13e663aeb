//! Interactive containers: `run -it`, `exec -it`, `run -i` with piped input, `attach`, resize
//! and the detach keys, driven by the docker CLI and berth's own on real pseudo-terminals.

mod common;

use common::pty::OnPty;
use common::{ok, Host};
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `cmd` with `input` on its stdin (a pipe, not a terminal): (exit code, stdout).
fn with_input(mut cmd: Command, input: &str) -> (i32, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn running(h: &Host, name: &str) -> String {
    ok(h.docker(&["inspect", "-f", "{{.State.Running}}", name]))
        .trim()
        .to_string()
}

/// The tutorial's first step: `docker run -it busybox sh`, then look around and leave.
fn run_it_gives_a_real_terminal(h: &Host, cli: fn(&Host, &[&str]) -> Command) {
    let mut t = OnPty::spawn(
        cli(h, &["run", "-it", "--name", "shell", "busybox", "sh"]),
        40,
        100,
    );
    t.expect("# ", 15);
    t.send("tty; stty size; echo TERM=$TERM; ip -o link show eth0\n");
    t.expect("/dev/pts/0", 10);
    t.expect("40 100", 10);
    t.expect("TERM=xterm", 10);
    t.expect("eth0@", 10);
    t.send("exit 3\n");
    assert_eq!(t.wait(15).code(), Some(3), "{}", t.output());
    // The session is in the log, raw.
    let logs = ok(h.docker(&["logs", "shell"]));
    assert!(logs.contains("/dev/pts/0"), "{logs}");
    let cfg = ok(h.docker(&[
        "inspect",
        "-f",
        "{{.Config.Tty}} {{.Config.OpenStdin}}",
        "shell",
    ]));
    assert_eq!(cfg.trim(), "true true");
    ok(h.docker(&["rm", "shell"]));
}

#[test]
fn docker_run_it_gives_a_real_terminal() {
    let h = Host::with_busybox();
    run_it_gives_a_real_terminal(&h, Host::docker_cmd);
}

#[test]
fn berth_run_it_gives_a_real_terminal() {
    let h = Host::with_busybox();
    run_it_gives_a_real_terminal(&h, Host::berth_cmd);
}

fn run_i_reads_piped_input(h: &Host, cli: fn(&Host, &[&str]) -> Command) {
    let (code, out) = with_input(
        cli(h, &["run", "-i", "--rm", "busybox", "cat"]),
        "hello\nworld\n",
    );
    assert_eq!((code, out.as_str()), (0, "hello\nworld\n"));
    let (code, out) = with_input(
        cli(
            h,
            &[
                "run",
                "-i",
                "--rm",
                "busybox",
                "sh",
                "-c",
                "read x; echo got $x; exit 7",
            ],
        ),
        "line\n",
    );
    assert_eq!((code, out.trim()), (7, "got line"));
    // Without -i the container's stdin is empty whatever the client has.
    let (code, out) = with_input(cli(h, &["run", "--rm", "busybox", "cat"]), "ignored\n");
    assert_eq!((code, out.as_str()), (0, ""));
    // -it wants a terminal to read from; without one nothing is created.
    let (code, out) = with_input(cli(h, &["run", "-it", "busybox", "true"]), "");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("the input device is not a TTY"), "{out}");
    assert_eq!(ok(h.docker(&["ps", "-aq"])), "");
}

#[test]
fn docker_run_i_reads_piped_input() {
    let h = Host::with_busybox();
    run_i_reads_piped_input(&h, Host::docker_cmd);
}

#[test]
fn berth_run_i_reads_piped_input() {
    let h = Host::with_busybox();
    run_i_reads_piped_input(&h, Host::berth_cmd);
}

fn exec_it_and_resize(h: &Host, cli: fn(&Host, &[&str]) -> Command) {
    ok(h.docker(&["run", "-d", "--name", "box", "busybox", "sleep", "300"]));
    let mut t = OnPty::spawn(cli(h, &["exec", "-it", "box", "sh"]), 30, 90);
    t.expect("# ", 15);
    t.send("tty; stty size\n");
    t.expect("/dev/pts/", 10);
    t.expect("30 90", 10);
    t.send("exit 5\n");
    assert_eq!(t.wait(15).code(), Some(5), "{}", t.output());
    // exec -i without a terminal feeds the pipe.
    let (code, out) = with_input(
        cli(h, &["exec", "-i", "box", "sh", "-c", "cat; exit 2"]),
        "piped\n",
    );
    assert_eq!((code, out.as_str()), (2, "piped\n"));
    assert_eq!(running(h, "box"), "true");
}

#[test]
fn docker_exec_it_and_resize() {
    let h = Host::with_busybox();
    exec_it_and_resize(&h, Host::docker_cmd);
}

#[test]
fn berth_exec_it_and_resize() {
    let h = Host::with_busybox();
    exec_it_and_resize(&h, Host::berth_cmd);
}

fn detach_and_attach_again(h: &Host, cli: fn(&Host, &[&str]) -> Command) {
    let mut t = OnPty::spawn(
        cli(h, &["run", "-it", "--name", "keep", "busybox", "sh"]),
        24,
        80,
    );
    t.expect("# ", 15);
    // Docker's default detach keys: ctrl-p ctrl-q. The client leaves; the shell stays.
    t.send("\x10\x11");
    assert_eq!(t.wait(15).code(), Some(0), "{}", t.output());
    assert_eq!(running(h, "keep"), "true");
    let mut t = OnPty::spawn(cli(h, &["attach", "keep"]), 24, 80);
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.send("echo back-$((40+2)); exit 4\n");
    t.expect("back-42", 10);
    assert_eq!(t.wait(15).code(), Some(4), "{}", t.output());
    assert_eq!(running(h, "keep"), "false");
}

#[test]
fn docker_detach_keys_and_attach() {
    let h = Host::with_busybox();
    detach_and_attach_again(&h, Host::docker_cmd);
}

#[test]
fn berth_detach_keys_and_attach() {
    let h = Host::with_busybox();
    detach_and_attach_again(&h, Host::berth_cmd);
}

/// Interactive containers outlive a daemon restart: the terminal is not hung up, stdin is not
/// closed, and both are served again by the new daemon (its keepers held them meanwhile).
#[test]
fn interactive_containers_survive_a_daemon_restart() {
    let mut h = Host::with_busybox();
    ok(h.docker(&["run", "-dit", "--name", "shell", "busybox", "sh"]));
    ok(h.docker(&["run", "-di", "--name", "cat", "busybox", "cat"]));
    h.stop_daemon();
    // Output the terminal gives while no daemon reads it waits in the terminal.
    h.start_daemon();
    assert_eq!(running(&h, "shell"), "true");
    assert_eq!(running(&h, "cat"), "true");
    let mut t = OnPty::spawn(h.docker_cmd(&["attach", "shell"]), 24, 80);
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.send("echo after-$((40+2))\n");
    t.expect("after-42", 10);
    // The docker CLI's attach reports a detach as an error, as it does against dockerd.
    t.send("\x10\x11");
    t.expect("read escape sequence", 10);
    t.wait(15);
    // attach stays while the container runs; it is left once the input is in the log.
    let mut attached = h
        .docker_cmd(&["attach", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn attach");
    attached
        .stdin
        .as_mut()
        .expect("stdin")
        .write_all(b"fed after the restart\n")
        .expect("write stdin");
    let mut logs = String::new();
    for _ in 0..100 {
        logs = ok(h.docker(&["logs", "cat"]));
        if logs.contains("fed after the restart") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = attached.kill();
    let _ = attached.wait();
    assert_eq!(logs, "fed after the restart\n");
    // Twice: the restarted daemon's copies are kept too (the keeper stays).
    h.stop_daemon();
    h.start_daemon();
    assert_eq!(running(&h, "shell"), "true");
    assert_eq!(running(&h, "cat"), "true");
    ok(h.docker(&["rm", "-f", "shell", "cat"]));
}

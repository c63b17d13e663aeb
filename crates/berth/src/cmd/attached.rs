//! Commands that hold a container's streams on this terminal: the attached part of `run`,
//! `exec` and `attach`. Each sets its waiter up first, takes the connection over, starts, sizes
//! the remote terminal like ours (and again on every SIGWINCH), then carries the session.

use crate::client::{encode, Client, ClientError};
use crate::session::{terminal_size, Ended, Session};
use crate::Failure;
use berth_api::answers::IdResponse;
use berth_api::exec::{ExecCreateBody, ExecStartBody};
use clap::Args;
use hyper::Method;
use serde_json::{json, Value};
use std::io::IsTerminal;

/// Docker's default: ctrl-p, ctrl-q.
const DEFAULT_DETACH_KEYS: &[u8] = &[16, 17];

/// The detach keys to scan for, and the query part that tells the daemon.
fn detach_keys(spec: Option<&str>, code: u8) -> Result<(Vec<u8>, String), Failure> {
    match spec.filter(|s| !s.is_empty()) {
        None => Ok((DEFAULT_DETACH_KEYS.to_vec(), String::new())),
        Some(s) => {
            let keys = berth_api::detach::parse_detach_keys(s).map_err(|m| Failure {
                message: Some(m),
                code,
            })?;
            Ok((keys, format!("&detachKeys={}", encode(s))))
        }
    }
}

/// Docker refuses a terminal session when our input is not a terminal.
fn needs_terminal(tty: bool, stdin: bool) -> Result<(), Failure> {
    if tty && stdin && !std::io::stdin().is_terminal() {
        return Err(Failure::msg("the input device is not a TTY"));
    }
    Ok(())
}

/// The signals `--sig-proxy` hands on to the container, as Docker's CLI does (it forwards all
/// but the ones about the CLI's own children and terminal).
const PROXIED: &[(libc::c_int, &str)] = &[
    (libc::SIGINT, "SIGINT"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGALRM, "SIGALRM"),
];

/// Without a terminal, signals sent to this process go to the container instead (with one,
/// the terminal carries ctrl-c itself). Runs until the process ends.
fn proxy_signals(client: &Client, id: &str) {
    use tokio::signal::unix::{signal, SignalKind};
    for &(num, name) in PROXIED {
        let Ok(mut sig) = signal(SignalKind::from_raw(num)) else {
            continue;
        };
        let client = client.clone();
        let path = format!("/containers/{id}/kill?signal={name}");
        tokio::spawn(async move {
            while sig.recv().await.is_some() {
                let _ = client.request(Method::POST, &path, None).await;
            }
        });
    }
}

/// Sizes the remote terminal (`path` is `/containers/ID/resize` or `/exec/ID/resize`) now
/// and whenever ours changes.
fn follow_size(client: &Client, path: String) {
    let client = client.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut changes = signal(SignalKind::window_change()).ok();
        loop {
            if let Some((h, w)) = terminal_size() {
                let _ = client
                    .request(Method::POST, &format!("{path}?h={h}&w={w}"), None)
                    .await;
            }
            match changes.as_mut() {
                Some(s) => {
                    if s.recv().await.is_none() {
                        return;
                    }
                }
                None => return,
            }
        }
    });
}

fn exit_with(code: i64) -> Result<(), Failure> {
    match code {
        0 => Ok(()),
        c => Err(Failure {
            message: None,
            code: c.clamp(1, 255) as u8,
        }),
    }
}

/// Starts a container `run` created; one that cannot start is not left behind (Docker leaves
/// it "Created").
pub async fn start_or_remove(client: &Client, id: &str) -> Result<(), Failure> {
    if let Err(e) = client
        .request(Method::POST, &format!("/containers/{id}/start"), None)
        .await
    {
        let _ = client
            .request(Method::DELETE, &format!("/containers/{id}?force=1"), None)
            .await;
        let message = format!("berth: {e}");
        let code = start_failure_code(&message);
        return Err(Failure {
            message: Some(message),
            code,
        });
    }
    Ok(())
}

/// Docker's exit codes for a container that could not start: 127 when its command is
/// missing, 126 when it cannot be executed, 125 for anything else (the daemon's words decide,
/// as in the docker CLI).
fn start_failure_code(message: &str) -> u8 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
    {
        127
    } else if message.contains("permission denied") {
        126
    } else {
        125
    }
}

/// What an attached `run` asked for.
pub struct RunSession<'a> {
    pub id: &'a str,
    pub tty: bool,
    pub stdin: bool,
    pub auto_remove: bool,
    pub detach_keys: Option<&'a str>,
    pub sig_proxy: bool,
}

/// `run` without `-d`: attach, start, carry the session; the container's exit code is ours.
/// A container that cannot start is removed again.
pub async fn run(client: &Client, r: RunSession<'_>) -> Result<(), Failure> {
    let fail = |e: ClientError| Failure {
        message: Some(format!("berth: {e}")),
        code: 125,
    };
    let (keys, keys_q) = detach_keys(r.detach_keys, 125)?;
    let id = r.id;
    let cond = if r.auto_remove {
        "removed"
    } else {
        "next-exit"
    };
    let waiter = client
        .open(
            Method::POST,
            &format!("/containers/{id}/wait?condition={cond}"),
        )
        .await
        .map_err(fail)?;
    let stdin_q = if r.stdin { "&stdin=1" } else { "" };
    let conn = client
        .hijack(
            &format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1{stdin_q}{keys_q}"),
            None,
        )
        .await
        .map_err(fail)?;
    start_or_remove(client, id).await?;
    if r.tty {
        follow_size(client, format!("/containers/{id}/resize"));
    } else if r.sig_proxy {
        proxy_signals(client, id);
    }
    let session = Session {
        tty: r.tty,
        stdin: r.stdin,
        detach_keys: keys,
    };
    if session.run(conn).await == Ended::Detached {
        return Ok(());
    }
    let w: Value = client.body_json(waiter).await.map_err(fail)?;
    exit_with(w["StatusCode"].as_i64().unwrap_or(0))
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background.
    #[arg(short, long)]
    detach: bool,
    /// Override the key sequence for detaching (ctrl-<value> or a character, comma-separated).
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Set environment variables.
    #[arg(short, long)]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]").
    #[arg(short, long)]
    user: Option<String>,
    /// Give extended privileges to the command (refused by berthd).
    #[arg(long)]
    privileged: bool,
    container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

pub async fn exec(client: &Client, a: ExecArgs) -> Result<(), Failure> {
    let stdin = a.interactive && !a.detach;
    needs_terminal(a.tty, stdin)?;
    let (keys, _) = detach_keys(a.detach_keys.as_deref(), 1)?;
    let body = ExecCreateBody {
        attach_stdin: stdin,
        attach_stdout: !a.detach,
        attach_stderr: !a.detach,
        tty: a.tty,
        cmd: Some(a.command),
        env: Some(a.env),
        working_dir: a.workdir.unwrap_or_default(),
        detach_keys: a.detach_keys.unwrap_or_default(),
        user: a.user.unwrap_or_default(),
        privileged: a.privileged,
    };
    let created: IdResponse = client
        .post_json(
            &format!("/containers/{}/exec", encode(&a.container)),
            Some(super::to_bytes(&body)?),
        )
        .await?;
    let id = created.id;
    let start = super::to_bytes(&ExecStartBody {
        detach: a.detach,
        tty: a.tty,
    })?;
    if a.detach {
        client
            .request(Method::POST, &format!("/exec/{id}/start"), Some(start))
            .await?;
        return Ok(());
    }
    let conn = client
        .hijack(&format!("/exec/{id}/start"), Some(start))
        .await?;
    if a.tty {
        follow_size(client, format!("/exec/{id}/resize"));
    }
    let session = Session {
        tty: a.tty,
        stdin,
        detach_keys: keys,
    };
    if session.run(conn).await == Ended::Detached {
        return Ok(());
    }
    let info: Value = client.get_json(&format!("/exec/{id}/json")).await?;
    exit_with(info["ExitCode"].as_i64().unwrap_or(0))
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching (ctrl-<value> or a character, comma-separated).
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Do not attach STDIN.
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Proxy received signals to the process (without a terminal; `--sig-proxy=false` to stop).
    #[arg(long = "sig-proxy", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    sig_proxy: Option<bool>,
    container: String,
}

/// `attach`: the running container's streams here until it exits (its exit code is ours) or
/// the detach keys.
pub async fn attach(client: &Client, a: AttachArgs) -> Result<(), Failure> {
    let (keys, keys_q) = detach_keys(a.detach_keys.as_deref(), 1)?;
    let c: Value = client
        .get_json(&format!("/containers/{}/json", encode(&a.container)))
        .await?;
    if c["State"]["Running"] != json!(true) {
        return Err(Failure::msg(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    let id = c["Id"].as_str().unwrap_or_default().to_string();
    let tty = c["Config"]["Tty"] == json!(true);
    let stdin = c["Config"]["OpenStdin"] == json!(true) && !a.no_stdin;
    needs_terminal(tty, stdin)?;
    let waiter = client
        .open(Method::POST, &format!("/containers/{id}/wait"))
        .await?;
    let stdin_q = if stdin { "&stdin=1" } else { "" };
    let conn = client
        .hijack(
            &format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1{stdin_q}{keys_q}"),
            None,
        )
        .await?;
    if tty {
        follow_size(client, format!("/containers/{id}/resize"));
    } else if a.sig_proxy.unwrap_or(true) {
        proxy_signals(client, &id);
    }
    let session = Session {
        tty,
        stdin,
        detach_keys: keys,
    };
    if session.run(conn).await == Ended::Detached {
        return Ok(());
    }
    let w: Value = client.body_json(waiter).await?;
    exit_with(w["StatusCode"].as_i64().unwrap_or(0))
}

/// What `run` refuses before anything is created: bad detach keys, and `-it` without a
/// terminal to read from.
pub fn check_run(
    keys: &Option<String>,
    tty: bool,
    interactive: bool,
    detach: bool,
) -> Result<(), Failure> {
    detach_keys(keys.as_deref(), 125)?;
    needs_terminal(tty, interactive && !detach)
}

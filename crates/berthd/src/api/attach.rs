//! `attach` and `logs --follow`: a container's output as it is written, in Docker's frames (raw
//! for a terminal), and the attached client's input to its stdin or terminal.
//!
//! Containers write straight into their log files (no shim), and a terminal's output is copied
//! there too, so following them is tailing those files until the container exits and they are
//! drained. The docker CLI attaches before it starts the container, so "exited" means: exited
//! after the attach began.

use super::{ApiError, AppState};
use crate::engine::fd::Pipe;
use crate::engine::stdio::{parse_detach_keys, DetachScanner};

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};

struct Follow {
    engine: Arc<crate::engine::Engine>,
    id: String,
    /// A terminal's output goes out raw, without frames.
    tty: bool,
    since: Option<chrono::DateTime<chrono::Utc>>,
    files: Vec<(u8, tokio::fs::File)>,
}

async fn open_logs(
    st: &AppState,
    id: &str,
    stdout: bool,
    stderr: bool,
    from_start: bool,
) -> Result<Follow, ApiError> {
    let c = st.engine.container(id).await?;
    let dir = st.containers_dir.join(&c.id);
    let mut files = Vec::new();
    for (stream, name, wanted) in [(1u8, "stdout.log", stdout), (2u8, "stderr.log", stderr)] {
        if !wanted {
            continue;
        }
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(dir.join(name))
            .await
            .map_err(|e| ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: format!("cannot open the log of {}: {e}", c.name),
            })?;
        let at = if from_start {
            std::io::SeekFrom::Start(0)
        } else {
            std::io::SeekFrom::End(0)
        };
        f.seek(at).await.map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("cannot read the log of {}: {e}", c.name),
        })?;
        files.push((stream, f));
    }
    Ok(Follow {
        engine: st.engine.clone(),
        id: c.id,
        tty: c.spec.tty,
        // A running container has no finish time yet; any later exit changes it.
        since: c.state.finished_at,
        files,
    })
}

/// Copies new output as frames until the container has exited and its logs are drained.
async fn pump(mut f: Follow, out: &mut (impl AsyncWrite + Unpin)) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // Checked before reading, so output written before the exit is still sent.
        let over = f.engine.exited_since(&f.id, f.since).await;
        let mut any = false;
        for (stream, file) in f.files.iter_mut() {
            loop {
                match file.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        any = true;
                        let sent = if f.tty {
                            out.write_all(&buf[..n]).await
                        } else {
                            super::stream::frame(out, *stream, &buf[..n]).await
                        };
                        if sent.is_err() {
                            return;
                        }
                    }
                }
            }
        }
        if out.flush().await.is_err() {
            // The client is gone: nobody to follow for.
            return;
        }
        if over && !any {
            break;
        }
        if !any {
            // A terminal's copier wakes us; a container writing its log itself is polled.
            tokio::select! {
                _ = f.engine.output.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }
    // The last frame is out; a client that left first has nothing to be told.
    let _ = out.shutdown().await;
}

/// `logs --follow` as a streamed body.
pub async fn follow_body(
    st: &AppState,
    id: &str,
    stdout: bool,
    stderr: bool,
    from_start: bool,
    tail: Option<usize>,
) -> Result<Response, ApiError> {
    let mut f = open_logs(st, id, stdout, stderr, from_start).await?;
    if let (true, Some(n)) = (from_start, tail) {
        // Each stream from the start of its last n lines.
        for (_, file) in f.files.iter_mut() {
            let mut data = Vec::new();
            if file.read_to_end(&mut data).await.is_ok() {
                let at = super::log_options::tail_start(&data, n) as u64;
                let _ = file.seek(std::io::SeekFrom::Start(at)).await;
            }
        }
    }
    let (mut near, response) = super::stream::piped_body(f.tty);
    tokio::spawn(async move { pump(f, &mut near).await });
    Ok(response)
}

/// How an attached client's input ended.
enum InputEnd {
    /// The client typed the detach keys: the attach ends, the container goes on.
    Detached,
    /// The client closed its input (or the connection).
    Closed,
}

/// Copies the client's input to the container until the detach keys or the end of input.
///
/// The docker CLI attaches before it starts the container, so the container's stdin may not
/// exist yet: input read before the start waits for it (`since` is the start time seen at
/// attach), and goes nowhere if the container ends without taking input.
async fn feed_input(
    mut from: impl AsyncRead + Unpin,
    engine: Arc<crate::engine::Engine>,
    id: String,
    since: Option<chrono::DateTime<chrono::Utc>>,
    stdin_once: bool,
    mut detach: DetachScanner,
) -> InputEnd {
    let mut buf = vec![0u8; 32 * 1024];
    let mut to: Option<Arc<Pipe>> = None;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                // StdinOnce: the container's stdin closes with the first client's input.
                if stdin_once {
                    if to.is_none() {
                        to = engine.input_once_started(&id, since).await;
                    }
                    if let (Some(_), Some(l)) = (to.take(), engine.live(&id)) {
                        l.close_stdin().await;
                    }
                }
                return InputEnd::Closed;
            }
            Ok(n) => n,
        };
        let (pass, detached) = detach.scan(&buf[..n]);
        if !pass.is_empty() {
            if to.is_none() {
                to = engine.input_once_started(&id, since).await;
            }
            // Once the container is gone its input is discarded, as Docker does.
            if let Some(pipe) = &to {
                if pipe.write_all(&pass).await.is_err() {
                    to = None;
                }
            }
        }
        if detached {
            return InputEnd::Detached;
        }
    }
}

/// `POST /containers/{id}/attach`: over the connection the client upgrades, or as a body.
pub async fn attach(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    mut req: Request,
) -> Result<Response, ApiError> {
    let on = |k: &str| matches!(q.get(k).map(String::as_str), Some("1" | "true" | "True"));
    if !on("stream") && !on("logs") {
        return Err(ApiError::bad_request("attach needs stream=1 or logs=1"));
    }
    let keys = match q.get("detachKeys").filter(|k| !k.is_empty()) {
        Some(k) => parse_detach_keys(k).map_err(ApiError::bad_request)?,
        None => vec![16, 17],
    };
    if st.engine.is_paused(&st.engine.container(&id).await?.id) {
        return Err(ApiError {
            status: axum::http::StatusCode::CONFLICT,
            message: "You cannot attach to a paused container, unpause it first".into(),
        });
    }
    let f = open_logs(&st, &id, on("stdout"), on("stderr"), on("logs")).await?;
    if !req.headers().contains_key(header::UPGRADE) {
        drop(f);
        return follow_body(&st, &id, on("stdout"), on("stderr"), on("logs"), None).await;
    }
    let c = st.engine.container(&id).await?;
    let input = on("stdin") && c.spec.open_stdin;
    let started = c.state.started_at;
    let stdin_once = c.spec.stdin_once && !c.spec.tty;
    let engine = st.engine.clone();
    let tty = f.tty;
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let (rd, mut wr) = tokio::io::split(TokioIo::new(upgraded));
        if !input {
            pump(f, &mut wr).await;
            return;
        }
        let mut feeding = tokio::spawn(feed_input(
            rd,
            engine.clone(),
            c.id.clone(),
            started,
            stdin_once,
            DetachScanner::new(keys),
        ));
        let detached = {
            let output = pump(f, &mut wr);
            tokio::pin!(output);
            tokio::select! {
                _ = &mut output => {
                    feeding.abort();
                    false
                }
                end = &mut feeding => match end {
                    Ok(InputEnd::Detached) | Err(_) => true,
                    Ok(InputEnd::Closed) => {
                        output.await;
                        false
                    }
                },
            }
        };
        if detached {
            // Detaching ends the client's stream; a client already gone needs no end.
            let _ = wr.shutdown().await;
        }
    });
    Ok(super::stream::switching_protocols(tty))
}

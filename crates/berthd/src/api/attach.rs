//! `attach` and `logs --follow`: a container's output as it is written, in Docker's frames (raw
//! for a terminal), and the attached client's input to its stdin or terminal.
//!
//! A container's keeper writes its output into its log (no shim), so an attached client's
//! output is the log followed from where it was at the attach (see [`super::logs`]). The docker
//! CLI attaches before it starts the container, so "exited" means: exited after the attach
//! began.

use super::{ApiError, AppState};
use crate::engine::fd::Pipe;
use crate::engine::stdio::{parse_detach_keys, DetachScanner};

use axum::extract::{Path, Query, Request, State};
use axum::http::header;
use axum::response::Response;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

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
    let opts = super::log_options::LogOptions {
        stdout: on("stdout"),
        stderr: on("stderr"),
        follow: true,
        ..Default::default()
    };
    if !req.headers().contains_key(header::UPGRADE) {
        return super::logs::body(&st, &id, opts, on("logs")).await;
    }
    let f = super::logs::open(&st, &id, opts, on("logs")).await?;
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
            super::logs::pump(f, &mut wr).await;
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
            let output = super::logs::pump(f, &mut wr);
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

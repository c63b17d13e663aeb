//! `/containers/{id}/exec`, `/exec/{id}/start`, `/exec/{id}/json`.
//!
//! The docker CLI asks to upgrade the start request (`Upgrade: tcp`) and then speaks raw over the
//! connection: berthd answers 101 and writes Docker's multiplexed frames, reading stdin back
//! when it is attached. Without the upgrade the same frames come as a streamed body.

use super::{ApiError, AppState};
use crate::engine::exec::{ExecIo, ExecSpec};
use crate::engine::fd::Pipe;
use crate::engine::Engine;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::answers::IdResponse;
use berth_api::exec::{ExecCreateBody, ExecInspect, ExecStartBody, ProcessConfig};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub async fn create(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: ExecCreateBody = super::json_body(&body)?;
    let exec_id = st
        .engine
        .exec_create(
            &id,
            ExecSpec {
                cmd: b.cmd.unwrap_or_default(),
                env: b.env.unwrap_or_default(),
                working_dir: b.working_dir,
                attach_stdin: b.attach_stdin,
                tty: b.tty,
                user: b.user,
                privileged: b.privileged,
            },
        )
        .await?;
    let answer = IdResponse {
        id: exec_id,
        warnings: None,
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

pub async fn inspect(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ExecInspect>, ApiError> {
    let ex = st.engine.exec_inspect(&id).await?;
    Ok(Json(ExecInspect {
        id: ex.id,
        running: ex.running,
        exit_code: ex.exit_code,
        process_config: ProcessConfig {
            tty: ex.spec.tty,
            entrypoint: ex.spec.cmd.first().cloned(),
            arguments: ex.spec.cmd.iter().skip(1).cloned().collect(),
        },
        open_stdin: ex.spec.attach_stdin,
        open_stdout: true,
        open_stderr: true,
        container_id: ex.container_id,
        pid: ex.pid,
    }))
}

/// Streams the process's output raw from its terminal, feeds the terminal what the client
/// types, records the exit, then closes. Output still buffered when the process ends is sent;
/// a background process that keeps the terminal open does not hold the stream.
async fn pump_tty<IO>(engine: Arc<Engine>, id: String, pid: u32, master: Arc<Pipe>, io: IO)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let input = master.clone();
    let feeder = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n @ 1..) = rd.read(&mut buf).await {
            if input.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let exited = crate::engine::exec::wait_adopted(pid);
    tokio::pin!(exited);
    let mut code = None;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let read = async {
            match code {
                None => Some(master.read(&mut buf).await),
                Some(_) => tokio::time::timeout(Duration::from_millis(100), master.read(&mut buf))
                    .await
                    .ok(),
            }
        };
        tokio::select! {
            r = read => match r {
                Some(Ok(n @ 1..)) => {
                    if wr.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                _ => break,
            },
            c = &mut exited, if code.is_none() => code = Some(c),
        }
    }
    let code = match code {
        Some(c) => c,
        None => exited.await,
    };
    feeder.abort();
    engine.exec_finished(&id, code).await;
    // The exit is recorded; a client that left first has nothing to be told.
    let _ = wr.shutdown().await;
}

/// Streams the process's output as frames, feeds stdin, records the exit, then closes.
async fn pump<IO>(engine: Arc<Engine>, id: String, mut child: tokio::process::Child, io: IO)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    if let Some(mut stdin) = child.stdin.take() {
        tokio::spawn(async move {
            // The client's input ends either way (its end, or a process that stopped
            // reading); then the process's stdin is closed, which it may already have done.
            let _ = tokio::io::copy(&mut rd, &mut stdin).await;
            let _ = stdin.shutdown().await;
        });
    }
    let (mut so, mut se) = match (child.stdout.take(), child.stderr.take()) {
        (Some(o), Some(e)) => (o, e),
        _ => return,
    };
    let (mut bo, mut be) = (vec![0u8; 32 * 1024], vec![0u8; 32 * 1024]);
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        tokio::select! {
            r = so.read(&mut bo), if out_open => match r {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) => if super::stream::frame(&mut wr, 1, &bo[..n]).await.is_err() { break },
            },
            r = se.read(&mut be), if err_open => match r {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => if super::stream::frame(&mut wr, 2, &be[..n]).await.is_err() { break },
            },
        }
    }
    let code = match child.wait().await {
        Ok(s) => s.code().unwrap_or(137),
        Err(_) => 126,
    };
    // Recorded before the stream closes: the client asks for the exit code right after.
    engine.exec_finished(&id, code).await;
    // The exit is recorded; a client that left first has nothing to be told.
    let _ = wr.shutdown().await;
}

pub async fn start(
    State(st): State<AppState>,
    Path(id): Path<String>,
    mut req: Request,
) -> Result<Response, ApiError> {
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let body = axum::body::to_bytes(std::mem::take(req.body_mut()), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("cannot read request body: {e}")))?;
    let b: ExecStartBody = if body.is_empty() {
        ExecStartBody::default()
    } else {
        super::json_body(&body)?
    };
    let started = st.engine.exec_start(&id).await?;
    let tty = matches!(started, ExecIo::Tty { .. });
    let engine = st.engine.clone();
    let run = move |io: Box<dyn Io>| -> futures::future::BoxFuture<'static, ()> {
        match started {
            ExecIo::Pipes(child) => Box::pin(pump(engine, id, child, io)),
            ExecIo::Tty { pid, master } => Box::pin(pump_tty(engine, id, pid, master, io)),
        }
    };
    if b.detach {
        let (a, _b) = tokio::io::duplex(64 * 1024);
        tokio::spawn(run(Box::new(a)));
        return Ok(StatusCode::OK.into_response());
    }
    if let Some(on_upgrade) = on_upgrade {
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => run(Box::new(TokioIo::new(upgraded))).await,
                Err(e) => tracing::warn!(error = %e, "exec: connection upgrade failed"),
            }
        });
        return Ok(super::stream::switching_protocols(tty));
    }
    let (near, response) = super::stream::piped_body(tty);
    tokio::spawn(run(Box::new(near)));
    Ok(response)
}

/// A client connection (upgraded, or a piped body) as one object type.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// `POST /exec/{id}/resize?h=&w=`.
pub async fn resize(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let (rows, cols) = super::stream::size_query(&q)?;
    st.engine.exec_resize(&id, rows, cols).await?;
    Ok(StatusCode::OK)
}

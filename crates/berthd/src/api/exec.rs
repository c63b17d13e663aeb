//! `/containers/{id}/exec`, `/exec/{id}/start`, `/exec/{id}/json`.
//!
//! The docker CLI asks to upgrade the start request (`Upgrade: tcp`) and then speaks raw over the
//! connection: berthd answers 101 and writes Docker's multiplexed frames, reading stdin back
//! when it is attached. Without the upgrade the same frames come as a streamed body.

use super::{ApiError, AppState};
use crate::engine::exec::ExecSpec;
use crate::engine::Engine;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    attach_stdin: bool,
    tty: bool,
    cmd: Option<Vec<String>>,
    env: Option<Vec<String>>,
    working_dir: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
}

pub async fn create(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: CreateBody = super::json_body(&body)?;
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
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"Id": exec_id}))).into_response())
}

pub async fn inspect(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ex = st.engine.exec_inspect(&id).await?;
    Ok(Json(json!({
        "ID": ex.id,
        "Running": ex.running,
        "ExitCode": ex.exit_code,
        "ProcessConfig": {"tty": ex.spec.tty, "entrypoint": ex.spec.cmd.first(), "arguments": ex.spec.cmd.iter().skip(1).collect::<Vec<_>>()},
        "OpenStdin": ex.spec.attach_stdin, "OpenStdout": true, "OpenStderr": true,
        "ContainerID": ex.container_id,
        "Pid": ex.pid,
    })))
}

/// Streams the process's output as frames, feeds stdin, records the exit, then closes.
async fn pump<IO>(engine: Arc<Engine>, id: String, mut child: tokio::process::Child, io: IO)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    if let Some(mut stdin) = child.stdin.take() {
        tokio::spawn(async move {
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
    let b: StartBody = if body.is_empty() {
        StartBody::default()
    } else {
        super::json_body(&body)?
    };
    let child = st.engine.exec_start(&id).await?;
    let engine = st.engine.clone();
    if b.detach {
        let (a, _b) = tokio::io::duplex(64 * 1024);
        tokio::spawn(pump(engine, id, child, a));
        return Ok(StatusCode::OK.into_response());
    }
    if let Some(on_upgrade) = on_upgrade {
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => pump(engine, id, child, TokioIo::new(upgraded)).await,
                Err(e) => tracing::warn!(error = %e, "exec: connection upgrade failed"),
            }
        });
        return Ok(super::stream::switching_protocols());
    }
    let (near, response) = super::stream::piped_body();
    tokio::spawn(pump(engine, id, child, near));
    Ok(response)
}

//! `attach` and `logs --follow`: a container's output as it is written, in Docker's frames.
//!
//! Containers write straight into their log files (no shim), so following them is tailing those
//! files until the container exits and they are drained. The docker CLI attaches before it
//! starts the container, so "exited" means: exited after the attach began.

use super::{ApiError, AppState};

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};

struct Follow {
    engine: Arc<crate::engine::Engine>,
    id: String,
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
        if !from_start {
            let _ = f.seek(std::io::SeekFrom::End(0)).await;
        } else {
            let _ = f.seek(std::io::SeekFrom::Start(0)).await;
        }
        files.push((stream, f));
    }
    Ok(Follow {
        engine: st.engine.clone(),
        id: c.id,
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
                        let mut head = [*stream, 0, 0, 0, 0, 0, 0, 0];
                        head[4..].copy_from_slice(&(n as u32).to_be_bytes());
                        if out.write_all(&head).await.is_err()
                            || out.write_all(&buf[..n]).await.is_err()
                        {
                            return;
                        }
                    }
                }
            }
        }
        let _ = out.flush().await;
        if over && !any {
            break;
        }
        if !any {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let _ = out.shutdown().await;
}

/// `logs --follow` as a streamed body.
pub async fn follow_body(
    st: &AppState,
    id: &str,
    stdout: bool,
    stderr: bool,
    from_start: bool,
) -> Result<Response, ApiError> {
    let f = open_logs(st, id, stdout, stderr, from_start).await?;
    let (mut near, response) = super::stream::piped_body();
    tokio::spawn(async move { pump(f, &mut near).await });
    Ok(response)
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
    let f = open_logs(&st, &id, on("stdout"), on("stderr"), on("logs")).await?;
    if !req.headers().contains_key(header::UPGRADE) {
        drop(f);
        return follow_body(&st, &id, on("stdout"), on("stderr"), on("logs")).await;
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let mut io = TokioIo::new(upgraded);
            pump(f, &mut io).await;
        }
    });
    Ok(super::stream::switching_protocols())
}

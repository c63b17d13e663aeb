//! `GET`, `HEAD` and `PUT /containers/{id}/archive?path=`: what `docker cp` speaks. The stat of
//! the path goes in `X-Docker-Container-Path-Stat` (base64 of its JSON), a copy out is a tar
//! stream, a copy in a tar body unpacked into the directory `path` (see engine/archive.rs).

use super::{ApiError, AppState};
use crate::engine::archive::{ChanReader, PathStat};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use std::collections::HashMap;

const STAT_HEADER: &str = "x-docker-container-path-stat";

fn path_of(q: &HashMap<String, String>) -> Result<String, ApiError> {
    match q.get("path").filter(|p| !p.is_empty()) {
        Some(p) => Ok(p.clone()),
        None => Err(ApiError::bad_request(
            "path is required: the path in the container to copy",
        )),
    }
}

/// Standard base64 with padding, as Go's `base64.StdEncoding`.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn with_stat(mut r: Response, stat: &PathStat) -> Result<Response, ApiError> {
    let json = serde_json::to_vec(stat)
        .map_err(|e| ApiError::internal(format!("encode the path's stat: {e}")))?;
    let v = HeaderValue::from_str(&base64(&json))
        .map_err(|e| ApiError::internal(format!("the path's stat as a header: {e}")))?;
    r.headers_mut().insert(STAT_HEADER, v);
    Ok(r)
}

/// `HEAD`: the stat alone.
pub async fn stat(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let stat = st.engine.archive_stat(&id, &path_of(&q)?).await?;
    with_stat(Response::new(Body::empty()), &stat)
}

/// `GET`: the stat and a tar stream of the path.
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (stat, rx) = st.engine.archive_get(&id, &path_of(&q)?).await?;
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk.map(Bytes::from), rx))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    with_stat(r, &stat)
}

/// `PUT`: unpacks the tar body into the directory `path`; `copyUIDGID=1` (`docker cp -a`)
/// gives the entries to the container's user.
pub async fn put(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let path = path_of(&q)?;
    // Docker's boolean query values: anything but empty, 0, no, false and none is true.
    let copy_uid_gid = q.get("copyUIDGID").is_some_and(|v| {
        !matches!(
            v.trim().to_lowercase().as_str(),
            "" | "0" | "no" | "false" | "none"
        )
    });
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let mut data = body.into_data_stream();
    tokio::spawn(async move {
        while let Some(Ok(chunk)) = data.next().await {
            if tx.send(chunk.to_vec()).await.is_err() {
                // The unpacker stopped (a refused archive): the rest is not wanted.
                break;
            }
        }
    });
    st.engine
        .archive_put(&id, &path, copy_uid_gid, ChanReader::new(rx))
        .await?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_as_gos() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"{\"name\":\"x\"}"), "eyJuYW1lIjoieCJ9");
    }
}

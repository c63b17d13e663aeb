//! Docker's output streams shared by attach, logs --follow and exec: the multiplexed framing,
//! the 101 answer to an upgraded connection, and a body fed from a pipe.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};

pub const MUX: &str = "application/vnd.docker.multiplexed-stream";
/// A terminal's output: one stream, no frames.
pub const RAW: &str = "application/vnd.docker.raw-stream";

/// `h` and `w` of a resize request; the error names the value.
pub fn size_query(
    q: &std::collections::HashMap<String, String>,
) -> Result<(u16, u16), super::ApiError> {
    let get = |k: &str| -> Result<u16, super::ApiError> {
        let v = q.get(k).map(String::as_str).unwrap_or("");
        v.parse().map_err(|_| {
            super::ApiError::bad_request(format!(
                "invalid resize {k}: '{v}': expected a number from 0 to 65535"
            ))
        })
    };
    Ok((get("h")?, get("w")?))
}

/// Writes one frame: [stream, 0, 0, 0, size (u32 BE)] + payload.
pub async fn frame(
    out: &mut (impl AsyncWrite + Unpin),
    stream: u8,
    data: &[u8],
) -> std::io::Result<()> {
    let mut head = [stream, 0, 0, 0, 0, 0, 0, 0];
    head[4..].copy_from_slice(&(data.len() as u32).to_be_bytes());
    out.write_all(&head).await?;
    out.write_all(data).await
}

/// The answer to a request the client asked to upgrade (`Upgrade: tcp`), as dockerd sends it.
pub fn switching_protocols(tty: bool) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if tty { RAW } else { MUX }),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    r
}

/// A pipe whose far end becomes a streamed body (multiplexed, or raw for a terminal); write
/// into the near end.
pub fn piped_body(tty: bool) -> (DuplexStream, Response) {
    let (near, far) = tokio::io::duplex(64 * 1024);
    let stream = futures::stream::unfold(far, |mut far| async move {
        let mut buf = vec![0u8; 32 * 1024];
        match far.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), far))
            }
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if tty { RAW } else { MUX }),
    );
    (near, r)
}

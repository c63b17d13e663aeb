//! The client for synchronous callers: each call runs on a small runtime of its own thread
//! pool, so it works from plain threads and from inside another runtime alike (where a nested
//! `block_on` would panic).

use crate::{Client, ClientError, RawResponse};
use std::sync::OnceLock;
use std::time::Duration;

fn runtime() -> Result<&'static tokio::runtime::Runtime, ClientError> {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(rt) = RT.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("berth-client")
        .enable_all()
        .build()
        .map_err(|e| ClientError::Http {
            host: "(none)".into(),
            message: format!("cannot start the client's runtime: {e}"),
        })?;
    // Another thread may have won the race: either runtime serves.
    Ok(RT.get_or_init(|| rt))
}

/// Runs `fut` on the shared runtime and waits for it, for at most `timeout`.
fn wait<T: Send + 'static>(
    host: &str,
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, ClientError>> + Send + 'static,
) -> Result<T, ClientError> {
    let (tx, rx) = std::sync::mpsc::channel();
    runtime()?.spawn(async move {
        let r = match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout(timeout)),
        };
        // The caller gave up only if it is gone; then nobody wants the answer.
        let _ = tx.send(r);
    });
    rx.recv().map_err(|_| ClientError::Http {
        host: host.to_string(),
        message: "the request's task ended without an answer".into(),
    })?
}

/// [`Client::raw`], blocking, bounded by `timeout`.
pub fn raw(
    client: &Client,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<RawResponse, ClientError> {
    let (c, m, p) = (client.clone(), method.to_string(), path.to_string());
    wait(
        client.url(),
        timeout,
        async move { c.raw(&m, &p, body).await },
    )
}

/// POSTs the tar archive at `file` to the unversioned `path`, streamed from disk; the answer
/// comes back whatever its status.
pub fn post_tar_file(
    client: &Client,
    path: &str,
    file: &std::path::Path,
    timeout: Duration,
) -> Result<RawResponse, ClientError> {
    let (c, p, f) = (client.clone(), path.to_string(), file.to_path_buf());
    wait(client.url(), timeout, async move {
        let body = crate::RequestBody::tar_file(&f)
            .await
            .map_err(|e| ClientError::Http {
                host: c.url().to_string(),
                message: format!("cannot read {}: {e}", f.display()),
            })?;
        c.raw_body("POST", &p, body).await
    })
}

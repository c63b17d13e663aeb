//! Listening sockets and serving the API on them until shutdown.

use crate::config::Listen;
use axum::ServiceExt;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::net::{TcpListener, UnixListener};
use tower::Layer;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("another daemon is already listening on {0}")]
    InUse(PathBuf),
    #[error("cannot listen on {what}: {source}")]
    Bind {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

pub enum Bound {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
}

fn bind_unix(path: &Path) -> Result<UnixListener, ServeError> {
    let err = |source| ServeError::Bind {
        what: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    if path.exists() {
        // A live daemon answers; a stale socket file from a crash does not and is replaced.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ServeError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    let l = UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(err)?;
    Ok(l)
}

/// Binds every listener before serving any, so a bad address fails the start cleanly.
pub async fn bind(listen: &[Listen]) -> Result<Vec<Bound>, ServeError> {
    let mut out = Vec::new();
    for l in listen {
        match l {
            Listen::Unix(p) => out.push(Bound::Unix(bind_unix(p)?, p.clone())),
            Listen::Tcp(addr) => {
                tracing::warn!(%addr, "listening on TCP without TLS: anyone who can reach it controls berthd");
                let t = TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServeError::Bind {
                        what: format!("tcp://{addr}"),
                        source,
                    })?;
                out.push(Bound::Tcp(t));
            }
        }
    }
    Ok(out)
}

/// How long a stopping daemon waits for open connections.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves `app` on every listener until `shutdown` resolves; removes unix sockets afterwards.
pub async fn serve(
    bound: Vec<Bound>,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = axum::middleware::from_fn(crate::api::strip_version).layer(app);
    let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    let mut sockets = Vec::new();
    for b in bound {
        let mut rx = tx.subscribe();
        let app = app.clone();
        let stop = async move {
            let _ = rx.recv().await;
        };
        match b {
            Bound::Unix(l, path) => {
                tracing::info!(socket = %path.display(), "API listening");
                sockets.push(path);
                tasks.push(tokio::spawn(async move {
                    if let Err(e) = axum::serve(l, app.into_make_service())
                        .with_graceful_shutdown(stop)
                        .await
                    {
                        tracing::error!(error = %e, "unix listener failed");
                    }
                }));
            }
            Bound::Tcp(l) => {
                tasks.push(tokio::spawn(async move {
                    if let Err(e) = axum::serve(l, app.into_make_service())
                        .with_graceful_shutdown(stop)
                        .await
                    {
                        tracing::error!(error = %e, "tcp listener failed");
                    }
                }));
            }
        }
    }
    shutdown.await;
    let _ = tx.send(());
    // Requests in flight get a moment to finish; long-lived streams (logs -f, attach, events)
    // would hold the stop forever, so they are cut after it.
    let drain = async {
        for t in tasks {
            let _ = t.await;
        }
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!(
            grace_s = SHUTDOWN_GRACE.as_secs(),
            "connections still open after the grace period: closing them"
        );
    }
    for s in sockets {
        let _ = std::fs::remove_file(s);
    }
}

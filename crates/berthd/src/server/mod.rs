//! Listening sockets and serving the API on them until shutdown: every connection, TLS or not,
//! gets the same bounds (header read timeout, a cap per listener) and HTTP upgrades.

mod limits;
mod listeners;
pub mod tls;

use crate::config::Listen;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::util::BoxCloneService;
use tower::{Layer, ServiceExt};

pub use limits::Limits;
pub use listeners::socket_group;

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
    #[error("group {0} for the API socket does not exist: create it (groupadd {0}) or name another with -G")]
    NoGroup(String),
}

pub enum Bound {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener, SocketAddr),
}

/// Binds every listener before serving any, so a bad address fails the start cleanly.
pub async fn bind(
    listen: &[Listen],
    tls: bool,
    gid: Option<u32>,
) -> Result<Vec<Bound>, ServeError> {
    let mut out = Vec::new();
    for l in listen {
        match l {
            Listen::Unix(p) => out.push(Bound::Unix(listeners::bind_unix(p, gid)?, p.clone())),
            Listen::Tcp(addr) => {
                out.push(Bound::Tcp(listeners::bind_tcp(*addr, tls).await?, *addr))
            }
        }
    }
    Ok(out)
}

/// How long a stopping daemon waits for open connections.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

type App = BoxCloneService<Request<Body>, Response, Infallible>;

/// What every connection task shares.
#[derive(Clone)]
struct Conn {
    app: App,
    limits: Limits,
    stop: watch::Receiver<bool>,
    /// Dropped when the connection ends: the drain waits for every one.
    _alive: mpsc::Sender<()>,
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which is a stop too.
    let _ = rx.wait_for(|s| *s).await;
}

/// Serves `app` on every listener until `shutdown` resolves; removes unix sockets afterwards.
/// With `tls`, TCP listeners speak only TLS.
pub async fn serve(
    bound: Vec<Bound>,
    app: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = Limits::from_env();
    let app: App =
        BoxCloneService::new(axum::middleware::from_fn(crate::api::strip_version).layer(app));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let conn = Conn {
        app,
        limits,
        stop: stop_rx,
        _alive: alive_tx,
    };
    let acceptor = tls.map(TlsAcceptor::from);
    let mut sockets = Vec::new();
    for b in bound {
        let conn = conn.clone();
        match b {
            Bound::Unix(l, path) => {
                tracing::info!(socket = %path.display(), "API listening");
                sockets.push(path);
                tokio::spawn(accept_unix(l, conn));
            }
            Bound::Tcp(l, addr) => {
                tracing::info!(%addr, tls = acceptor.is_some(), "API listening");
                tokio::spawn(accept_tcp(l, conn, acceptor.clone()));
            }
        }
    }
    drop(conn);
    shutdown.await;
    let _ = stop_tx.send(true);
    // Requests in flight get a moment to finish; long-lived streams (logs -f, attach, events)
    // would hold the stop forever, so they are cut after it.
    if tokio::time::timeout(SHUTDOWN_GRACE, alive_rx.recv())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_s = SHUTDOWN_GRACE.as_secs(),
            "connections still open after the grace period: closing them"
        );
    }
    for s in sockets {
        let _ = std::fs::remove_file(s);
    }
}

/// Waits for a free connection slot, then for a connection; None once stopping.
async fn next<T>(
    sem: &Arc<Semaphore>,
    stop: &mut watch::Receiver<bool>,
    accept: impl Future<Output = std::io::Result<T>>,
) -> Option<(tokio::sync::OwnedSemaphorePermit, std::io::Result<T>)> {
    let permit = tokio::select! {
        p = sem.clone().acquire_owned() => p.ok()?,
        _ = stopped(stop) => return None,
    };
    tokio::select! {
        r = accept => Some((permit, r)),
        _ = stopped(stop) => None,
    }
}

/// A failed accept (EMFILE, ENFILE, ENOBUFS) is retried after a pause rather than spinning.
async fn accept_failed(e: std::io::Error) {
    tracing::warn!(error = %e, "accepting a connection failed");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

async fn accept_unix(l: UnixListener, conn: Conn) {
    let sem = Arc::new(Semaphore::new(conn.limits.max_connections));
    let mut stop = conn.stop.clone();
    while let Some((permit, r)) = next(&sem, &mut stop, l.accept()).await {
        match r {
            Ok((s, _)) => {
                let conn = conn.clone();
                tokio::spawn(async move {
                    serve_conn(s, conn).await;
                    drop(permit);
                });
            }
            Err(e) => accept_failed(e).await,
        }
    }
}

async fn accept_tcp(l: TcpListener, conn: Conn, tls: Option<TlsAcceptor>) {
    let sem = Arc::new(Semaphore::new(conn.limits.max_connections));
    let mut stop = conn.stop.clone();
    while let Some((permit, r)) = next(&sem, &mut stop, l.accept()).await {
        match r {
            Ok((s, peer)) => {
                let conn = conn.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    // Small request/response exchanges are the API's bread and butter.
                    let _ = s.set_nodelay(true);
                    match tls {
                        None => serve_conn(s, conn).await,
                        Some(acceptor) => {
                            if let Some(s) = handshake(s, peer, &acceptor, conn.limits).await {
                                serve_conn(s, conn).await;
                            }
                        }
                    }
                    drop(permit);
                });
            }
            Err(e) => accept_failed(e).await,
        }
    }
}

/// The TLS handshake, bounded like a request's head; a refused client is logged once, with
/// the reason, and the connection closed.
async fn handshake(
    s: TcpStream,
    peer: SocketAddr,
    acceptor: &TlsAcceptor,
    limits: Limits,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let attempt = async {
        let mut first = [0u8; 1];
        if s.peek(&mut first).await? == 1 && first[0] != tls::HANDSHAKE_RECORD {
            let mut s = s;
            // Read what the client sent first: closing with unread data would reset the
            // connection and lose the answer.
            let mut sink = [0u8; 4096];
            let _ = tokio::time::timeout(
                std::time::Duration::from_millis(100),
                tokio::io::AsyncReadExt::read(&mut s, &mut sink),
            )
            .await;
            tokio::io::AsyncWriteExt::write_all(&mut s, tls::PLAIN_HTTP_ANSWER).await?;
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut s).await;
            return Err(std::io::Error::other(
                "the client spoke plain HTTP to the TLS port",
            ));
        }
        acceptor.accept(s).await
    };
    match tokio::time::timeout(limits.header_read_timeout, attempt).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::warn!(%peer, reason = %e, "TLS client refused");
            None
        }
        Err(_) => {
            tracing::warn!(%peer, "TLS client refused: no handshake within the header read timeout");
            None
        }
    }
}

/// HTTP/1.1 on one connection, upgrades included (attach, exec start), until it ends or the
/// daemon stops.
async fn serve_conn<IO>(io: IO, conn: Conn)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let app = conn.app.clone();
    let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        app.clone().oneshot(req.map(Body::new))
    });
    let mut stop = conn.stop.clone();
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(conn.limits.header_read_timeout)
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades();
    tokio::pin!(http);
    tokio::select! {
        r = http.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = stopped(&mut stop) => {
            http.as_mut().graceful_shutdown();
            let _ = http.await;
        }
    }
}

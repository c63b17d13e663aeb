//! A minimal Docker Engine API client over a unix socket or plain TCP.

use berth_api::{ErrorResponse, API_VERSION};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Cannot connect to the berth daemon at {host}. Is berthd running? ({source})")]
    Connect {
        host: String,
        source: std::io::Error,
    },
    #[error("invalid host {0}: use unix:///path/to.sock or tcp://HOST:PORT")]
    BadHost(String),
    #[error("error talking to the daemon at {host}: {message}")]
    Http { host: String, message: String },
    /// The daemon answered with an error; the message is the daemon's.
    #[error("Error response from daemon: {message}")]
    Daemon { status: StatusCode, message: String },
    #[error("cannot decode the daemon's answer: {0}")]
    Decode(String),
}

#[derive(Debug, Clone)]
enum Target {
    Unix(PathBuf),
    Tcp(String),
}

#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    target: Target,
}

impl Client {
    pub fn new(url: &str) -> Result<Client, ClientError> {
        let target = if let Some(p) = url.strip_prefix("unix://") {
            Target::Unix(PathBuf::from(p))
        } else if let Some(a) = url.strip_prefix("tcp://") {
            Target::Tcp(a.trim_end_matches('/').to_string())
        } else if url.starts_with('/') {
            Target::Unix(PathBuf::from(url))
        } else {
            return Err(ClientError::BadHost(url.to_string()));
        };
        Ok(Client {
            url: url.to_string(),
            target,
        })
    }

    fn http_error(&self, e: &dyn std::fmt::Display) -> ClientError {
        ClientError::Http {
            host: self.url.clone(),
            message: e.to_string(),
        }
    }

    /// Connects, sends one request, and returns the response once its status is in; an error
    /// status becomes [`ClientError::Daemon`]. With `upgrade` the connection may be taken over.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        upgrade: bool,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let connect = |source| ClientError::Connect {
            host: self.url.clone(),
            source,
        };
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/v{API_VERSION}{path}"))
            .header("Host", "berth")
            .header(
                "User-Agent",
                concat!("berth-cli/", env!("CARGO_PKG_VERSION")),
            );
        if upgrade {
            req = req.header("Connection", "Upgrade").header("Upgrade", "tcp");
        }
        if body.is_some() {
            req = req.header("Content-Type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| self.http_error(&e))?;
        let resp = match &self.target {
            Target::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p).await.map_err(connect)?;
                send(TokioIo::new(s), req, upgrade).await
            }
            Target::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a).await.map_err(connect)?;
                send(TokioIo::new(s), req, upgrade).await
            }
        }
        .map_err(|e| self.http_error(&e))?;
        let status = resp.status();
        if status.is_client_error() || status.is_server_error() {
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| self.http_error(&e))?
                .to_bytes();
            return Err(daemon_error(status, &bytes));
        }
        Ok(resp)
    }

    /// Sends one request and returns once the daemon has answered with its status, leaving
    /// the body to [`Client::body_json`]: Docker's `wait` answers at once and sends the
    /// exit code when it comes, so a waiter is known to be in place before a start.
    pub async fn open(
        &self,
        method: Method,
        path: &str,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        self.exchange(method, path, None, false).await
    }

    /// The JSON body of a response from [`Client::open`].
    pub async fn body_json<T: serde::de::DeserializeOwned>(
        &self,
        resp: hyper::Response<hyper::body::Incoming>,
    ) -> Result<T, ClientError> {
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| self.http_error(&e))?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Sends one request; an error status becomes [`ClientError::Daemon`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, ClientError> {
        let resp = self.exchange(method, path, body, false).await?;
        Ok(resp
            .into_body()
            .collect()
            .await
            .map_err(|e| self.http_error(&e))?
            .to_bytes())
    }

    /// Sends a request that takes the connection over (`Upgrade: tcp`), as Docker's attach and
    /// exec start do; returns the raw two-way stream once the daemon agrees (101).
    pub async fn hijack(
        &self,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::upgrade::Upgraded, ClientError> {
        let resp = self.exchange(Method::POST, path, body, true).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(self.http_error(&format!(
                "the daemon did not take the connection over (status {})",
                resp.status()
            )));
        }
        hyper::upgrade::on(resp)
            .await
            .map_err(|e| self.http_error(&e))
    }

    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, ClientError> {
        let b = self.request(Method::GET, path, None).await?;
        serde_json::from_slice(&b).map_err(|e| ClientError::Decode(e.to_string()))
    }

    pub async fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let b = self.request(Method::POST, path, body).await?;
        serde_json::from_slice(&b).map_err(|e| ClientError::Decode(e.to_string()))
    }
}

/// The daemon's error answer: its JSON message, else the body as text.
fn daemon_error(status: StatusCode, body: &[u8]) -> ClientError {
    let message = serde_json::from_slice::<ErrorResponse>(body)
        .map(|e| e.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).trim().to_string());
    ClientError::Daemon { status, message }
}

async fn send<IO>(
    io: IO,
    req: Request<Full<Bytes>>,
    upgrade: bool,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = if upgrade {
            conn.with_upgrades().await
        } else {
            conn.await
        };
    });
    sender.send_request(req).await
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

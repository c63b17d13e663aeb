//! A minimal Docker Engine API client over a unix socket, plain TCP or TLS.

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
    #[error("invalid host {0}: use unix:///path/to.sock, tcp://HOST[:PORT] or HOST:PORT")]
    BadHost(String),
    #[error("{0}")]
    TlsSetup(#[from] crate::tls::TlsSetupError),
    #[error("TLS handshake with the berth daemon at {host} failed: {source}")]
    Handshake {
        host: String,
        source: std::io::Error,
    },
    #[error("error talking to the daemon at {host}: {message}")]
    Http { host: String, message: String },
    /// The daemon answered with an error; the message is the daemon's.
    #[error("Error response from daemon: {message}")]
    Daemon { status: StatusCode, message: String },
    #[error("cannot decode the daemon's answer: {0}")]
    Decode(String),
}

#[derive(Clone)]
enum Target {
    Unix(PathBuf),
    Tcp(String),
    Tls(
        String,
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    ),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Unix(p) => write!(f, "unix://{}", p.display()),
            Target::Tcp(a) => write!(f, "tcp://{a}"),
            Target::Tls(a, _, _) => write!(f, "tcp://{a} (TLS)"),
        }
    }
}

/// Docker's ports when a TCP host names none.
const TLS_PORT: u16 = 2376;
const PLAIN_PORT: u16 = 2375;

/// `HOST[:PORT]` with the default port filled in; an IPv6 address needs brackets for a port.
fn tcp_address(addr: &str, tls: bool) -> Option<String> {
    let addr = addr.trim_end_matches('/');
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{h}]"), port)
    } else if addr.matches(':').count() > 1 {
        (format!("[{addr}]"), None)
    } else if let Some((h, p)) = addr.split_once(':') {
        (h.to_string(), Some(p))
    } else {
        (addr.to_string(), None)
    };
    let host = if host.is_empty() {
        "localhost".to_string()
    } else {
        host
    };
    let port: u16 = match port {
        None | Some("") => {
            if tls {
                TLS_PORT
            } else {
                PLAIN_PORT
            }
        }
        Some(p) => p.parse().ok()?,
    };
    Some(format!("{host}:{port}"))
}

#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    target: Target,
}

impl Client {
    /// A client for `url`; with `tls`, TCP hosts are reached over TLS.
    pub fn new(url: &str, tls: Option<&crate::tls::TlsOptions>) -> Result<Client, ClientError> {
        let target = if let Some(p) = url.strip_prefix("unix://") {
            Target::Unix(PathBuf::from(p))
        } else if url.starts_with('/') {
            Target::Unix(PathBuf::from(url))
        } else {
            // Docker reads a bare `HOST:PORT` as TCP.
            let rest = match url.split_once("://") {
                Some(("tcp", rest)) => rest,
                Some(_) => return Err(ClientError::BadHost(url.to_string())),
                None => url,
            };
            let addr = tcp_address(rest, tls.is_some())
                .ok_or_else(|| ClientError::BadHost(url.to_string()))?;
            match tls {
                None => Target::Tcp(addr),
                Some(opts) => {
                    let name = crate::tls::server_name(&addr)?;
                    let cfg = crate::tls::client_config(opts)?;
                    Target::Tls(addr, tokio_rustls::TlsConnector::from(cfg), name)
                }
            }
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
                let _ = s.set_nodelay(true);
                send(TokioIo::new(s), req, upgrade).await
            }
            Target::Tls(a, connector, name) => {
                let s = tokio::net::TcpStream::connect(a).await.map_err(connect)?;
                let _ = s.set_nodelay(true);
                let s = connector.connect(name.clone(), s).await.map_err(|source| {
                    ClientError::Handshake {
                        host: self.url.clone(),
                        source,
                    }
                })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_hosts_as_docker_reads_them() {
        for (addr, tls, want) in [
            ("10.0.0.1", true, "10.0.0.1:2376"),
            ("10.0.0.1", false, "10.0.0.1:2375"),
            ("10.0.0.1:99", true, "10.0.0.1:99"),
            ("host.example", true, "host.example:2376"),
            ("[::1]:7", false, "[::1]:7"),
            ("[::1]", true, "[::1]:2376"),
            ("::1", true, "[::1]:2376"),
            (":2375", false, "localhost:2375"),
            ("10.0.0.1:2375/", false, "10.0.0.1:2375"),
        ] {
            assert_eq!(tcp_address(addr, tls).as_deref(), Some(want), "{addr}");
        }
        assert!(tcp_address("1.2.3.4:notaport", false).is_none());
        assert!(Client::new("http://x", None).is_err());
        assert!(Client::new("1.2.3.4:2375", None).is_ok());
    }
}

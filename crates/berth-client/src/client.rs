//! A minimal Docker Engine API client over a unix socket, plain TCP or TLS.

use crate::body::RequestBody;
use berth_api::{ErrorResponse, API_VERSION};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
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
    #[error("invalid HTTP method {0:?}")]
    BadMethod(String),
    #[error("the daemon did not answer within {0:?}")]
    Timeout(std::time::Duration),
}

/// An answer as it came: status, headers (names lowercased), whole body.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
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

    /// The address this client was made for, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn http_error(&self, e: &dyn std::fmt::Display) -> ClientError {
        ClientError::Http {
            host: self.url.clone(),
            message: e.to_string(),
        }
    }

    /// Connects and sends `req`, returning the response once its status is in. With
    /// `upgrade` the connection may be taken over.
    async fn send_one(
        &self,
        req: Request<UnsyncBoxBody<Bytes, std::io::Error>>,
        upgrade: bool,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let connect = |source| ClientError::Connect {
            host: self.url.clone(),
            source,
        };
        match &self.target {
            Target::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p).await.map_err(connect)?;
                send(TokioIo::new(s), req, upgrade).await
            }
            Target::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a).await.map_err(connect)?;
                no_delay(&s);
                send(TokioIo::new(s), req, upgrade).await
            }
            Target::Tls(a, connector, name) => {
                let s = tokio::net::TcpStream::connect(a).await.map_err(connect)?;
                no_delay(&s);
                let s = connector.connect(name.clone(), s).await.map_err(|source| {
                    ClientError::Handshake {
                        host: self.url.clone(),
                        source,
                    }
                })?;
                send(TokioIo::new(s), req, upgrade).await
            }
        }
        .map_err(|e| self.http_error(&e))
    }

    /// A request to the versioned `path`, as the CLI sends it.
    fn versioned(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
        upgrade: bool,
    ) -> Result<Request<UnsyncBoxBody<Bytes, std::io::Error>>, ClientError> {
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
        if let Some(t) = body.content_type() {
            req = req.header("Content-Type", t);
        }
        req.body(body.into_hyper()).map_err(|e| self.http_error(&e))
    }

    /// Connects, sends one request, and returns the response once its status is in; an error
    /// status becomes [`ClientError::Daemon`]. With `upgrade` the connection may be taken over.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
        upgrade: bool,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let req = self.versioned(method, path, body, upgrade)?;
        let resp = self.send_one(req, upgrade).await?;
        let status = resp.status();
        if status.is_client_error() || status.is_server_error() {
            let bytes = self.collect(resp).await?;
            return Err(daemon_error(status, &bytes));
        }
        Ok(resp)
    }

    async fn collect(
        &self,
        resp: hyper::Response<hyper::body::Incoming>,
    ) -> Result<Bytes, ClientError> {
        Ok(resp
            .into_body()
            .collect()
            .await
            .map_err(|e| self.http_error(&e))?
            .to_bytes())
    }

    /// One request exactly as given: `path` is sent as it is (no version prefix), a JSON
    /// content type goes with every request as curl-style tests send it, and the answer is
    /// returned whatever its status.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<RawResponse, ClientError> {
        self.raw_body(method, path, RequestBody::Json(body.unwrap_or_default()))
            .await
    }

    /// [`Client::raw`] with any body (a streamed one carries its own content type).
    pub async fn raw_body(
        &self,
        method: &str,
        path: &str,
        body: RequestBody,
    ) -> Result<RawResponse, ClientError> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| ClientError::BadMethod(method.to_string()))?;
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("Host", "berth")
            .header(
                "Content-Type",
                body.content_type().unwrap_or("application/json"),
            )
            .body(body.into_hyper())
            .map_err(|e| self.http_error(&e))?;
        let resp = self.send_one(req, false).await?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = self.collect(resp).await?;
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }

    /// Sends one request and returns once the daemon has answered with its status, leaving
    /// the body to [`Client::body_json`]: Docker's `wait` answers at once and sends the
    /// exit code when it comes, so a waiter is known to be in place before a start.
    pub async fn open(
        &self,
        method: Method,
        path: &str,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        self.exchange(method, path, RequestBody::Empty, false).await
    }

    /// The JSON body of a response from [`Client::open`].
    pub async fn body_json<T: serde::de::DeserializeOwned>(
        &self,
        resp: hyper::Response<hyper::body::Incoming>,
    ) -> Result<T, ClientError> {
        let bytes = self.collect(resp).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Sends one request; an error status becomes [`ClientError::Daemon`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, ClientError> {
        self.send_body(method, path, body.into()).await
    }

    /// Sends one request with any body (a file or standard input streams as it is read);
    /// an error status becomes [`ClientError::Daemon`].
    pub async fn send_body(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
    ) -> Result<Bytes, ClientError> {
        let resp = self.exchange(method, path, body, false).await?;
        self.collect(resp).await
    }

    /// Sends a request that takes the connection over (`Upgrade: tcp`), as Docker's attach and
    /// exec start do; returns the raw two-way stream once the daemon agrees (101).
    pub async fn hijack(
        &self,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::upgrade::Upgraded, ClientError> {
        let resp = self.exchange(Method::POST, path, body.into(), true).await?;
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

/// Small requests and interactive streams: no Nagle delay. Failing to set it costs only
/// latency, so it is logged nowhere and ignored.
fn no_delay(s: &tokio::net::TcpStream) {
    let _ = s.set_nodelay(true);
}

async fn send<IO>(
    io: IO,
    req: Request<UnsyncBoxBody<Bytes, std::io::Error>>,
    upgrade: bool,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        // A connection error after the response head reaches the caller through the body
        // (or the upgraded stream), so here it has nothing more to tell.
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

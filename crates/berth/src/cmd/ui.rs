//! `berth ui [--listen 127.0.0.1:PORT]`: a page on loopback that shows the topology live and
//! runs the reachability check from a form. The page, its script and style are embedded in the
//! binary and it asks nothing of any other machine. This small HTTP server passes `/api/…` on to
//! the daemon's `/berth/` API (the browser cannot reach berthd's unix socket): the topology,
//! the check, the SVG drawn by `network graph`, and the daemon's server-sent topology stream.

use crate::client::Client;
use crate::Failure;
use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const INDEX: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/style.css");

#[derive(Debug, Args)]
pub struct UiArgs {
    /// Address to serve the page on (port 0: any free port). Loopback unless you say otherwise.
    #[arg(long, default_value = "127.0.0.1:7480")]
    pub listen: String,
}

pub async fn ui(client: &Client, a: UiArgs) -> Result<(), Failure> {
    let addr: SocketAddr = a.listen.parse().map_err(|_| Failure {
        message: Some(format!(
            "invalid --listen {}: use IP:PORT, such as 127.0.0.1:7480",
            a.listen
        )),
        code: 2,
    })?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: serving on {addr}, which is not a loopback address: anyone who reaches it can read the topology and run checks"
        );
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::msg(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::msg(format!("cannot read the listening address: {e}")))?;
    println!("berth ui: serving on http://{local}/ (ctrl-c to stop)");
    loop {
        let (sock, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("berth ui: accept: {e}");
                continue;
            }
        };
        let client = client.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(sock, client, local).await {
                // A browser closing a stream or a connection is routine.
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    eprintln!("berth ui: {e}");
                }
            }
        });
    }
}

/// The request line and headers, up to the blank line.
async fn read_head(sock: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 64 * 1024 {
            return Ok(None);
        }
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

async fn reply(
    sock: &mut TcpStream,
    status: &str,
    ctype: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nContent-Security-Policy: default-src 'self'; img-src 'self' data:; style-src 'self'\r\nConnection: close\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body).await?;
    sock.shutdown().await
}

fn json_error(message: &str) -> Vec<u8> {
    let body = berth_api::ErrorResponse {
        message: message.to_string(),
    };
    // One string field: encoding cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

async fn serve(mut sock: TcpStream, client: Client, local: SocketAddr) -> std::io::Result<()> {
    let Some(head) = read_head(&mut sock).await? else {
        return Ok(());
    };
    let mut lines = head.lines();
    let request = lines.next().unwrap_or_default();
    let mut parts = request.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or("/"),
    );
    // A page on another site must not drive this server through the browser (DNS rebinding):
    // only requests addressed to this server by its own address or `localhost` are served.
    let host = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let allowed = [local.to_string(), format!("localhost:{}", local.port())];
    if !allowed.contains(&host) {
        return reply(
            &mut sock,
            "403 Forbidden",
            "application/json",
            &json_error(&format!("unexpected Host header {host:?}")),
        )
        .await;
    }
    if method != "GET" {
        return reply(
            &mut sock,
            "405 Method Not Allowed",
            "application/json",
            &json_error("only GET is served"),
        )
        .await;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/" | "/index.html" => {
            reply(
                &mut sock,
                "200 OK",
                "text/html; charset=utf-8",
                INDEX.as_bytes(),
            )
            .await
        }
        "/app.js" => {
            reply(
                &mut sock,
                "200 OK",
                "text/javascript; charset=utf-8",
                SCRIPT.as_bytes(),
            )
            .await
        }
        "/style.css" => {
            reply(
                &mut sock,
                "200 OK",
                "text/css; charset=utf-8",
                STYLE.as_bytes(),
            )
            .await
        }
        "/api/topology" => proxy(&mut sock, &client, "/berth/topology").await,
        "/api/check" => proxy(&mut sock, &client, &format!("/berth/check?{query}")).await,
        "/api/graph.svg" => match client
            .get_json::<berth_api::topology::Topo>("/berth/topology")
            .await
        {
            Ok(t) => {
                reply(
                    &mut sock,
                    "200 OK",
                    "image/svg+xml",
                    berth_api::topology::svg(&t).as_bytes(),
                )
                .await
            }
            Err(e) => {
                reply(
                    &mut sock,
                    "502 Bad Gateway",
                    "application/json",
                    &json_error(&e.to_string()),
                )
                .await
            }
        },
        "/api/events" => events(&mut sock, &client).await,
        _ => {
            reply(
                &mut sock,
                "404 Not Found",
                "application/json",
                &json_error(&format!("no page {path}")),
            )
            .await
        }
    }
}

/// Passes one GET on to the daemon; its error status and message come back as they are.
async fn proxy(sock: &mut TcpStream, client: &Client, path: &str) -> std::io::Result<()> {
    match client.request(Method::GET, path, None).await {
        Ok(body) => reply(sock, "200 OK", "application/json", &body).await,
        Err(crate::client::ClientError::Daemon { status, message }) => {
            let line = format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            );
            reply(sock, &line, "application/json", &json_error(&message)).await
        }
        Err(e) => {
            reply(
                sock,
                "502 Bad Gateway",
                "application/json",
                &json_error(&e.to_string()),
            )
            .await
        }
    }
}

/// The daemon's topology stream, copied to the browser as it comes.
async fn events(sock: &mut TcpStream, client: &Client) -> std::io::Result<()> {
    let resp = match client.open(Method::GET, "/berth/topology/stream").await {
        Ok(r) => r,
        Err(e) => {
            return reply(
                sock,
                "502 Bad Gateway",
                "application/json",
                &json_error(&e.to_string()),
            )
            .await
        }
    };
    sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n")
        .await?;
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(std::io::Error::other)?;
        if let Some(data) = frame.data_ref() {
            sock.write_all(data).await?;
            sock.flush().await?;
        }
    }
    Ok(())
}

//! The embedded resolver: one UDP socket and one TCP listener inside each sandbox that is on a
//! user-defined network, all served by the daemon's runtime from one shared set of records.

use super::answer::{self, Reply};
use super::forward;
use super::records::{Records, Upstream};
use hickory_proto::op::Message;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Upstream queries in flight at once, over all sandboxes; beyond it clients get SERVFAIL at once.
const MAX_FORWARDS: usize = 1024;
/// A TCP client that says nothing for this long is dropped.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// State every listener task shares.
pub struct Shared {
    records: RwLock<Records>,
    /// Bumped on every change of the records: listeners drop their cached replies.
    generation: AtomicU64,
    /// The daemon's upstream servers (daemon.json `dns`, else its own resolv.conf).
    default_upstreams: Vec<SocketAddr>,
    forwards: Semaphore,
}

impl Shared {
    fn records(&self) -> std::sync::RwLockReadGuard<'_, Records> {
        self.records.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// The resolver: records plus the listener tasks of each sandbox.
pub struct Resolver {
    shared: Arc<Shared>,
    listeners: std::sync::Mutex<HashMap<String, Vec<JoinHandle<()>>>>,
}

impl Resolver {
    pub fn new(default_upstreams: Vec<SocketAddr>) -> Resolver {
        Resolver {
            shared: Arc::new(Shared {
                records: RwLock::new(Records::default()),
                generation: AtomicU64::new(0),
                default_upstreams,
                forwards: Semaphore::new(MAX_FORWARDS),
            }),
            listeners: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Changes the records; the next query sees the change.
    pub fn update<T>(&self, f: impl FnOnce(&mut Records) -> T) -> T {
        let mut r = self
            .shared
            .records
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let out = f(&mut r);
        self.shared.generation.fetch_add(1, Ordering::Release);
        out
    }

    pub fn is_serving(&self, sandbox_id: &str) -> bool {
        self.lock().contains_key(sandbox_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<JoinHandle<()>>>> {
        self.listeners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts serving a sandbox on sockets already opened inside its namespace.
    pub fn serve(
        &self,
        sandbox_id: &str,
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
    ) -> std::io::Result<()> {
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        let udp = Arc::new(UdpSocket::from_std(udp)?);
        let tcp = TcpListener::from_std(tcp)?;
        let sb: Arc<str> = sandbox_id.into();
        // Two readers on one socket: under load both worker threads answer at once.
        let tasks = vec![
            tokio::spawn(serve_udp(self.shared.clone(), sb.clone(), udp.clone())),
            tokio::spawn(serve_udp(self.shared.clone(), sb.clone(), udp)),
            tokio::spawn(serve_tcp(self.shared.clone(), sb, tcp)),
        ];
        if let Some(old) = self.lock().insert(sandbox_id.to_string(), tasks) {
            old.iter().for_each(JoinHandle::abort);
        }
        Ok(())
    }

    /// Stops serving a sandbox and forgets its records.
    pub fn stop(&self, sandbox_id: &str) {
        if let Some(tasks) = self.lock().remove(sandbox_id) {
            tasks.iter().for_each(JoinHandle::abort);
        }
        self.update(|r| r.remove_sandbox(sandbox_id));
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        for tasks in self.lock().values() {
            tasks.iter().for_each(JoinHandle::abort);
        }
    }
}

/// Replies cached per listener task, keyed by the query without its ID: a repeated question
/// costs a hash lookup instead of a parse and an encode.
const CACHE_ENTRIES: usize = 4096;

async fn serve_udp(shared: Arc<Shared>, sb: Arc<str>, sock: Arc<UdpSocket>) {
    let mut buf = vec![0u8; 4096];
    let mut cache: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut generation = u64::MAX;
    let mut out = Vec::with_capacity(512);
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP errors from earlier sends surface here on some kernels; keep serving.
                tracing::debug!(sandbox = %sb, error = %e, "dns recv");
                continue;
            }
        };
        let packet = &buf[..n];
        let now = shared.generation.load(Ordering::Acquire);
        if now != generation || cache.len() >= CACHE_ENTRIES {
            cache.clear();
            generation = now;
        }
        if n > 12 {
            if let Some(reply) = cache.get(&packet[2..]) {
                out.clear();
                out.extend_from_slice(&packet[..2]);
                out.extend_from_slice(reply);
                let _ = sock.send_to(&out, peer).await;
                continue;
            }
        }
        let reply = answer::answer(&shared.records(), &sb, packet, true);
        match reply {
            Reply::Local(bytes) => {
                let _ = sock.send_to(&bytes, peer).await;
                if n > 12 && bytes.len() > 2 {
                    cache.insert(packet[2..].to_vec(), bytes[2..].to_vec());
                }
            }
            Reply::Drop => {}
            Reply::Forward(req) => {
                let packet = packet.to_vec();
                let (shared, sb, sock) = (shared.clone(), sb.clone(), sock.clone());
                tokio::spawn(async move {
                    if let Some(bytes) = resolve_upstream(&shared, &sb, &req, &packet, false).await
                    {
                        if let Some(bytes) = answer::fit_for_udp(&req, bytes) {
                            let _ = sock.send_to(&bytes, peer).await;
                        }
                    }
                });
            }
        }
    }
}

/// Forwards a query the records cannot answer; SERVFAIL when nobody upstream answers, so
/// clients never wait for a reply that will not come.
async fn resolve_upstream(
    shared: &Shared,
    sb: &str,
    req: &Message,
    packet: &[u8],
    over_tcp: bool,
) -> Option<Vec<u8>> {
    let servers = match shared.records().upstream(sb, &shared.default_upstreams) {
        Upstream::Servers(s) if !s.is_empty() => s,
        _ => return answer::servfail(req),
    };
    let Ok(_permit) = shared.forwards.try_acquire() else {
        tracing::debug!(sandbox = %sb, "too many upstream queries in flight");
        return answer::servfail(req);
    };
    match forward::forward(&servers, packet, over_tcp).await {
        Some(r) => Some(r),
        None => answer::servfail(req),
    }
}

async fn serve_tcp(shared: Arc<Shared>, sb: Arc<str>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(tcp_client(shared.clone(), sb.clone(), stream));
            }
            Err(e) => {
                tracing::debug!(sandbox = %sb, error = %e, "dns accept");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn tcp_client(shared: Arc<Shared>, sb: Arc<str>, mut stream: TcpStream) {
    loop {
        let packet = match tokio::time::timeout(TCP_IDLE, forward::read_frame(&mut stream)).await {
            Ok(Ok(p)) => p,
            _ => return,
        };
        let reply = answer::answer(&shared.records(), &sb, &packet, false);
        let bytes = match reply {
            Reply::Local(b) => Some(b),
            Reply::Drop => return,
            Reply::Forward(req) => resolve_upstream(&shared, &sb, &req, &packet, true).await,
        };
        let Some(bytes) = bytes else { return };
        if forward::write_frame(&mut stream, &bytes).await.is_err() {
            return;
        }
    }
}

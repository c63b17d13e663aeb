//! The etcd v3 store, through the etcd-client crate. Every call is bounded by a timeout so that
//! an unreachable cluster fails an operation at once with "cluster store unavailable".

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client as ec;
use tokio::sync::mpsc;
use tracing::debug;

use crate::config::ClusterConfig;
use crate::error::{ClusterError, Result};
use crate::store::{
    ClusterStore, Compare, CompareOp, CompareTarget, GetResult, KeyRange, KeyValue, LeaseId,
    Revision, Txn, TxnOp, TxnResult, WatchEvent, WatchMessage, WatchStream,
};

/// How long one request may take before etcd counts as unreachable. An etcd that has a leader
/// answers in milliseconds; a leader election takes about a second.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// One client per member rather than etcd-client's balanced channel: the balancer keeps sending
/// requests to a member that died ("tcp connect error"), while berth must go on with the other
/// two. Requests go to the member that answered last and fail over to the next on errors that
/// prove the request was not applied (no connection, no leader).
#[derive(Clone)]
pub struct EtcdStore {
    members: Arc<Vec<(String, ec::Client)>>,
    current: Arc<AtomicUsize>,
}

impl EtcdStore {
    /// Connects lazily: an unreachable cluster is reported by the first operation, not here.
    pub async fn connect(cfg: &ClusterConfig) -> Result<EtcdStore> {
        let mut opts = ec::ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT)
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3))
            // A member cut off from the quorum refuses at once rather than hang.
            .with_require_leader(true);
        if let Some(tls) = &cfg.tls {
            opts = opts.with_tls(tls_options(tls)?);
        }
        let mut members = Vec::new();
        for url in cfg.endpoint_urls() {
            let client = tokio::time::timeout(
                CONNECT_TIMEOUT,
                ec::Client::connect([url.clone()], Some(opts.clone())),
            )
            .await
            .map_err(|_| ClusterError::Unavailable(format!("no answer from {url} in time")))?
            .map_err(|e| map_err(&url, e))?;
            members.push((url, client));
        }
        if members.is_empty() {
            return Err(ClusterError::Invalid("no etcd endpoint given".into()));
        }
        Ok(EtcdStore {
            members: Arc::new(members),
            current: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Connects to plain-HTTP endpoints ("127.0.0.1:2379"), for tests and tools.
    pub async fn connect_endpoints(endpoints: &[String]) -> Result<EtcdStore> {
        let cfg = ClusterConfig {
            endpoints: endpoints.to_vec(),
            ..ClusterConfig::default()
        };
        EtcdStore::connect(&cfg).await
    }

    /// Compacts history up to `rev` (tests of watch recovery; operators use etcdctl).
    pub async fn compact(&self, rev: Revision) -> Result<()> {
        self.call(|mut c| async move {
            c.compact(rev, Some(ec::CompactionOptions::new().with_physical()))
                .await
        })
        .await?;
        Ok(())
    }

    /// Runs `op` on the current member, failing over to the others while they answer
    /// "unavailable", all within REQUEST_TIMEOUT.
    async fn call<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: Fn(ec::Client) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, ec::Error>>,
    {
        let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
        let n = self.members.len();
        let first = self.current.load(Ordering::Relaxed);
        let mut last: Option<ClusterError> = None;
        let mut election = false;
        for i in 0.. {
            let idx = (first + i) % n;
            let (url, client) = &self.members[idx];
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match tokio::time::timeout(left, op(client.clone())).await {
                Ok(Ok(v)) => {
                    self.current.store(idx, Ordering::Relaxed);
                    return Ok(v);
                }
                Ok(Err(e)) => match map_err(url, e) {
                    // etcd's "request timed out" comes after the proposal: it may have been
                    // applied, so it is not sent again.
                    ClusterError::Unavailable(m) if m.contains("timed out") => {
                        return Err(ClusterError::Unavailable(m))
                    }
                    ClusterError::Unavailable(m) => {
                        debug!(member = %url, error = %m, "etcd member unavailable; trying the next");
                        election |= m.contains("leader");
                        last = Some(ClusterError::Unavailable(m));
                    }
                    e => return Err(e),
                },
                // Timed out: the request may have been applied, so it is not sent again.
                Err(_) => {
                    return Err(ClusterError::Unavailable(format!(
                        "{url} did not answer within {REQUEST_TIMEOUT:?}"
                    )))
                }
            }
            if (i + 1) % n == 0 {
                // Every member refused. Unreachable everywhere: fail now. A member answered
                // "no leader": an election is on, which takes about a second; wait it out.
                if !election {
                    break;
                }
                election = false;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Err(last.unwrap_or_else(|| {
            ClusterError::Unavailable(format!(
                "no etcd member answered within {REQUEST_TIMEOUT:?}"
            ))
        }))
    }
}

fn tls_options(tls: &crate::config::TlsFiles) -> Result<ec::TlsOptions> {
    let read = |what: &str, p: &std::path::Path| {
        std::fs::read(p)
            .map_err(|e| ClusterError::Invalid(format!("cannot read {what} {}: {e}", p.display())))
    };
    let mut o = ec::TlsOptions::new();
    if let Some(ca) = &tls.ca_cert {
        o = o.ca_certificate(ec::Certificate::from_pem(read("kv.cacertfile", ca)?));
    }
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        o = o.identity(ec::Identity::from_pem(
            read("kv.certfile", cert)?,
            read("kv.keyfile", key)?,
        ));
    }
    Ok(o)
}

/// gRPC codes meaning "not now": 4 deadline exceeded, 14 unavailable (no connection, no leader).
const GRPC_DEADLINE_EXCEEDED: i32 = 4;
const GRPC_UNAVAILABLE: i32 = 14;

/// Reachability problems become `Unavailable`; etcd's own refusals stay store errors.
fn map_err(eps: &str, e: ec::Error) -> ClusterError {
    match e {
        ec::Error::TransportError(e) => ClusterError::Unavailable(format!("{eps}: {e}")),
        ec::Error::IoError(e) => ClusterError::Unavailable(format!("{eps}: {e}")),
        ec::Error::GRpcStatus(s) => {
            let code = i32::from(s.code());
            if code == GRPC_UNAVAILABLE || code == GRPC_DEADLINE_EXCEEDED {
                ClusterError::Unavailable(format!("{eps}: {}", s.message()))
            } else {
                ClusterError::Store(s.message().to_string())
            }
        }
        e => ClusterError::Store(e.to_string()),
    }
}

fn kv_of(kv: &ec::KeyValue) -> KeyValue {
    KeyValue {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        lease: kv.lease(),
    }
}

fn get_options(range: &KeyRange, keys_only: bool) -> (String, ec::GetOptions) {
    let mut o = ec::GetOptions::new();
    if keys_only {
        o = o.with_keys_only();
    }
    match range {
        KeyRange::Key(k) => (k.clone(), o),
        KeyRange::Prefix(p) => (p.clone(), o.with_prefix()),
    }
}

fn delete_options(range: &KeyRange) -> (String, ec::DeleteOptions) {
    match range {
        KeyRange::Key(k) => (k.clone(), ec::DeleteOptions::new()),
        KeyRange::Prefix(p) => (p.clone(), ec::DeleteOptions::new().with_prefix()),
    }
}

fn compare_of(c: &Compare) -> ec::Compare {
    let op = match c.op {
        CompareOp::Equal => ec::CompareOp::Equal,
        CompareOp::NotEqual => ec::CompareOp::NotEqual,
        CompareOp::Greater => ec::CompareOp::Greater,
        CompareOp::Less => ec::CompareOp::Less,
    };
    let (key, prefix) = match &c.range {
        KeyRange::Key(k) => (k.clone(), false),
        KeyRange::Prefix(p) => (p.clone(), true),
    };
    let cmp = match &c.target {
        CompareTarget::Version(v) => ec::Compare::version(key, op, *v),
        CompareTarget::CreateRevision(r) => ec::Compare::create_revision(key, op, *r),
        CompareTarget::ModRevision(r) => ec::Compare::mod_revision(key, op, *r),
        CompareTarget::Value(v) => ec::Compare::value(key, op, v.clone()),
    };
    if prefix {
        cmp.with_prefix()
    } else {
        cmp
    }
}

fn op_of(op: &TxnOp) -> ec::TxnOp {
    match op {
        TxnOp::Put { key, value, lease } => {
            let o = lease.map(|l| ec::PutOptions::new().with_lease(l));
            ec::TxnOp::put(key.clone(), value.clone(), o)
        }
        TxnOp::Delete(r) => {
            let (k, o) = delete_options(r);
            ec::TxnOp::delete(k, Some(o))
        }
        TxnOp::Get(r) => {
            let (k, o) = get_options(r, false);
            ec::TxnOp::get(k, Some(o))
        }
    }
}

fn revision_of(h: Option<&ec::ResponseHeader>) -> Revision {
    h.map(|h| h.revision()).unwrap_or(0)
}

#[async_trait]
impl ClusterStore for EtcdStore {
    async fn get(&self, range: KeyRange) -> Result<GetResult> {
        let (k, o) = get_options(&range, false);
        let r = self
            .call(|mut c| {
                let (k, o) = (k.clone(), o.clone());
                async move { c.get(k, Some(o)).await }
            })
            .await?;
        Ok(GetResult {
            kvs: r.kvs().iter().map(kv_of).collect(),
            revision: revision_of(r.header()),
        })
    }

    async fn get_keys(&self, range: KeyRange) -> Result<GetResult> {
        let (k, o) = get_options(&range, true);
        let r = self
            .call(|mut c| {
                let (k, o) = (k.clone(), o.clone());
                async move { c.get(k, Some(o)).await }
            })
            .await?;
        Ok(GetResult {
            kvs: r.kvs().iter().map(kv_of).collect(),
            revision: revision_of(r.header()),
        })
    }

    async fn put(&self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<Revision> {
        let o = lease.map(|l| ec::PutOptions::new().with_lease(l));
        let r = self
            .call(|mut c| {
                let (o, v) = (o.clone(), value.clone());
                async move { c.put(key, v, o).await }
            })
            .await?;
        Ok(revision_of(r.header()))
    }

    async fn delete(&self, range: KeyRange) -> Result<i64> {
        let (k, o) = delete_options(&range);
        let r = self
            .call(|mut c| {
                let (k, o) = (k.clone(), o.clone());
                async move { c.delete(k, Some(o)).await }
            })
            .await?;
        Ok(r.deleted())
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResult> {
        let t = ec::Txn::new()
            .when(txn.when.iter().map(compare_of).collect::<Vec<_>>())
            .and_then(txn.then.iter().map(op_of).collect::<Vec<_>>())
            .or_else(txn.otherwise.iter().map(op_of).collect::<Vec<_>>());
        let r = self
            .call(|mut c| {
                let t = t.clone();
                async move { c.txn(t).await }
            })
            .await?;
        let gets = r
            .op_responses()
            .into_iter()
            .filter_map(|op| match op {
                ec::TxnOpResponse::Get(g) => Some(g.kvs().iter().map(kv_of).collect()),
                _ => None,
            })
            .collect();
        Ok(TxnResult {
            succeeded: r.succeeded(),
            revision: revision_of(r.header()),
            gets,
        })
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream> {
        let mut o = ec::WatchOptions::new().with_prefix().with_prev_key();
        if from > 0 {
            o = o.with_start_revision(from);
        }
        let stream = self
            .call(|mut c| {
                let o = o.clone();
                async move { c.watch(prefix, Some(o)).await }
            })
            .await?;
        let (tx, rx) = mpsc::channel(256);
        let member = self.members[self.current.load(Ordering::Relaxed) % self.members.len()]
            .0
            .clone();
        tokio::spawn(pump_watch(stream, tx, member));
        Ok(WatchStream { rx })
    }

    async fn lease_grant(&self, ttl_secs: i64) -> Result<LeaseId> {
        let r = self
            .call(|mut c| async move { c.lease_grant(ttl_secs, None).await })
            .await?;
        Ok(r.id())
    }

    async fn lease_keepalive(&self, lease: LeaseId) -> Result<i64> {
        self.call(|mut c| async move {
            let (mut keeper, mut stream) = c.lease_keep_alive(lease).await?;
            keeper.keep_alive().await?;
            Ok(stream.message().await?.map(|m| m.ttl()).unwrap_or(0))
        })
        .await
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        match self
            .call(|mut c| async move { c.lease_revoke(lease).await })
            .await
        {
            Ok(_) => Ok(()),
            Err(ClusterError::Store(m)) if m.contains("lease not found") => {
                Err(ClusterError::NotFound(m))
            }
            Err(e) => Err(e),
        }
    }
}

/// Moves etcd's watch responses into berth's channel until either side goes away. The etcd
/// watcher is dropped with this task, which cancels the watch on the server.
async fn pump_watch(
    mut stream: ec::WatchStream,
    tx: mpsc::Sender<Result<WatchMessage>>,
    member: String,
) {
    loop {
        let msg = tokio::select! {
            m = stream.message() => m,
            _ = tx.closed() => return,
        };
        let out = match msg {
            Ok(Some(resp)) => {
                if resp.compact_revision() > 0 {
                    let _ = tx
                        .send(Ok(WatchMessage::Compacted {
                            compact_revision: resp.compact_revision(),
                        }))
                        .await;
                    return;
                }
                if resp.canceled() {
                    let _ = tx
                        .send(Err(ClusterError::Unavailable(format!(
                            "watch canceled by etcd: {}",
                            resp.cancel_reason()
                        ))))
                        .await;
                    return;
                }
                let events: Vec<WatchEvent> = resp
                    .events()
                    .iter()
                    .filter_map(|ev| {
                        let kv = ev.kv()?;
                        Some(match ev.event_type() {
                            ec::EventType::Put => WatchEvent::Put(kv_of(kv)),
                            ec::EventType::Delete => {
                                let mut d = kv_of(kv);
                                if let Some(prev) = ev.prev_kv() {
                                    d.value = prev.value().to_vec();
                                    d.lease = prev.lease();
                                }
                                WatchEvent::Delete(d)
                            }
                        })
                    })
                    .collect();
                if events.is_empty() {
                    // The "created" answer and progress notifications carry no change.
                    continue;
                }
                let revision = revision_of(resp.header());
                Ok(WatchMessage::Events { events, revision })
            }
            Ok(None) => {
                debug!("etcd watch stream ended");
                return;
            }
            Err(e) => Err(map_err(&member, e)),
        };
        let failed = out.is_err();
        if tx.send(out).await.is_err() || failed {
            return;
        }
    }
}

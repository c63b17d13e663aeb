//! The cluster store interface: the few etcd v3 operations berth needs, in berth's own types so
//! the logic above can run on the in-memory fake in unit tests.

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::error::Result;

pub type Revision = i64;
pub type LeaseId = i64;

/// One key as stored, with etcd's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    pub version: i64,
    pub lease: LeaseId,
}

/// A read: the keys found and the store revision the read saw.
#[derive(Debug, Clone, Default)]
pub struct GetResult {
    pub kvs: Vec<KeyValue>,
    pub revision: Revision,
}

/// Which keys an operation covers: one key, or every key starting with a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRange {
    Key(String),
    Prefix(String),
}

impl KeyRange {
    pub fn contains(&self, key: &str) -> bool {
        match self {
            KeyRange::Key(k) => k == key,
            KeyRange::Prefix(p) => key.starts_with(p.as_str()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Equal,
    NotEqual,
    Greater,
    Less,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompareTarget {
    Version(i64),
    CreateRevision(Revision),
    ModRevision(Revision),
    Value(Vec<u8>),
}

/// A transaction guard. Over a prefix it holds when every key under it satisfies it; an empty
/// prefix compares as one absent key (revisions and version 0), as etcd does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    pub range: KeyRange,
    pub op: CompareOp,
    pub target: CompareTarget,
}

impl Compare {
    /// The key does not exist.
    pub fn absent(key: impl Into<String>) -> Compare {
        Compare {
            range: KeyRange::Key(key.into()),
            op: CompareOp::Equal,
            target: CompareTarget::CreateRevision(0),
        }
    }
    /// The key exists.
    pub fn present(key: impl Into<String>) -> Compare {
        Compare {
            range: KeyRange::Key(key.into()),
            op: CompareOp::Greater,
            target: CompareTarget::Version(0),
        }
    }
    /// No key exists under the prefix.
    pub fn none_under(prefix: impl Into<String>) -> Compare {
        Compare {
            range: KeyRange::Prefix(prefix.into()),
            op: CompareOp::Equal,
            target: CompareTarget::CreateRevision(0),
        }
    }
    /// The key was last written at exactly this revision (0: it does not exist).
    pub fn mod_revision(key: impl Into<String>, rev: Revision) -> Compare {
        Compare {
            range: KeyRange::Key(key.into()),
            op: CompareOp::Equal,
            target: CompareTarget::ModRevision(rev),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    Put {
        key: String,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    },
    Delete(KeyRange),
    Get(KeyRange),
}

impl TxnOp {
    pub fn put(key: impl Into<String>, value: impl Into<Vec<u8>>, lease: Option<LeaseId>) -> TxnOp {
        TxnOp::Put {
            key: key.into(),
            value: value.into(),
            lease,
        }
    }
    pub fn delete(key: impl Into<String>) -> TxnOp {
        TxnOp::Delete(KeyRange::Key(key.into()))
    }
    pub fn get(key: impl Into<String>) -> TxnOp {
        TxnOp::Get(KeyRange::Key(key.into()))
    }
}

#[derive(Debug, Clone, Default)]
pub struct Txn {
    pub when: Vec<Compare>,
    pub then: Vec<TxnOp>,
    pub otherwise: Vec<TxnOp>,
}

/// What a transaction did. `gets` holds the results of the `Get` ops of the branch that ran,
/// in order; other ops leave no entry.
#[derive(Debug, Clone, Default)]
pub struct TxnResult {
    pub succeeded: bool,
    pub revision: Revision,
    pub gets: Vec<Vec<KeyValue>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    Put(KeyValue),
    /// The key as it was deleted: `mod_revision` is the deletion's revision; `value` is the
    /// last value when the store kept it.
    Delete(KeyValue),
}

impl WatchEvent {
    pub fn kv(&self) -> &KeyValue {
        match self {
            WatchEvent::Put(kv) | WatchEvent::Delete(kv) => kv,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchMessage {
    /// Changes in revision order; `revision` is the store revision the batch is current to.
    Events {
        events: Vec<WatchEvent>,
        revision: Revision,
    },
    /// The start revision was compacted away: the watch is over and the caller must re-list.
    Compacted { compact_revision: Revision },
}

/// The receiving side of a watch. It ends (`None`) or yields an error when the connection to the
/// store is lost; the watch must then be opened again (see `watch::ResumableWatch`).
pub struct WatchStream {
    pub(crate) rx: mpsc::Receiver<Result<WatchMessage>>,
}

impl WatchStream {
    pub async fn next(&mut self) -> Option<Result<WatchMessage>> {
        self.rx.recv().await
    }
}

/// The operations of etcd v3 that berth's cluster logic is built on.
#[async_trait]
pub trait ClusterStore: Send + Sync {
    async fn get(&self, range: KeyRange) -> Result<GetResult>;
    /// Keys only (values left empty): cheaper for listings that only need names.
    async fn get_keys(&self, range: KeyRange) -> Result<GetResult>;
    async fn put(&self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<Revision>;
    /// Returns how many keys went.
    async fn delete(&self, range: KeyRange) -> Result<i64>;
    async fn txn(&self, txn: Txn) -> Result<TxnResult>;
    /// Changes under `prefix` from revision `from` (inclusive) on.
    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream>;
    async fn lease_grant(&self, ttl_secs: i64) -> Result<LeaseId>;
    /// One keepalive round; returns the TTL left, 0 when the lease is gone.
    async fn lease_keepalive(&self, lease: LeaseId) -> Result<i64>;
    async fn lease_revoke(&self, lease: LeaseId) -> Result<()>;
}

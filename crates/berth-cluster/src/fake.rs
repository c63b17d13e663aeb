//! An in-memory store with etcd's semantics for unit tests: revisions, compare over keys and
//! prefixes, leases that expire on (tokio) time, watch from a revision with compaction, and
//! switches to make it unreachable or drop every open watch.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::{ClusterError, Result};
use crate::store::{
    ClusterStore, Compare, CompareOp, CompareTarget, GetResult, KeyRange, KeyValue, LeaseId,
    Revision, Txn, TxnOp, TxnResult, WatchEvent, WatchMessage, WatchStream,
};

struct Lease {
    ttl: i64,
    deadline: Instant,
    keys: HashSet<String>,
}

struct Watcher {
    prefix: String,
    tx: mpsc::Sender<Result<WatchMessage>>,
}

#[derive(Default)]
struct State {
    revision: Revision,
    compacted: Revision,
    kvs: BTreeMap<String, KeyValue>,
    /// Every change, for watches that start in the past.
    history: Vec<(Revision, WatchEvent)>,
    leases: HashMap<LeaseId, Lease>,
    next_lease: LeaseId,
    watchers: Vec<Watcher>,
    unavailable: bool,
}

#[derive(Clone, Default)]
pub struct MemStore {
    state: Arc<Mutex<State>>,
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the state from the others.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens the store for an operation: refuses while unreachable, and lets due leases expire.
    fn open(&self) -> Result<MutexGuard<'_, State>> {
        let mut st = self.lock();
        if st.unavailable {
            return Err(ClusterError::Unavailable(
                "connection refused (fake store switched off)".into(),
            ));
        }
        st.expire_due();
        Ok(st)
    }

    /// While off, every operation fails as etcd being unreachable does, and open watches end.
    pub fn set_available(&self, up: bool) {
        let mut st = self.lock();
        st.unavailable = !up;
        if !up {
            st.watchers.clear();
        }
    }

    /// How many watches are open now (their reader not dropped).
    pub fn open_watches(&self) -> usize {
        let mut st = self.lock();
        st.watchers.retain(|w| !w.tx.is_closed());
        st.watchers.len()
    }

    /// Ends every open watch, as a dropped connection does.
    pub fn drop_watches(&self) {
        self.lock().watchers.clear();
    }

    /// Forgets history up to `rev`; watches starting at or below it are answered `Compacted`.
    pub fn compact(&self, rev: Revision) {
        let mut st = self.lock();
        st.compacted = rev.min(st.revision);
        let c = st.compacted;
        st.history.retain(|(r, _)| *r > c);
    }

    /// Expires a lease at once, as its TTL running out does.
    pub fn expire_lease(&self, lease: LeaseId) {
        let mut st = self.lock();
        st.drop_lease(lease);
    }

    pub fn revision(&self) -> Revision {
        self.lock().revision
    }

    pub fn key_count(&self) -> usize {
        self.lock().kvs.len()
    }
}

impl State {
    fn expire_due(&mut self) {
        let now = Instant::now();
        let due: Vec<LeaseId> = self
            .leases
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.drop_lease(id);
        }
    }

    fn drop_lease(&mut self, id: LeaseId) {
        let Some(lease) = self.leases.remove(&id) else {
            return;
        };
        if lease.keys.is_empty() {
            return;
        }
        self.revision += 1;
        let rev = self.revision;
        let mut events = Vec::new();
        let mut keys: Vec<String> = lease.keys.into_iter().collect();
        keys.sort();
        for k in keys {
            if let Some(ev) = self.remove_key(&k, rev) {
                events.push(ev);
            }
        }
        self.publish(events, rev);
    }

    fn remove_key(&mut self, key: &str, rev: Revision) -> Option<WatchEvent> {
        let mut kv = self.kvs.remove(key)?;
        if kv.lease != 0 {
            if let Some(l) = self.leases.get_mut(&kv.lease) {
                l.keys.remove(key);
            }
        }
        kv.mod_revision = rev;
        let ev = WatchEvent::Delete(kv);
        self.history.push((rev, ev.clone()));
        Some(ev)
    }

    fn put_key(
        &mut self,
        key: &str,
        value: Vec<u8>,
        lease: Option<LeaseId>,
        rev: Revision,
    ) -> Result<WatchEvent> {
        let lease = lease.unwrap_or(0);
        if lease != 0 && !self.leases.contains_key(&lease) {
            return Err(ClusterError::Store(format!(
                "etcdserver: requested lease not found ({lease:x})"
            )));
        }
        let (create_revision, version, old_lease) = match self.kvs.get(key) {
            Some(old) => (old.create_revision, old.version + 1, old.lease),
            None => (rev, 1, 0),
        };
        if old_lease != 0 && old_lease != lease {
            if let Some(l) = self.leases.get_mut(&old_lease) {
                l.keys.remove(key);
            }
        }
        if let Some(l) = self.leases.get_mut(&lease) {
            l.keys.insert(key.to_string());
        }
        let kv = KeyValue {
            key: key.to_string(),
            value,
            create_revision,
            mod_revision: rev,
            version,
            lease,
        };
        self.kvs.insert(key.to_string(), kv.clone());
        let ev = WatchEvent::Put(kv);
        self.history.push((rev, ev.clone()));
        Ok(ev)
    }

    fn range(&self, range: &KeyRange) -> Vec<KeyValue> {
        match range {
            KeyRange::Key(k) => self.kvs.get(k).cloned().into_iter().collect(),
            KeyRange::Prefix(p) => self
                .kvs
                .range(p.clone()..)
                .take_while(|(k, _)| k.starts_with(p.as_str()))
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }

    fn compare(&self, c: &Compare) -> bool {
        let kvs = self.range(&c.range);
        let absent = KeyValue {
            key: String::new(),
            value: Vec::new(),
            create_revision: 0,
            mod_revision: 0,
            version: 0,
            lease: 0,
        };
        if kvs.is_empty() {
            // etcd: a value compare on a missing key is false; the others see zeroes.
            if matches!(c.target, CompareTarget::Value(_)) {
                return false;
            }
            return compare_one(c, &absent);
        }
        kvs.iter().all(|kv| compare_one(c, kv))
    }

    fn publish(&mut self, events: Vec<WatchEvent>, rev: Revision) {
        if events.is_empty() {
            return;
        }
        self.watchers.retain(|w| {
            let mine: Vec<WatchEvent> = events
                .iter()
                .filter(|e| e.kv().key.starts_with(w.prefix.as_str()))
                .cloned()
                .collect();
            if mine.is_empty() {
                return !w.tx.is_closed();
            }
            // A watcher too slow to keep a 4096-message buffer is cut off, as etcd does with
            // slow watchers; it resumes from its last revision.
            w.tx.try_send(Ok(WatchMessage::Events {
                events: mine,
                revision: rev,
            }))
            .is_ok()
        });
    }
}

fn compare_one(c: &Compare, kv: &KeyValue) -> bool {
    use std::cmp::Ordering;
    let ord = match &c.target {
        CompareTarget::Version(v) => kv.version.cmp(v),
        CompareTarget::CreateRevision(r) => kv.create_revision.cmp(r),
        CompareTarget::ModRevision(r) => kv.mod_revision.cmp(r),
        CompareTarget::Value(v) => kv.value.as_slice().cmp(v.as_slice()),
    };
    match c.op {
        CompareOp::Equal => ord == Ordering::Equal,
        CompareOp::NotEqual => ord != Ordering::Equal,
        CompareOp::Greater => ord == Ordering::Greater,
        CompareOp::Less => ord == Ordering::Less,
    }
}

#[async_trait]
impl ClusterStore for MemStore {
    async fn get(&self, range: KeyRange) -> Result<GetResult> {
        let st = self.open()?;
        Ok(GetResult {
            kvs: st.range(&range),
            revision: st.revision,
        })
    }

    async fn get_keys(&self, range: KeyRange) -> Result<GetResult> {
        let mut r = self.get(range).await?;
        for kv in &mut r.kvs {
            kv.value.clear();
        }
        Ok(r)
    }

    async fn put(&self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<Revision> {
        let r = self
            .txn(Txn {
                then: vec![TxnOp::put(key, value, lease)],
                ..Txn::default()
            })
            .await?;
        Ok(r.revision)
    }

    async fn delete(&self, range: KeyRange) -> Result<i64> {
        let mut st = self.open()?;
        let keys: Vec<String> = st.range(&range).into_iter().map(|kv| kv.key).collect();
        if keys.is_empty() {
            return Ok(0);
        }
        st.revision += 1;
        let rev = st.revision;
        let events: Vec<WatchEvent> = keys.iter().filter_map(|k| st.remove_key(k, rev)).collect();
        let n = events.len() as i64;
        st.publish(events, rev);
        Ok(n)
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResult> {
        let mut st = self.open()?;
        let succeeded = txn.when.iter().all(|c| st.compare(c));
        let ops = if succeeded { &txn.then } else { &txn.otherwise };
        // Leases are checked before anything changes: a failed txn changes nothing.
        for op in ops {
            if let TxnOp::Put { lease: Some(l), .. } = op {
                if *l != 0 && !st.leases.contains_key(l) {
                    return Err(ClusterError::Store(format!(
                        "etcdserver: requested lease not found ({l:x})"
                    )));
                }
            }
        }
        let writes = ops.iter().any(|op| !matches!(op, TxnOp::Get(_)));
        let rev = if writes { st.revision + 1 } else { st.revision };
        let mut gets = Vec::new();
        let mut events = Vec::new();
        for op in ops {
            match op {
                TxnOp::Get(r) => gets.push(st.range(r)),
                TxnOp::Put { key, value, lease } => {
                    events.push(st.put_key(key, value.clone(), *lease, rev)?)
                }
                TxnOp::Delete(r) => {
                    let keys: Vec<String> = st.range(r).into_iter().map(|kv| kv.key).collect();
                    for k in keys {
                        if let Some(ev) = st.remove_key(&k, rev) {
                            events.push(ev);
                        }
                    }
                }
            }
        }
        if !events.is_empty() {
            st.revision = rev;
        }
        st.publish(events, rev);
        Ok(TxnResult {
            succeeded,
            revision: st.revision,
            gets,
        })
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream> {
        let mut st = self.open()?;
        let (tx, rx) = mpsc::channel(4096);
        if from > 0 && from <= st.compacted {
            let compact_revision = st.compacted + 1;
            let _ = tx.try_send(Ok(WatchMessage::Compacted { compact_revision }));
            return Ok(WatchStream { rx });
        }
        // Replay history from `from`, grouped by revision as etcd sends it.
        let mut batch: Vec<WatchEvent> = Vec::new();
        let mut batch_rev = 0;
        let past: Vec<(Revision, WatchEvent)> = st
            .history
            .iter()
            .filter(|(r, e)| *r >= from && e.kv().key.starts_with(prefix))
            .cloned()
            .collect();
        for (r, e) in past {
            if r != batch_rev && !batch.is_empty() {
                let _ = tx.try_send(Ok(WatchMessage::Events {
                    events: std::mem::take(&mut batch),
                    revision: batch_rev,
                }));
            }
            batch_rev = r;
            batch.push(e);
        }
        if !batch.is_empty() {
            let _ = tx.try_send(Ok(WatchMessage::Events {
                events: batch,
                revision: batch_rev,
            }));
        }
        st.watchers.push(Watcher {
            prefix: prefix.to_string(),
            tx,
        });
        Ok(WatchStream { rx })
    }

    async fn lease_grant(&self, ttl_secs: i64) -> Result<LeaseId> {
        let mut st = self.open()?;
        st.next_lease += 1;
        let id = 0x1000 + st.next_lease;
        st.leases.insert(
            id,
            Lease {
                ttl: ttl_secs,
                deadline: Instant::now() + Duration::from_secs(ttl_secs.max(1) as u64),
                keys: HashSet::new(),
            },
        );
        Ok(id)
    }

    async fn lease_keepalive(&self, lease: LeaseId) -> Result<i64> {
        let mut st = self.open()?;
        match st.leases.get_mut(&lease) {
            Some(l) => {
                l.deadline = Instant::now() + Duration::from_secs(l.ttl.max(1) as u64);
                Ok(l.ttl)
            }
            None => Ok(0),
        }
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        let mut st = self.open()?;
        if !st.leases.contains_key(&lease) {
            return Err(ClusterError::NotFound(format!(
                "etcdserver: requested lease not found ({lease:x})"
            )));
        }
        st.drop_lease(lease);
        Ok(())
    }
}

impl MemStore {
    /// The TTL a keepalive of `lease` would get now (0: gone), without an error path.
    pub async fn lease_keepalive_for_test(&self, lease: LeaseId) -> i64 {
        self.lease_keepalive(lease).await.unwrap_or(0)
    }
}

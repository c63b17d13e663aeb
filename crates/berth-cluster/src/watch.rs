//! Watches that survive the store: a lost connection resumes from the last revision seen, a
//! compacted history is answered by a full re-list, and keyed watchers turn both into add and
//! remove events with nothing lost or doubled.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tracing::{debug, warn};

use crate::error::Result;
use crate::model::decode;
use crate::store::{
    ClusterStore, GetResult, KeyRange, Revision, WatchEvent, WatchMessage, WatchStream,
};

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub enum WatchUpdate {
    Events(Vec<WatchEvent>),
    /// History was compacted past what this watch had seen: here is the whole prefix instead.
    Resynced(GetResult),
}

pub struct ResumableWatch {
    store: Arc<dyn ClusterStore>,
    prefix: String,
    /// Everything up to and including this revision has been handed out.
    last: Revision,
    stream: Option<WatchStream>,
    relist: bool,
    backoff: Duration,
}

impl ResumableWatch {
    /// Changes under `prefix` after revision `after` (the revision of the caller's listing).
    pub fn new(store: Arc<dyn ClusterStore>, prefix: String, after: Revision) -> ResumableWatch {
        ResumableWatch {
            store,
            prefix,
            last: after,
            stream: None,
            relist: false,
            backoff: BACKOFF_MIN,
        }
    }

    pub fn last_revision(&self) -> Revision {
        self.last
    }

    /// Marks everything up to `rev` as handed out (the caller listed the prefix at `rev`): the
    /// open stream goes on, and any event it still holds from before `rev` is dropped as seen.
    /// Keeping the stream means a periodic re-list costs one range read, not a new watch.
    pub fn advance_to(&mut self, rev: Revision) {
        self.last = self.last.max(rev);
    }

    async fn pause(&mut self) {
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// The next change; waits (retrying with backoff) through any outage of the store.
    pub async fn next(&mut self) -> WatchUpdate {
        loop {
            if self.relist {
                match self.store.get(KeyRange::Prefix(self.prefix.clone())).await {
                    Ok(r) => {
                        self.relist = false;
                        self.last = r.revision;
                        self.backoff = BACKOFF_MIN;
                        return WatchUpdate::Resynced(r);
                    }
                    Err(e) => {
                        warn!(prefix = %self.prefix, error = %e, "re-list after compaction failed; retrying");
                        self.pause().await;
                        continue;
                    }
                }
            }
            let stream = match self.stream.as_mut() {
                Some(s) => s,
                None => match self.store.watch(&self.prefix, self.last + 1).await {
                    Ok(s) => {
                        debug!(prefix = %self.prefix, from = self.last + 1, "watch opened");
                        self.stream.insert(s)
                    }
                    Err(e) => {
                        warn!(prefix = %self.prefix, error = %e, "cannot open watch; retrying");
                        self.pause().await;
                        continue;
                    }
                },
            };
            match stream.next().await {
                Some(Ok(WatchMessage::Events { events, .. })) => {
                    self.backoff = BACKOFF_MIN;
                    // A resumed watch may repeat the revision it resumed at; drop what was seen.
                    let fresh: Vec<WatchEvent> = events
                        .into_iter()
                        .filter(|e| e.kv().mod_revision > self.last)
                        .collect();
                    if let Some(max) = fresh.iter().map(|e| e.kv().mod_revision).max() {
                        self.last = max;
                        return WatchUpdate::Events(fresh);
                    }
                }
                Some(Ok(WatchMessage::Compacted { compact_revision })) => {
                    warn!(prefix = %self.prefix, seen = self.last, compact_revision, "watch history compacted; re-listing");
                    self.stream = None;
                    self.relist = true;
                }
                Some(Err(e)) => {
                    warn!(prefix = %self.prefix, error = %e, "watch broken; resuming");
                    self.stream = None;
                    self.pause().await;
                }
                None => {
                    debug!(prefix = %self.prefix, "watch ended; resuming");
                    self.stream = None;
                    self.pause().await;
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    Added(T),
    Removed(T),
}

type Keep<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

/// The records under a prefix as a live set: yields what was added and removed, filtered by
/// `keep` (e.g. only other nodes' endpoints). A rewrite with the same value yields nothing, so a
/// daemon re-putting its keys under a new lease does not make its endpoints flap elsewhere.
pub struct KeyedWatcher<T> {
    store: Arc<dyn ClusterStore>,
    prefix: String,
    watch: ResumableWatch,
    state: BTreeMap<String, T>,
    keep: Keep<T>,
}

impl<T: DeserializeOwned + Clone + PartialEq> KeyedWatcher<T> {
    /// Lists the prefix (failing at once when the store is unreachable) and starts watching
    /// after that listing. Returns the watcher and the records present now.
    pub async fn start(
        store: Arc<dyn ClusterStore>,
        prefix: String,
        keep: impl Fn(&T) -> bool + Send + Sync + 'static,
    ) -> Result<(KeyedWatcher<T>, Vec<T>)> {
        let listing = store.get(KeyRange::Prefix(prefix.clone())).await?;
        let watch = ResumableWatch::new(store.clone(), prefix.clone(), listing.revision);
        let mut w = KeyedWatcher {
            store,
            prefix,
            watch,
            state: BTreeMap::new(),
            keep: Box::new(keep),
        };
        w.state = w.decode_all(&listing);
        let now = w.state.values().cloned().collect();
        Ok((w, now))
    }

    fn decode_kept(&self, kv: &crate::store::KeyValue) -> Option<T> {
        match decode::<T>(kv) {
            Ok(v) => (self.keep)(&v).then_some(v),
            Err(e) => {
                warn!(error = %e, "skipping a record that does not decode");
                None
            }
        }
    }

    fn decode_all(&self, listing: &GetResult) -> BTreeMap<String, T> {
        listing
            .kvs
            .iter()
            .filter_map(|kv| Some((kv.key.clone(), self.decode_kept(kv)?)))
            .collect()
    }

    /// The store revision `current` reflects: every change up to it is applied.
    pub fn revision(&self) -> Revision {
        self.watch.last_revision()
    }

    pub fn current(&self) -> Vec<T> {
        self.state.values().cloned().collect()
    }

    /// Replaces the known set by `fresh` and says what that changed.
    fn replace(&mut self, fresh: BTreeMap<String, T>) -> Vec<Change<T>> {
        let mut out = Vec::new();
        for (k, old) in &self.state {
            match fresh.get(k) {
                Some(new) if new == old => {}
                _ => out.push(Change::Removed(old.clone())),
            }
        }
        for (k, new) in &fresh {
            if self.state.get(k) != Some(new) {
                out.push(Change::Added(new.clone()));
            }
        }
        self.state = fresh;
        out
    }

    fn apply(&mut self, events: Vec<WatchEvent>) -> Vec<Change<T>> {
        let mut out = Vec::new();
        for ev in events {
            match ev {
                WatchEvent::Put(kv) => {
                    let new = self.decode_kept(&kv);
                    let old = self.state.get(&kv.key).cloned();
                    if old == new {
                        continue;
                    }
                    if let Some(old) = old {
                        self.state.remove(&kv.key);
                        out.push(Change::Removed(old));
                    }
                    if let Some(new) = new {
                        self.state.insert(kv.key.clone(), new.clone());
                        out.push(Change::Added(new));
                    }
                }
                WatchEvent::Delete(kv) => {
                    if let Some(old) = self.state.remove(&kv.key) {
                        out.push(Change::Removed(old));
                    }
                }
            }
        }
        out
    }

    /// The next batch of changes (never empty); waits through outages of the store.
    pub async fn next(&mut self) -> Vec<Change<T>> {
        loop {
            let changes = match self.watch.next().await {
                WatchUpdate::Events(evs) => self.apply(evs),
                WatchUpdate::Resynced(listing) => {
                    let fresh = self.decode_all(&listing);
                    self.replace(fresh)
                }
            };
            if !changes.is_empty() {
                return changes;
            }
        }
    }

    /// Lists the full set and returns what differs from what the watch delivered (normally
    /// nothing); a periodic resync uses it to repair anything a bug or outage may have missed.
    pub async fn resync(&mut self) -> Result<Vec<Change<T>>> {
        let listing = self
            .store
            .get(KeyRange::Prefix(self.prefix.clone()))
            .await?;
        let fresh = self.decode_all(&listing);
        // The listing already holds every change up to its revision: the watch goes on from
        // there, so none is applied twice out of order.
        self.watch.advance_to(listing.revision);
        Ok(self.replace(fresh))
    }
}

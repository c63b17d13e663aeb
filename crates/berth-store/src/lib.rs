//! berth's embedded, crash-safe store.
//!
//! Intent (networks, endpoints, containers, images) is written here before the kernel is
//! touched. Each batch of changes is all or nothing, committed with fsync, so a crash leaves
//! either the old or the new state and never a torn record. Values are JSON so records stay
//! readable and can grow fields without a migration.
//!
//! Writers that arrive together share one commit (see [`commit`]): [`Store::apply`] and
//! [`Store::submit`] return once their batch is durable; [`Store::enqueue`] is for changes a
//! crash may lose because what they record is redone at the next start anyway.

mod commit;

use commit::{Committer, Reply};
use redb::{Database, ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};

/// Errors from the store; each names the file or record involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open store {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: redb::DatabaseError,
    },
    #[error("store transaction failed: {0}")]
    Transaction(String),
    #[error("cannot start the store's committer for {path}: {source}")]
    Committer {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("record {table}/{key} is corrupt: {source}")]
    Corrupt {
        table: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot encode record {table}/{key}: {source}")]
    Encode {
        table: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

macro_rules! tx_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Transaction(e.to_string()) }
        }
    )*};
}
tx_err!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

pub type Result<T> = std::result::Result<T, StoreError>;

/// A named collection of JSON records keyed by string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table(pub &'static str);

impl Table {
    fn def(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(self.0)
    }
}

/// One change inside an atomic batch.
pub enum Change {
    Put {
        table: Table,
        key: String,
        value: Vec<u8>,
    },
    Delete {
        table: Table,
        key: String,
    },
}

impl Change {
    /// A put of `value` encoded as JSON.
    pub fn put<T: Serialize>(table: Table, key: impl Into<String>, value: &T) -> Result<Self> {
        let key = key.into();
        let value = serde_json::to_vec(value).map_err(|source| StoreError::Encode {
            table: table.0,
            key: key.clone(),
            source,
        })?;
        Ok(Change::Put { table, key, value })
    }

    pub fn delete(table: Table, key: impl Into<String>) -> Self {
        Change::Delete {
            table,
            key: key.into(),
        }
    }
}

/// The store file. Cheap to share behind an `Arc`; its committer thread makes every write.
pub struct Store {
    committer: Committer,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// A batch on its way to disk; [`Commit::durable`] resolves once it is there.
#[must_use = "a submitted batch is durable only once `durable` resolves"]
#[derive(Debug)]
pub struct Commit(tokio::sync::oneshot::Receiver<Result<()>>);

impl Commit {
    pub async fn durable(self) -> Result<()> {
        self.0.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> StoreError {
    StoreError::Transaction("the store committer stopped before the commit".into())
}

impl Store {
    /// Opens (creating if needed) the store at `path`. A store left by a crash is repaired by redb.
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let committer = Committer::start(db).map_err(|source| StoreError::Committer {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Store {
            committer,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies every change in one transaction, all or nothing; returns once it is durable.
    /// Blocks the calling thread meanwhile (async callers that hold locks use [`Store::submit`]).
    pub fn apply(&self, changes: Vec<Change>) -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.committer.queue(changes, Reply::Blocking(tx));
        rx.recv().unwrap_or_else(|_| Err(stopped()))
    }

    /// Queues the changes as one batch, ordered after every batch queued before, without
    /// waiting: a caller queues under its own lock (so the store sees its changes in the order
    /// its memory does) and awaits [`Commit::durable`] after releasing it.
    pub fn submit(&self, changes: Vec<Change>) -> Commit {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.committer.queue(changes, Reply::Async(tx));
        Commit(rx)
    }

    /// Queues the changes and never waits for them: they are durable with the next commit.
    /// Only for what a crash may lose, because the start after it redoes what they record
    /// (a release found done again, a removal whose intent was stored durably). A failure is
    /// logged.
    pub fn enqueue(&self, changes: Vec<Change>) {
        self.committer.queue(changes, Reply::None);
    }

    pub fn put<T: Serialize>(&self, table: Table, key: &str, value: &T) -> Result<()> {
        self.apply(vec![Change::put(table, key, value)?])
    }

    pub fn delete(&self, table: Table, key: &str) -> Result<()> {
        self.apply(vec![Change::delete(table, key)])
    }

    /// Reads see every batch queued before them, waited for or not.
    fn read(&self) -> Result<redb::ReadTransaction> {
        self.committer.flush();
        Ok(self.committer.shared.db.begin_read()?)
    }

    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>> {
        let txn = self.read()?;
        let t = match txn.open_table(table.def()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match t.get(key)? {
            Some(v) => serde_json::from_slice(v.value())
                .map(Some)
                .map_err(|source| StoreError::Corrupt {
                    table: table.0,
                    key: key.to_string(),
                    source,
                }),
            None => Ok(None),
        }
    }

    /// Every record of `table`, in key order.
    pub fn list<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(String, T)>> {
        let txn = self.read()?;
        let t = match txn.open_table(table.def()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            let key = k.value().to_string();
            let value =
                serde_json::from_slice(v.value()).map_err(|source| StoreError::Corrupt {
                    table: table.0,
                    key: key.clone(),
                    source,
                })?;
            out.push((key, value));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    const T: Table = Table("things");

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Thing {
        n: u32,
    }

    #[test]
    fn put_get_list_delete_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            let s = Store::open(&path).unwrap();
            assert_eq!(s.get::<Thing>(T, "a").unwrap(), None);
            assert!(s.list::<Thing>(T).unwrap().is_empty());
            s.put(T, "a", &Thing { n: 1 }).unwrap();
            s.put(T, "b", &Thing { n: 2 }).unwrap();
            s.delete(T, "a").unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.get::<Thing>(T, "b").unwrap(), Some(Thing { n: 2 }));
        let all: Vec<(String, Thing)> = s.list(T).unwrap();
        assert_eq!(all, vec![("b".to_string(), Thing { n: 2 })]);
    }

    #[test]
    fn batch_is_atomic_and_corruption_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.db")).unwrap();
        s.apply(vec![
            Change::put(T, "x", &Thing { n: 7 }).unwrap(),
            Change::Put {
                table: T,
                key: "bad".into(),
                value: b"{".to_vec(),
            },
        ])
        .unwrap();
        let err = s.get::<Thing>(T, "bad").unwrap_err();
        assert!(err.to_string().contains("things/bad"), "{err}");
    }

    /// A write transaction held here stalls the committer on `first`, so that the batches
    /// queued next wait behind it; dropping the hold lets it go on.
    fn stall(s: &Store, first: Vec<Change>) -> (redb::WriteTransaction, Commit) {
        let hold = s.committer.shared.db.begin_write().unwrap();
        let first = s.submit(first);
        while !s.committer.idle_queue() {
            std::thread::yield_now();
        }
        (hold, first)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(f)
    }

    #[test]
    fn writers_that_arrive_together_share_one_commit() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.db")).unwrap();
        let (hold, first) = stall(&s, vec![Change::put(T, "a", &Thing { n: 1 }).unwrap()]);
        let later: Vec<Commit> = (2..6)
            .map(|n| s.submit(vec![Change::put(T, "a", &Thing { n }).unwrap()]))
            .collect();
        s.enqueue(vec![Change::put(T, "b", &Thing { n: 9 }).unwrap()]);
        drop(hold);
        block_on(async {
            first.durable().await.unwrap();
            for c in later {
                c.durable().await.unwrap();
            }
        });
        s.committer.flush();
        let commits = s
            .committer
            .shared
            .commits
            .load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            commits, 2,
            "the first batch alone, then the five queued behind it"
        );
        // Applied in the order they were queued: the last put wins.
        assert_eq!(s.get::<Thing>(T, "a").unwrap(), Some(Thing { n: 5 }));
        assert_eq!(s.get::<Thing>(T, "b").unwrap(), Some(Thing { n: 9 }));
    }

    #[test]
    fn a_failing_batch_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.db")).unwrap();
        // A multimap table under a name the batch opens as a plain table: its commit fails.
        {
            let w = s.committer.shared.db.begin_write().unwrap();
            let def: redb::MultimapTableDefinition<&str, &str> =
                redb::MultimapTableDefinition::new("multi");
            w.open_multimap_table(def).unwrap();
            w.commit().unwrap();
        }
        let (hold, first) = stall(&s, vec![Change::put(T, "x", &Thing { n: 1 }).unwrap()]);
        let bad = s.submit(vec![
            Change::put(T, "y", &Thing { n: 2 }).unwrap(),
            Change::delete(Table("multi"), "k"),
        ]);
        let good = s.submit(vec![Change::put(T, "z", &Thing { n: 3 }).unwrap()]);
        drop(hold);
        block_on(async {
            first.durable().await.unwrap();
            assert!(bad.durable().await.is_err());
            good.durable().await.unwrap();
        });
        assert_eq!(s.get::<Thing>(T, "x").unwrap(), Some(Thing { n: 1 }));
        assert_eq!(
            s.get::<Thing>(T, "y").unwrap(),
            None,
            "the failed batch is all or nothing"
        );
        assert_eq!(s.get::<Thing>(T, "z").unwrap(), Some(Thing { n: 3 }));
    }

    #[test]
    fn queued_changes_are_read_back_and_survive_a_clean_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            let s = Store::open(&path).unwrap();
            s.enqueue(vec![Change::put(T, "q", &Thing { n: 4 }).unwrap()]);
            assert_eq!(s.get::<Thing>(T, "q").unwrap(), Some(Thing { n: 4 }));
            s.enqueue(vec![Change::delete(T, "q")]);
            s.enqueue(vec![Change::put(T, "r", &Thing { n: 5 }).unwrap()]);
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.get::<Thing>(T, "q").unwrap(), None);
        assert_eq!(s.get::<Thing>(T, "r").unwrap(), Some(Thing { n: 5 }));
    }

    #[test]
    fn blocking_writers_on_many_threads_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(Store::open(&dir.path().join("s.db")).unwrap());
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..10u32 {
                        s.put(T, &format!("{t}-{i}"), &Thing { n: t * 100 + i })
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(s.list::<Thing>(T).unwrap().len(), 80);
        let commits = s
            .committer
            .shared
            .commits
            .load(std::sync::atomic::Ordering::SeqCst);
        assert!(commits <= 80, "{commits} commits for 80 writes");
    }
}

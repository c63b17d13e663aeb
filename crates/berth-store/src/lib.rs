//! berth's embedded, crash-safe store.
//!
//! Intent (networks now; containers and endpoints later) is written here before the kernel is
//! touched. Each call is one redb write transaction, committed with fsync, so a crash leaves either
//! the old or the new state and never a torn record. Values are JSON so records stay readable
//! and can grow fields without a migration.

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

/// The store file. Cheap to share behind an `Arc`; redb serialises writers itself.
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path`. A store left by a crash is repaired by redb.
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Store {
            db,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies every change in one transaction: all or nothing.
    pub fn apply(&self, changes: Vec<Change>) -> Result<()> {
        let txn = self.db.begin_write()?;
        for change in changes {
            match change {
                Change::Put { table, key, value } => {
                    let mut t = txn.open_table(table.def())?;
                    t.insert(key.as_str(), value.as_slice())?;
                }
                Change::Delete { table, key } => {
                    let mut t = txn.open_table(table.def())?;
                    t.remove(key.as_str())?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    pub fn put<T: Serialize>(&self, table: Table, key: &str, value: &T) -> Result<()> {
        self.apply(vec![Change::put(table, key, value)?])
    }

    pub fn delete(&self, table: Table, key: &str) -> Result<()> {
        self.apply(vec![Change::delete(table, key)])
    }

    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>> {
        let txn = self.db.begin_read()?;
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
        let txn = self.db.begin_read()?;
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
}

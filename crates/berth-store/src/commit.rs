//! Group commit: one thread owns every write transaction. Writers queue their batches in the
//! order they submit them; the committer takes all that are waiting, applies them in that order
//! in one transaction and commits it with a single fsync, then tells each writer. So writers
//! that arrive together share an fsync, none returns before its own data is durable, and a
//! writer never holds its caller's locks across the disk: it queues under them and waits after.

use super::{Change, Result, StoreError};
use redb::Database;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Who hears how a batch ended.
pub(crate) enum Reply {
    /// Nobody waits: the batch is made durable with the next commit; a failure is logged.
    None,
    /// A blocking caller (`Store::apply`).
    Blocking(std::sync::mpsc::SyncSender<Result<()>>),
    /// An async caller (`Store::submit`).
    Async(tokio::sync::oneshot::Sender<Result<()>>),
}

impl Reply {
    fn send(self, outcome: Result<()>) {
        // A receiver that went away no longer cares; the data is stored (or not) either way.
        match self {
            Reply::None => {
                if let Err(e) = outcome {
                    tracing::error!(error = %e, "a queued store change could not be committed");
                }
            }
            Reply::Blocking(tx) => {
                let _ = tx.send(outcome);
            }
            Reply::Async(tx) => {
                let _ = tx.send(outcome);
            }
        }
    }
}

struct Batch {
    changes: Vec<Change>,
    reply: Reply,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Batch>,
    /// Batches ever queued, and of those the ones whose commit has ended (either way).
    queued: u64,
    ended: u64,
    closing: bool,
}

/// State shared between the store's handles and its committer thread.
pub(crate) struct Shared {
    pub(crate) db: Database,
    queue: Mutex<Queue>,
    /// The committer waits here for work.
    work: Condvar,
    /// Flushes wait here for commits to end.
    ended: Condvar,
    /// Transactions committed, for the tests that check grouping.
    #[cfg(test)]
    pub(crate) commits: std::sync::atomic::AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue holds no invariant a panicking holder could break half-way.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The committer thread and the way to reach it.
pub(crate) struct Committer {
    pub(crate) shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    pub(crate) fn start(db: Database) -> std::io::Result<Committer> {
        let shared = Arc::new(Shared {
            db,
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            ended: Condvar::new(),
            #[cfg(test)]
            commits: Default::default(),
        });
        let me = shared.clone();
        let thread = std::thread::Builder::new()
            .name("berth-store".into())
            .spawn(move || run(&me))?;
        Ok(Committer {
            shared,
            thread: Some(thread),
        })
    }

    /// Queues `changes`; they are committed after every batch queued before them.
    pub(crate) fn queue(&self, changes: Vec<Change>, reply: Reply) {
        let mut q = self.shared.lock();
        if q.closing {
            drop(q);
            reply.send(Err(StoreError::Transaction("the store is closing".into())));
            return;
        }
        q.waiting.push_back(Batch { changes, reply });
        q.queued += 1;
        drop(q);
        self.shared.work.notify_one();
    }

    /// Returns once every batch queued before the call has been committed (or has failed).
    pub(crate) fn flush(&self) {
        let mut q = self.shared.lock();
        let target = q.queued;
        while q.ended < target {
            q = self.shared.ended.wait(q).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Drop for Committer {
    /// Whatever is queued is committed before the store closes, so a clean shutdown loses
    /// nothing; a crash loses at most what nobody had waited for.
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.work.notify_all();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the store's committer thread panicked");
            }
        }
    }
}

/// Marks every batch ended if the committer stops for any reason, so no flush waits forever.
struct EndAll<'a>(&'a Shared);

impl Drop for EndAll<'_> {
    fn drop(&mut self) {
        let mut q = self.0.lock();
        q.closing = true;
        q.ended = q.queued;
        for b in q.waiting.drain(..) {
            b.reply.send(Err(StoreError::Transaction(
                "the store committer stopped".into(),
            )));
        }
        drop(q);
        self.0.ended.notify_all();
    }
}

fn run(shared: &Shared) {
    let _end = EndAll(shared);
    loop {
        let group: Vec<Batch> = {
            let mut q = shared.lock();
            while q.waiting.is_empty() && !q.closing {
                q = shared.work.wait(q).unwrap_or_else(|p| p.into_inner());
            }
            if q.waiting.is_empty() {
                return;
            }
            q.waiting.drain(..).collect()
        };
        let n = group.len() as u64;
        commit_group(shared, group);
        shared.lock().ended += n;
        shared.ended.notify_all();
    }
}

/// One transaction for the whole group. Should it fail, each batch is retried alone, so one
/// writer's bad batch never fails another's; each batch stays all or nothing either way.
fn commit_group(shared: &Shared, group: Vec<Batch>) {
    if group.len() > 1 {
        if commit(shared, group.iter().flat_map(|b| b.changes.iter())).is_ok() {
            for b in group {
                b.reply.send(Ok(()));
            }
            return;
        }
        tracing::debug!(
            batches = group.len(),
            "a grouped store commit failed; committing its batches one by one"
        );
    }
    for b in group {
        let outcome = commit(shared, b.changes.iter());
        b.reply.send(outcome);
    }
}

fn commit<'a>(shared: &Shared, changes: impl Iterator<Item = &'a Change>) -> Result<()> {
    let txn = shared.db.begin_write()?;
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
    #[cfg(test)]
    shared
        .commits
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Ok(())
}

#[cfg(test)]
impl Committer {
    /// Whether the committer has taken every queued batch (it may still be committing them).
    pub(crate) fn idle_queue(&self) -> bool {
        self.shared.lock().waiting.is_empty()
    }
}

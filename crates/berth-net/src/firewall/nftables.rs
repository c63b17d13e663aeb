//! The real firewall: the ruleset through `nft -f` (one transaction), element changes through
//! nf_tables netlink (one batch, no process start), and a watcher that rewrites berth's tables
//! when someone else changes them.

use super::ruleset;
use super::watch::{Own, Watch};
use super::{Change, Firewall, FirewallState};
use crate::sys::{nft, nftnl, SysResult};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// How long a burst of foreign changes must be quiet before the tables are rewritten (`nft
/// delete table inet berth; nft delete table bridge berth` is two transactions), and the
/// longest a burst may delay it.
const QUIET: Duration = Duration::from_millis(20);
const LONGEST: Duration = Duration::from_millis(200);
/// Rewrites are at least this far apart, so that writes berth failed to recognise as its own
/// cannot make it rewrite in a tight loop; after a failed rewrite, longer.
const GAP: Duration = Duration::from_millis(250);
const GAP_FAILED: Duration = Duration::from_secs(1);
/// How often an idle watcher checks that its firewall still exists.
const IDLE: Duration = Duration::from_secs(1);

/// Keeps what its tables hold, so that when they are changed by someone else (a flushed
/// ruleset, a deleted table, chain, rule or set element) everything is written again.
#[derive(Default)]
pub struct NftFirewall {
    inner: Mutex<Inner>,
}

/// Writers and the watcher share one lock: a write's own notifications are read, and known
/// as its own, before anyone else reads the queue.
#[derive(Default)]
struct Inner {
    held: FirewallState,
    watch: Option<Watch>,
    last_rewrite: Option<(Instant, bool)>,
    /// The socket element changes are written on, opened at the first and kept.
    writer: Option<nftnl::Writer>,
}

impl Firewall for NftFirewall {
    fn apply(&self, state: &FirewallState) -> SysResult<()> {
        let mut inner = self.inner();
        let mut own = Own::default();
        let r = write_full(state, &mut own);
        if r.is_ok() {
            inner.held = state.clone();
        }
        inner.settle(&own);
        r
    }

    fn change(&self, changes: &[Change]) -> SysResult<()> {
        let mut inner = self.inner();
        let mut next = inner.held.clone();
        next.apply_changes(changes);
        let mut own = Own::default();
        let mut r = inner.elements(changes, &mut own);
        if let Err(e) = &r {
            tracing::warn!(error = %e, "element change failed: rewriting berth's tables");
            r = write_full(&next, &mut own);
        }
        if r.is_ok() {
            inner.held = next;
        }
        inner.settle(&own);
        r
    }

    fn watch(self: Arc<Self>) -> SysResult<()> {
        let watch = Watch::open()?;
        let fd = watch
            .fd()
            .try_clone_to_owned()
            .map_err(|e| crate::sys::SysError::Nft {
                netns: String::new(),
                message: format!("nf_tables event socket: {e}"),
            })?;
        self.inner().watch = Some(watch);
        let me = Arc::downgrade(&self);
        std::thread::Builder::new()
            .name("berth-nft-watch".into())
            .spawn(move || watcher(me, fd))
            .map_err(|e| crate::sys::SysError::Nft {
                netns: String::new(),
                message: format!("start the nf_tables watcher: {e}"),
            })?;
        Ok(())
    }
}

impl NftFirewall {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The whole ruleset, in one transaction whose writer `own` records.
fn write_full(state: &FirewallState, own: &mut Own) -> SysResult<()> {
    own.full = true;
    nft::apply_reporting(None, &ruleset::full(state), &mut |pid| {
        // nf_tables names a transaction by the writer's process and its socket's port, which
        // is the process ID for the first netlink socket of a process.
        own.pids.push(pid);
        own.ports.push(pid);
    })
}

/// The changes as the element additions and deletions of the ruleset's sets.
fn element_changes(changes: &[Change]) -> Vec<nftnl::SetChange> {
    let mut sets = Vec::new();
    for c in changes {
        match c {
            Change::AddNetwork(n) => sets.extend(ruleset::network_elements(n, true)),
            Change::RemoveNetwork(n) => sets.extend(ruleset::network_elements(n, false)),
            Change::Isolate(v) => sets.extend(ruleset::isolated_port_elements(v, true)),
            Change::Unisolate(v) => sets.extend(ruleset::isolated_port_elements(v, false)),
            Change::AddPorts(p) => sets.extend(ruleset::port_elements(p, true)),
            Change::RemovePorts(p) => sets.extend(ruleset::port_elements(p, false)),
            Change::AddLinks(l) => sets.extend(ruleset::link_elements(l, true)),
            Change::RemoveLinks(l) => sets.extend(ruleset::link_elements(l, false)),
        }
    }
    sets
}

impl Inner {
    /// The changes as one batch of element additions and deletions, on the kept socket (the
    /// callers run in the daemon's namespace, where it was opened). A socket that failed may
    /// hold replies nobody read: it is dropped, and the next change opens another.
    fn elements(&mut self, changes: &[Change], own: &mut Own) -> SysResult<()> {
        let sets = element_changes(changes);
        let mut writer = match self.writer.take() {
            Some(w) => w,
            None => nftnl::Writer::open()?,
        };
        own.ports.push(writer.port());
        let r = nftnl::apply_on(&mut writer, &sets);
        if r.is_ok() {
            self.writer = Some(writer);
        }
        r
    }

    /// Reads the notifications queued by now, `own` being what this lock holder wrote. A
    /// writer that finds its tables were changed by someone else rewrites them at once.
    fn settle(&mut self, own: &Own) {
        let Some(w) = &mut self.watch else {
            return;
        };
        w.drain(own);
        // After a full rewrite that did not settle it (it failed, or someone changed the tables
        // since), the watcher's pacing applies.
        if w.sorter.tampered.is_some() && !own.full {
            self.rewrite();
        }
    }

    /// When the watcher should next act: a rewrite that is due, or just a liveness check.
    fn next_due(&self) -> Option<Instant> {
        let (first, last) = self.watch.as_ref()?.sorter.tampered?;
        let mut at = (last + QUIET).min(first + LONGEST);
        if let Some((when, ok)) = self.last_rewrite {
            at = at.max(when + if ok { GAP } else { GAP_FAILED });
        }
        Some(at)
    }

    fn rewrite(&mut self) {
        let mut own = Own::default();
        let r = write_full(&self.held, &mut own);
        self.last_rewrite = Some((Instant::now(), r.is_ok()));
        match &r {
            Ok(()) => {
                tracing::warn!("berth's nftables tables were changed by someone else: rewritten")
            }
            Err(e) => {
                tracing::warn!(error = %e, "berth's nftables tables were changed by someone else and cannot be rewritten")
            }
        }
        if let Some(w) = &mut self.watch {
            w.drain(&own);
        }
    }
}

/// Waits for notifications, and rewrites berth's tables once a burst of foreign changes is
/// over. Ends when the firewall is dropped.
fn watcher(fw: Weak<NftFirewall>, fd: OwnedFd) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let wait = {
            let Some(fw) = fw.upgrade() else { return };
            let inner = fw.inner();
            inner
                .next_due()
                .map_or(IDLE, |at| at.saturating_duration_since(Instant::now()))
        };
        let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        if let Err(e) = poll(&mut fds, PollTimeout::from(ms)) {
            if e != nix::errno::Errno::EINTR {
                tracing::error!(error = %e, "nf_tables watcher stopped");
                return;
            }
        }
        let Some(fw) = fw.upgrade() else { return };
        let mut inner = fw.inner();
        if let Some(w) = &mut inner.watch {
            w.drain(&Own::default());
        }
        if inner.next_due().is_some_and(|at| at <= Instant::now()) {
            inner.rewrite();
        }
    }
}

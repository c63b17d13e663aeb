//! Network namespaces made ahead of need, so that a sandbox's attach does not wait for one.
//!
//! Making a namespace is the largest single cost of an attach: a thread that unshares (the
//! kernel sets up every per-namespace subsystem, about 0.9 ms here), its sysctls, a netlink
//! socket inside it and lo up, about 1.2–1.4 ms in all. The daemon keeps [`CAPACITY`] of them
//! ready and pins one at the sandbox's path when asked (one bind mount), then makes the next
//! in the background. A spare is held by its descriptor and its netlink socket only, never by
//! anything on disk, so it is invisible to `ip netns` and to the orphan sweep, and dies with the
//! daemon however the daemon ends (a crash included): there is nothing to clean up after it.

use super::netlink::NetlinkKernel;
use super::{Kernel, SysError, SysResult};
use rtnetlink::Handle;
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// How many namespaces are kept ready unless the daemon says otherwise
/// ([`Spares::with_capacity`]; berthd's `BERTH_SPARE_NETNS`).
pub const CAPACITY: usize = 2;

/// The variable that sets how many namespaces berthd (and the attach benchmark) keep ready.
pub const CAPACITY_VAR: &str = "BERTH_SPARE_NETNS";

/// The capacity `BERTH_SPARE_NETNS` asks for (0 makes each namespace when asked), else
/// [`CAPACITY`]. A value that is not a count from 0 to 16 is an error naming it.
pub fn capacity_from_env() -> Result<usize, String> {
    parse_capacity(std::env::var(CAPACITY_VAR).ok().as_deref())
}

fn parse_capacity(value: Option<&str>) -> Result<usize, String> {
    const MAX: usize = 16;
    match value {
        None => Ok(CAPACITY),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n <= MAX => Ok(n),
            _ => Err(format!(
                "{CAPACITY_VAR}={v:?}: expected a count of namespaces from 0 to {MAX}"
            )),
        },
    }
}

/// The sysctls a namespace was made with, as owned pairs: spares serve only requests for the
/// same ones.
pub type Settings = Vec<(String, String)>;

/// The bookkeeping of namespaces made ahead, apart from how one is made: which are ready, how
/// many are being made, and for which settings.
pub struct Stock<S> {
    state: Mutex<StockState<S>>,
    capacity: usize,
}

struct StockState<S> {
    settings: Settings,
    ready: Vec<S>,
    making: usize,
    /// Bumped by [`Stock::drain`] and by a change of settings, so that a spare whose making
    /// started before is dropped when it arrives.
    generation: u64,
}

/// Leave to make one spare, from [`Stock::to_make`]; handed back with [`Stock::made`].
#[derive(Debug)]
pub struct Ticket {
    generation: u64,
}

impl<S> Stock<S> {
    pub fn new(capacity: usize) -> Self {
        Stock {
            state: Mutex::new(StockState {
                settings: Vec::new(),
                ready: Vec::new(),
                making: 0,
                generation: 0,
            }),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, StockState<S>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A ready spare made with `settings`. Asking for other settings drops the spares of the
    /// old ones: the daemon asks for one set only, so this happens at most once.
    pub fn take(&self, settings: &[(String, String)]) -> Option<S> {
        let mut st = self.lock();
        if st.settings != settings {
            st.settings = settings.to_vec();
            st.ready.clear();
            st.generation += 1;
            st.making = 0;
            return None;
        }
        st.ready.pop()
    }

    /// Leave to start making as many spares as are missing (those being made count).
    pub fn to_make(&self) -> Vec<Ticket> {
        let mut st = self.lock();
        let missing = self.capacity.saturating_sub(st.ready.len() + st.making);
        st.making += missing;
        let generation = st.generation;
        (0..missing).map(|_| Ticket { generation }).collect()
    }

    /// Hands back a ticket with the spare made on it (`None`: the making failed). A spare of an
    /// earlier generation, or one that finds no room, is dropped.
    pub fn made(&self, ticket: Ticket, spare: Option<S>) {
        let mut st = self.lock();
        if ticket.generation != st.generation {
            return;
        }
        st.making = st.making.saturating_sub(1);
        if let Some(s) = spare {
            if st.ready.len() < self.capacity {
                st.ready.push(s);
            }
        }
    }

    /// Takes every ready spare out, and disowns those being made.
    pub fn drain(&self) -> Vec<S> {
        let mut st = self.lock();
        st.generation += 1;
        st.making = 0;
        std::mem::take(&mut st.ready)
    }

    /// How many spares are ready.
    pub fn ready(&self) -> usize {
        self.lock().ready.len()
    }

    /// The settings spares are made with (those last asked for).
    pub fn settings(&self) -> Settings {
        self.lock().settings.clone()
    }
}

/// A namespace made ahead: its descriptor, and a netlink handle opened inside it with lo up.
pub struct Spare {
    ns: File,
    handle: Handle,
}

/// The namespaces the daemon's namespace keeps ready for sandboxes.
pub struct Spares {
    stock: Arc<Stock<Spare>>,
}

impl Default for Spares {
    fn default() -> Self {
        Spares::with_capacity(CAPACITY)
    }
}

fn owned(sysctls: &[(&str, &str)]) -> Settings {
    sysctls
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Spares {
    /// Keeps `capacity` namespaces ready; 0 makes each one when asked.
    pub fn with_capacity(capacity: usize) -> Self {
        Spares {
            stock: Arc::new(Stock::new(capacity)),
        }
    }

    /// A namespace pinned at `path` with `sysctls` set and lo up, a descriptor of it and a
    /// netlink handle inside it: a spare if one is ready, else made now. The stock is topped up
    /// by [`Spares::refill`], which the caller runs once its own kernel work is done: a refill
    /// (unshare, sysctls, lo up) on the other core would contend with that work for the RTNL
    /// lock. Must run inside a tokio runtime.
    pub async fn namespace(
        &self,
        path: &Path,
        sysctls: &[(&str, &str)],
    ) -> SysResult<(File, Handle)> {
        let settings = owned(sysctls);
        match self.stock.take(&settings) {
            Some(spare) => super::netns::pin(&spare.ns, path).map(|()| (spare.ns, spare.handle)),
            None => fresh(path, sysctls).await,
        }
    }

    /// Starts making the spares missing, with the settings last asked for, in the background.
    /// Must run inside a tokio runtime.
    pub fn refill(&self) {
        let settings = self.stock.settings();
        for ticket in self.stock.to_make() {
            let stock = self.stock.clone();
            let settings = settings.clone();
            tokio::spawn(async move {
                match make_spare(settings).await {
                    Ok(spare) => stock.made(ticket, Some(spare)),
                    Err(e) => {
                        // The next attach makes its namespace itself, and tries again after.
                        tracing::debug!(error = %e, "cannot make a spare network namespace");
                        stock.made(ticket, None);
                    }
                }
            });
        }
    }

    /// Lets every spare go (the kernel frees them), for a daemon that settles or ends.
    pub fn drain(&self) {
        drop(self.stock.drain());
    }

    /// How many spares are ready.
    pub fn ready(&self) -> usize {
        self.stock.ready()
    }
}

/// A new namespace's loopback always has index 1 (LOOPBACK_IFINDEX): no lookup needed.
async fn lo_up(handle: &Handle) -> SysResult<()> {
    NetlinkKernel::from_handle(handle.clone(), None)
        .set_up(1)
        .await
}

fn connect_inside() -> impl FnOnce() -> std::io::Result<Handle> + Send + 'static {
    let rt = tokio::runtime::Handle::current();
    move || {
        let _ctx = rt.enter();
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        Ok(handle)
    }
}

/// A namespace made now and pinned at `path`.
pub(super) async fn fresh(path: &Path, sysctls: &[(&str, &str)]) -> SysResult<(File, Handle)> {
    let connect = connect_inside();
    let (ns, handle) = super::netns::create(path, sysctls, move || {
        Ok((File::open("/proc/thread-self/ns/net")?, connect()?))
    })?;
    if let Err(e) = lo_up(&handle).await {
        drop(handle);
        if let Err(d) = super::netns::delete(path) {
            tracing::warn!(path = %path.display(), error = %d, "cannot unpin a namespace whose loopback did not come up");
        }
        return Err(e);
    }
    Ok((ns, handle))
}

/// A spare made on a blocking thread, so that no worker waits for the kernel meanwhile.
async fn make_spare(settings: Settings) -> SysResult<Spare> {
    let inside = connect_inside();
    let (ns, handle) = tokio::task::spawn_blocking(move || {
        let pairs: Vec<(&str, &str)> = settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        super::netns::create_unpinned(&pairs, inside)
    })
    .await
    .map_err(|e| SysError::Netns {
        op: "make a spare",
        path: "(unpinned)".into(),
        source: std::io::Error::other(e),
    })??;
    lo_up(&handle).await?;
    Ok(Spare { ns, handle })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(v: &str) -> Settings {
        vec![("net/ipv4/ping_group_range".into(), v.into())]
    }

    #[test]
    fn the_capacity_knob_takes_counts_and_names_anything_else() {
        assert_eq!(parse_capacity(None), Ok(CAPACITY));
        assert_eq!(parse_capacity(Some("0")), Ok(0));
        assert_eq!(parse_capacity(Some(" 4\n")), Ok(4));
        for bad in ["-1", "two", "17", ""] {
            let e = parse_capacity(Some(bad)).unwrap_err();
            assert!(e.contains(CAPACITY_VAR) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn tops_up_to_capacity_and_serves_the_same_settings() {
        let stock: Stock<u32> = Stock::new(2);
        let s = settings("0 1");
        assert_eq!(stock.take(&s), None, "nothing made yet");
        let tickets = stock.to_make();
        assert_eq!(tickets.len(), 2);
        // Those being made count: no more leave until they arrive.
        assert!(stock.to_make().is_empty());
        let mut it = tickets.into_iter();
        stock.made(it.next().unwrap(), Some(1));
        stock.made(it.next().unwrap(), None);
        assert_eq!(stock.ready(), 1);
        assert_eq!(stock.to_make().len(), 1, "the failed one is missing again");
        assert_eq!(stock.take(&s), Some(1));
        assert_eq!(stock.take(&s), None);
    }

    #[test]
    fn other_settings_drop_the_old_spares_and_their_makings() {
        let stock: Stock<u32> = Stock::new(2);
        let (a, b) = (settings("0 1"), settings("0 2"));
        stock.take(&a);
        let mut tickets = stock.to_make().into_iter();
        stock.made(tickets.next().unwrap(), Some(1));
        assert_eq!(
            stock.take(&b),
            None,
            "a spare of other settings is not served"
        );
        assert_eq!(stock.ready(), 0);
        // The making that started for the old settings arrives late and is dropped.
        stock.made(tickets.next().unwrap(), Some(2));
        assert_eq!(stock.ready(), 0);
        assert_eq!(stock.to_make().len(), 2);
    }

    #[test]
    fn drain_empties_and_disowns_what_is_being_made() {
        let stock: Stock<u32> = Stock::new(2);
        let s = settings("0 1");
        stock.take(&s);
        let mut tickets = stock.to_make().into_iter();
        stock.made(tickets.next().unwrap(), Some(7));
        assert_eq!(stock.drain(), vec![7]);
        stock.made(tickets.next().unwrap(), Some(8));
        assert_eq!(
            stock.ready(),
            0,
            "a spare begun before the drain is dropped"
        );
        assert_eq!(
            stock.to_make().len(),
            2,
            "the stock fills again after a drain"
        );
    }
}

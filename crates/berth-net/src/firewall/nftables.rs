//! The real firewall: the ruleset through `nft -f` (one transaction), element changes through
//! nf_tables netlink (one batch, no process start).

use super::ruleset;
use super::{Change, Firewall, FirewallState};
use crate::sys::{nft, nftnl, SysResult};
use std::sync::{Mutex, MutexGuard};

/// Keeps what its tables hold, so that when an element change fails (someone flushed the
/// ruleset or deleted berth's tables) the whole ruleset, with the change, is written again.
#[derive(Default)]
pub struct NftFirewall {
    held: Mutex<FirewallState>,
}

impl Firewall for NftFirewall {
    fn apply(&self, state: &FirewallState) -> SysResult<()> {
        let mut held = self.held();
        nft::apply(None, &ruleset::full(state))?;
        *held = state.clone();
        Ok(())
    }

    fn change(&self, changes: &[Change]) -> SysResult<()> {
        let mut held = self.held();
        let mut next = held.clone();
        next.apply_changes(changes);
        if let Err(e) = self.elements(changes) {
            tracing::warn!(error = %e, "element change failed: rewriting berth's tables");
            nft::apply(None, &ruleset::full(&next))?;
        }
        *held = next;
        Ok(())
    }
}

impl NftFirewall {
    fn held(&self) -> MutexGuard<'_, FirewallState> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The changes as one batch of element additions and deletions.
    fn elements(&self, changes: &[Change]) -> SysResult<()> {
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
        nftnl::apply(&sets)
    }
}

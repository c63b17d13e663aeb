//! The real firewall: the ruleset through `nft -f` (one transaction), element changes through
//! nf_tables netlink (one batch, no process start).

use super::ruleset;
use super::{Change, Firewall, FirewallState};
use crate::sys::{nft, nftnl, SysResult};

pub struct NftFirewall;

impl Firewall for NftFirewall {
    fn apply(&self, state: &FirewallState) -> SysResult<()> {
        nft::apply(None, &ruleset::full(state))
    }

    fn change(&self, changes: &[Change]) -> SysResult<()> {
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

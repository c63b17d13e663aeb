//! The transfer pair of an overlay network's namespace in the fake world (see `sys/ovns.rs`);
//! VXLAN devices born inside another namespace are `vxlan.rs`'s.

use super::stacked::{create_pair, Pair};
use super::FakeKernel;
use crate::sys::{SysResult, TransferSpec};

pub(super) fn create_transfer(k: &FakeKernel, spec: &TransferSpec) -> SysResult<u32> {
    create_pair(
        k,
        Pair {
            host_name: &spec.host_name,
            master: None,
            alias: Some(spec.alias.clone()),
            mtu: spec.mtu,
            peer_name: &spec.peer_name,
            peer_mac: None,
            peer_ns: &spec.peer_ns,
        },
    )
}

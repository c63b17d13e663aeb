//! What an overlay network's own namespace needs of the kernel beyond a sandbox's: a fresh
//! namespace with settings of its own (not one of the sandboxes' spares), and the transfer veth
//! pair joining it to the daemon's namespace. The VXLAN device is born inside it through
//! [`super::VxlanSpec::netns`].

use std::path::PathBuf;

/// The transfer pair: `host_name` stays here (marked `alias`, up, no master), `peer_name` is
/// born inside `peer_ns` (down; the caller configures it there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferSpec {
    pub host_name: String,
    pub alias: String,
    pub mtu: u32,
    pub peer_name: String,
    pub peer_ns: PathBuf,
}

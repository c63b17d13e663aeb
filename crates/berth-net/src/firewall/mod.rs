//! The firewall: Docker's reachability rules and published ports, in nftables tables berth owns
//! (`inet berth`, `bridge berth`). Per-network and per-port facts live in sets and maps, so the
//! rules are fixed and a change is an element update: the 1000th port costs what the first did.
//!
//! - Containers of one network reach each other; nothing enters a network from elsewhere except
//!   replies and published ports, so different networks are isolated both ways.
//! - Internal networks: nothing leaves them and nothing enters.
//! - Egress is masqueraded unless the network turns it off.
//! - `enable_icc=false`: a bridge-family rule drops IP traffic between that network's ports,
//!   except the exposed ports a `--link` opens (stateless, both directions, as Docker's rules).
//! - `inet berth user` is evaluated first and never touched: the user's own rules go there.

pub mod generation;
pub mod nftables;
pub mod ruleset;
pub mod watch;

use crate::sys::SysResult;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// A network as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetRule {
    pub bridge: String,
    pub internal: bool,
    pub masquerade: bool,
    pub icc: bool,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One published port: traffic to the host's `host_ip` (any local address of the container
/// address's family when None) and `host_port` goes to the container. Both addresses are of
/// one family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortRule {
    pub proto: Proto,
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
}

/// A `--link` through ICC isolation: the linking container's bridge port `from` may reach
/// `to` on one exposed port, and `to` may answer from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LinkRule {
    pub from: String,
    pub to: String,
    pub proto: Proto,
    pub port: u16,
}

/// Everything the firewall holds, to rebuild it at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallState {
    pub networks: Vec<NetRule>,
    /// Host ends of the veths of containers on networks with ICC off.
    pub isolated_ports: Vec<String>,
    pub ports: Vec<PortRule>,
    pub links: Vec<LinkRule>,
}

impl FirewallState {
    /// The facts after `changes`.
    pub fn apply_changes(&mut self, changes: &[Change]) {
        for c in changes {
            match c {
                Change::AddNetwork(n) => self.networks.push(n.clone()),
                Change::RemoveNetwork(n) => self.networks.retain(|x| x.bridge != n.bridge),
                Change::Isolate(v) => self.isolated_ports.push(v.clone()),
                Change::Unisolate(v) => self.isolated_ports.retain(|x| x != v),
                Change::AddPorts(p) => self.ports.extend(p.iter().cloned()),
                Change::RemovePorts(p) => self.ports.retain(|x| !p.contains(x)),
                Change::AddLinks(l) => self.links.extend(l.iter().cloned()),
                Change::RemoveLinks(l) => self.links.retain(|x| !l.contains(x)),
            }
        }
    }
}

/// A change of the firewall's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    AddNetwork(NetRule),
    RemoveNetwork(NetRule),
    Isolate(String),
    Unisolate(String),
    AddPorts(Vec<PortRule>),
    RemovePorts(Vec<PortRule>),
    AddLinks(Vec<LinkRule>),
    RemoveLinks(Vec<LinkRule>),
}

/// The kernel boundary of the firewall.
pub trait Firewall: Send + Sync + 'static {
    /// Makes berth's tables hold exactly `state`, in one transaction: at start, on reload, and
    /// after someone flushed them. The user chain is created if missing and never flushed.
    fn apply(&self, state: &FirewallState) -> SysResult<()>;
    /// Applies element changes in one transaction.
    fn change(&self, changes: &[Change]) -> SysResult<()>;
    /// Starts noticing changes others make to berth's tables, and undoing them.
    fn watch(self: Arc<Self>) -> SysResult<()> {
        Ok(())
    }
}

/// `iptables: false`: berth leaves the firewall alone entirely.
pub struct Disabled;

impl Firewall for Disabled {
    fn apply(&self, _: &FirewallState) -> SysResult<()> {
        Ok(())
    }
    fn change(&self, _: &[Change]) -> SysResult<()> {
        Ok(())
    }
}

/// In-memory firewall for unit tests: keeps the state the real one would hold.
#[derive(Default)]
pub struct FakeFirewall {
    pub state: Mutex<FirewallState>,
}

impl Firewall for FakeFirewall {
    fn apply(&self, state: &FirewallState) -> SysResult<()> {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state.clone();
        Ok(())
    }

    fn change(&self, changes: &[Change]) -> SysResult<()> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .apply_changes(changes);
        Ok(())
    }
}

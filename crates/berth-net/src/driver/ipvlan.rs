//! The ipvlan driver: each container gets an ipvlan child of the parent link, sharing the
//! parent's MAC, in L2, L3 or L3S mode.
//!
//! Many kernels are built without ipvlan (this machine's among them): creating a network first
//! makes a child on the parent to find out, and refuses with the missing support named, leaving
//! nothing behind.

use super::stacked::{self, Parent};
use super::{Deferred, DriverConfig, Join, Leave, NetworkDriver, NewNetwork};
use crate::error::{NetError, NetResult};
use crate::network::Network;
use crate::sys::{ChildKind, ChildSpec, IpvlanFlag, IpvlanMode, Kernel, EOPNOTSUPP};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub const OPT_MODE: &str = "ipvlan_mode";
pub const OPT_FLAG: &str = "ipvlan_flag";
const ALLOWED: &[&str] = &[stacked::OPT_PARENT, OPT_MODE, OPT_FLAG];

/// The ipvlan driver's settings of one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpvlanConfig {
    pub parent: Parent,
    pub mode: IpvlanMode,
    pub flag: IpvlanFlag,
}

fn parse_mode(value: &str) -> NetResult<IpvlanMode> {
    Ok(match value {
        "" | "l2" => IpvlanMode::L2,
        "l3" => IpvlanMode::L3,
        "l3s" => IpvlanMode::L3s,
        other => {
            return Err(NetError::InvalidParameter(format!(
                "requested ipvlan mode '{other}' is not valid, 'l2' mode is the ipvlan driver default; allowed modes: l2, l3, l3s"
            )))
        }
    })
}

fn parse_flag(value: &str) -> NetResult<IpvlanFlag> {
    Ok(match value {
        "" | "bridge" => IpvlanFlag::Bridge,
        "private" => IpvlanFlag::Private,
        "vepa" => IpvlanFlag::Vepa,
        other => {
            return Err(NetError::InvalidParameter(format!(
                "requested ipvlan flag '{other}' is not valid, 'bridge' is the ipvlan driver default; allowed flags: bridge, private, vepa"
            )))
        }
    })
}

fn config(net: &Network) -> NetResult<&IpvlanConfig> {
    match &net.driver {
        DriverConfig::Ipvlan(c) => Ok(c),
        _ => Err(NetError::InvalidParameter(format!(
            "network {} is not an ipvlan network",
            net.name
        ))),
    }
}

fn kind(c: &IpvlanConfig) -> ChildKind {
    ChildKind::Ipvlan(c.mode, c.flag)
}

/// Makes and removes an ipvlan child on the parent: the kernel's answer tells whether it has
/// ipvlan at all, before any container needs it.
async fn probe(kernel: &dyn Kernel, net: &Network, c: &IpvlanConfig, parent: u32) -> NetResult<()> {
    let name = format!("ip-{}", &net.id[..12.min(net.id.len())]);
    let spec = ChildSpec {
        name: name.clone(),
        parent,
        kind: kind(c),
        mac: None,
        alias: Some(super::owner_alias(&net.id)),
        netns: None,
        up: false,
    };
    match kernel.create_child(&spec).await {
        Ok(()) => super::delete_owned(kernel, &name, &net.id).await,
        Err(e) if e.errno() == EOPNOTSUPP => Err(NetError::InvalidParameter(format!(
            "cannot create ipvlan network {}: this kernel has no ipvlan support (CONFIG_IPVLAN, module ipvlan); the kernel answered: {e}",
            net.name
        ))),
        Err(e) => Err(NetError::Kernel {
            context: format!("create an ipvlan link on {}", c.parent.name),
            source: e,
        }),
    }
}

pub struct Ipvlan;

#[async_trait]
impl NetworkDriver for Ipvlan {
    fn name(&self) -> &'static str {
        "ipvlan"
    }

    fn configure(&self, new: &NewNetwork<'_>) -> NetResult<DriverConfig> {
        for key in new.options.keys() {
            if !ALLOWED.contains(&key.as_str()) && key.starts_with("com.docker.network.") {
                return Err(NetError::InvalidParameter(format!(
                    "unknown ipvlan driver option \"{key}\"; supported options: {}",
                    ALLOWED.join(", ")
                )));
            }
        }
        let get = |k: &str| new.options.get(k).map_or("", String::as_str);
        Ok(DriverConfig::Ipvlan(IpvlanConfig {
            parent: stacked::parse_parent(new.options, new.id, "ipvlan")?,
            mode: parse_mode(get(OPT_MODE))?,
            flag: parse_flag(get(OPT_FLAG))?,
        }))
    }

    fn forces_internal(&self, cfg: &DriverConfig) -> bool {
        matches!(cfg, DriverConfig::Ipvlan(c) if c.parent.origin == stacked::ParentOrigin::StandIn)
    }

    fn host_links(&self, net: &Network) -> Vec<String> {
        config(net)
            .map(|c| stacked::owned_links(&c.parent))
            .unwrap_or_default()
    }

    async fn create(&self, kernel: &dyn Kernel, net: &Network) -> NetResult<()> {
        let c = config(net)?;
        let parent = stacked::ensure_parent(kernel, net, &c.parent).await?;
        probe(kernel, net, c, parent).await
    }

    async fn delete(&self, kernel: &dyn Kernel, net: &Network) -> NetResult<()> {
        let c = config(net)?;
        stacked::remove_parent(kernel, net, &c.parent).await
    }

    async fn join(&self, cx: Join<'_>) -> NetResult<Option<u32>> {
        let c = config(cx.net)?;
        let (parent, kind) = (c.parent.name.clone(), kind(c));
        // ipvlan children share the parent's MAC: the kernel refuses one of their own.
        stacked::join(cx, &parent, kind, None).await
    }

    async fn leave(&self, cx: Leave<'_>) -> NetResult<Option<Deferred>> {
        // Taken down before its sandbox goes: an ipvlan child holds its addresses on the
        // parent's port, and this kernel has no ipvlan to show that a background deletion lets
        // them go in time for a newcomer.
        stacked::leave(cx, false).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_flags_name_the_allowed_values() {
        assert_eq!(parse_mode("l3s").unwrap(), IpvlanMode::L3s);
        assert_eq!(parse_flag("").unwrap(), IpvlanFlag::Bridge);
        let e = parse_mode("l4").unwrap_err().to_string();
        assert!(e.contains("'l4'") && e.contains("l3s"), "{e}");
        let e = parse_flag("nope").unwrap_err().to_string();
        assert!(e.contains("'nope'") && e.contains("vepa"), "{e}");
    }
}

//! Global IPAM choices as pure functions: which /24 of the global pool, which VNI, which
//! address. The claims themselves are transactions (network.rs, endpoint.rs); a choice that
//! loses a race is simply made again on fresher data.

use std::collections::{BTreeSet, HashSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use rand::Rng;

use crate::error::{ClusterError, Result};
use crate::model::{NetworkRecord, NetworkSpec};

/// Docker's default pool for global-scope networks: 10.0.0.0/8 carved in /24s.
pub const GLOBAL_POOL: Ipv4Net = match Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), 8) {
    Ok(n) => n,
    Err(_) => panic!("10.0.0.0/8 is a valid network"),
};
pub const GLOBAL_POOL_SIZE: u8 = 24;
/// Docker's overlay VNIs start here; the rest of the 24-bit space is free for berth.
pub const VNI_FIRST: u32 = 4096;
pub const VNI_LAST: u32 = (1 << 24) - 1;

pub fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first /24 of the global pool that overlaps none of `taken`.
pub fn pick_subnet(taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    GLOBAL_POOL
        .subnets(GLOBAL_POOL_SIZE)
        .ok()?
        .find(|s| !taken.iter().any(|t| overlaps(*s, *t)))
}

/// The lowest VNI from 4096 up that nobody holds.
pub fn pick_vni(used: &BTreeSet<u32>) -> Option<u32> {
    let mut want = VNI_FIRST;
    for v in used.range(VNI_FIRST..) {
        if *v != want {
            break;
        }
        want += 1;
    }
    (want <= VNI_LAST).then_some(want)
}

/// Checks a create request against itself (the cluster-wide checks come with the claim).
pub fn check_spec(spec: &NetworkSpec) -> Result<()> {
    if let Some(vni) = spec.vni {
        if !(1..=VNI_LAST).contains(&vni) {
            return Err(ClusterError::Invalid(format!(
                "VNI {vni} is out of range (1-{VNI_LAST})"
            )));
        }
    }
    let Some(subnet) = spec.subnet else {
        if spec.gateway.is_some() || spec.ip_range.is_some() {
            return Err(ClusterError::Invalid(
                "--gateway and --ip-range need --subnet".into(),
            ));
        }
        return Ok(());
    };
    if subnet.trunc() != subnet {
        return Err(ClusterError::Invalid(format!(
            "invalid subnet {subnet}: it is not a network address (did you mean {}?)",
            subnet.trunc()
        )));
    }
    if subnet.prefix_len() > 30 {
        return Err(ClusterError::Invalid(format!(
            "subnet {subnet} is too small for a network: /30 at most"
        )));
    }
    if let Some(gw) = spec.gateway {
        if !subnet.contains(&gw) || gw == subnet.network() || gw == subnet.broadcast() {
            return Err(ClusterError::Invalid(format!(
                "no matching subnet for gateway {gw}: it must be a host address of {subnet}"
            )));
        }
    }
    if let Some(r) = spec.ip_range {
        if !subnet.contains(&r) {
            return Err(ClusterError::Invalid(format!(
                "no matching subnet for range {r}: it must lie within {subnet}"
            )));
        }
    }
    Ok(())
}

/// Docker's gateway default: the subnet's first host address.
pub fn default_gateway(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

/// Whether `ip` may be given to an endpoint of `net` at all.
pub fn check_requested(net: &NetworkRecord, ip: Ipv4Addr) -> Result<()> {
    if !net.subnet.contains(&ip) {
        return Err(ClusterError::Invalid(format!(
            "invalid address {ip}: it does not belong to network {}'s subnet {}",
            net.name, net.subnet
        )));
    }
    if ip == net.subnet.network() || ip == net.subnet.broadcast() || ip == net.gateway {
        return Err(ClusterError::Invalid(format!(
            "invalid address {ip}: it is the network, broadcast or gateway address of {}",
            net.subnet
        )));
    }
    Ok(())
}

/// The free addresses of the network's pool, in order, lazily.
pub fn free_addresses<'a>(
    net: &'a NetworkRecord,
    used: &'a HashSet<Ipv4Addr>,
) -> impl Iterator<Item = Ipv4Addr> + 'a {
    let pool = net.ip_range.unwrap_or(net.subnet);
    let (first, last) = (u32::from(pool.network()), u32::from(pool.broadcast()));
    (first..=last).map(Ipv4Addr::from).filter(move |ip| {
        *ip != net.subnet.network()
            && *ip != net.subnet.broadcast()
            && *ip != net.gateway
            && !used.contains(ip)
    })
}

/// The address to try on the `attempt`-th try: the first free one at first (Docker's order),
/// then one at random among the first 2^attempt free ones, so claimers that keep colliding on
/// other nodes spread out instead of all retrying the same address.
pub fn choose_address(
    net: &NetworkRecord,
    used: &HashSet<Ipv4Addr>,
    attempt: u32,
) -> Option<Ipv4Addr> {
    let width = 1usize << attempt.min(12);
    let window: Vec<Ipv4Addr> = free_addresses(net, used).take(width).collect();
    if window.is_empty() {
        return None;
    }
    if attempt == 0 {
        return window.first().copied();
    }
    let i = rand::thread_rng().gen_range(0..window.len());
    window.get(i).copied()
}

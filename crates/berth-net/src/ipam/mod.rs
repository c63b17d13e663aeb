//! IP address management: which subnet a network gets and which addresses inside it are taken.
//!
//! Subnets come from the user or from address pools (Docker's defaults unless the daemon is
//! configured otherwise), skipping any pool that overlaps a network or an on-link route of the host.
//! Inside a subnet addresses are handed out lowest free first, and a freed one is reused at once,
//! as Docker does.
//!
//! The seam: [`SubnetPool`] is configuration, stored with its network; which addresses are taken
//! is runtime state behind [`AddressAllocator`] ([`alloc::Allocations`] on one host), keyed by
//! network ID and rebuilt from the endpoint records at start. A cluster-wide allocator takes its
//! place without the controller changing. [`plan`] decides and checks a new network's subnets.

pub mod alloc;
pub mod plan;

pub use alloc::{AddressAllocator, Allocations, Lease};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One address pool: `base` is carved into subnets of prefix length `size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSpec {
    pub base: IpNet,
    pub size: u8,
}

impl PoolSpec {
    /// Validates that `size` can carve `base`.
    pub fn new(base: IpNet, size: u8) -> Result<Self, IpamError> {
        let max = match base {
            IpNet::V4(_) => 32,
            IpNet::V6(_) => 128,
        };
        if size < base.prefix_len() || size > max {
            return Err(IpamError::BadPool(format!(
                "invalid pool {base} size {size}: size must be between {} and {max}",
                base.prefix_len()
            )));
        }
        Ok(PoolSpec {
            base: base.trunc(),
            size,
        })
    }

    /// Parses Docker's `base=CIDR,size=N` form.
    pub fn parse(text: &str) -> Result<Self, IpamError> {
        let mut base = None;
        let mut size = None;
        for part in text.split(',') {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                IpamError::BadPool(format!(
                    "invalid address pool '{text}': expected base=CIDR,size=N"
                ))
            })?;
            match k.trim() {
                "base" => {
                    base = Some(IpNet::from_str(v.trim()).map_err(|_| {
                        IpamError::BadPool(format!("invalid address pool base '{v}': not a CIDR"))
                    })?)
                }
                "size" => {
                    size = Some(v.trim().parse::<u8>().map_err(|_| {
                        IpamError::BadPool(format!("invalid address pool size '{v}': not a number"))
                    })?)
                }
                other => {
                    return Err(IpamError::BadPool(format!(
                        "invalid address pool key '{other}' in '{text}': allowed keys are base and size"
                    )))
                }
            }
        }
        match (base, size) {
            (Some(b), Some(s)) => PoolSpec::new(b, s),
            _ => Err(IpamError::BadPool(format!(
                "invalid address pool '{text}': both base and size are required"
            ))),
        }
    }

    /// The subnets of this pool, in address order.
    pub fn subnets(&self) -> Box<dyn Iterator<Item = IpNet> + '_> {
        match self.base {
            IpNet::V4(b) => Box::new(b.subnets(self.size).into_iter().flatten().map(IpNet::V4)),
            IpNet::V6(b) => Box::new(b.subnets(self.size).into_iter().flatten().map(IpNet::V6)),
        }
    }
}

/// Docker's default IPv4 pools: 172.17–172.31 as /16s, then 192.168.0.0/16 in /20s.
pub fn default_v4_pools() -> Vec<PoolSpec> {
    let mut pools: Vec<PoolSpec> = (17..=31)
        .map(|b| PoolSpec {
            base: IpNet::V4(Ipv4Net::new([172, b, 0, 0].into(), 16).expect("valid /16")),
            size: 16,
        })
        .collect();
    pools.push(PoolSpec {
        base: IpNet::V4(Ipv4Net::new([192, 168, 0, 0].into(), 16).expect("valid /16")),
        size: 20,
    });
    pools
}

/// berth's default IPv6 pool for `--ipv6` networks without a subnet: /64s of a ULA /48.
pub fn default_v6_pools() -> Vec<PoolSpec> {
    let base = Ipv6Net::new("fd42:b3e7:c0de::".parse().expect("valid v6"), 48).expect("valid /48");
    vec![PoolSpec {
        base: IpNet::V6(base),
        size: 64,
    }]
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("{0}")]
    BadPool(String),
    #[error("{0}")]
    Exhausted(String),
    #[error("Address already in use: {0}")]
    InUse(IpAddr),
    #[error("Invalid address {0}: It does not belong to any of this network's subnets")]
    OutOfSubnet(IpAddr),
    #[error("no free address left in {0}")]
    Full(IpNet),
}

/// Whether two networks share any address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first subnet of `pools` of the wanted family that overlaps nothing in `in_use`.
pub fn next_free_subnet(pools: &[PoolSpec], in_use: &[IpNet], v6: bool) -> Option<IpNet> {
    pools
        .iter()
        .filter(|p| p.base.addr().is_ipv6() == v6)
        .find_map(|p| first_free(p, in_use))
}

/// The first subnet of `pool` that overlaps nothing in `in_use`. A taken candidate skips past
/// everything that overlaps it, so the search takes steps in the number of networks in use, not
/// in the pool's size (a /48 carved into /73s is 2^25 candidates).
fn first_free(pool: &PoolSpec, in_use: &[IpNet]) -> Option<IpNet> {
    let v6 = pool.base.addr().is_ipv6();
    let host_bits = u32::from(pool.base.max_prefix_len()) - u32::from(pool.size);
    // The size of one candidate, less one (a /0 of IPv6 is all of u128).
    let span = u128::MAX.checked_shr(128 - host_bits).unwrap_or(0);
    let start = as_u128(pool.base.network());
    let end = as_u128(pool.base.broadcast());
    let mut at = start;
    loop {
        let candidate = IpNet::new(from_u128(v6, at), pool.size).ok()?;
        let Some(last) = in_use
            .iter()
            .filter(|used| overlaps(&candidate, used))
            .map(|used| as_u128(used.broadcast()))
            .max()
        else {
            return Some(candidate);
        };
        // The next candidate after both this one and what overlaps it.
        let after = last.max(at + span).checked_add(1)?;
        let offset = (after - start).checked_add(span)? / (span + 1) * (span + 1);
        at = start.checked_add(offset)?;
        if at > end {
            return None;
        }
    }
}

/// Addresses of one subnet: which are reserved (gateway, aux) and which are allocated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetPool {
    pub subnet: IpNet,
    pub gateway: IpAddr,
    /// Whether the user chose the gateway (Docker echoes only a user's gateway; berth always shows it).
    #[serde(default)]
    pub gateway_given: bool,
    /// Chosen from a pool rather than given by the user (static IPs need a user's subnet).
    #[serde(default)]
    pub auto: bool,
    /// Allocation is limited to this range when set (`--ip-range`).
    #[serde(default)]
    pub ip_range: Option<IpNet>,
    /// `--aux-address name=IP`: reserved, never allocated.
    #[serde(default)]
    pub aux: BTreeMap<String, IpAddr>,
}

fn as_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(v6: bool, n: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(n.into())
    } else {
        IpAddr::V4((n as u32).into())
    }
}

impl SubnetPool {
    pub fn new(subnet: IpNet, gateway: IpAddr, gateway_given: bool) -> Self {
        SubnetPool {
            subnet,
            gateway,
            gateway_given,
            auto: false,
            ip_range: None,
            aux: BTreeMap::new(),
        }
    }

    /// The first usable host address of a subnet (the default gateway).
    pub fn first_host(subnet: &IpNet) -> IpAddr {
        let start = as_u128(subnet.network());
        let offset = if subnet.prefix_len() >= subnet.max_prefix_len() - 1 {
            0
        } else {
            1
        };
        from_u128(subnet.addr().is_ipv6(), start + offset)
    }

    /// Whether `ip` can never be handed out: network or broadcast address, gateway, aux.
    pub fn is_reserved(&self, ip: IpAddr) -> bool {
        let small = self.subnet.prefix_len() >= self.subnet.max_prefix_len() - 1;
        (!small && ip == self.subnet.network())
            || (!small && ip.is_ipv4() && ip == self.subnet.broadcast())
            || ip == self.gateway
            || self.aux.values().any(|a| *a == ip)
    }

    /// How many addresses of the range can be handed out at all (saturating).
    pub fn usable(&self) -> u128 {
        let range = self.ip_range.unwrap_or(self.subnet);
        let size = (as_u128(range.broadcast()) - as_u128(range.network())).saturating_add(1);
        let mut reserved: BTreeSet<IpAddr> = self.aux.values().copied().collect();
        reserved.extend([self.gateway, self.subnet.network(), self.subnet.broadcast()]);
        let held = reserved
            .iter()
            .filter(|ip| range.contains(*ip) && self.is_reserved(**ip))
            .count() as u128;
        size.saturating_sub(held)
    }

    /// Allocates `requested` or else the lowest free address of the range; `allocated` holds
    /// the addresses of the pool's network already in use.
    pub fn allocate(
        &self,
        allocated: &mut BTreeSet<IpAddr>,
        requested: Option<IpAddr>,
    ) -> Result<IpAddr, IpamError> {
        if let Some(ip) = requested {
            if !self.subnet.contains(&ip) {
                return Err(IpamError::OutOfSubnet(ip));
            }
            if self.is_reserved(ip) || allocated.contains(&ip) {
                return Err(IpamError::InUse(ip));
            }
            allocated.insert(ip);
            return Ok(ip);
        }
        let range = self.ip_range.unwrap_or(self.subnet);
        let v6 = range.addr().is_ipv6();
        let (first, last) = (as_u128(range.network()), as_u128(range.broadcast()));
        let mut n = first;
        // Walk allocated addresses in order alongside the candidate: O(allocated) per call.
        let mut taken = allocated
            .range(from_u128(v6, first)..=from_u128(v6, last))
            .map(|ip| as_u128(*ip))
            .peekable();
        while n <= last {
            let ip = from_u128(v6, n);
            while taken.peek().is_some_and(|t| *t < n) {
                taken.next();
            }
            if taken.peek() != Some(&n) && !self.is_reserved(ip) {
                drop(taken);
                allocated.insert(ip);
                return Ok(ip);
            }
            n = match n.checked_add(1) {
                Some(next) => next,
                None => break,
            };
        }
        Err(IpamError::Full(range))
    }
}

impl fmt::Display for SubnetPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (gateway {})", self.subnet, self.gateway)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn next_free_subnet_skips_what_is_taken_without_walking_the_pool() {
        let pool = |b: &str, size| PoolSpec::new(net(b), size).unwrap();
        // Found by fuzzing (fuzz/ cidr): a /48 in /73s under a /4 in use was a scan of 2^25
        // candidates, seconds inside the networks lock.
        let big = [pool("d0f::/48", 73)];
        let started = std::time::Instant::now();
        assert_eq!(
            next_free_subnet(&big, &[net("fd00::/64"), net("::/4")], true),
            None
        );
        let all = [pool("::/0", 128)];
        assert_eq!(next_free_subnet(&all, &[net("::/0")], true), None);
        assert_eq!(
            next_free_subnet(&all, &[net("::/1")], true),
            Some(net("8000::/128"))
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // Smaller networks in use inside a candidate, larger ones over several.
        let p = [pool("10.0.0.0/8", 24)];
        let used = [net("10.0.0.0/16"), net("10.1.0.128/25"), net("10.1.1.7/32")];
        assert_eq!(next_free_subnet(&p, &used, false), Some(net("10.1.2.0/24")));
        let whole = [pool("0.0.0.0/0", 0)];
        assert_eq!(next_free_subnet(&whole, &[], false), Some(net("0.0.0.0/0")));
        assert_eq!(next_free_subnet(&whole, &used, false), None);
        let last = [pool("255.255.255.0/24", 25)];
        assert_eq!(
            next_free_subnet(&last, &[net("255.255.255.0/25")], false),
            Some(net("255.255.255.128/25"))
        );
        assert_eq!(
            next_free_subnet(
                &last,
                &[net("255.255.255.128/25"), net("255.255.255.0/26")],
                false
            ),
            None
        );
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_pools_follow_docker() {
        let pools = default_v4_pools();
        assert_eq!(pools.len(), 16);
        assert_eq!(
            next_free_subnet(&pools, &[], false),
            Some(net("172.17.0.0/16"))
        );
        let used = [net("172.17.0.0/16"), net("172.18.0.0/16")];
        assert_eq!(
            next_free_subnet(&pools, &used, false),
            Some(net("172.19.0.0/16"))
        );
        // After the 15 /16s come /20s of 192.168.0.0/16.
        let all172: Vec<IpNet> = (17..=31).map(|b| net(&format!("172.{b}.0.0/16"))).collect();
        assert_eq!(
            next_free_subnet(&pools, &all172, false),
            Some(net("192.168.0.0/20"))
        );
    }

    #[test]
    fn pools_skip_overlapping_routes_and_exhaust() {
        let pools = vec![PoolSpec::parse("base=10.10.0.0/22,size=24").unwrap()];
        // A host route inside the first /24 and a wider one covering the third.
        let used = [net("10.10.0.128/25"), net("10.10.2.0/23")];
        assert_eq!(
            next_free_subnet(&pools, &used, false),
            Some(net("10.10.1.0/24"))
        );
        let used = [net("10.0.0.0/8")];
        assert_eq!(next_free_subnet(&pools, &used, false), None);
        assert_eq!(next_free_subnet(&pools, &[], true), None);
    }

    #[test]
    fn pool_parse_errors_name_the_value() {
        assert!(PoolSpec::parse("base=10.0.0.0/8,size=4")
            .unwrap_err()
            .to_string()
            .contains("size 4"));
        assert!(PoolSpec::parse("base=nope,size=24")
            .unwrap_err()
            .to_string()
            .contains("nope"));
        assert!(PoolSpec::parse("bass=10.0.0.0/8,size=24")
            .unwrap_err()
            .to_string()
            .contains("bass"));
    }

    #[test]
    fn lowest_free_first_and_reuse() {
        let s = net("10.0.0.0/29");
        let p = SubnetPool::new(s, SubnetPool::first_host(&s), false);
        let mut held = BTreeSet::new();
        assert_eq!(p.gateway, ip("10.0.0.1"));
        let got: Vec<IpAddr> = (0..5)
            .map(|_| p.allocate(&mut held, None).unwrap())
            .collect();
        assert_eq!(
            got,
            ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"].map(ip)
        );
        // .0 is the network, .1 the gateway, .7 broadcast: the /29 is full.
        assert_eq!(p.allocate(&mut held, None), Err(IpamError::Full(s)));
        assert!(held.remove(&ip("10.0.0.3")));
        assert_eq!(p.allocate(&mut held, None).unwrap(), ip("10.0.0.3"));
    }

    #[test]
    fn static_requests_are_checked() {
        let s = net("192.168.0.0/16");
        let mut p = SubnetPool::new(s, ip("192.168.0.1"), true);
        let mut held = BTreeSet::new();
        p.aux.insert("router".into(), ip("192.168.0.2"));
        assert_eq!(
            p.allocate(&mut held, Some(ip("10.0.0.5"))),
            Err(IpamError::OutOfSubnet(ip("10.0.0.5")))
        );
        assert_eq!(
            p.allocate(&mut held, Some(ip("192.168.0.1"))),
            Err(IpamError::InUse(ip("192.168.0.1")))
        );
        assert_eq!(
            p.allocate(&mut held, Some(ip("192.168.255.255"))),
            Err(IpamError::InUse(ip("192.168.255.255")))
        );
        assert_eq!(
            p.allocate(&mut held, Some(ip("192.168.10.10"))),
            Ok(ip("192.168.10.10"))
        );
        assert_eq!(
            p.allocate(&mut held, Some(ip("192.168.10.10"))),
            Err(IpamError::InUse(ip("192.168.10.10")))
        );
        // The aux address is skipped by dynamic allocation.
        assert_eq!(p.allocate(&mut held, None), Ok(ip("192.168.0.3")));
    }

    #[test]
    fn ip_range_limits_dynamic_allocation() {
        let s = net("10.1.0.0/16");
        let mut p = SubnetPool::new(s, ip("10.1.0.1"), false);
        let mut held = BTreeSet::new();
        p.ip_range = Some(net("10.1.5.0/30"));
        let got: Vec<IpAddr> = (0..4)
            .map(|_| p.allocate(&mut held, None).unwrap())
            .collect();
        assert_eq!(
            got,
            ["10.1.5.0", "10.1.5.1", "10.1.5.2", "10.1.5.3"].map(ip)
        );
        assert!(matches!(
            p.allocate(&mut held, None),
            Err(IpamError::Full(_))
        ));
    }

    #[test]
    fn ipv6_allocation() {
        let s = net("fd00:1::/64");
        let p = SubnetPool::new(s, SubnetPool::first_host(&s), false);
        let mut held = BTreeSet::new();
        assert_eq!(p.gateway, ip("fd00:1::1"));
        assert_eq!(p.allocate(&mut held, None).unwrap(), ip("fd00:1::2"));
        assert_eq!(
            next_free_subnet(&default_v6_pools(), &[], true),
            Some(net("fd42:b3e7:c0de::/64"))
        );
    }

    #[test]
    fn configuration_round_trips_through_json_and_old_allocations_are_ignored() {
        let s = net("10.0.0.0/24");
        let mut p = SubnetPool::new(s, ip("10.0.0.1"), true);
        p.aux.insert("host".into(), ip("10.0.0.9"));
        let json = serde_json::to_string(&p).unwrap();
        let back: SubnetPool = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        // Records written by an older berth, with the set inside, still load.
        let with_set = format!(
            r#"{},"allocated":["10.0.0.2"]}}"#,
            json.strip_suffix('}').unwrap()
        );
        let old: SubnetPool = serde_json::from_str(&with_set).unwrap();
        assert_eq!(old, p);
    }

    #[test]
    fn usable_counts_what_can_be_handed_out() {
        let pool = |s: &str| {
            let n = net(s);
            SubnetPool::new(n, SubnetPool::first_host(&n), false)
        };
        assert_eq!(pool("10.0.0.0/24").usable(), 253);
        assert_eq!(pool("10.0.0.0/30").usable(), 1);
        assert_eq!(pool("10.0.0.0/31").usable(), 1);
        assert_eq!(pool("10.0.0.5/32").usable(), 0);
        assert_eq!(pool("fd00::/127").usable(), 1);
        assert_eq!(pool("fd00::1/128").usable(), 0);
        let mut p = pool("10.0.0.0/31");
        p.aux.insert("x".into(), ip("10.0.0.1"));
        assert_eq!(p.usable(), 0);
    }
}

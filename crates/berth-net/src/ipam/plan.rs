//! A new network's subnets: the user's, checked, or the next free ones of the address pools.
//!
//! A subnet must hold addresses containers can use. Loopback, link-local, multicast and reserved
//! ranges are refused (the kernel either refuses them with an errno or takes them and breaks the
//! host), as is a subnet with no address left once its gateway and aux addresses are reserved.
//! A network whose driver routes its subnet on the host (a bridge) may not take a subnet the
//! host already reaches through one of its own links.

use super::{next_free_subnet, overlaps, PoolSpec, SubnetPool};
use crate::error::{NetError, NetResult};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::str::FromStr;

/// One subnet of a create request, as the user wrote it.
#[derive(Debug, Clone, Default)]
pub struct SubnetRequest {
    pub subnet: String,
    pub gateway: String,
    pub ip_range: String,
    pub aux_addresses: BTreeMap<String, String>,
}

/// What the planner needs to know of a new network.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    pub name: &'a str,
    pub subnets: &'a [SubnetRequest],
    pub enable_ipv4: bool,
    pub enable_ipv6: bool,
    /// Subnets of the networks that exist, with their names.
    pub in_use: &'a [(IpNet, String)],
    /// On-link routes of the host: pools skip them, and when `refuse_host_routes` a user's
    /// subnet that overlaps one is refused.
    pub host_routes: &'a [IpNet],
    pub refuse_host_routes: bool,
    pub v4_pools: &'a [PoolSpec],
    pub v6_pools: &'a [PoolSpec],
}

fn bad(msg: impl Into<String>) -> NetError {
    NetError::InvalidParameter(msg.into())
}

/// Ranges no network may use, with why.
const RESERVED: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this network\" (0.0.0.0/8)"),
    ("127.0.0.0/8", "loopback (127.0.0.0/8)"),
    ("169.254.0.0/16", "link-local (169.254.0.0/16)"),
    ("224.0.0.0/4", "multicast (224.0.0.0/4)"),
    ("240.0.0.0/4", "reserved (240.0.0.0/4)"),
    ("::/128", "the unspecified address (::/128)"),
    ("::1/128", "loopback (::1/128)"),
    ("fe80::/10", "link-local (fe80::/10)"),
    ("ff00::/8", "multicast (ff00::/8)"),
];

/// A value exactly as given: whitespace or control characters around or inside are refused,
/// not trimmed (a trailing newline would otherwise pass and end up in stored records).
fn exact<'a>(what: &str, text: &'a str) -> NetResult<&'a str> {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(format!(
            "invalid {what} {text:?}: it contains whitespace or control characters"
        )));
    }
    Ok(text)
}

/// Parses and checks a user's subnet.
pub fn parse_subnet(text: &str) -> NetResult<IpNet> {
    let net = IpNet::from_str(exact("subnet", text)?)
        .map(|n| n.trunc())
        .map_err(|_| {
            bad(format!(
                "Invalid subnet {text} : invalid CIDR address: {text}"
            ))
        })?;
    for (range, why) in RESERVED {
        let range: IpNet = range.parse().expect("valid reserved range");
        if range.addr().is_ipv4() == net.addr().is_ipv4() && overlaps(&range, &net) {
            return Err(bad(format!(
                "invalid subnet {text}: it overlaps {why}, which containers cannot use"
            )));
        }
    }
    Ok(net)
}

fn parse_ip(what: &str, text: &str) -> NetResult<IpAddr> {
    IpAddr::from_str(exact(&format!("{what} address"), text)?)
        .map_err(|_| bad(format!("invalid {what} address {text}: not an IP address")))
}

/// The subnets of a new network, sorted IPv4 first.
pub fn plan(p: Plan<'_>) -> NetResult<Vec<SubnetPool>> {
    let mut in_use: Vec<(IpNet, String)> = p.in_use.to_vec();
    let mut pools = Vec::new();
    for s in p.subnets {
        if s.subnet.is_empty() {
            if !s.gateway.is_empty() || !s.ip_range.is_empty() || !s.aux_addresses.is_empty() {
                return Err(bad(
                    "every ip-range or gateway must have a corresponding subnet",
                ));
            }
            continue;
        }
        let subnet = parse_subnet(&s.subnet)?;
        if subnet.addr().is_ipv6() && !p.enable_ipv6 {
            return Err(bad(format!(
                "subnet {subnet} is IPv6 but IPv6 is not enabled on this network (add --ipv6)"
            )));
        }
        if subnet.addr().is_ipv4() && !p.enable_ipv4 {
            return Err(bad(format!(
                "subnet {subnet} is IPv4 but IPv4 is disabled on this network"
            )));
        }
        if let Some((used, owner)) = in_use.iter().find(|(u, _)| overlaps(u, &subnet)) {
            return Err(NetError::Forbidden(format!(
                "Pool overlaps with other one on this address space: {subnet} overlaps {used} of network {owner}"
            )));
        }
        if p.refuse_host_routes {
            if let Some(route) = p.host_routes.iter().find(|r| overlaps(r, &subnet)) {
                return Err(bad(format!(
                    "invalid subnet {subnet}: it overlaps {route}, which the host reaches through one of its own links; a network there would cut the host off it"
                )));
            }
        }
        let (gateway, given) = if s.gateway.is_empty() {
            (SubnetPool::first_host(&subnet), false)
        } else {
            let gw = parse_ip("gateway", &s.gateway)?;
            if !subnet.contains(&gw) {
                return Err(bad(format!("no matching subnet for gateway {}", s.gateway)));
            }
            (gw, true)
        };
        if gateway == subnet.network() && subnet.prefix_len() < subnet.max_prefix_len() - 1
            || (gateway.is_ipv4() && gateway == subnet.broadcast() && subnet.prefix_len() < 31)
        {
            return Err(bad(format!(
                "invalid gateway {gateway}: it is the network or broadcast address of {subnet}"
            )));
        }
        let mut pool = SubnetPool::new(subnet, gateway, given);
        if !s.ip_range.is_empty() {
            let range = IpNet::from_str(exact("ip-range", &s.ip_range)?)
                .map_err(|_| bad(format!("invalid ip-range {}: not a CIDR", s.ip_range)))?;
            if !subnet.contains(&range) {
                return Err(bad(format!("no matching subnet for range {}", s.ip_range)));
            }
            pool.ip_range = Some(range.trunc());
        }
        for (name, addr) in &s.aux_addresses {
            let ip = parse_ip("auxiliary", addr)?;
            if !subnet.contains(&ip) {
                return Err(bad(format!(
                    "no matching subnet for aux-address {name}={addr}"
                )));
            }
            pool.aux.insert(name.clone(), ip);
        }
        if pool.usable() == 0 {
            return Err(bad(format!(
                "invalid subnet {}: it leaves no address for containers once its gateway {gateway}{} reserved",
                s.subnet,
                if pool.aux.is_empty() { " is" } else { " and aux addresses are" }
            )));
        }
        in_use.push((subnet, p.name.to_string()));
        pools.push(pool);
    }
    let has_v4 = pools.iter().any(|s| s.subnet.addr().is_ipv4());
    let has_v6 = pools.iter().any(|s| s.subnet.addr().is_ipv6());
    for (need, v6, pool_cfg) in [
        (p.enable_ipv4 && !has_v4, false, p.v4_pools),
        (p.enable_ipv6 && !has_v6, true, p.v6_pools),
    ] {
        if !need {
            continue;
        }
        let mut taken: Vec<IpNet> = in_use.iter().map(|(n, _)| *n).collect();
        taken.extend_from_slice(p.host_routes);
        let subnet = next_free_subnet(pool_cfg, &taken, v6).ok_or_else(|| {
            bad(format!(
                "could not find an available, non-overlapping IPv{} address pool among the defaults to assign to the network ({} pools configured, all in use or overlapping host routes)",
                if v6 { 6 } else { 4 },
                pool_cfg.iter().filter(|c| c.base.addr().is_ipv6() == v6).count()
            ))
        })?;
        in_use.push((subnet, p.name.to_string()));
        let mut pool = SubnetPool::new(subnet, SubnetPool::first_host(&subnet), false);
        pool.auto = true;
        pools.push(pool);
    }
    pools.sort_by_key(|s| s.subnet.addr().is_ipv6());
    Ok(pools)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(subnet: &str) -> SubnetRequest {
        SubnetRequest {
            subnet: subnet.into(),
            ..Default::default()
        }
    }

    fn try_plan(
        reqs: &[SubnetRequest],
        routes: &[IpNet],
        refuse: bool,
    ) -> NetResult<Vec<SubnetPool>> {
        plan(Plan {
            name: "n",
            subnets: reqs,
            enable_ipv4: true,
            enable_ipv6: true,
            in_use: &[],
            host_routes: routes,
            refuse_host_routes: refuse,
            v4_pools: &super::super::default_v4_pools(),
            v6_pools: &super::super::default_v6_pools(),
        })
    }

    #[test]
    fn subnets_that_break_the_host_are_refused_naming_the_value() {
        for (subnet, needle) in [
            ("224.0.0.0/4", "multicast"),
            ("239.1.0.0/16", "multicast"),
            ("127.0.0.0/8", "loopback"),
            ("127.5.0.0/16", "loopback"),
            ("169.254.0.0/16", "link-local"),
            ("240.0.0.0/8", "reserved"),
            ("0.0.0.0/0", "0.0.0.0/8"),
            ("ff02::/16", "multicast"),
            ("fe80::/64", "link-local"),
            ("10.9.9.9/32", "no address"),
            ("10.9.9.8/31\n", "whitespace"),
            ("10.9.0.0/16\n", "whitespace"),
            (" 10.9.0.0/16", "whitespace"),
        ] {
            let e = try_plan(&[one(subnet)], &[], true).unwrap_err();
            let msg = e.to_string();
            assert!(
                matches!(e, NetError::InvalidParameter(_)),
                "{subnet:?}: {e:?}"
            );
            assert!(msg.contains(needle), "{subnet:?}: {msg}");
            assert!(msg.contains(subnet.trim()), "{subnet:?} not named: {msg}");
        }
        // A /31 has one address once the gateway takes the other; with an aux address, none.
        assert!(try_plan(&[one("10.9.9.8/31")], &[], true).is_ok());
        let full = SubnetRequest {
            aux_addresses: [("x".to_string(), "10.9.9.9".to_string())].into(),
            ..one("10.9.9.8/31")
        };
        let e = try_plan(&[full], &[], true).unwrap_err().to_string();
        assert!(e.contains("no address") && e.contains("10.9.9.8/31"), "{e}");
        let e = try_plan(
            &[SubnetRequest {
                gateway: "10.9.0.1\n".into(),
                ..one("10.9.0.0/16")
            }],
            &[],
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("whitespace"), "{e}");
    }

    #[test]
    fn a_host_link_subnet_is_refused_only_where_the_host_routes_it() {
        let route: IpNet = "192.168.77.0/24".parse().unwrap();
        let e = try_plan(&[one("192.168.77.0/25")], &[route], true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("192.168.77.0/25") && e.contains("192.168.77.0/24"),
            "{e}"
        );
        // A macvlan network lives on the LAN of the parent: its subnet is the host's.
        assert!(try_plan(&[one("192.168.77.0/24")], &[route], false).is_ok());
    }
}

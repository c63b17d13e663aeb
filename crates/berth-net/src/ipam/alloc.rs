//! Which addresses are taken, by network. Runtime state only: the endpoint records are the
//! truth, and the controller rebuilds this from them at start. Storing it would rewrite a set
//! with one entry per container on every attach and detach.

use super::IpamError;
use crate::network::Network;
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// An address given to an endpoint, with its subnet's prefix and gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub addr: IpNet,
    pub gateway: IpAddr,
}

/// Hands out and takes back endpoint addresses of networks. One host keeps [`Allocations`]; a
/// cluster-wide allocator (for overlay networks) implements the same calls.
pub trait AddressAllocator: Send + Sync + std::fmt::Debug {
    /// An address of one family of `net` for a new endpoint: `requested` if it is free, else
    /// the lowest free one. `None` when the network has no subnet of that family.
    fn allocate(
        &mut self,
        net: &Network,
        v6: bool,
        requested: Option<IpAddr>,
    ) -> Result<Option<Lease>, IpamError>;
    /// Takes an address of network `network_id` back.
    fn release(&mut self, network_id: &str, ip: IpAddr);
    /// Forgets a removed network.
    fn forget(&mut self, network_id: &str);
    /// Starts over from the addresses the endpoint records hold, as (network ID, address).
    fn rebuild(&mut self, held: &mut dyn Iterator<Item = (String, IpAddr)>);
    /// Whether `ip` of network `network_id` is taken.
    fn is_taken(&self, network_id: &str, ip: IpAddr) -> bool;
}

/// The addresses in use on this host, by network ID.
#[derive(Debug, Default)]
pub struct Allocations {
    taken: BTreeMap<String, BTreeSet<IpAddr>>,
}

impl AddressAllocator for Allocations {
    fn allocate(
        &mut self,
        net: &Network,
        v6: bool,
        requested: Option<IpAddr>,
    ) -> Result<Option<Lease>, IpamError> {
        let pool = match requested {
            Some(ip) => net
                .subnets
                .iter()
                .find(|p| p.subnet.contains(&ip))
                .ok_or(IpamError::OutOfSubnet(ip))?,
            None => match net.subnets.iter().find(|p| p.subnet.addr().is_ipv6() == v6) {
                Some(p) => p,
                None => return Ok(None),
            },
        };
        let held = self.taken.entry(net.id.clone()).or_default();
        let ip = pool.allocate(held, requested)?;
        let addr = IpNet::new(ip, pool.subnet.prefix_len())
            .map_err(|e| IpamError::BadPool(e.to_string()))?;
        Ok(Some(Lease {
            addr,
            gateway: pool.gateway,
        }))
    }

    fn release(&mut self, network_id: &str, ip: IpAddr) {
        if let Some(set) = self.taken.get_mut(network_id) {
            set.remove(&ip);
        }
    }

    fn forget(&mut self, network_id: &str) {
        self.taken.remove(network_id);
    }

    fn rebuild(&mut self, held: &mut dyn Iterator<Item = (String, IpAddr)>) {
        self.taken.clear();
        for (net, ip) in held {
            self.taken.entry(net).or_default().insert(ip);
        }
    }

    fn is_taken(&self, network_id: &str, ip: IpAddr) -> bool {
        self.taken.get(network_id).is_some_and(|s| s.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipam::SubnetPool;

    fn network(id: &str, subnets: &[&str]) -> Network {
        let mut n: Network = serde_json::from_value(serde_json::json!({
            "id": id, "name": id, "driver": "null", "created": "2026-01-01T00:00:00Z",
            "scope": "local", "enable_ipv4": true, "enable_ipv6": true, "internal": false,
            "attachable": false, "ipam_driver": "default", "ipam_options": {}, "subnets": [],
            "options": {}, "labels": {}, "predefined": false
        }))
        .unwrap();
        for s in subnets {
            let s: IpNet = s.parse().unwrap();
            n.subnets
                .push(SubnetPool::new(s, SubnetPool::first_host(&s), false));
        }
        n
    }

    #[test]
    fn allocations_are_kept_per_network_and_rebuilt() {
        let a = network("a", &["10.0.0.0/24", "fd00::/64"]);
        let b = network("b", &["10.1.0.0/24"]);
        let mut al = Allocations::default();
        let got = al.allocate(&a, false, None).unwrap().unwrap();
        assert_eq!(got.addr.to_string(), "10.0.0.2/24");
        assert_eq!(got.gateway.to_string(), "10.0.0.1");
        assert_eq!(
            al.allocate(&a, true, None)
                .unwrap()
                .unwrap()
                .addr
                .to_string(),
            "fd00::2/64"
        );
        assert_eq!(al.allocate(&b, true, None).unwrap(), None);
        assert_eq!(
            al.allocate(&b, false, None)
                .unwrap()
                .unwrap()
                .addr
                .to_string(),
            "10.1.0.2/24"
        );
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(al.allocate(&a, false, Some(ip)), Err(IpamError::InUse(ip)));
        let far: IpAddr = "10.9.0.1".parse().unwrap();
        assert_eq!(
            al.allocate(&a, false, Some(far)),
            Err(IpamError::OutOfSubnet(far))
        );
        al.release("a", ip);
        assert!(!al.is_taken("a", ip));
        al.rebuild(&mut [("a".to_string(), ip)].into_iter());
        assert!(al.is_taken("a", ip));
        assert!(!al.is_taken("b", "10.1.0.2".parse().unwrap()));
        al.forget("a");
        assert!(!al.is_taken("a", ip));
    }
}

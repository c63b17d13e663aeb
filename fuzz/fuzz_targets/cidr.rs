//! CIDR and pool values: `--default-address-pool base=CIDR,size=N`, subnets and the first
//! addresses handed out of them. Errors are fine; panics (overflowing shifts, empty pools) are
//! not.
#![no_main]

use berth_net::ipam::{next_free_subnet, PoolSpec, SubnetPool};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.lines();
    let pool = lines.next().map(PoolSpec::parse);
    let in_use: Vec<ipnet::IpNet> = lines
        .clone()
        .filter_map(|l| l.trim().parse::<ipnet::IpNet>().ok())
        .map(|n| n.trunc())
        .collect();
    if let Some(Ok(pool)) = pool {
        let pools = [pool];
        // Bounded: a /0 base with size 32 has four billion subnets.
        let _ = pools[0].subnets().take(64).count();
        for v6 in [false, true] {
            let _ = next_free_subnet(&pools, &in_use, v6);
        }
    }
    for subnet in in_use.iter().take(4) {
        let first = SubnetPool::first_host(subnet);
        let p = SubnetPool::new(*subnet, first, false);
        let mut taken = std::collections::BTreeSet::new();
        for _ in 0..4 {
            if p.allocate(&mut taken, None).is_err() {
                break;
            }
        }
        for l in lines.clone().take(4) {
            if let Ok(ip) = l.trim().parse() {
                let _ = p.allocate(&mut taken, Some(ip));
                taken.remove(&ip);
            }
        }
    }
});

use std::collections::{BTreeSet, HashSet};

use crate::ipam::*;
use crate::model::NetworkRecord;

fn net(subnet: &str, range: Option<&str>) -> NetworkRecord {
    let subnet = subnet.parse().unwrap();
    NetworkRecord {
        id: "n".into(),
        name: "n".into(),
        driver: "overlay".into(),
        subnet,
        gateway: default_gateway(subnet),
        ip_range: range.map(|r| r.parse().unwrap()),
        vni: 4096,
        attachable: false,
        internal: false,
        mtu: None,
        options: Default::default(),
        labels: Default::default(),
        created_by: "a".into(),
        created: 0,
    }
}

#[test]
fn subnets_skip_anything_overlapping() {
    assert_eq!(pick_subnet(&[]).unwrap().to_string(), "10.0.0.0/24");
    let mut taken = vec![
        "10.0.0.0/24".parse().unwrap(),
        "10.0.2.0/23".parse().unwrap(),
    ];
    assert_eq!(pick_subnet(&taken).unwrap().to_string(), "10.0.1.0/24");
    taken.push("10.0.1.0/24".parse().unwrap());
    assert_eq!(pick_subnet(&taken).unwrap().to_string(), "10.0.4.0/24");
    // A user subnet wider than /24 blocks every /24 inside it.
    let taken = ["10.0.0.0/16".parse().unwrap()];
    assert_eq!(pick_subnet(&taken).unwrap().to_string(), "10.1.0.0/24");
    assert!(pick_subnet(&["10.0.0.0/8".parse().unwrap()]).is_none());
}

#[test]
fn vnis_from_4096_fill_gaps() {
    assert_eq!(pick_vni(&BTreeSet::new()), Some(4096));
    assert_eq!(
        pick_vni(&[4096, 4097, 4099].into_iter().collect()),
        Some(4098)
    );
    assert_eq!(pick_vni(&[42, 4096].into_iter().collect()), Some(4097));
}

#[test]
fn addresses_skip_network_gateway_broadcast_and_used() {
    let n = net("10.0.9.0/29", None);
    let used: HashSet<_> = ["10.0.9.2".parse().unwrap()].into_iter().collect();
    let free: Vec<String> = free_addresses(&n, &used).map(|a| a.to_string()).collect();
    assert_eq!(free, ["10.0.9.3", "10.0.9.4", "10.0.9.5", "10.0.9.6"]);
    assert_eq!(
        choose_address(&n, &used, 0).unwrap().to_string(),
        "10.0.9.3"
    );
    let r = net("10.0.9.0/24", Some("10.0.9.128/30"));
    let free: Vec<String> = free_addresses(&r, &HashSet::new())
        .map(|a| a.to_string())
        .collect();
    assert_eq!(
        free,
        ["10.0.9.128", "10.0.9.129", "10.0.9.130", "10.0.9.131"]
    );
    for attempt in 1..6 {
        let a = choose_address(&n, &used, attempt).unwrap();
        assert!(free_addresses(&n, &used).any(|f| f == a));
    }
}

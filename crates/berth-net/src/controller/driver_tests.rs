//! The controller dispatching to drivers other than the bridge, on the fake kernel.

use super::*;
use crate::driver::{DriverConfig, DriverKind};
use crate::endpoint::{format_mac, EndpointOptions};
use crate::firewall::FakeFirewall;
use crate::portmap::PortRequest;
use crate::sys::fake::FakeKernel;
use crate::sys::{ChildKind, IpvlanFlag, IpvlanMode, MacvlanMode};

struct Env {
    dir: tempfile::TempDir,
    kernel: Arc<FakeKernel>,
    uplink: u32,
}

impl Env {
    fn new() -> Env {
        let kernel = Arc::new(FakeKernel::new());
        let uplink = kernel.add_foreign_link("uplink", "veth");
        Env {
            dir: tempfile::tempdir().unwrap(),
            kernel,
            uplink,
        }
    }

    async fn start(&self) -> Controller {
        let cfg = ControllerConfig {
            netns_dir: self.dir.path().join("netns"),
            ..Default::default()
        };
        let store = Arc::new(Store::open(&self.dir.path().join("berth.db")).unwrap());
        Controller::start(
            self.kernel.clone(),
            Arc::new(FakeFirewall::default()),
            store,
            cfg,
        )
        .await
        .unwrap()
    }

    async fn link_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .kernel
            .links()
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        v.sort();
        v
    }
}

fn net(name: &str, driver: &str, subnet: &str, opts: &[(&str, &str)]) -> CreateNetwork {
    CreateNetwork {
        name: name.into(),
        driver: driver.into(),
        subnets: vec![SubnetRequest {
            subnet: subnet.into(),
            ..Default::default()
        }],
        options: opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn ep(name: &str) -> EndpointOptions {
    EndpointOptions {
        owner: new_id(),
        name: name.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn macvlan_children_are_made_in_the_sandbox_on_the_parent() {
    let env = Env::new();
    let ctl = env.start().await;
    let before = env.link_names().await;
    let n = ctl
        .create(net(
            "lan",
            "macvlan",
            "192.168.50.0/24",
            &[("parent", "uplink")],
        ))
        .await
        .unwrap();
    assert_eq!(n.kind(), DriverKind::Macvlan);
    assert_eq!(n.driver.name(), "macvlan");
    assert!(!n.internal);
    // The user's parent is used as it is: nothing new on the host.
    assert_eq!(env.link_names().await, before);
    let sb = ctl.create_sandbox(&new_id()).await.unwrap();
    let e = ctl.attach(&sb.id, "lan", ep("c1")).await.unwrap();
    assert_eq!(e.ipv4.unwrap().to_string(), "192.168.50.2/24");
    assert_eq!(format_mac(&e.mac), "02:42:c0:a8:32:02");
    assert_eq!(e.host_ifname, "");
    let inner = env.kernel.enter(&sb.path).await.unwrap();
    let eth0 = inner
        .link("eth0")
        .await
        .unwrap()
        .expect("eth0 in the sandbox");
    assert!(eth0.up);
    assert_eq!(
        eth0.addrs,
        vec!["192.168.50.2/24".parse::<IpNet>().unwrap()]
    );
    // Through the fake's own view of the sandbox: a macvlan child of the uplink, own MAC.
    let sandbox = sandbox_fake(&env, &sb.path).await;
    let (kind, parent, mac) = sandbox.child("eth0").expect("a stacked link");
    assert_eq!(kind, ChildKind::Macvlan(MacvlanMode::Bridge));
    assert_eq!(parent, env.uplink);
    assert_eq!(mac, Some(e.mac));
    let gw: std::net::IpAddr = "192.168.50.1".parse().unwrap();
    assert_eq!(sandbox.default_routes(), vec![(eth0.index, gw)]);
    // `-p` is accepted and ignored: there is no NAT on a macvlan network.
    let published = ctl
        .publish(
            &sb.id,
            &[PortRequest {
                proto: crate::firewall::Proto::Tcp,
                container_port: 80,
                host_ip: None,
                host_ports: Some((8080, 8080)),
            }],
        )
        .await
        .unwrap();
    assert!(published.is_empty());
    ctl.detach(&sb.id, "lan").await.unwrap();
    ctl.settle().await;
    assert!(inner.link("eth0").await.unwrap().is_none());
    ctl.remove_sandbox(&sb.id).await.unwrap();
    ctl.remove("lan").await.unwrap();
    ctl.settle().await;
    assert_eq!(env.link_names().await, before, "the parent stays");
}

/// A fake-kernel handle on a sandbox, for the fake's own assertions.
async fn sandbox_fake(env: &Env, path: &std::path::Path) -> FakeKernel {
    env.kernel.inside(path).expect("sandbox exists")
}

#[tokio::test]
async fn a_macvlan_without_parent_is_internal_on_a_stand_in_bridge() {
    let env = Env::new();
    let ctl = env.start().await;
    let n = ctl
        .create(net(
            "iso",
            "macvlan",
            "10.77.0.0/24",
            &[("macvlan_mode", "private")],
        ))
        .await
        .unwrap();
    assert!(n.internal, "no parent: internal, as Docker");
    let dm = format!("dm-{}", &n.id[..12]);
    let link = env.kernel.link(&dm).await.unwrap().expect("stand-in made");
    assert_eq!(link.kind.as_deref(), Some("bridge"));
    assert_eq!(driver::owner(&link), Some(n.id.as_str()));
    assert!(link.addrs.is_empty(), "the host takes no address there");
    let sb = ctl.create_sandbox(&new_id()).await.unwrap();
    ctl.attach(&sb.id, "iso", ep("c1")).await.unwrap();
    let sandbox = sandbox_fake(&env, &sb.path).await;
    let (kind, parent, _) = sandbox.child("eth0").unwrap();
    assert_eq!(kind, ChildKind::Macvlan(MacvlanMode::Private));
    assert_eq!(parent, link.index);
    assert!(sandbox.default_routes().is_empty(), "no way out");
    // The stand-in survives a restart and is not taken for an orphan.
    drop(ctl);
    let ctl = env.start().await;
    assert!(env.kernel.link(&dm).await.unwrap().is_some());
    ctl.remove_sandbox(&sb.id).await.unwrap();
    ctl.remove("iso").await.unwrap();
    ctl.settle().await;
    assert!(env.kernel.link(&dm).await.unwrap().is_none());
}

#[tokio::test]
async fn macvlan_refusals_name_the_value_and_change_nothing() {
    let env = Env::new();
    let ctl = env.start().await;
    ctl.create(net(
        "pt",
        "macvlan",
        "10.1.0.0/24",
        &[("parent", "uplink"), ("macvlan_mode", "passthru")],
    ))
    .await
    .unwrap();
    let other = env.kernel.add_foreign_link("uplink2", "veth");
    assert!(other > 0);
    ctl.create(net(
        "b2",
        "macvlan",
        "10.2.0.0/24",
        &[("parent", "uplink2")],
    ))
    .await
    .unwrap();
    env.kernel.without("vlan");
    let links = env.link_names().await;
    let count = ctl.list(&Filters::new()).await.unwrap().len();
    for (req, needle, status) in [
        (
            net("x", "macvlan", "10.9.0.0/24", &[("parent", "lo")]),
            "loopback interface is not a valid macvlan parent",
            "400",
        ),
        (
            net("x", "macvlan", "10.9.0.0/24", &[("parent", "eth9")]),
            "parent interface was not found on the host: eth9",
            "400",
        ),
        (
            net(
                "x",
                "macvlan",
                "10.9.0.0/24",
                &[("parent", "uplink2"), ("macvlan_mode", "l2")],
            ),
            "requested macvlan mode 'l2' is not valid",
            "400",
        ),
        (
            net("x", "macvlan", "10.9.0.0/24", &[("parent", "uplink")]),
            "already using parent interface uplink in mode passthru",
            "403",
        ),
        (
            net(
                "x",
                "macvlan",
                "10.9.0.0/24",
                &[("parent", "uplink2"), ("macvlan_mode", "passthru")],
            ),
            "cannot use mode passthru",
            "403",
        ),
        (
            net("x", "macvlan", "10.2.0.0/25", &[("parent", "uplink2")]),
            "Pool overlaps",
            "403",
        ),
        (
            net("x", "macvlan", "10.9.0.0/24", &[("parent", "uplink2.10")]),
            "no 802.1q VLAN support",
            "400",
        ),
        (
            net("x", "macvlan", "10.9.0.0/24", &[("parent", "uplink2.5000")]),
            "4094",
            "400",
        ),
        (
            net(
                "x",
                "macvlan",
                "10.9.0.0/24",
                &[("parent", "uplink2"), ("berth.macvlan.host_link", "true")],
            ),
            "--aux-address host=IP",
            "400",
        ),
    ] {
        let e = ctl.create(req).await.unwrap_err();
        let code = match e {
            NetError::InvalidParameter(_) => "400",
            NetError::Forbidden(_) => "403",
            _ => "other",
        };
        assert!(e.to_string().contains(needle), "{needle}: {e}");
        assert_eq!(code, status, "{e}");
        assert_eq!(env.link_names().await, links, "{e}: nothing made");
        assert_eq!(
            ctl.list(&Filters::new()).await.unwrap().len(),
            count,
            "{e}: nothing stored"
        );
    }
}

#[tokio::test]
async fn a_vlan_parent_is_made_and_removed_with_its_network() {
    let env = Env::new();
    let ctl = env.start().await;
    let n = ctl
        .create(net(
            "v",
            "macvlan",
            "10.3.0.0/24",
            &[("parent", "uplink.10")],
        ))
        .await
        .unwrap();
    let (kind, parent, _) = env.kernel.child("uplink.10").expect("802.1q link made");
    assert_eq!((kind, parent), (ChildKind::Vlan(10), env.uplink));
    let sb = ctl.create_sandbox(&new_id()).await.unwrap();
    ctl.attach(&sb.id, "v", ep("c")).await.unwrap();
    ctl.remove_sandbox(&sb.id).await.unwrap();
    ctl.remove(&n.id).await.unwrap();
    ctl.settle().await;
    assert!(env.kernel.link("uplink.10").await.unwrap().is_none());
    assert!(env.kernel.link("uplink").await.unwrap().is_some());
}

#[tokio::test]
async fn the_host_link_gets_the_aux_address_and_a_route_to_the_range() {
    let env = Env::new();
    let ctl = env.start().await;
    let mut req = net(
        "lan",
        "macvlan",
        "192.168.60.0/24",
        &[("parent", "uplink"), ("berth.macvlan.host_link", "true")],
    );
    req.subnets[0].ip_range = "192.168.60.128/25".into();
    req.subnets[0].aux_addresses = [("host".to_string(), "192.168.60.250".to_string())].into();
    let n = ctl.create(req).await.unwrap();
    let name = format!("mh-{}", &n.id[..12]);
    let link = env
        .kernel
        .link(&name)
        .await
        .unwrap()
        .expect("host link made");
    assert_eq!(
        link.addrs,
        vec!["192.168.60.250/32".parse::<IpNet>().unwrap()]
    );
    let (kind, parent, _) = env.kernel.child(&name).unwrap();
    assert_eq!(
        (kind, parent),
        (ChildKind::Macvlan(MacvlanMode::Bridge), env.uplink)
    );
    assert!(env
        .kernel
        .onlink_routes()
        .await
        .unwrap()
        .contains(&"192.168.60.128/25".parse().unwrap()));
    // Containers never get the host's address.
    let sb = ctl.create_sandbox(&new_id()).await.unwrap();
    let e = ctl.attach(&sb.id, "lan", ep("c")).await.unwrap();
    assert_eq!(e.ipv4.unwrap().to_string(), "192.168.60.128/24");
    ctl.remove_sandbox(&sb.id).await.unwrap();
    ctl.remove("lan").await.unwrap();
    ctl.settle().await;
    assert!(env.kernel.link(&name).await.unwrap().is_none());
}

#[tokio::test]
async fn ipvlan_without_kernel_support_is_refused_and_leaves_nothing() {
    let env = Env::new();
    env.kernel.without("ipvlan");
    let ctl = env.start().await;
    let links = env.link_names().await;
    for opts in [vec![("parent", "uplink")], vec![]] {
        let e = ctl
            .create(net("ipv", "ipvlan", "10.5.0.0/24", &opts))
            .await
            .unwrap_err();
        assert!(matches!(e, NetError::InvalidParameter(_)), "{e:?}");
        assert!(
            e.to_string()
                .contains("no ipvlan support (CONFIG_IPVLAN, module ipvlan)"),
            "{e}"
        );
        ctl.settle().await;
        assert_eq!(env.link_names().await, links, "{opts:?}");
        assert!(ctl.get("ipv").await.is_err());
    }
    let e = ctl
        .create(net(
            "ipv",
            "ipvlan",
            "10.5.0.0/24",
            &[("ipvlan_mode", "l4")],
        ))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("'l4'"), "{e}");
}

#[tokio::test]
async fn ipvlan_children_share_the_parent_s_mac() {
    let env = Env::new();
    let ctl = env.start().await;
    let links = env.link_names().await;
    ctl.create(net(
        "ipv",
        "ipvlan",
        "10.6.0.0/24",
        &[
            ("parent", "uplink"),
            ("ipvlan_mode", "l3"),
            ("ipvlan_flag", "private"),
        ],
    ))
    .await
    .unwrap();
    assert_eq!(env.link_names().await, links, "the probe link is gone");
    let sb = ctl.create_sandbox(&new_id()).await.unwrap();
    let e = ctl.attach(&sb.id, "ipv", ep("c")).await.unwrap();
    assert_eq!(e.ipv4.unwrap().to_string(), "10.6.0.2/24");
    let sandbox = sandbox_fake(&env, &sb.path).await;
    let (kind, parent, mac) = sandbox.child("eth0").unwrap();
    assert_eq!(kind, ChildKind::Ipvlan(IpvlanMode::L3, IpvlanFlag::Private));
    assert_eq!((parent, mac), (env.uplink, None));
    ctl.remove_sandbox(&sb.id).await.unwrap();
    ctl.remove("ipv").await.unwrap();
}

#[tokio::test]
async fn records_of_an_older_berth_are_migrated_at_start() {
    let env = Env::new();
    let id = new_id();
    let old = serde_json::json!({
        "id": id, "name": "old", "driver": "bridge", "created": "2026-01-01T00:00:00Z",
        "scope": "local", "enable_ipv4": true, "enable_ipv6": false, "internal": false,
        "attachable": false, "ipam_driver": "default", "ipam_options": {},
        "subnets": [{"subnet": "10.8.0.0/24", "gateway": "10.8.0.1", "allocated": ["10.8.0.2"]}],
        "options": {}, "labels": {}, "predefined": false,
        "bridge": {"name": "oldbr", "mtu": 1400, "icc": false, "masquerade": true,
                   "host_binding_ipv4": "0.0.0.0"}
    });
    {
        let store = Store::open(&env.dir.path().join("berth.db")).unwrap();
        store.put(NETWORKS, &id, &old).unwrap();
    }
    let ctl = env.start().await;
    let n = ctl.get("old").await.unwrap();
    let b = n.bridge().expect("a bridge");
    assert_eq!((b.name.as_str(), b.mtu, b.icc), ("oldbr", 1400, false));
    assert!(
        env.kernel.link("oldbr").await.unwrap().is_some(),
        "made again at start"
    );
    drop(ctl);
    let store = Store::open(&env.dir.path().join("berth.db")).unwrap();
    let raw: serde_json::Value = store.get(NETWORKS, &id).unwrap().unwrap();
    assert!(raw.get("bridge").is_none(), "{raw}");
    assert_eq!(raw["driver"]["bridge"]["name"], "oldbr");
    assert!(matches!(
        serde_json::from_value::<Network>(raw).unwrap().driver,
        DriverConfig::Bridge(_)
    ));
}

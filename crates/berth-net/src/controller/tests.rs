use super::*;
use crate::endpoint::{format_mac, EndpointOptions, SandboxOptions};
use crate::firewall::FakeFirewall;
use crate::sys::fake::FakeKernel;
use crate::sys::BridgeSpec;
use std::net::IpAddr;

struct Env {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    kernel: Arc<FakeKernel>,
    firewall: Arc<FakeFirewall>,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        Env {
            _dir: dir,
            path,
            kernel: Arc::new(FakeKernel::new()),
            firewall: Arc::new(FakeFirewall::default()),
        }
    }

    async fn start(&self, mut cfg: ControllerConfig) -> Controller {
        cfg.netns_dir = self._dir.path().join("netns");
        let store = Arc::new(Store::open(&self.path).unwrap());
        Controller::start(self.kernel.clone(), self.firewall.clone(), store, cfg)
            .await
            .unwrap()
    }
}

fn req(name: &str) -> CreateNetwork {
    CreateNetwork {
        name: name.into(),
        driver: "bridge".into(),
        ..Default::default()
    }
}

fn with_subnet(name: &str, subnet: &str, gateway: &str) -> CreateNetwork {
    CreateNetwork {
        subnets: vec![SubnetRequest {
            subnet: subnet.into(),
            gateway: gateway.into(),
            ..Default::default()
        }],
        ..req(name)
    }
}

#[tokio::test]
async fn predefined_networks_and_default_bridge() {
    let env = Env::new();
    let ctl = env.start(ControllerConfig::default()).await;
    let all = ctl.list(&Filters::new()).await.unwrap();
    let names: Vec<&str> = all.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["bridge", "host", "none"]);
    let br = env
        .kernel
        .link("berth0")
        .await
        .unwrap()
        .expect("berth0 exists");
    assert_eq!(br.addrs, vec!["172.17.0.1/16".parse::<IpNet>().unwrap()]);
    assert_eq!(
        env.kernel.sysctl("net/ipv4/ip_forward").as_deref(),
        Some("1")
    );
    let e = ctl.remove("bridge").await.unwrap_err();
    assert!(matches!(e, NetError::Forbidden(_)), "{e}");
    assert_eq!(
        e.to_string(),
        "bridge is a pre-defined network and cannot be removed"
    );
}

#[tokio::test]
async fn create_allocates_next_pool_and_makes_bridge() {
    let env = Env::new();
    env.kernel.add_route("172.18.5.0/24".parse().unwrap());
    let ctl = env.start(ControllerConfig::default()).await;
    let n = ctl.create(req("a")).await.unwrap();
    // 172.17 is the default bridge, 172.18 overlaps a host route.
    assert_eq!(n.subnets[0].subnet.to_string(), "172.19.0.0/16");
    assert_eq!(n.subnets[0].gateway.to_string(), "172.19.0.1");
    let name = format!("br-{}", &n.id[..12]);
    let link = env.kernel.link(&name).await.unwrap().expect("bridge made");
    assert_eq!(link.mtu, 1500);
    assert_eq!(link.addrs, vec!["172.19.0.1/16".parse::<IpNet>().unwrap()]);
    ctl.remove(&n.id[..5]).await.unwrap();
    assert!(ctl.get(&n.id).await.is_err(), "gone from the API at once");
    ctl.settle().await;
    assert!(env.kernel.link(&name).await.unwrap().is_none());
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let env = Env::new();
    let ctl = env.start(ControllerConfig::default()).await;
    ctl.create(with_subnet("mynet", "192.168.0.0/16", "192.168.0.1"))
        .await
        .unwrap();
    let links_before = env.kernel.links().await.unwrap().len();
    let cases: Vec<(CreateNetwork, &str)> = vec![
        (with_subnet("x", "192.168.1.0/24", ""), "Pool overlaps"),
        (with_subnet("x", "172.17.5.0/24", ""), "Pool overlaps"),
        (
            with_subnet("x", "10.50.0.0/24", "10.51.0.1"),
            "no matching subnet for gateway 10.51.0.1",
        ),
        (
            with_subnet("x", "10.50.0.0/33", ""),
            "Invalid subnet 10.50.0.0/33",
        ),
        (
            with_subnet("x", "notacidr", ""),
            "invalid CIDR address: notacidr",
        ),
        (with_subnet("x", "10.50.0.0/24", "nope"), "nope"),
        (with_subnet("x", "fd00::/64", ""), "IPv6 is not enabled"),
        (with_subnet("x", "", "10.50.0.1"), "corresponding subnet"),
        (req("mynet"), "network with name mynet already exists"),
        (req("host"), "predefined host network"),
        (req("bad name"), "invalid network name"),
        (
            CreateNetwork {
                driver: "nosuchdriver".into(),
                ..req("x")
            },
            "plugin \"nosuchdriver\" not found",
        ),
        (
            CreateNetwork {
                options: [(bridge::OPT_MTU.to_string(), "abc".to_string())].into(),
                ..req("x")
            },
            "abc",
        ),
        (
            CreateNetwork {
                subnets: vec![SubnetRequest {
                    subnet: "10.60.0.0/24".into(),
                    ip_range: "10.61.0.0/24".into(),
                    ..Default::default()
                }],
                ..req("x")
            },
            "no matching subnet for range 10.61.0.0/24",
        ),
    ];
    for (r, needle) in cases {
        let e = ctl.create(r).await.unwrap_err().to_string();
        assert!(e.contains(needle), "wanted {needle:?} in {e:?}");
    }
    assert_eq!(ctl.list(&Filters::new()).await.unwrap().len(), 4);
    assert_eq!(env.kernel.links().await.unwrap().len(), links_before);
}

#[tokio::test]
async fn exhausted_pool_is_an_error() {
    let env = Env::new();
    let cfg = ControllerConfig {
        v4_pools: vec![PoolSpec::parse("base=10.99.0.0/23,size=24").unwrap()],
        ..Default::default()
    };
    let ctl = env.start(cfg).await;
    ctl.create(req("a")).await.unwrap();
    ctl.create(req("b")).await.unwrap();
    let e = ctl.create(req("c")).await.unwrap_err();
    assert!(e.to_string().contains("could not find an available"), "{e}");
}

#[tokio::test]
async fn ipv6_network_gets_both_families() {
    let env = Env::new();
    let ctl = env.start(ControllerConfig::default()).await;
    let n = ctl
        .create(CreateNetwork {
            enable_ipv6: true,
            ..with_subnet("six", "fd00:dead:beef::/64", "")
        })
        .await
        .unwrap();
    let subnets: Vec<String> = n.subnets.iter().map(|s| s.subnet.to_string()).collect();
    assert_eq!(subnets, ["172.18.0.0/16", "fd00:dead:beef::/64"]);
    let link = env
        .kernel
        .link(&n.bridge().unwrap().name.clone())
        .await
        .unwrap()
        .unwrap();
    assert!(link
        .addrs
        .contains(&"fd00:dead:beef::1/64".parse().unwrap()));
    // No DAD on the bridge's own addresses: forwarded IPv6 must not wait for it.
    let key = format!("net/ipv6/conf/{}/accept_dad", link.name);
    assert_eq!(env.kernel.sysctl(&key).as_deref(), Some("0"));
}

#[tokio::test]
async fn restart_restores_and_reconciles() {
    let env = Env::new();
    let (id, bridge_name) = {
        let ctl = env.start(ControllerConfig::default()).await;
        let n = ctl
            .create(with_subnet("keep", "10.70.0.0/24", ""))
            .await
            .unwrap();
        (n.id.clone(), n.bridge().unwrap().name.clone())
    };
    // Someone deletes the bridge, and an orphan berth bridge appears.
    let link = env.kernel.link(&bridge_name).await.unwrap().unwrap();
    env.kernel.delete_link(link.index).await.unwrap();
    env.kernel
        .create_bridge(&BridgeSpec {
            name: "br-orphan".into(),
            mtu: 1500,
            alias: bridge::owner_alias("0123456789ab"),
            addrs: vec![],
            ipv6: false,
        })
        .await
        .unwrap();
    let foreign = env.kernel.add_foreign_link("br-user", "bridge");
    let ctl = env.start(ControllerConfig::default()).await;
    let n = ctl.get("keep").await.unwrap();
    assert_eq!(n.id, id);
    assert!(
        env.kernel.link(&bridge_name).await.unwrap().is_some(),
        "bridge recreated"
    );
    assert!(
        env.kernel.link("br-orphan").await.unwrap().is_none(),
        "orphan removed"
    );
    assert!(
        env.kernel
            .links()
            .await
            .unwrap()
            .iter()
            .any(|l| l.index == foreign),
        "foreign kept"
    );
    // The default bridge keeps its ID across restarts.
    let b1 = ctl.get("bridge").await.unwrap();
    drop(ctl);
    let ctl = env.start(ControllerConfig::default()).await;
    assert_eq!(ctl.get("bridge").await.unwrap().id, b1.id);
}

#[tokio::test]
async fn bip_change_moves_the_default_bridge() {
    let env = Env::new();
    drop(env.start(ControllerConfig::default()).await);
    let cfg = ControllerConfig {
        bip: "10.200.0.1/24".parse().unwrap(),
        ..Default::default()
    };
    let ctl = env.start(cfg).await;
    let b = ctl.get("bridge").await.unwrap();
    assert_eq!(b.subnets[0].subnet.to_string(), "10.200.0.0/24");
    let link = env.kernel.link("berth0").await.unwrap().unwrap();
    assert_eq!(link.addrs, vec!["10.200.0.1/24".parse::<IpNet>().unwrap()]);
}

#[tokio::test]
async fn lookups_filters_and_prune() {
    let env = Env::new();
    let ctl = env.start(ControllerConfig::default()).await;
    let a = ctl
        .create(CreateNetwork {
            labels: [("tier".to_string(), "web".to_string())].into(),
            ..req("alpha")
        })
        .await
        .unwrap();
    ctl.create(req("beta")).await.unwrap();
    assert_eq!(ctl.get(&a.id[..12]).await.unwrap().name, "alpha");
    assert!(matches!(
        ctl.get("nosuch").await,
        Err(NetError::NotFound(_))
    ));
    let f = |k: &str, v: &str| Filters::from([(k.to_string(), vec![v.to_string()])]);
    let names = |v: Vec<Network>| v.into_iter().map(|n| n.name).collect::<Vec<_>>();
    assert_eq!(
        names(ctl.list(&f("label", "tier=web")).await.unwrap()),
        ["alpha"]
    );
    assert_eq!(
        names(ctl.list(&f("type", "custom")).await.unwrap()),
        ["alpha", "beta"]
    );
    assert_eq!(
        names(ctl.list(&f("driver", "null")).await.unwrap()),
        ["none"]
    );
    assert_eq!(names(ctl.list(&f("name", "et")).await.unwrap()), ["beta"]);
    assert!(ctl.list(&f("colour", "red")).await.is_err());
    assert!(ctl.list(&f("type", "weird")).await.is_err());
    assert_eq!(ctl.prune(&f("label!", "tier")).await.unwrap(), ["beta"]);
    assert!(ctl.prune(&f("until", "yesterday")).await.is_err());
    assert_eq!(ctl.prune(&Filters::new()).await.unwrap(), ["alpha"]);
    assert_eq!(
        names(ctl.list(&Filters::new()).await.unwrap()),
        ["bridge", "host", "none"]
    );
}

#[tokio::test]
async fn foreign_interface_name_is_refused() {
    let env = Env::new();
    let ctl = env.start(ControllerConfig::default()).await;
    env.kernel.add_foreign_link("eth0", "veth");
    let e = ctl
        .create(CreateNetwork {
            options: [(bridge::OPT_NAME.to_string(), "eth0".to_string())].into(),
            ..req("x")
        })
        .await
        .unwrap_err();
    assert!(matches!(e, NetError::Conflict(_)), "{e}");
    assert!(ctl.get("x").await.is_err(), "record rolled back");
}

#[tokio::test]
async fn recreating_a_bridge_name_waits_for_its_teardown() {
    let env = Env::new();
    let ctl = env.start(ControllerConfig::default()).await;
    let named = |n: &str| CreateNetwork {
        options: [(bridge::OPT_NAME.to_string(), "mybr".to_string())].into(),
        ..req(n)
    };
    let a = ctl.create(named("a")).await.unwrap();
    ctl.remove("a").await.unwrap();
    let b = ctl.create(named("b")).await.unwrap();
    let link = env.kernel.link("mybr").await.unwrap().unwrap();
    assert_eq!(bridge::owner(&link), Some(b.id.as_str()));
    assert_ne!(a.id, b.id);
}

fn opts(name: &str) -> EndpointOptions {
    EndpointOptions {
        owner: format!("{name}-owner"),
        name: name.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn attach_plumbs_veths_addresses_macs_and_routes() {
    let env = Env::new();
    let ctl = env.start(ControllerConfig::default()).await;
    let net = ctl
        .create(with_subnet("mynet", "192.168.0.0/16", "192.168.0.1"))
        .await
        .unwrap();
    let bridge = env
        .kernel
        .link(&net.bridge().unwrap().name.clone())
        .await
        .unwrap()
        .unwrap();
    let a = ctl.create_sandbox(&new_id()).await.unwrap();
    let b = ctl.create_sandbox(&new_id()).await.unwrap();
    let ea = ctl.attach(&a.id, "mynet", opts("a1")).await.unwrap();
    let eb = ctl.attach(&b.id, "mynet", opts("a2")).await.unwrap();
    assert_eq!(ea.ipv4.unwrap().to_string(), "192.168.0.2/16");
    assert_eq!(eb.ipv4.unwrap().to_string(), "192.168.0.3/16");
    assert_eq!(format_mac(&eb.mac), "02:42:c0:a8:00:03");
    assert_eq!(ea.ifname, "eth0");
    assert!(ea.default_route);
    // Host end on the bridge; peer inside the sandbox with address, MAC, up, default route.
    assert_eq!(
        env.kernel.master_and_mac(&ea.host_ifname).unwrap().0,
        Some(bridge.index)
    );
    let inner = env.kernel.enter(&a.path).await.unwrap();
    let eth0 = inner.link("eth0").await.unwrap().unwrap();
    assert!(eth0.up);
    assert_eq!(eth0.addrs, vec![ea.ipv4.unwrap()]);
    assert!(inner.link("lo").await.unwrap().unwrap().up);
    // A second network becomes eth1 and does not move the default route.
    ctl.create(with_subnet("other", "10.10.0.0/24", ""))
        .await
        .unwrap();
    let e1 = ctl.attach(&a.id, "other", opts("a1")).await.unwrap();
    assert_eq!(e1.ifname, "eth1");
    assert!(!e1.default_route);
    let eps = ctl.sandbox_endpoints(&a.id).await;
    assert_eq!(
        eps.iter().map(|e| e.ifname.as_str()).collect::<Vec<_>>(),
        ["eth0", "eth1"]
    );
}

#[tokio::test]
async fn attach_refuses_bad_requests_and_changes_nothing() {
    let env = Env::new();
    let ctl = env.start(ControllerConfig::default()).await;
    ctl.create(with_subnet("mynet", "192.168.0.0/16", "192.168.0.1"))
        .await
        .unwrap();
    ctl.create(req("auto")).await.unwrap();
    let sb = ctl.create_sandbox(&new_id()).await.unwrap();
    let sb2 = ctl.create_sandbox(&new_id()).await.unwrap();
    let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
    ctl.attach(
        &sb2.id,
        "mynet",
        EndpointOptions {
            ipv4: ip("192.168.10.10"),
            ..opts("static")
        },
    )
    .await
    .unwrap();
    let cases: Vec<(&str, EndpointOptions, &str)> = vec![
        (
            "mynet",
            EndpointOptions {
                ipv4: ip("192.168.10.10"),
                ..opts("x")
            },
            "Address already in use",
        ),
        (
            "mynet",
            EndpointOptions {
                ipv4: ip("192.168.0.1"),
                ..opts("x")
            },
            "Address already in use",
        ),
        (
            "mynet",
            EndpointOptions {
                ipv4: ip("10.0.0.5"),
                ..opts("x")
            },
            "Invalid address 10.0.0.5: It does not belong to any of this network's subnets",
        ),
        (
            "bridge",
            EndpointOptions {
                ipv4: ip("172.17.0.50"),
                ..opts("x")
            },
            "user defined networks only",
        ),
        (
            "auto",
            EndpointOptions {
                ipv4: ip("172.18.0.50"),
                ..opts("x")
            },
            "user configured subnets",
        ),
        ("host", opts("x"), "host network"),
        ("none", opts("x"), "private (none) mode"),
        ("nosuch", opts("x"), "network nosuch not found"),
    ];
    let before = ctl.get("mynet").await.unwrap();
    for (net, o, needle) in cases {
        let e = ctl.attach(&sb.id, net, o).await.unwrap_err().to_string();
        assert!(e.contains(needle), "{net}: wanted {needle:?} in {e:?}");
    }
    assert_eq!(ctl.get("mynet").await.unwrap(), before, "IPAM untouched");
    assert!(ctl.sandbox_endpoints(&sb.id).await.is_empty());
    ctl.attach(&sb.id, "mynet", opts("x")).await.unwrap();
    let e = ctl
        .attach(&sb.id, "mynet", opts("x"))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(e, "endpoint with name x already exists in network mynet");
    // A kernel failure rolls the allocation back.
    let br = env.kernel.link("berth0").await.unwrap().unwrap();
    env.kernel.delete_link(br.index).await.unwrap();
    let bridge_before = ctl.get("bridge").await.unwrap();
    let sb3 = ctl.create_sandbox(&new_id()).await.unwrap();
    assert!(ctl.attach(&sb3.id, "bridge", opts("y")).await.is_err());
    assert_eq!(ctl.get("bridge").await.unwrap(), bridge_before);
    assert!(ctl.sandbox_endpoints(&sb3.id).await.is_empty());
}

#[tokio::test]
async fn detach_and_sandbox_removal_release_everything() {
    let env = Env::new();
    let ctl = env.start(ControllerConfig::default()).await;
    let net = ctl
        .create(with_subnet("mynet", "10.1.0.0/24", ""))
        .await
        .unwrap();
    let sb = ctl.create_sandbox(&new_id()).await.unwrap();
    let ep = ctl.attach(&sb.id, "mynet", opts("a")).await.unwrap();
    let e = ctl.remove("mynet").await.unwrap_err();
    assert!(e.to_string().contains("has active endpoints"), "{e}");
    assert!(ctl.prune(&Filters::new()).await.unwrap().is_empty());
    let dangling = Filters::from([("dangling".to_string(), vec!["true".to_string()])]);
    assert!(ctl.list(&dangling).await.unwrap().is_empty());
    ctl.detach(&sb.id, "mynet").await.unwrap();
    let e = ctl.detach(&sb.id, "mynet").await.unwrap_err().to_string();
    assert!(e.contains("is not connected to network mynet"), "{e}");
    ctl.settle().await;
    assert!(env.kernel.link(&ep.host_ifname).await.unwrap().is_none());
    // The freed address is reused at once.
    let again = ctl.attach(&sb.id, "mynet", opts("a")).await.unwrap();
    assert_eq!(again.ipv4, ep.ipv4);
    ctl.remove_sandbox(&sb.id).await.unwrap();
    assert!(
        env.kernel.namespaces().is_empty(),
        "{:?}",
        env.kernel.namespaces()
    );
    assert!(env.kernel.link(&again.host_ifname).await.unwrap().is_none());
    assert!(!ctl
        .eps
        .lock()
        .await
        .ipam
        .is_taken(&net.id, again.ipv4.unwrap().addr()));
    ctl.remove("mynet").await.unwrap();
}

#[tokio::test]
async fn endpoints_survive_restart_and_dead_sandboxes_are_forgotten() {
    let env = Env::new();
    let (keep, lost, ep_keep) = {
        let ctl = env.start(ControllerConfig::default()).await;
        ctl.create(with_subnet("mynet", "10.2.0.0/24", ""))
            .await
            .unwrap();
        let keep = ctl.create_sandbox(&new_id()).await.unwrap();
        let lost = ctl.create_sandbox(&new_id()).await.unwrap();
        let ep_keep = ctl.attach(&keep.id, "mynet", opts("k")).await.unwrap();
        ctl.attach(&lost.id, "mynet", opts("l")).await.unwrap();
        (keep, lost, ep_keep)
    };
    // The machine lost one namespace while the daemon was down (say /run was wiped).
    env.kernel.delete_netns(&lost.path).unwrap();
    let ctl = env.start(ControllerConfig::default()).await;
    assert_eq!(ctl.sandbox_endpoints(&keep.id).await, vec![ep_keep.clone()]);
    assert!(ctl.sandbox(&lost.id).await.is_err());
    let net = ctl.get("mynet").await.unwrap();
    let ipam = &ctl.eps.lock().await.ipam;
    assert!(ipam.is_taken(&net.id, ep_keep.ipv4.unwrap().addr()));
    // The lost sandbox's address was given back: the next endpoint gets it.
    assert!(!ipam.is_taken(&net.id, "10.2.0.3".parse().unwrap()));
}

#[tokio::test]
async fn sandbox_made_with_its_networks_is_stored_whole_or_not_at_all() {
    let env = Env::new();
    let dns: IpAddr = "10.9.9.9".parse().unwrap();
    let made = {
        let ctl = env.start(ControllerConfig::default()).await;
        ctl.create(with_subnet("mynet", "10.3.0.0/24", ""))
            .await
            .unwrap();
        ctl.create(with_subnet("other", "10.4.0.0/24", ""))
            .await
            .unwrap();
        let taken = EndpointOptions {
            ipv4: Some("10.4.0.7".parse().unwrap()),
            ..opts("t")
        };
        let holder = ctl.create_sandbox(&new_id()).await.unwrap();
        ctl.attach(&holder.id, "other", taken.clone())
            .await
            .unwrap();
        let mynet_before = ctl.get("mynet").await.unwrap();
        // The second network refuses: the first one's endpoint and the namespace go too.
        let failed = new_id();
        let e = ctl
            .create_sandbox_with(
                &failed,
                SandboxOptions {
                    dns: vec![dns],
                    networks: vec![("mynet".into(), opts("f")), ("other".into(), taken)],
                },
            )
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "Address already in use");
        assert!(ctl.sandbox(&failed).await.is_err());
        assert_eq!(ctl.get("mynet").await.unwrap(), mynet_before);
        assert_eq!(env.kernel.namespaces().len(), 1, "only the holder's");
        let (sb, eps) = ctl
            .create_sandbox_with(
                &new_id(),
                SandboxOptions {
                    dns: vec![dns],
                    networks: vec![("mynet".into(), opts("a")), ("other".into(), opts("a"))],
                },
            )
            .await
            .unwrap()
            .durable()
            .await
            .unwrap();
        let names: Vec<(&str, bool)> = eps
            .iter()
            .map(|e| (e.ifname.as_str(), e.default_route))
            .collect();
        assert_eq!(names, [("eth0", true), ("eth1", false)]);
        assert_eq!(eps[0].ipv4.unwrap().to_string(), "10.3.0.2/24");
        let inner = env.kernel.enter(&sb.path).await.unwrap();
        assert!(inner.link("lo").await.unwrap().unwrap().up);
        assert!(inner.link("eth1").await.unwrap().unwrap().up);
        (sb, eps)
    };
    // Everything above was stored: a restart finds the sandbox, its DNS and its endpoints.
    let ctl = env.start(ControllerConfig::default()).await;
    let (sb, eps) = made;
    assert_eq!(ctl.sandbox(&sb.id).await.unwrap().dns, vec![dns]);
    assert_eq!(ctl.sandbox_endpoints(&sb.id).await, eps);
    let net = ctl.get("mynet").await.unwrap();
    let ipam = &ctl.eps.lock().await.ipam;
    assert!(ipam.is_taken(&net.id, eps[0].ipv4.unwrap().addr()));
    assert!(!ipam.is_taken(&net.id, "10.3.0.3".parse().unwrap()));
}

#[tokio::test]
async fn a_bridge_made_again_under_its_name_is_found_again() {
    let env = Env::new();
    let ctl = env.start(ControllerConfig::default()).await;
    let net = ctl
        .create(with_subnet("mynet", "10.5.0.0/24", ""))
        .await
        .unwrap();
    let name = net.bridge().unwrap().name.clone();
    // The first attach remembers the bridge's index.
    sandbox_on(&ctl, "mynet", "a").await;
    // Someone deletes the bridge and makes one of the same name: a new index.
    let old = env.kernel.link(&name).await.unwrap().unwrap();
    env.kernel.delete_link(old.index).await.unwrap();
    let new = env
        .kernel
        .create_bridge(&BridgeSpec {
            name: name.clone(),
            mtu: 1500,
            alias: old.alias.clone().unwrap_or_default(),
            addrs: old.addrs.clone(),
            ipv6: false,
        })
        .await
        .unwrap();
    assert_ne!(new, old.index);
    let (_, eps) = sandbox_on(&ctl, "mynet", "b").await;
    assert_eq!(
        env.kernel.master_and_mac(&eps[0].host_ifname).unwrap().0,
        Some(new)
    );
}

#[tokio::test]
async fn a_sandbox_removal_lost_to_a_crash_is_forgotten_at_the_next_start() {
    let env = Env::new();
    let (sb, ep) = {
        let ctl = env.start(ControllerConfig::default()).await;
        ctl.create(with_subnet("mynet", "10.6.0.0/24", ""))
            .await
            .unwrap();
        let (sb, mut eps) = sandbox_on(&ctl, "mynet", "a").await;
        (sb, eps.remove(0))
    };
    // remove_sandbox queues its deletions and unpins: the daemon died between the two, after
    // the kernel work and before the commit.
    env.kernel.delete_netns(&sb.path).unwrap();
    let ctl = env.start(ControllerConfig::default()).await;
    assert!(ctl.sandbox(&sb.id).await.is_err());
    assert!(ctl.sandbox_endpoints(&sb.id).await.is_empty());
    let again = sandbox_on(&ctl, "mynet", "a").await;
    assert_eq!(
        again.1[0].ipv4, ep.ipv4,
        "the lost removal's address is free"
    );
    // And the records are gone from the store too, not just from memory.
    drop(ctl);
    let ctl = env.start(ControllerConfig::default()).await;
    assert!(ctl.sandbox(&sb.id).await.is_err());
    assert!(ctl.sandbox(&again.0.id).await.is_ok());
}

/// A sandbox on `network` alone, as a container's start makes it, once its records are durable.
async fn sandbox_on(
    ctl: &Controller,
    network: &str,
    name: &str,
) -> (crate::endpoint::Sandbox, Vec<crate::endpoint::Endpoint>) {
    ctl.create_sandbox_with(
        &new_id(),
        SandboxOptions {
            dns: vec![],
            networks: vec![(network.into(), opts(name))],
        },
    )
    .await
    .unwrap()
    .durable()
    .await
    .unwrap()
}

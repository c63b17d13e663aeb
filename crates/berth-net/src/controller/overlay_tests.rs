//! Global networks on the in-memory cluster store: two controllers, each on its own fake
//! kernel and local store, share one cluster.

use super::*;
use crate::endpoint::EndpointOptions;
use crate::firewall::FakeFirewall;
use crate::sys::fake::FakeKernel;
use berth_cluster::fake::MemStore;
use berth_cluster::store::ClusterStore;
use berth_cluster::{Cluster, NodeRecord};
use std::net::Ipv4Addr;
use std::time::Duration;

struct Host {
    _dir: tempfile::TempDir,
    kernel: Arc<FakeKernel>,
    ctl: Arc<Controller>,
    advertise: Ipv4Addr,
}

async fn host(store: &MemStore, id: &str, advertise: &str) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let kernel = Arc::new(FakeKernel::new());
    let cfg = ControllerConfig {
        netns_dir: dir.path().join("netns"),
        ..ControllerConfig::default()
    };
    let local = Arc::new(Store::open(&dir.path().join("berth.db")).unwrap());
    let ctl = Arc::new(
        Controller::start(
            kernel.clone(),
            Arc::new(FakeFirewall::default()),
            local,
            cfg,
        )
        .await
        .unwrap(),
    );
    let s: Arc<dyn ClusterStore> = Arc::new(store.clone());
    let record = NodeRecord {
        id: id.into(),
        hostname: format!("host-{id}"),
        advertise: advertise.into(),
        started: 0,
    };
    let (cluster, _) = Cluster::join(s, "/t", record, 15, |_| false).await.unwrap();
    ctl.attach_cluster(Arc::new(cluster)).await.unwrap();
    Host {
        _dir: dir,
        kernel,
        ctl,
        advertise: advertise.parse().unwrap(),
    }
}

/// Waits for a watch to deliver; a bound only so that a broken watch fails instead of hanging.
async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1000 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

fn overlay(name: &str) -> CreateNetwork {
    CreateNetwork {
        name: name.into(),
        driver: "overlay".into(),
        subnets: vec![SubnetRequest {
            subnet: "10.0.9.0/24".into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn opts(name: &str) -> EndpointOptions {
    EndpointOptions {
        owner: format!("{name}-owner-0123456789"),
        name: name.into(),
        ..Default::default()
    }
}

/// The overlay network's own namespace on host `h` (each host pins it below its own dir).
fn ovns(h: &Host, net: &Network) -> FakeKernel {
    let path = h._dir.path().join("ovns").join(&net.id[..12]);
    h.kernel
        .inside(&path)
        .expect("the network's namespace exists")
}

async fn vxlan_index(h: &Host, net: &Network) -> u32 {
    let cfg = crate::driver::overlay::of(net).unwrap();
    ovns(h, net)
        .link_index(&cfg.vxlan)
        .await
        .unwrap()
        .expect("vxlan exists")
}

#[tokio::test]
async fn a_global_network_is_built_on_every_host_and_removed_from_any() {
    let s = MemStore::new();
    let a = host(&s, "a", "192.0.2.1").await;
    let b = host(&s, "b", "192.0.2.2").await;
    let net = a.ctl.create(overlay("ov")).await.unwrap();
    assert_eq!(net.scope, "global");
    let vni: u32 = net.options[crate::driver::overlay::OPT_VXLANID_LIST]
        .parse()
        .unwrap();
    assert!(vni >= 4096, "{vni}");
    until("b sees ov", || async { b.ctl.get("ov").await.is_ok() }).await;
    let on_b = b.ctl.get("ov").await.unwrap();
    assert_eq!(on_b.id, net.id);
    let cfg = crate::driver::overlay::of(&on_b).unwrap();
    assert_eq!(cfg.bridge.mtu, 1450);
    let inside = ovns(&b, &on_b);
    assert_eq!(inside.vxlan(&cfg.vxlan), Some((vni, b.advertise)));
    assert_eq!(
        b.kernel.vxlan(&cfg.vxlan),
        None,
        "the VXLAN device is not the host's"
    );
    let br = inside.link(&cfg.bridge.name).await.unwrap().unwrap();
    assert_eq!(br.kind.as_deref(), Some("bridge"));
    assert_eq!(br.addrs, vec!["10.0.9.1/24".parse::<IpNet>().unwrap()]);
    // The host reaches the overlay through the transfer link, which has the bridge's name (the
    // firewall keys on it) and no address; the namespace routes everything else back.
    let t = b.kernel.link(&cfg.bridge.name).await.unwrap().unwrap();
    assert_eq!((t.kind.as_deref(), t.addrs.len()), (Some("veth"), 0));
    assert_eq!(
        b.kernel
            .sysctl(&format!("net/ipv4/conf/{}/proxy_arp", cfg.bridge.name)),
        Some("1".into())
    );
    assert_eq!(
        inside.sysctl("net/bridge/bridge-nf-call-iptables"),
        Some("0".into())
    );
    assert!(inside
        .link(crate::driver::ovns::TRANSFER_PEER)
        .await
        .unwrap()
        .is_some_and(|l| l.up));

    // The name is the cluster's: another host cannot take it.
    let e = b.ctl.create(overlay("ov")).await.unwrap_err();
    assert!(matches!(e, NetError::Conflict(_)), "{e}");

    let sb = a.ctl.create_sandbox(&new_id()).await.unwrap();
    a.ctl.attach(&sb.id, "ov", opts("web")).await.unwrap();
    let e = b.ctl.remove("ov").await.unwrap_err();
    assert!(matches!(e, NetError::Forbidden(_)), "{e}");
    a.ctl.remove_sandbox(&sb.id).await.unwrap();
    b.ctl.remove("ov").await.unwrap();
    until("a drops ov", || async { a.ctl.get("ov").await.is_err() }).await;
    a.ctl.settle().await;
    assert!(a.kernel.inside(&cfg.netns).is_none(), "namespace left");
    assert!(a.kernel.link(&cfg.bridge.name).await.unwrap().is_none());
}

#[tokio::test]
async fn remote_endpoints_are_programmed_and_unprogrammed() {
    let s = MemStore::new();
    let a = host(&s, "a", "192.0.2.1").await;
    let b = host(&s, "b", "192.0.2.2").await;
    let net = a.ctl.create(overlay("ov")).await.unwrap();
    until("b sees ov", || async { b.ctl.get("ov").await.is_ok() }).await;
    let sb = a.ctl.create_sandbox(&new_id()).await.unwrap();
    let ep = a
        .ctl
        .attach(
            &sb.id,
            "ov",
            EndpointOptions {
                ipv4: Some("10.0.9.77".parse().unwrap()),
                ..opts("web")
            },
        )
        .await
        .unwrap();
    assert_eq!(ep.ipv4.unwrap().addr().to_string(), "10.0.9.77");
    let dev = vxlan_index(&b, &net).await;
    let want_ip: Ipv4Addr = "10.0.9.77".parse().unwrap();
    until("b programs web", || async {
        let t = ovns(&b, &net).remote_table(dev).await.unwrap();
        t.neighbours.contains(&(want_ip, ep.mac)) && t.fdb.contains(&(ep.mac, a.advertise))
    })
    .await;
    // The other host's endpoint never lands on the host that owns it.
    let own = ovns(&a, &net)
        .remote_table(vxlan_index(&a, &net).await)
        .await
        .unwrap();
    assert!(own.neighbours.is_empty() && own.fdb.is_empty(), "{own:?}");

    // The same address cannot be had twice in the cluster.
    let sb2 = b.ctl.create_sandbox(&new_id()).await.unwrap();
    let e = b
        .ctl
        .attach(
            &sb2.id,
            "ov",
            EndpointOptions {
                ipv4: Some("10.0.9.77".parse().unwrap()),
                ..opts("db")
            },
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("10.0.9.77"), "{e}");

    a.ctl.detach(&sb.id, "ov").await.unwrap();
    until("b forgets web", || async {
        let t = ovns(&b, &net).remote_table(dev).await.unwrap();
        t.neighbours.is_empty() && t.fdb.is_empty()
    })
    .await;
}

#[tokio::test]
async fn resync_removes_entries_the_cluster_does_not_explain() {
    let s = MemStore::new();
    let a = host(&s, "a", "192.0.2.1").await;
    let b = host(&s, "b", "192.0.2.2").await;
    let net = a.ctl.create(overlay("ov")).await.unwrap();
    until("b sees ov", || async { b.ctl.get("ov").await.is_ok() }).await;
    let sb = a.ctl.create_sandbox(&new_id()).await.unwrap();
    let ep = a.ctl.attach(&sb.id, "ov", opts("web")).await.unwrap();
    let dev = vxlan_index(&b, &net).await;
    let inside = ovns(&b, &net);
    until("b programs web", || async {
        inside.remote_table(dev).await.unwrap().fdb.len() == 1
    })
    .await;
    let stray = [0x02, 0x42, 9, 9, 9, 9];
    inside.add_stray_fdb(dev, stray, "192.0.2.99".parse().unwrap());
    inside
        .add_neighbour(dev, "10.0.9.200".parse().unwrap(), stray)
        .await
        .unwrap();
    // An entry of the cluster's that went missing comes back too.
    inside.delete_fdb(dev, ep.mac, a.advertise).await.unwrap();
    b.ctl.resync_remote().await;
    let t = inside.remote_table(dev).await.unwrap();
    assert_eq!(t.fdb, vec![(ep.mac, a.advertise)]);
    assert_eq!(t.neighbours.len(), 1, "{t:?}");
}

#[tokio::test]
async fn without_a_cluster_or_with_it_down_overlay_is_refused_and_bridges_work() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ControllerConfig {
        netns_dir: dir.path().join("netns"),
        ..ControllerConfig::default()
    };
    let local = Arc::new(Store::open(&dir.path().join("berth.db")).unwrap());
    let ctl = Controller::start(
        Arc::new(FakeKernel::new()),
        Arc::new(FakeFirewall::default()),
        local,
        cfg,
    )
    .await
    .unwrap();
    let e = ctl.create(overlay("ov")).await.unwrap_err();
    assert!(matches!(e, NetError::InvalidParameter(_)), "{e}");
    assert!(e.to_string().contains("--cluster-store"), "{e}");

    let s = MemStore::new();
    let a = host(&s, "a", "192.0.2.1").await;
    let mut enc = overlay("sec");
    enc.options.insert("encrypted".into(), String::new());
    let e = a.ctl.create(enc).await.unwrap_err();
    assert!(e.to_string().contains("not supported"), "{e}");
    s.set_available(false);
    let e = a.ctl.create(overlay("ov")).await.unwrap_err();
    assert!(
        e.to_string().starts_with("cluster store unavailable"),
        "{e}"
    );
    a.ctl.create(plain("local", "bridge")).await.unwrap();
}

/// A network of `driver` with nothing else asked for.
fn plain(name: &str, driver: &str) -> CreateNetwork {
    CreateNetwork {
        name: name.into(),
        driver: driver.into(),
        ..Default::default()
    }
}

fn bridge(name: &str, subnet: &str) -> CreateNetwork {
    CreateNetwork {
        name: name.into(),
        driver: "bridge".into(),
        subnets: vec![SubnetRequest {
            subnet: subnet.into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn an_outage_answers_unavailable_and_a_removal_meanwhile_is_released_after() {
    let s = MemStore::new();
    let a = host(&s, "a", "192.0.2.1").await;
    let net = a.ctl.create(overlay("ov")).await.unwrap();
    let sb = a.ctl.create_sandbox(&new_id()).await.unwrap();
    a.ctl.attach(&sb.id, "ov", opts("web")).await.unwrap();
    let claims = |s: &MemStore| s.key_count();
    let with_web = claims(&s);

    s.set_available(false);
    let sb2 = a.ctl.create_sandbox(&new_id()).await.unwrap();
    let e = a.ctl.attach(&sb2.id, "ov", opts("db")).await.unwrap_err();
    assert_eq!(e.kind(), crate::error::ErrorKind::Unavailable, "{e}");
    assert!(
        e.to_string().starts_with("cluster store unavailable: "),
        "{e}"
    );
    // The container goes here; the store cannot hear of it yet.
    a.ctl.remove_sandbox(&sb.id).await.unwrap();
    let e = a.ctl.remove("ov").await.unwrap_err();
    assert_eq!(e.kind(), crate::error::ErrorKind::Unavailable, "{e}");
    assert_eq!(claims(&s), with_web);
    a.ctl.reconcile_claims_if_stale().await;
    assert_eq!(claims(&s), with_web, "reconciled without a store");

    s.set_available(true);
    a.ctl.reconcile_claims_if_stale().await;
    let left = a
        .ctl
        .global()
        .unwrap()
        .cluster
        .endpoints(Some(&net.id))
        .await;
    assert_eq!(left.unwrap(), Vec::new());
    assert_eq!(
        claims(&s),
        with_web - 2,
        "the record and the address claim go"
    );
    // Once is enough: a second pass has nothing to do.
    assert!(!a
        .ctl
        .global()
        .unwrap()
        .claims_stale
        .load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test]
async fn a_global_subnet_overlapping_a_local_one_is_refused_here_and_reported_there() {
    let s = MemStore::new();
    let a = host(&s, "a", "192.0.2.1").await;
    let b = host(&s, "b", "192.0.2.2").await;
    a.ctl.create(bridge("lan", "10.0.9.0/24")).await.unwrap();
    // Known overlap: refused at create, as Docker refuses overlapping pools.
    let e = a.ctl.create(overlay("ov")).await.unwrap_err();
    assert!(matches!(e, NetError::Forbidden(_)), "{e}");
    assert!(e.to_string().contains("local network lan"), "{e}");
    // A subnet the cluster picks skips this host's local ones.
    a.ctl.create(bridge("lan0", "10.0.0.0/24")).await.unwrap();
    let auto = a.ctl.create(plain("auto", "overlay")).await.unwrap();
    assert_eq!(auto.subnets[0].subnet.to_string(), "10.0.1.0/24");

    // Learned later: host b makes it; host a does not build it and says why.
    b.ctl.create(overlay("ov")).await.unwrap();
    until("a reports the overlap", || async {
        !a.ctl.overlay_warnings().is_empty()
    })
    .await;
    let w = a.ctl.overlay_warnings();
    assert!(
        w[0].contains("ov (10.0.9.0/24)") && w[0].contains("local network lan"),
        "{w:?}"
    );
    assert!(a.ctl.get("ov").await.is_err());
    // The local network goes: the next resync builds the global one here.
    a.ctl.remove("lan").await.unwrap();
    a.ctl.settle().await;
    a.ctl.retry_conflicts().await;
    assert!(a.ctl.get("ov").await.is_ok());
    assert!(a.ctl.overlay_warnings().is_empty());
}

#[tokio::test]
async fn a_build_cut_short_is_finished_and_a_removal_takes_the_namespace() {
    let s = MemStore::new();
    let a = host(&s, "a", "192.0.2.1").await;
    a.ctl.create(overlay("ov")).await.unwrap();
    let net = a.ctl.get("ov").await.unwrap();
    let cfg = crate::driver::overlay::of(&net).unwrap().clone();
    let inside = ovns(&a, &net);
    let transfer = a.kernel.link(&cfg.bridge.name).await.unwrap().unwrap();
    // A crash after the namespace and its bridge, before the VXLAN device and the transfer
    // pair: the next build makes what is missing and nothing twice.
    let vx = inside.link_index(&cfg.vxlan).await.unwrap().unwrap();
    inside.delete_link(vx).await.unwrap();
    a.kernel.delete_link(transfer.index).await.unwrap();
    let drv = crate::driver::of(&net.driver);
    drv.create(a.kernel.as_ref(), &net).await.unwrap();
    drv.create(a.kernel.as_ref(), &net).await.unwrap();
    assert!(inside.vxlan(&cfg.vxlan).is_some());
    let names: Vec<String> = inside
        .links()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    let peers = names
        .iter()
        .filter(|n| *n == crate::driver::ovns::TRANSFER_PEER)
        .count();
    assert_eq!(peers, 1, "{names:?}");
    let t = a.kernel.link(&cfg.bridge.name).await.unwrap().unwrap();
    assert_eq!(t.kind.as_deref(), Some("veth"));
    assert_eq!(
        inside.default_routes().len(),
        0,
        "on-link, not via a gateway"
    );

    drv.delete(a.kernel.as_ref(), &net).await.unwrap();
    assert!(a.kernel.inside(&cfg.netns).is_none());
    assert!(a.kernel.link(&cfg.bridge.name).await.unwrap().is_none());
    // Removing again finds nothing to do.
    drv.delete(a.kernel.as_ref(), &net).await.unwrap();
}

#[tokio::test]
async fn a_start_unpins_overlay_namespaces_no_network_explains() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = Arc::new(FakeKernel::new());
    let orphan = dir.path().join("ovns").join("0123456789ab");
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, "").unwrap();
    kernel
        .create_netns_fresh(&orphan, crate::driver::ovns::SYSCTLS)
        .await
        .unwrap();
    let cfg = ControllerConfig {
        netns_dir: dir.path().join("netns"),
        ..ControllerConfig::default()
    };
    let local = Arc::new(Store::open(&dir.path().join("berth.db")).unwrap());
    let _ctl = Controller::start(
        kernel.clone(),
        Arc::new(FakeFirewall::default()),
        local,
        cfg,
    )
    .await
    .unwrap();
    assert!(kernel.inside(&orphan).is_none(), "orphan kept");
}

//! Removed networks' bridges parked for the next create, on the fake kernel.

use super::*;
use crate::driver::bridge_pool::{parked_name, POOL_ALIAS};
use crate::driver::owner;
use crate::endpoint::EndpointOptions;
use crate::firewall::FakeFirewall;
use crate::sys::fake::FakeKernel;
use crate::sys::Link;

struct Env {
    dir: tempfile::TempDir,
    kernel: Arc<FakeKernel>,
    firewall: Arc<FakeFirewall>,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            kernel: Arc::new(FakeKernel::new()),
            firewall: Arc::new(FakeFirewall::default()),
        }
    }

    async fn start(&self) -> Controller {
        let cfg = ControllerConfig {
            netns_dir: self.dir.path().join("netns"),
            ..Default::default()
        };
        let store = Arc::new(Store::open(&self.dir.path().join("berth.db")).unwrap());
        Controller::start(self.kernel.clone(), self.firewall.clone(), store, cfg)
            .await
            .unwrap()
    }

    async fn bridges(&self) -> Vec<Link> {
        let mut v: Vec<Link> = self
            .kernel
            .links()
            .await
            .unwrap()
            .into_iter()
            .filter(|l| l.kind.as_deref() == Some("bridge") && l.name != "berth0")
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

fn net(name: &str, subnet: &str) -> CreateNetwork {
    CreateNetwork {
        name: name.into(),
        subnets: vec![SubnetRequest {
            subnet: subnet.into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_removed_bridge_is_parked_and_serves_the_next_network() {
    let env = Env::new();
    let ctl = env.start().await;
    let old = ctl.create(net("old", "10.50.0.0/24")).await.unwrap();
    let old_bridge = env.bridges().await.remove(0);
    ctl.remove("old").await.unwrap();
    // Parked: down, no addresses, no firewall elements, marked as nobody's network.
    let parked = env.bridges().await;
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0].name, parked_name(&old.id));
    assert_eq!(parked[0].alias.as_deref(), Some(POOL_ALIAS));
    assert!(!parked[0].up && parked[0].addrs.is_empty(), "{parked:?}");
    assert_eq!(parked[0].index, old_bridge.index);
    let fw = env.firewall.state.lock().unwrap().clone();
    assert!(
        fw.networks.iter().all(|n| n.bridge != old_bridge.name),
        "{fw:?}"
    );
    assert!(ctl
        .list(&Filters::new())
        .await
        .unwrap()
        .iter()
        .all(|n| n.name != "old"));

    // The next bridge network renames it instead of making one.
    let new = ctl.create(net("new", "10.51.0.0/24")).await.unwrap();
    let name = new.bridge().unwrap().name.clone();
    let b = env.kernel.link(&name).await.unwrap().expect("new bridge");
    assert_eq!(b.index, old_bridge.index, "the parked bridge is reused");
    assert_eq!(owner(&b), Some(new.id.as_str()));
    assert!(b.up);
    assert_eq!(b.addrs, vec!["10.51.0.1/24".parse().unwrap()]);
    assert_eq!(env.bridges().await.len(), 1, "nothing else is left");
    let fw = env.firewall.state.lock().unwrap().clone();
    assert!(fw.networks.iter().any(|n| n.bridge == name), "{fw:?}");
    // A container on it gets a veth on that bridge.
    let sb = ctl.create_sandbox(&new_id()).await.unwrap();
    let e = ctl
        .attach(
            &sb.id,
            "new",
            EndpointOptions {
                owner: new_id(),
                name: "c".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (master, _) = env.kernel.master_and_mac(&e.host_ifname).unwrap();
    assert_eq!(master, Some(b.index));
    ctl.remove_sandbox(&sb.id).await.unwrap();
    ctl.remove("new").await.unwrap();
    assert_eq!(env.bridges().await.len(), 1, "parked again");
    // Settled, nothing is left.
    ctl.settle().await;
    assert!(env.bridges().await.is_empty(), "{:?}", env.bridges().await);
}

#[tokio::test]
async fn the_pool_keeps_a_few_and_deletes_the_rest() {
    let env = Env::new();
    let ctl = env.start().await;
    let n = crate::driver::bridge_pool::CAPACITY + 2;
    for i in 0..n {
        ctl.create(net(&format!("n{i}"), &format!("10.60.{i}.0/24")))
            .await
            .unwrap();
    }
    for i in 0..n {
        ctl.remove(&format!("n{i}")).await.unwrap();
    }
    ctl.finish_teardowns().await;
    let left = env.bridges().await;
    assert_eq!(left.len(), crate::driver::bridge_pool::CAPACITY, "{left:?}");
    assert!(left.iter().all(|l| l.alias.as_deref() == Some(POOL_ALIAS)));
    ctl.settle().await;
    assert!(env.bridges().await.is_empty());
}

#[tokio::test]
async fn an_ipv6_bridge_only_serves_an_ipv6_network() {
    let env = Env::new();
    let ctl = env.start().await;
    let mut v6 = net("v6", "10.70.0.0/24");
    v6.enable_ipv6 = true;
    v6.subnets.push(SubnetRequest {
        subnet: "fd00:70::/64".into(),
        ..Default::default()
    });
    ctl.create(v6).await.unwrap();
    let index = env.bridges().await[0].index;
    ctl.remove("v6").await.unwrap();
    let v4 = ctl.create(net("v4", "10.71.0.0/24")).await.unwrap();
    let b = env
        .kernel
        .link(&v4.bridge().unwrap().name)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(b.index, index, "an IPv4 network gets a bridge of its own");
    assert_eq!(env.bridges().await.len(), 2, "the IPv6 one stays parked");
    ctl.settle().await;
    assert_eq!(env.bridges().await.len(), 1);
}

#[tokio::test]
async fn a_start_after_a_crash_removes_parked_bridges() {
    let env = Env::new();
    let ctl = env.start().await;
    ctl.create(net("gone", "10.80.0.0/24")).await.unwrap();
    ctl.remove("gone").await.unwrap();
    assert_eq!(env.bridges().await.len(), 1);
    // No settle: the daemon dies with a bridge parked.
    drop(ctl);
    let again = env.start().await;
    assert!(env.bridges().await.is_empty(), "{:?}", env.bridges().await);
    again.settle().await;
}

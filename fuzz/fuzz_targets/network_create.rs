//! `POST /networks/create` bodies, through serde and the controller's whole validation (names,
//! drivers, subnets, gateways, ranges, auxiliary addresses, driver and IPAM options) against
//! the in-memory kernel: any body is a network or a clear error, never a panic, and a network
//! made can be removed.
#![no_main]

use berth_api::network::NetworkCreateRequest;
use berth_net::controller::{CreateNetwork, SubnetRequest};
use berth_net::firewall::FakeFirewall;
use berth_net::sys::fake::FakeKernel;
use berth_net::{Controller, ControllerConfig};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

struct Env {
    rt: tokio::runtime::Runtime,
    ctl: Controller,
    _dir: tempfile::TempDir,
}

fn env() -> &'static Env {
    static E: OnceLock<Env> = OnceLock::new();
    E.get_or_init(|| {
        // The store on tmpfs when there is one: each create is an fsynced transaction.
        let base = std::path::Path::new("/dev/shm");
        let dir = if base.is_dir() {
            tempfile::tempdir_in(base)
        } else {
            tempfile::tempdir()
        }
        .expect("tempdir");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let store = Arc::new(berth_store::Store::open(&dir.path().join("db")).expect("store"));
        let cfg = ControllerConfig {
            netns_dir: dir.path().join("netns"),
            ..ControllerConfig::default()
        };
        let ctl = rt
            .block_on(Controller::start(
                Arc::new(FakeKernel::new()),
                Arc::new(FakeFirewall::default()),
                store,
                cfg,
            ))
            .expect("controller");
        Env { rt, ctl, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<NetworkCreateRequest>(data) else {
        return;
    };
    // As the API maps it (crates/berthd/src/api/networks.rs).
    let ipam = req.ipam.unwrap_or_default();
    let subnets = ipam
        .config
        .unwrap_or_default()
        .into_iter()
        .map(|c| SubnetRequest {
            subnet: c.subnet,
            gateway: c.gateway,
            ip_range: c.ip_range,
            aux_addresses: c.auxiliary_addresses,
        })
        .collect();
    let create = CreateNetwork {
        name: req.name,
        driver: req.driver,
        internal: req.internal,
        attachable: req.attachable,
        ingress: req.ingress,
        config_only: req.config_only,
        config_from: req.config_from.map(|c| c.network).unwrap_or_default(),
        scope: req.scope,
        enable_ipv4: req.enable_ipv4,
        enable_ipv6: req.enable_ipv6.unwrap_or(false),
        ipam_driver: ipam.driver,
        ipam_options: ipam.options.unwrap_or_default(),
        subnets,
        options: req.options.unwrap_or_default(),
        labels: req.labels.unwrap_or_default(),
    };
    let e = env();
    e.rt.block_on(async {
        if let Ok(net) = e.ctl.create(create).await {
            e.ctl
                .remove(&net.id)
                .await
                .expect("a network just made can be removed");
        }
    });
});

//! `POST /networks/create` bodies, through serde and the controller's whole validation (names,
//! drivers, subnets, gateways, ranges, auxiliary addresses, driver and IPAM options) against
//! the in-memory kernel: any body is a network or a clear error, never a panic, and a network
//! made can be removed.
#![no_main]

use berth_net::controller::CreateNetwork;
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
    // The API's own decoding and request (berth_api::network_create), as berthd runs them.
    let Ok(req) = berth_api::network_create::decode(data) else {
        return;
    };
    let create = CreateNetwork::from(req);
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

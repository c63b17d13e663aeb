//! `/_ping`, `/version`, `/info`.

use super::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::system::{AddressPool, Component, Info, Platform, Plugins, Version};
use berth_api::{API_VERSION, MIN_API_VERSION};
use std::collections::BTreeMap;

pub async fn ping() -> Response {
    let mut r = (StatusCode::OK, "OK").into_response();
    let h = r.headers_mut();
    h.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Pragma", HeaderValue::from_static("no-cache"));
    h.insert(
        "Content-Type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn kernel_version() -> String {
    read_trim("/proc/sys/kernel/osrelease")
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub async fn version() -> Json<Version> {
    let v = env!("CARGO_PKG_VERSION").to_string();
    let details: BTreeMap<String, String> = [
        ("ApiVersion", API_VERSION.to_string()),
        ("MinAPIVersion", MIN_API_VERSION.to_string()),
        ("Os", "linux".to_string()),
        ("Arch", arch().to_string()),
        ("KernelVersion", kernel_version()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Json(Version {
        platform: Platform {
            name: "berth".into(),
        },
        components: vec![Component {
            name: "Engine".into(),
            version: v.clone(),
            details,
        }],
        version: v,
        api_version: API_VERSION.into(),
        min_api_version: MIN_API_VERSION.into(),
        git_commit: String::new(),
        go_version: String::new(),
        os: "linux".into(),
        arch: arch().into(),
        kernel_version: kernel_version(),
        build_time: String::new(),
    })
}

fn os_name() -> String {
    read_trim("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

fn mem_total() -> u64 {
    read_trim("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

pub async fn info(State(st): State<AppState>) -> Json<Info> {
    let (cluster_store, cluster_advertise, berth_cluster) = st.cluster.info().await;
    Json(Info {
        cluster_store,
        cluster_advertise,
        berth_cluster,
        id: st.daemon_id.clone(),
        driver: "overlay2".into(),
        name: read_trim("/proc/sys/kernel/hostname"),
        server_version: env!("CARGO_PKG_VERSION").into(),
        operating_system: os_name(),
        os_type: "linux".into(),
        architecture: std::env::consts::ARCH.into(),
        ncpu: std::thread::available_parallelism()
            .map(|n| n.get() as u64)
            .unwrap_or(1),
        mem_total: mem_total(),
        kernel_version: kernel_version(),
        docker_root_dir: st.data_root.display().to_string(),
        plugins: Plugins {
            volume: vec![],
            network: vec!["bridge".into(), "host".into(), "null".into()],
            authorization: None,
            log: vec!["json-file".into()],
        },
        ipv4_forwarding: st.ip_forward,
        default_address_pools: st
            .pools
            .iter()
            .map(|p| AddressPool {
                base: p.base.to_string(),
                size: p.size,
            })
            .collect(),
        cgroup_driver: "cgroupfs".into(),
        cgroup_version: "1".into(),
        logging_driver: "json-file".into(),
        default_runtime: "runc".into(),
        // Global networks an overlapping local subnet keeps off this host (issue 19).
        warnings: Some(st.ctl.overlay_warnings()).filter(|w| !w.is_empty()),
        ..Default::default()
    })
}

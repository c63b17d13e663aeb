//! `berth version` and `berth info`.

use crate::client::Client;
use crate::format;
use crate::Failure;
use berth_api::system::{Info, Version};

#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// Format the output using a Go-style template, or "json".
    #[arg(short, long)]
    format: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Format the output using a Go-style template, or "json".
    #[arg(short, long)]
    format: Option<String>,
}

pub async fn version(client: &Client, args: VersionArgs) -> Result<(), Failure> {
    let client_part = serde_json::json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": berth_api::API_VERSION,
        "Os": "linux",
        "Arch": std::env::consts::ARCH,
    });
    let server: Result<Version, _> = client.get_json("/version").await;
    if let Some(f) = args.format {
        let v = serde_json::json!({"Client": client_part, "Server": server.as_ref().ok()});
        let out = if f == "json" {
            serde_json::to_string(&v).unwrap_or_default()
        } else {
            format::render(&f, &v).map_err(Failure::msg)?
        };
        println!("{out}");
        return server.map(|_| ()).map_err(Failure::from);
    }
    println!("Client: berth");
    println!(" Version:           {}", env!("CARGO_PKG_VERSION"));
    println!(" API version:       {}", berth_api::API_VERSION);
    println!(" OS/Arch:           linux/{}", std::env::consts::ARCH);
    let s = server?;
    println!();
    println!("Server: {}", s.platform.name);
    println!(" Engine:");
    println!("  Version:          {}", s.version);
    println!(
        "  API version:      {} (minimum version {})",
        s.api_version, s.min_api_version
    );
    println!("  OS/Arch:          {}/{}", s.os, s.arch);
    println!("  Kernel version:   {}", s.kernel_version);
    Ok(())
}

pub async fn info(client: &Client, args: InfoArgs) -> Result<(), Failure> {
    let i: Info = client.get_json("/info").await?;
    if let Some(f) = args.format {
        let v = serde_json::to_value(&i).map_err(|e| Failure::msg(e.to_string()))?;
        let out = if f == "json" {
            v.to_string()
        } else {
            format::render(&f, &v).map_err(Failure::msg)?
        };
        println!("{out}");
        return Ok(());
    }
    println!("Server:");
    println!(" Containers: {}", i.containers);
    println!("  Running: {}", i.containers_running);
    println!("  Paused: {}", i.containers_paused);
    println!("  Stopped: {}", i.containers_stopped);
    println!(" Images: {}", i.images);
    println!(" Server Version: {}", i.server_version);
    println!(" Plugins:");
    println!("  Network: {}", i.plugins.network.join(" "));
    println!(" Kernel Version: {}", i.kernel_version);
    println!(" Operating System: {}", i.operating_system);
    println!(" OSType: {}", i.os_type);
    println!(" Architecture: {}", i.architecture);
    println!(" CPUs: {}", i.ncpu);
    println!(
        " Total Memory: {:.2}GiB",
        i.mem_total as f64 / (1u64 << 30) as f64
    );
    println!(" Name: {}", i.name);
    println!(" ID: {}", i.id);
    println!(" Berth Root Dir: {}", i.docker_root_dir);
    println!(" Default Address Pools:");
    for p in &i.default_address_pools {
        println!("   Base: {}, Size: {}", p.base, p.size);
    }
    print_cluster(&i);
    Ok(())
}

/// Docker 20.10's two cluster lines, then berth's store status and members.
fn print_cluster(i: &Info) {
    if !i.cluster_store.is_empty() {
        println!(" Cluster Store: {}", i.cluster_store);
    }
    if !i.cluster_advertise.is_empty() {
        println!(" Cluster Advertise: {}", i.cluster_advertise);
    }
    if let Some(c) = &i.berth_cluster {
        println!(" Cluster Store Status: {}", c.store);
        println!(" Cluster Nodes: {}", c.nodes.len());
        for n in &c.nodes {
            println!("  {}: {} ({})", n.name, n.address, n.id);
        }
    }
}

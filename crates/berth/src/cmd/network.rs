//! `berth network create|ls|inspect|rm|prune`, with Docker's flags and output.

use crate::client::{encode, Client, ClientError};
use crate::format;
use crate::Failure;
use berth_api::container::{EndpointIpam, EndpointSettings};
use berth_api::network::{
    Ipam, IpamConfig, Network, NetworkCreateRequest, NetworkCreateResponse, NetworkPruneResponse,
};
use berth_api::network_connect::{ConnectBody, DisconnectBody};
use clap::{Args, Subcommand};
use hyper::{Method, StatusCode};
use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Create a network.
    Create(Box<CreateArgs>),
    /// List networks.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks.
    Inspect(InspectArgs),
    /// Remove one or more networks.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks.
    Prune(PruneArgs),
    /// Connect a container to a network.
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
    /// Explain whether SRC reaches DST, and what decides (berth's own command).
    Check(super::check::CheckArgs),
    /// Draw the topology as SVG, DOT or JSON (berth's own command).
    Graph(super::graph::GraphArgs),
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// IPv4 address (e.g., 172.30.100.104).
    #[arg(long)]
    ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33).
    #[arg(long)]
    ip6: Option<String>,
    /// Add network-scoped alias for the container.
    #[arg(long)]
    alias: Vec<String>,
    network: String,
    container: String,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network.
    #[arg(short, long)]
    force: bool,
    network: String,
    container: String,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the network: bridge, macvlan or ipvlan.
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment.
    #[arg(long)]
    subnet: Vec<String>,
    /// IPv4 or IPv6 gateway for the master subnet.
    #[arg(long)]
    gateway: Vec<String>,
    /// Allocate container IPs from a sub-range.
    #[arg(long = "ip-range")]
    ip_range: Vec<String>,
    /// Auxiliary IPv4 or IPv6 addresses used by the network driver (name=IP).
    #[arg(long = "aux-address")]
    aux_address: Vec<String>,
    /// Enable or disable IPv4 address assignment.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    ipv4: Option<bool>,
    /// Enable IPv6 networking.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    ipv6: Option<bool>,
    /// Restrict external access to the network.
    #[arg(long)]
    internal: bool,
    /// Enable manual container attachment.
    #[arg(long)]
    attachable: bool,
    /// Create swarm routing-mesh network (not supported by berth).
    #[arg(long)]
    ingress: bool,
    /// Set metadata on a network (key=value).
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options (key=value). macvlan: parent=IFACE[.VLAN],
    /// macvlan_mode=bridge|private|vepa|passthru; ipvlan: parent=IFACE[.VLAN],
    /// ipvlan_mode=l2|l3|l3s, ipvlan_flag=bridge|private|vepa. Without a parent the network is
    /// internal. The host cannot reach its own macvlan containers through the parent (the
    /// kernel's rule): berth.macvlan.host_link=true gives it a macvlan link of its own on the
    /// parent, with the address of --aux-address host=IP.
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    /// IP Address Management Driver.
    #[arg(long = "ipam-driver", default_value = "default")]
    ipam_driver: String,
    /// Set IPAM driver specific options (key=value).
    #[arg(long = "ipam-opt")]
    ipam_opt: Vec<String>,
    /// Control the network's scope.
    #[arg(long)]
    scope: Option<String>,
    /// Create a configuration only network.
    #[arg(long = "config-only")]
    config_only: bool,
    /// The network from which to copy the configuration.
    #[arg(long = "config-from")]
    config_from: Option<String>,
    /// Network name.
    name: String,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display network IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Provide filter values (e.g. "driver=bridge").
    #[arg(short, long)]
    filter: Vec<String>,
    /// Do not truncate the output.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Format output: "table", "json", or a Go-style template.
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output: "json" or a Go-style template.
    #[arg(short, long)]
    format: Option<String>,
    /// Verbose output for diagnostics.
    #[arg(short, long)]
    verbose: bool,
    #[arg(required = true)]
    networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist.
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=<timestamp>").
    #[arg(long)]
    filter: Vec<String>,
}

pub async fn run(client: &Client, cmd: NetworkCmd) -> Result<(), Failure> {
    match cmd {
        NetworkCmd::Create(a) => create(client, *a).await,
        NetworkCmd::Ls(a) => ls(client, a).await,
        NetworkCmd::Inspect(a) => inspect(client, a).await,
        NetworkCmd::Rm(a) => rm(client, a).await,
        NetworkCmd::Prune(a) => prune(client, a).await,
        NetworkCmd::Connect(a) => connect(client, a).await,
        NetworkCmd::Disconnect(a) => disconnect(client, a).await,
        NetworkCmd::Check(a) => super::check::check(client, a).await,
        NetworkCmd::Graph(a) => super::graph::graph(client, a).await,
    }
}

fn key_values(flag: &str, items: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_string(), v.to_string());
            }
            // Docker allows a bare label key with an empty value.
            None if flag == "label" && !item.is_empty() => {
                out.insert(item.clone(), String::new());
            }
            _ => {
                return Err(Failure::msg(format!(
                    "invalid argument \"{item}\" for \"--{flag}\" flag: expected key=value"
                )))
            }
        }
    }
    Ok(out)
}

fn contains(subnet: &str, ip: IpAddr) -> bool {
    subnet
        .parse::<ipnet::IpNet>()
        .map(|n| n.contains(&ip))
        .unwrap_or(false)
}

/// Pairs each gateway, range and aux address with the subnet that holds it, as the docker CLI
/// does before sending the request.
fn ipam_configs(a: &CreateArgs) -> Result<Vec<IpamConfig>, Failure> {
    if a.subnet.is_empty()
        && (!a.gateway.is_empty() || !a.ip_range.is_empty() || !a.aux_address.is_empty())
    {
        return Err(Failure::msg(
            "every ip-range or gateway must have a corresponding subnet",
        ));
    }
    let mut configs: Vec<IpamConfig> = a
        .subnet
        .iter()
        .map(|s| IpamConfig {
            subnet: s.clone(),
            ..Default::default()
        })
        .collect();
    // The index of the subnet that holds the address `text` begins with.
    let holder = |configs: &[IpamConfig], text: &str| {
        let ip = text.split('/').next()?.parse::<IpAddr>().ok()?;
        configs.iter().position(|c| contains(&c.subnet, ip))
    };
    for r in &a.ip_range {
        match holder(&configs, r) {
            Some(i) if configs[i].ip_range.is_empty() => configs[i].ip_range = r.clone(),
            Some(i) => {
                return Err(Failure::msg(format!(
                    "cannot configure multiple ranges ({r}, {}) on the same subnet ({})",
                    configs[i].ip_range, configs[i].subnet
                )))
            }
            None => return Err(Failure::msg(format!("no matching subnet for range {r}"))),
        }
    }
    for g in &a.gateway {
        match holder(&configs, g) {
            Some(i) if configs[i].gateway.is_empty() => configs[i].gateway = g.clone(),
            Some(i) => {
                return Err(Failure::msg(format!(
                    "cannot configure multiple gateways ({g}, {}) for the same subnet ({})",
                    configs[i].gateway, configs[i].subnet
                )))
            }
            None => return Err(Failure::msg(format!("no matching subnet for gateway {g}"))),
        }
    }
    for (name, addr) in key_values("aux-address", &a.aux_address)? {
        match holder(&configs, &addr) {
            Some(i) => {
                configs[i].auxiliary_addresses.insert(name, addr);
            }
            None => {
                return Err(Failure::msg(format!(
                    "no matching subnet for aux-address {addr}"
                )))
            }
        }
    }
    Ok(configs)
}

async fn create(client: &Client, a: CreateArgs) -> Result<(), Failure> {
    let req = NetworkCreateRequest {
        name: a.name.clone(),
        driver: a.driver.clone(),
        scope: a.scope.clone().unwrap_or_default(),
        internal: a.internal,
        attachable: a.attachable,
        ingress: a.ingress,
        config_only: a.config_only,
        config_from: a
            .config_from
            .clone()
            .map(|n| berth_api::network::ConfigReference { network: n }),
        ipam: Some(Ipam {
            driver: a.ipam_driver.clone(),
            options: Some(key_values("ipam-opt", &a.ipam_opt)?),
            config: Some(ipam_configs(&a)?),
        }),
        enable_ipv4: a.ipv4,
        enable_ipv6: a.ipv6,
        options: Some(key_values("opt", &a.opt)?),
        labels: Some(key_values("label", &a.label)?),
        check_duplicate: None,
    };
    let body = serde_json::to_vec(&req).map_err(|e| Failure::msg(e.to_string()))?;
    let resp: NetworkCreateResponse = client.post_json("/networks/create", Some(body)).await?;
    if !resp.warning.is_empty() {
        eprintln!("WARNING: {}", resp.warning);
    }
    println!("{}", resp.id);
    Ok(())
}

pub(crate) fn filters_query(items: &[String]) -> Result<String, Failure> {
    let mut f: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in items {
        let (k, v) = item.split_once('=').ok_or_else(|| {
            Failure::msg(format!("invalid argument \"{item}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)"))
        })?;
        f.entry(k.trim().to_lowercase())
            .or_default()
            .push(v.to_string());
    }
    if f.is_empty() {
        return Ok(String::new());
    }
    let json = serde_json::to_string(&f).map_err(|e| Failure::msg(e.to_string()))?;
    Ok(format!("?filters={}", encode(&json)))
}

/// The row object `network ls --format` templates see, as in the docker CLI.
fn summary(n: &Network, trunc: bool) -> serde_json::Value {
    let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    serde_json::json!({
        "ID": if trunc { n.id[..12.min(n.id.len())].to_string() } else { n.id.clone() },
        "Name": n.name,
        "Driver": n.driver,
        "Scope": n.scope,
        "IPv4": n.enable_ipv4.to_string(),
        "IPv6": n.enable_ipv6.to_string(),
        "Internal": n.internal.to_string(),
        "Labels": labels.join(","),
        "CreatedAt": n.created,
    })
}

async fn ls(client: &Client, a: LsArgs) -> Result<(), Failure> {
    let mut nets: Vec<Network> = client
        .get_json(&format!("/networks{}", filters_query(&a.filter)?))
        .await?;
    nets.sort_by(|x, y| x.name.cmp(&y.name));
    let trunc = !a.no_trunc;
    if a.quiet {
        for n in &nets {
            println!("{}", summary(n, trunc)["ID"].as_str().unwrap_or_default());
        }
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = nets.iter().map(|n| summary(n, trunc)).collect();
    let cols = format::Columns {
        default: &["ID", "Name", "Driver", "Scope"],
        headers: &[
            ("ID", "NETWORK ID"),
            ("Name", "NAME"),
            ("Driver", "DRIVER"),
            ("Scope", "SCOPE"),
            ("IPv4", "IPV4"),
            ("IPv6", "IPV6"),
            ("Internal", "INTERNAL"),
            ("Labels", "LABELS"),
            ("CreatedAt", "CREATED AT"),
        ],
    };
    let f = format::ListFormat::parse(a.format.as_deref());
    print!("{}", format::list(&f, &cols, &rows).map_err(Failure::msg)?);
    Ok(())
}

async fn inspect(client: &Client, a: InspectArgs) -> Result<(), Failure> {
    let _ = a.verbose;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &a.networks {
        match client
            .get_json::<serde_json::Value>(&format!("/networks/{}", encode(name)))
            .await
        {
            Ok(n) => found.push(n),
            Err(ClientError::Daemon { status, .. }) if status == StatusCode::NOT_FOUND => {
                errors.push(format!("Error: No such network: {name}"))
            }
            Err(e) => return Err(e.into()),
        }
    }
    match a.format.as_deref() {
        None | Some("json") => println!("{}", format::pretty(&found)),
        Some(t) => {
            for n in &found {
                println!("{}", format::render(t, n).map_err(Failure::msg)?);
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Failure::msg(errors.join("\n")))
    }
}

async fn rm(client: &Client, a: RmArgs) -> Result<(), Failure> {
    let mut failed = false;
    for name in &a.networks {
        match client
            .request(Method::DELETE, &format!("/networks/{}", encode(name)), None)
            .await
        {
            Ok(_) => println!("{name}"),
            Err(ClientError::Daemon { status, .. })
                if status == StatusCode::NOT_FOUND && a.force => {}
            Err(ClientError::Daemon { status, .. }) if status == StatusCode::NOT_FOUND => {
                eprintln!("Error: No such network: {name}");
                failed = true;
            }
            Err(e @ ClientError::Daemon { .. }) => {
                eprintln!("{e}");
                failed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Failure::unless_failed(failed)
}

async fn prune(client: &Client, a: PruneArgs) -> Result<(), Failure> {
    if !a.force
        && !super::image::confirm(
            "This will remove all custom networks not used by at least one container.",
        )
    {
        return Ok(());
    }
    let resp: NetworkPruneResponse = client
        .post_json(
            &format!("/networks/prune{}", filters_query(&a.filter)?),
            None,
        )
        .await?;
    let deleted = resp.networks_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Networks:");
        for n in deleted {
            println!("{n}");
        }
        println!();
    }
    Ok(())
}

async fn connect(client: &Client, a: ConnectArgs) -> Result<(), Failure> {
    let body = ConnectBody {
        container: a.container,
        endpoint_config: Some(EndpointSettings {
            ipam_config: Some(EndpointIpam {
                ipv4_address: a.ip.unwrap_or_default(),
                ipv6_address: a.ip6.unwrap_or_default(),
                ..Default::default()
            }),
            aliases: Some(a.alias),
            ..EndpointSettings::default()
        }),
    };
    client
        .request(
            Method::POST,
            &format!("/networks/{}/connect", encode(&a.network)),
            Some(super::to_bytes(&body)?),
        )
        .await?;
    Ok(())
}

async fn disconnect(client: &Client, a: DisconnectArgs) -> Result<(), Failure> {
    let body = DisconnectBody {
        container: a.container,
        force: a.force,
    };
    client
        .request(
            Method::POST,
            &format!("/networks/{}/disconnect", encode(&a.network)),
            Some(super::to_bytes(&body)?),
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: CreateArgs,
    }

    fn parse(args: &[&str]) -> CreateArgs {
        let mut v = vec!["t"];
        v.extend_from_slice(args);
        T::parse_from(v).a
    }

    #[test]
    fn gateways_and_ranges_pair_with_their_subnet() {
        let a = parse(&[
            "--subnet",
            "10.1.0.0/16",
            "--subnet",
            "fd00::/64",
            "--gateway",
            "fd00::9",
            "--gateway",
            "10.1.0.254",
            "--ip-range",
            "10.1.5.0/24",
            "--aux-address",
            "r=10.1.0.2",
            "n",
        ]);
        let c = ipam_configs(&a).unwrap();
        assert_eq!(c[0].gateway, "10.1.0.254");
        assert_eq!(c[0].ip_range, "10.1.5.0/24");
        assert_eq!(c[0].auxiliary_addresses["r"], "10.1.0.2");
        assert_eq!(c[1].gateway, "fd00::9");
    }

    #[test]
    fn unmatched_values_are_refused() {
        let e = |args: &[&str]| {
            ipam_configs(&parse(args))
                .err()
                .and_then(|f| f.message)
                .unwrap()
        };
        assert_eq!(
            e(&["--subnet", "10.50.0.0/24", "--gateway", "10.51.0.1", "n"]),
            "no matching subnet for gateway 10.51.0.1"
        );
        assert_eq!(
            e(&["--gateway", "10.50.0.1", "n"]),
            "every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            e(&[
                "--subnet",
                "10.60.0.0/24",
                "--ip-range",
                "10.61.0.0/24",
                "n"
            ]),
            "no matching subnet for range 10.61.0.0/24"
        );
    }
}

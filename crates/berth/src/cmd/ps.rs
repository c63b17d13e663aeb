//! `ps`: containers as the docker CLI lists them, with `--filter`, `-n/--last`, `-l/--latest`
//! and `-s/--size` passed to the daemon as Docker's query.

use super::container::{ago, host_port};
use super::network::filters_query;
use crate::client::Client;
use crate::format;
use crate::units::human_size_with_precision;
use crate::Failure;
use clap::Args;
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Format output: "table", "json", or a Go-style template.
    #[arg(long)]
    format: Option<String>,
    /// Filter output based on conditions provided (e.g. "name=web", "status=exited").
    #[arg(short, long)]
    filter: Vec<String>,
    /// Show n last created containers (includes all states).
    #[arg(short = 'n', long, allow_negative_numbers = true)]
    last: Option<i64>,
    /// Show the latest created container (includes all states).
    #[arg(short, long)]
    latest: bool,
    /// Display total file sizes.
    #[arg(short, long)]
    size: bool,
}

pub async fn ps(client: &Client, a: PsArgs) -> Result<(), Failure> {
    let list: Vec<Value> = client.get_json(&ps_path(&a)?).await?;
    let id = |c: &Value| {
        let id = c["Id"].as_str().unwrap_or_default();
        if a.no_trunc {
            id.to_string()
        } else {
            id.chars().take(12).collect()
        }
    };
    if a.quiet {
        for c in &list {
            println!("{}", id(c));
        }
        return Ok(());
    }
    let row = |c: &Value| {
        let mut cmd = c["Command"].as_str().unwrap_or_default().to_string();
        if !a.no_trunc && cmd.chars().count() > 20 {
            cmd = cmd.chars().take(19).collect::<String>() + "…";
        }
        let names: Vec<String> = c["Names"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(|s| s.trim_start_matches('/').to_string()))
            .collect();
        json!({
            "ID": id(c), "Image": c["Image"], "Command": format!("\"{cmd}\""),
            "CreatedAt": ago(c["Created"].as_i64().unwrap_or(0)), "RunningFor": ago(c["Created"].as_i64().unwrap_or(0)),
            "Status": c["Status"], "State": c["State"], "Ports": ports_text(&c["Ports"]), "Names": names.join(","),
            "Size": size_text(c),
            "Labels": c["Labels"].as_object().map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(",")).unwrap_or_default(),
            "Networks": c["NetworkSettings"]["Networks"].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>().join(",")).unwrap_or_default(),
        })
    };
    let mut default = vec![
        "ID",
        "Image",
        "Command",
        "RunningFor",
        "Status",
        "Ports",
        "Names",
    ];
    if a.size {
        default.push("Size");
    }
    let cols = format::Columns {
        default: &default,
        headers: &[
            ("ID", "CONTAINER ID"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("CreatedAt", "CREATED AT"),
            ("RunningFor", "CREATED"),
            ("Status", "STATUS"),
            ("State", "STATE"),
            ("Ports", "PORTS"),
            ("Names", "NAMES"),
            ("Size", "SIZE"),
            ("Labels", "LABELS"),
            ("Networks", "NETWORKS"),
        ],
    };
    let rows: Vec<Value> = list.iter().map(row).collect();
    let f = format::ListFormat::parse(a.format.as_deref());
    print!("{}", format::list(&f, &cols, &rows).map_err(Failure::msg)?);
    Ok(())
}

/// `ps`'s PORTS column: `0.0.0.0:8080->80/tcp, 53/udp`.
pub(crate) fn ports_text(ports: &Value) -> String {
    ports
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let private = format!(
                "{}/{}",
                p["PrivatePort"].as_u64().unwrap_or(0),
                p["Type"].as_str().unwrap_or("tcp")
            );
            match (p["IP"].as_str(), p["PublicPort"].as_u64()) {
                (Some(ip), Some(public)) => format!("{}->{private}", host_port(ip, public)),
                _ => private,
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `/containers/json` with Docker's query: `all`, `limit` (`-n`, `-l` is `-n 1`), `size` and
/// `filters`.
fn ps_path(a: &PsArgs) -> Result<String, Failure> {
    let mut q = Vec::new();
    if a.all {
        q.push("all=1".to_string());
    }
    match (a.latest, a.last) {
        (true, _) => q.push("limit=1".into()),
        (false, Some(n)) if n != -1 => q.push(format!("limit={n}")),
        _ => {}
    }
    if a.size {
        q.push("size=1".into());
    }
    let filters = filters_query(&a.filter)?;
    if let Some(f) = filters.strip_prefix('?') {
        q.push(f.to_string());
    }
    Ok(if q.is_empty() {
        "/containers/json".into()
    } else {
        format!("/containers/json?{}", q.join("&"))
    })
}

/// `ps -s`'s SIZE column: `12B (virtual 1.2MB)`.
fn size_text(c: &Value) -> String {
    match (c["SizeRw"].as_u64(), c["SizeRootFs"].as_u64()) {
        (Some(rw), Some(root)) => format!(
            "{} (virtual {})",
            human_size_with_precision(rw, 3),
            human_size_with_precision(root, 3)
        ),
        _ => String::new(),
    }
}

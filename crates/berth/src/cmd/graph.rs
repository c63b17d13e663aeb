//! `berth network graph [--format svg|dot|json] [-o FILE]`: the topology from `/berth/topology`
//! drawn by [`berth_api::topology`] as SVG or DOT, or the JSON itself.

use crate::client::Client;
use crate::Failure;
use berth_api::topology::{dot, svg, Topo};
use clap::Args;

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Output format: svg, dot or json.
    #[arg(long, default_value = "svg")]
    pub format: String,
    /// Write to FILE instead of standard output.
    #[arg(short = 'o', long = "output")]
    pub output: Option<std::path::PathBuf>,
}

pub async fn graph(client: &Client, a: GraphArgs) -> Result<(), Failure> {
    if !matches!(a.format.as_str(), "svg" | "dot" | "json") {
        return Err(Failure {
            message: Some(format!(
                "invalid --format {}: use svg, dot or json",
                a.format
            )),
            code: 2,
        });
    }
    let raw: serde_json::Value = client.get_json("/berth/topology").await?;
    let text = match a.format.as_str() {
        "json" => serde_json::to_string_pretty(&raw).unwrap_or_default() + "\n",
        fmt => {
            let topo: Topo = serde_json::from_value(raw)
                .map_err(|e| Failure::msg(format!("cannot decode the daemon's topology: {e}")))?;
            if fmt == "dot" {
                dot(&topo)
            } else {
                svg(&topo)
            }
        }
    };
    match a.output {
        Some(path) => std::fs::write(&path, text)
            .map_err(|e| Failure::msg(format!("cannot write {}: {e}", path.display()))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

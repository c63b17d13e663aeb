//! `berth system df [-v]`: disk use as the docker CLI prints it (sizes in Docker's units, four
//! significant digits).

use crate::client::Client;
use crate::format::table;
use crate::units::human_size;
use crate::Failure;
use clap::{Args, Subcommand};
use serde_json::Value;

#[derive(Debug, Subcommand)]
pub enum SystemCmd {
    /// Show docker disk usage.
    Df(DfArgs),
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage.
    #[arg(short, long)]
    verbose: bool,
}

pub async fn run(client: &Client, c: SystemCmd) -> Result<(), Failure> {
    match c {
        SystemCmd::Df(a) => df(client, a).await,
    }
}

fn list(v: &Value, key: &str) -> Vec<Value> {
    v[key].as_array().cloned().unwrap_or_default()
}

fn num(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// `SIZE (PCT%)` of what can go, as the docker CLI shows it.
fn reclaimable(part: u64, total: u64) -> String {
    match (part * 100).checked_div(total) {
        Some(pct) => format!("{} ({pct}%)", human_size(part)),
        None => human_size(part),
    }
}

async fn df(client: &Client, a: DfArgs) -> Result<(), Failure> {
    let v: Value = client.get_json("/system/df").await?;
    let images = list(&v, "Images");
    let containers = list(&v, "Containers");
    let volumes = list(&v, "Volumes");
    if a.verbose {
        return verbose(&images, &containers, &volumes);
    }
    let image_total = num(&v, "LayersSize");
    let image_used: u64 = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0)
        .map(|i| num(i, "Size"))
        .sum();
    let active_images = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0)
        .count();
    let live = |c: &Value| matches!(c["State"].as_str(), Some("running" | "paused"));
    let rw_total: u64 = containers.iter().map(|c| num(c, "SizeRw")).sum();
    let rw_idle: u64 = containers
        .iter()
        .filter(|c| !live(c))
        .map(|c| num(c, "SizeRw"))
        .sum();
    let used = |x: &Value| x["UsageData"]["RefCount"].as_i64().unwrap_or(0) > 0;
    let vol_total: u64 = volumes.iter().map(|x| num(&x["UsageData"], "Size")).sum();
    let vol_idle: u64 = volumes
        .iter()
        .filter(|x| !used(x))
        .map(|x| num(&x["UsageData"], "Size"))
        .sum();
    let rows = vec![
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
            .map(String::from)
            .to_vec(),
        vec![
            "Images".into(),
            images.len().to_string(),
            active_images.to_string(),
            human_size(image_total),
            reclaimable(image_total.saturating_sub(image_used), image_total),
        ],
        vec![
            "Containers".into(),
            containers.len().to_string(),
            containers.iter().filter(|c| live(c)).count().to_string(),
            human_size(rw_total),
            reclaimable(rw_idle, rw_total),
        ],
        vec![
            "Local Volumes".into(),
            volumes.len().to_string(),
            volumes.iter().filter(|x| used(x)).count().to_string(),
            human_size(vol_total),
            reclaimable(vol_idle, vol_total),
        ],
        ["Build Cache", "0", "0", "0B", "0B"]
            .map(String::from)
            .to_vec(),
    ];
    print!("{}", table(&rows));
    Ok(())
}

fn verbose(images: &[Value], containers: &[Value], volumes: &[Value]) -> Result<(), Failure> {
    let short = |s: &str| {
        s.trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect::<String>()
    };
    let mut rows = vec![[
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE",
        "SHARED SIZE",
        "UNIQUE SIZE",
        "CONTAINERS",
    ]
    .map(String::from)
    .to_vec()];
    for i in images {
        // As the docker CLI: one row per image, under its first tag.
        let first = i["RepoTags"][0].as_str().unwrap_or("<none>:<none>");
        let (repo, tag) = first.rsplit_once(':').unwrap_or((first, "<none>"));
        let size = num(i, "Size");
        let shared = i["SharedSize"].as_u64().unwrap_or(0);
        rows.push(vec![
            repo.into(),
            tag.into(),
            short(i["Id"].as_str().unwrap_or_default()),
            super::container::ago(i["Created"].as_i64().unwrap_or(0)),
            human_size(size),
            human_size(shared),
            human_size(size.saturating_sub(shared)),
            i["Containers"].as_i64().unwrap_or(0).to_string(),
        ]);
    }
    println!("Images space usage:\n");
    print!("{}", table(&rows));
    let mut rows = vec![[
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "LOCAL VOLUMES",
        "SIZE",
        "CREATED",
        "STATUS",
        "NAMES",
    ]
    .map(String::from)
    .to_vec()];
    for c in containers {
        let volumes = c["Mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["Type"] == "volume")
            .count();
        let command = c["Command"].as_str().unwrap_or_default();
        let command = if command.chars().count() > 20 {
            format!("\"{}…\"", command.chars().take(19).collect::<String>())
        } else {
            format!("\"{command}\"")
        };
        rows.push(vec![
            short(c["Id"].as_str().unwrap_or_default()),
            c["Image"].as_str().unwrap_or_default().into(),
            command,
            volumes.to_string(),
            human_size(num(c, "SizeRw")),
            super::container::ago(c["Created"].as_i64().unwrap_or(0)),
            c["Status"].as_str().unwrap_or_default().into(),
            c["Names"][0]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches('/')
                .into(),
        ]);
    }
    println!("\nContainers space usage:\n");
    print!("{}", table(&rows));
    let mut rows = vec![["VOLUME NAME", "LINKS", "SIZE"].map(String::from).to_vec()];
    for x in volumes {
        rows.push(vec![
            x["Name"].as_str().unwrap_or_default().into(),
            x["UsageData"]["RefCount"].as_i64().unwrap_or(0).to_string(),
            human_size(num(&x["UsageData"], "Size")),
        ]);
    }
    println!("\nLocal Volumes space usage:\n");
    print!("{}", table(&rows));
    println!("\nBuild cache usage: 0B\n");
    print!(
        "{}",
        table(&[[
            "CACHE ID",
            "CACHE TYPE",
            "SIZE",
            "CREATED",
            "LAST USED",
            "USAGE",
            "SHARED"
        ]
        .map(String::from)
        .to_vec()])
    );
    Ok(())
}

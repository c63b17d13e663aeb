//! Container commands: start, stop, restart, kill, rm, wait, port, inspect, logs. `run` and
//! `create` live in `run.rs`, the image commands in `image.rs`; their names are re-exported
//! here, where the verb list finds them.

pub use super::image::{images, import, load, rmi, ImagesArgs, ImportArgs, LoadArgs, RmiArgs};
pub use super::run::{create_cmd, run, RunArgs};

use crate::client::{encode, Client, ClientError};
use crate::format;
use crate::Failure;
use clap::Args;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub struct IdsArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container.
    #[arg(short = 't', long = "time", alias = "timeout")]
    time: Option<u64>,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container.
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container.
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go template.
    #[arg(short, long)]
    format: Option<String>,
    /// Only look for an object of this type.
    #[arg(long = "type", value_parser = ["container", "image", "network", "volume"])]
    kind: Option<String>,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end of the logs ("all" for all).
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps.
    #[arg(short, long)]
    timestamps: bool,
    /// Show logs since a timestamp (2013-01-02T13:23:37Z) or relative (42m for 42 minutes).
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp (2013-01-02T13:23:37Z) or relative (42m for 42 minutes).
    #[arg(long)]
    until: Option<String>,
    container: String,
}

impl LogsArgs {
    /// The query, with times made Unix times here, as the docker CLI sends them.
    fn query(&self) -> Result<String, Failure> {
        let mut q = format!("stdout=1&stderr=1&tail={}", encode(&self.tail));
        if self.follow {
            q.push_str("&follow=1");
        }
        if self.timestamps {
            q.push_str("&timestamps=1");
        }
        for (key, v) in [("since", &self.since), ("until", &self.until)] {
            if let Some(v) = v {
                let t = berth_api::timestamp::unix_from_now(v)
                    .map_err(|e| Failure::msg(format!("invalid value for --{key}: {e}")))?;
                q.push_str(&format!("&{key}={t}"));
            }
        }
        Ok(q)
    }
}

use super::each;

pub async fn start(client: &Client, a: IdsArgs) -> Result<(), Failure> {
    each(client, &a.containers, Method::POST, |n| {
        format!("/containers/{n}/start")
    })
    .await
}

pub async fn stop(client: &Client, a: StopArgs) -> Result<(), Failure> {
    let t = a.time.map(|t| format!("?t={t}")).unwrap_or_default();
    each(client, &a.containers, Method::POST, |n| {
        format!("/containers/{n}/stop{t}")
    })
    .await
}

pub async fn restart(client: &Client, a: StopArgs) -> Result<(), Failure> {
    let t = a.time.map(|t| format!("?t={t}")).unwrap_or_default();
    each(client, &a.containers, Method::POST, |n| {
        format!("/containers/{n}/restart{t}")
    })
    .await
}

pub async fn kill(client: &Client, a: KillArgs) -> Result<(), Failure> {
    let s = encode(&a.signal);
    each(client, &a.containers, Method::POST, |n| {
        format!("/containers/{n}/kill?signal={s}")
    })
    .await
}

pub async fn rm(client: &Client, a: RmArgs) -> Result<(), Failure> {
    let f = if a.force { "?force=1" } else { "" };
    each(client, &a.containers, Method::DELETE, |n| {
        format!("/containers/{n}{f}")
    })
    .await
}

pub async fn wait(client: &Client, a: IdsArgs) -> Result<(), Failure> {
    for n in &a.containers {
        let w: Value = client
            .post_json(&format!("/containers/{}/wait", encode(n)), None)
            .await?;
        println!("{}", w["StatusCode"]);
    }
    Ok(())
}

pub(crate) fn ago(unix: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(unix);
    let s = (now - unix).max(0);
    match s {
        0..=59 => format!("{} seconds ago", s.max(1)),
        60..=119 => "About a minute ago".into(),
        120..=3599 => format!("{} minutes ago", s / 60),
        3600..=7199 => "About an hour ago".into(),
        _ => format!("{} hours ago", s / 3600),
    }
}

pub(crate) fn host_port(ip: &str, port: u64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

#[derive(Debug, Args)]
pub struct PortArgs {
    container: String,
    /// PRIVATE_PORT[/PROTO]
    port: Option<String>,
}

/// `port CONTAINER [PORT[/PROTO]]`, from inspect's `NetworkSettings.Ports`, as the docker CLI.
pub async fn port(client: &Client, a: PortArgs) -> Result<(), Failure> {
    let v: Value = client
        .get_json(&format!("/containers/{}/json", encode(&a.container)))
        .await?;
    let ports = v["NetworkSettings"]["Ports"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let bindings = |list: &Value| -> Vec<String> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|b| {
                let port: u64 = b["HostPort"]
                    .as_str()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                host_port(b["HostIp"].as_str().unwrap_or_default(), port)
            })
            .collect()
    };
    match &a.port {
        Some(want) => {
            let key = if want.contains('/') {
                want.clone()
            } else {
                format!("{want}/tcp")
            };
            let found = ports.get(&key).map(&bindings).unwrap_or_default();
            if found.is_empty() {
                return Err(Failure::msg(format!(
                    "Error: No public port '{key}' published for {}",
                    a.container
                )));
            }
            for b in found {
                println!("{b}");
            }
        }
        None => {
            let mut keys: Vec<&String> = ports.keys().collect();
            keys.sort_by_key(|k| {
                let (p, proto) = k.split_once('/').unwrap_or((k, ""));
                (p.parse::<u32>().unwrap_or(0), proto.to_string())
            });
            for k in keys {
                for b in bindings(&ports[k.as_str()]) {
                    println!("{k} -> {b}");
                }
            }
        }
    }
    Ok(())
}

pub async fn inspect(client: &Client, a: InspectArgs) -> Result<(), Failure> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let kinds = match a.kind.as_deref() {
        Some(k) => vec![k],
        None => vec!["container", "image", "network", "volume"],
    };
    for n in &a.names {
        let e = encode(n);
        let mut hit = None;
        for kind in &kinds {
            let path = match *kind {
                "container" => format!("/containers/{e}/json"),
                "image" => format!("/images/{e}/json"),
                "network" => format!("/networks/{e}"),
                _ => format!("/volumes/{e}"),
            };
            match client.get_json::<Value>(&path).await {
                Ok(v) => {
                    hit = Some(v);
                    break;
                }
                Err(ClientError::Daemon { status, .. }) if status == StatusCode::NOT_FOUND => {}
                Err(e) => return Err(e.into()),
            }
        }
        let missing_line = match a.kind.as_deref() {
            Some(k) => format!("Error: No such {k}: {n}"),
            None => format!("Error: No such object: {n}"),
        };
        match hit {
            Some(v) => found.push(v),
            None => missing.push(missing_line),
        }
    }
    match a.format.as_deref() {
        None | Some("json") => println!("{}", format::pretty(&found)),
        Some(t) => {
            for v in &found {
                println!("{}", format::render(t, v).map_err(Failure::msg)?);
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Failure::msg(missing.join("\n")))
    }
}

/// Splits Docker's multiplexed stream into stdout and stderr.
/// `logs [-f]`: the log as it is, raw for a terminal, else demultiplexed to stdout and
/// stderr; with `-f` it goes on until the container exits.
pub async fn logs(client: &Client, a: LogsArgs) -> Result<(), Failure> {
    use http_body_util::BodyExt;
    let c: Value = client
        .get_json(&format!("/containers/{}/json", encode(&a.container)))
        .await?;
    let id = c["Id"].as_str().unwrap_or_default();
    let resp = client
        .open(
            Method::GET,
            &format!("/containers/{id}/logs?{}", a.query()?),
        )
        .await?;
    let mut out = crate::session::Output::new(c["Config"]["Tty"] == json!(true));
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Some(data) = frame.data_ref() {
            if out.show(data).is_err() {
                break;
            }
        }
    }
    Ok(())
}

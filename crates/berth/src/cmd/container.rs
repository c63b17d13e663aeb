//! Container and image commands: run, create, start, stop, restart, kill, rm, ps, inspect,
//! logs, wait, import, images, rmi.

use crate::client::{encode, Client, ClientError, RequestBody};
use crate::format;
use crate::Failure;
use berth_api::container::{
    CreateBody, EndpointIpam, EndpointSettings, HostConfig, NetworkingConfig, RestartPolicy,
};
use clap::Args;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print help (-h is --hostname, as in docker).
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Run in the background and print the container ID.
    #[arg(short, long)]
    detach: bool,
    /// Assign a name to the container.
    #[arg(long)]
    name: Option<String>,
    /// Connect a container to a network.
    #[arg(long, alias = "net")]
    network: Option<String>,
    /// IPv4 address (e.g., 172.30.100.104).
    #[arg(long)]
    ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33).
    #[arg(long)]
    ip6: Option<String>,
    /// Add network-scoped alias for the container.
    #[arg(long = "network-alias", alias = "alias")]
    network_alias: Vec<String>,
    /// Container host name.
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Container NIS domain name.
    #[arg(long)]
    domainname: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// Add link to another container (NAME[:ALIAS]), one-way, default bridge only.
    #[arg(long)]
    link: Vec<String>,
    /// Set custom DNS servers.
    #[arg(long)]
    dns: Vec<String>,
    /// Set custom DNS search domains.
    #[arg(long = "dns-search")]
    dns_search: Vec<String>,
    /// Set DNS options.
    #[arg(long = "dns-option", alias = "dns-opt")]
    dns_option: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33).
    #[arg(long = "mac-address")]
    mac_address: Option<String>,
    /// Set environment variables.
    #[arg(short, long)]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Automatically remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Restart policy: no, always, unless-stopped, on-failure[:max-retries].
    #[arg(long, default_value = "no")]
    restart: String,
    /// Set meta data on a container.
    #[arg(short, long)]
    label: Vec<String>,
    /// Publish a container's port(s) to the host.
    #[arg(short, long)]
    publish: Vec<String>,
    /// Publish all exposed ports to random ports.
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// Expose a port or a range of ports.
    #[arg(long)]
    expose: Vec<String>,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    /// Override the key sequence for detaching (ctrl-<value> or a character, comma-separated).
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Proxy received signals to the process (without a terminal; `--sig-proxy=false` to stop).
    #[arg(long = "sig-proxy", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    sig_proxy: Option<bool>,
    /// Image to run.
    image: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

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

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A tar or tar.gz of a root filesystem, or - for standard input.
    file: String,
    /// REPOSITORY[:TAG] to give the image.
    reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from a tar archive file, instead of STDIN.
    #[arg(short, long)]
    input: Option<String>,
    /// Suppress the load output.
    #[arg(short, long)]
    quiet: bool,
}

/// A tar archive to upload, streamed from `file` (`-` or none: standard input) as it is sent,
/// so the CLI's memory does not grow with the image; its progress is drawn on a terminal
/// unless `quiet`.
async fn tar_body(file: Option<&str>, quiet: bool) -> Result<RequestBody, Failure> {
    let body = match file {
        None | Some("-") => RequestBody::tar_stdin(),
        Some(f) => RequestBody::tar_file(std::path::Path::new(f))
            .await
            .map_err(|e| Failure::msg(format!("cannot read {f}: {e}")))?,
    };
    Ok(if quiet {
        body
    } else {
        crate::progress::on_terminal(body)
    })
}

pub async fn load(client: &Client, a: LoadArgs) -> Result<(), Failure> {
    let data = tar_body(a.input.as_deref(), a.quiet).await?;
    let body = client.send_body(Method::POST, "/images/load", data).await?;
    if !a.quiet {
        for line in String::from_utf8_lossy(&body).lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                print!("{}", v["stream"].as_str().unwrap_or_default());
            }
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only show image IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Filter output based on conditions provided (e.g. "reference=busy*", "dangling=true").
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output: "table", "json", "table TEMPLATE" or a Go template.
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image.
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

fn create_body(a: &RunArgs) -> Result<CreateBody, Failure> {
    let mode = a.network.clone().unwrap_or_else(|| "default".into());
    let mut endpoints = BTreeMap::new();
    let user_net = !matches!(mode.as_str(), "default" | "bridge" | "host" | "none")
        && !mode.starts_with("container:");
    if user_net || a.ip.is_some() || a.ip6.is_some() || !a.network_alias.is_empty() {
        let name = if mode == "default" {
            "bridge".to_string()
        } else {
            mode.clone()
        };
        endpoints.insert(
            name,
            EndpointSettings {
                ipam_config: Some(EndpointIpam {
                    ipv4_address: a.ip.clone().unwrap_or_default(),
                    ipv6_address: a.ip6.clone().unwrap_or_default(),
                }),
                aliases: Some(a.network_alias.clone()),
                mac_address: String::new(),
            },
        );
    }
    let (bindings, exposed) =
        berth_api::ports::port_maps(&a.publish, &a.expose).map_err(|e| Failure {
            message: Some(format!("berth: {e}.\nSee 'berth run --help'.")),
            code: 125,
        })?;
    let labels: BTreeMap<String, String> = a
        .label
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    let links = a
        .link
        .iter()
        .map(|l| {
            if l.contains(':') {
                l.clone()
            } else {
                format!("{l}:{l}")
            }
        })
        .collect();
    let (policy, retries) = match a.restart.split_once(':') {
        Some((p, n)) => (p, n.parse::<u32>().unwrap_or(0)),
        None => (a.restart.as_str(), 0),
    };
    Ok(CreateBody {
        hostname: a.hostname.clone().unwrap_or_default(),
        domainname: a.domainname.clone().unwrap_or_default(),
        env: Some(a.env.clone()),
        cmd: (!a.command.is_empty()).then(|| a.command.clone()),
        entrypoint: a.entrypoint.as_ref().map(|e| vec![e.clone()]),
        image: a.image.clone(),
        working_dir: a.workdir.clone().unwrap_or_default(),
        labels: Some(labels),
        mac_address: a.mac_address.clone().unwrap_or_default(),
        tty: a.tty,
        open_stdin: a.interactive,
        attach_stdin: a.interactive && !a.detach,
        attach_stdout: !a.detach,
        attach_stderr: !a.detach,
        // An attached -i run's input is the container's: its end closes the container's stdin.
        stdin_once: a.interactive && !a.detach,
        exposed_ports: Some(exposed),
        host_config: Some(HostConfig {
            network_mode: mode,
            auto_remove: a.rm,
            extra_hosts: Some(a.add_host.clone()),
            links: Some(links),
            dns: Some(a.dns.clone()),
            dns_search: Some(a.dns_search.clone()),
            dns_options: Some(a.dns_option.clone()),
            port_bindings: Some(bindings),
            restart_policy: Some(RestartPolicy {
                name: policy.to_string(),
                maximum_retry_count: retries,
            }),
            publish_all_ports: a.publish_all,
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(endpoints),
        }),
        ..Default::default()
    })
}

fn check_restart(a: &RunArgs) -> Result<(), Failure> {
    if let Some((_, n)) = a.restart.split_once(':') {
        if n.parse::<u32>().is_err() {
            return Err(Failure {
                message: Some(format!(
                    "invalid restart policy \"{}\": the maximum retry count must be a number",
                    a.restart
                )),
                code: 125,
            });
        }
    }
    Ok(())
}

fn check_add_hosts(a: &RunArgs) -> Result<(), Failure> {
    for h in &a.add_host {
        let ok = h.split_once(':').is_some_and(|(n, ip)| {
            !n.is_empty()
                && (ip == "host-gateway"
                    || ip
                        .trim_matches(|c| c == '[' || c == ']')
                        .parse::<std::net::IpAddr>()
                        .is_ok())
        });
        if !ok {
            return Err(Failure {
                message: Some(format!(
                    "invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host: \"{h}\""
                )),
                code: 125,
            });
        }
    }
    Ok(())
}

fn run_failure(e: ClientError) -> Failure {
    Failure {
        message: Some(format!("berth: {e}")),
        code: 125,
    }
}

async fn create(client: &Client, a: &RunArgs) -> Result<String, Failure> {
    check_add_hosts(a)?;
    check_restart(a)?;
    let q = match &a.name {
        Some(n) => format!("?name={}", encode(n)),
        None => String::new(),
    };
    let body = serde_json::to_vec(&create_body(a)?).map_err(|e| Failure::msg(e.to_string()))?;
    let path = format!("/containers/create{q}");
    let v: Value = match client.post_json(&path, Some(body.clone())).await {
        Err(ClientError::Daemon { status, message })
            if status.as_u16() == 404 && message.starts_with("No such image") =>
        {
            // As the docker CLI: pull what is missing, progress on stderr, then create.
            eprintln!(
                "Unable to find image '{}' locally",
                super::pull::full_name(&a.image)
            );
            let mut err = std::io::stderr();
            let tty = std::io::IsTerminal::is_terminal(&err);
            super::pull::pull_image(client, &a.image, false, tty, &mut err)
                .await
                .map_err(|f| Failure {
                    code: 125,
                    message: f.message.map(|m| format!("berth: {m}")),
                })?;
            client
                .post_json(&path, Some(body))
                .await
                .map_err(run_failure)?
        }
        other => other.map_err(run_failure)?,
    };
    for w in v["Warnings"].as_array().into_iter().flatten() {
        eprintln!("WARNING: {}", w.as_str().unwrap_or_default());
    }
    Ok(v["Id"].as_str().unwrap_or_default().to_string())
}

pub async fn create_cmd(client: &Client, a: RunArgs) -> Result<(), Failure> {
    println!("{}", create(client, &a).await?);
    Ok(())
}

pub async fn run(client: &Client, a: RunArgs) -> Result<(), Failure> {
    super::attached::check_run(&a.detach_keys, a.tty, a.interactive, a.detach)?;
    let id = create(client, &a).await?;
    if !a.detach {
        return super::attached::run(
            client,
            super::attached::RunSession {
                id: &id,
                tty: a.tty,
                stdin: a.interactive,
                auto_remove: a.rm,
                detach_keys: a.detach_keys.as_deref(),
                sig_proxy: a.sig_proxy.unwrap_or(true),
            },
        )
        .await;
    }
    super::attached::start_or_remove(client, &id).await?;
    println!("{id}");
    Ok(())
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

pub async fn import(client: &Client, a: ImportArgs) -> Result<(), Failure> {
    let data = tar_body(Some(&a.file), false).await?;
    let mut q = "?fromSrc=-".to_string();
    if let Some(r) = &a.reference {
        let (repo, tag) = match r.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
            _ => (r.clone(), String::new()),
        };
        q.push_str(&format!("&repo={}&tag={}", encode(&repo), encode(&tag)));
    }
    let body = client
        .send_body(Method::POST, &format!("/images/create{q}"), data)
        .await?;
    let v: Value =
        serde_json::from_slice(body.trim_ascii()).map_err(|e| Failure::msg(e.to_string()))?;
    println!("{}", v["status"].as_str().unwrap_or_default());
    Ok(())
}

pub(crate) fn human_size(n: u64) -> String {
    let f = n as f64;
    if f >= 1e9 {
        format!("{:.3}GB", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.2}MB", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.1}kB", f / 1e3)
    } else {
        format!("{n}B")
    }
}

pub async fn images(client: &Client, a: ImagesArgs) -> Result<(), Failure> {
    let query = super::network::filters_query(&a.filter)?;
    let list: Vec<Value> = client.get_json(&format!("/images/json{query}")).await?;
    let short = |v: &Value| {
        v["Id"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect::<String>()
    };
    if a.quiet {
        for i in &list {
            println!("{}", short(i));
        }
        return Ok(());
    }
    let mut rows = Vec::new();
    for i in &list {
        let tags: Vec<String> = i["RepoTags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        let tags = if tags.is_empty() {
            vec!["<none>:<none>".to_string()]
        } else {
            tags
        };
        let created = i["Created"].as_i64().unwrap_or(0);
        for t in tags {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((&t, "<none>"));
            rows.push(json!({
                "Repository": repo, "Tag": tag, "ID": short(i), "Digest": "<none>",
                "CreatedSince": ago(created), "CreatedAt": created_at(created),
                "Size": human_size(i["Size"].as_u64().unwrap_or(0)),
            }));
        }
    }
    let cols = format::Columns {
        default: &["Repository", "Tag", "ID", "CreatedSince", "Size"],
        headers: &[
            ("Repository", "REPOSITORY"),
            ("Tag", "TAG"),
            ("ID", "IMAGE ID"),
            ("Digest", "DIGEST"),
            ("CreatedSince", "CREATED"),
            ("CreatedAt", "CREATED AT"),
            ("Size", "SIZE"),
        ],
    };
    let f = format::ListFormat::parse(a.format.as_deref());
    print!("{}", format::list(&f, &cols, &rows).map_err(Failure::msg)?);
    Ok(())
}

/// A Unix time as the docker CLI's `CreatedAt` prints it: `2024-05-01 10:20:30 +0000 UTC`.
fn created_at(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

pub async fn rmi(client: &Client, a: RmiArgs) -> Result<(), Failure> {
    let f = if a.force { "?force=1" } else { "" };
    let mut failed = false;
    for n in &a.images {
        match client
            .request(Method::DELETE, &format!("/images/{}{f}", encode(n)), None)
            .await
        {
            Ok(body) => {
                let v: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
                for line in v {
                    for (k, val) in line.as_object().into_iter().flatten() {
                        println!("{k}: {}", val.as_str().unwrap_or_default());
                    }
                }
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

#[cfg(test)]
mod tests {
    #[test]
    fn created_at_is_the_docker_clis_utc_time() {
        assert_eq!(super::created_at(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            super::created_at(1_709_251_199),
            "2024-02-29 23:59:59 +0000 UTC"
        );
    }
}

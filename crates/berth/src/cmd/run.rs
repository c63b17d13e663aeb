//! `berth run` and `berth create`: Docker's flags made into the typed create body, the
//! image pulled when it is missing, then (for run) attached or started.

use crate::client::{encode, Client, ClientError};
use crate::Failure;
use berth_api::answers::IdResponse;
use berth_api::container::{
    CreateBody, EndpointIpam, EndpointSettings, HostConfig, NetworkingConfig, RestartPolicy,
};
use clap::Args;
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
    #[command(flatten)]
    kernel: super::run_flags::KernelFlags,
    /// Image to run.
    image: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
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
                    ..Default::default()
                }),
                aliases: Some(a.network_alias.clone()),
                ..Default::default()
            },
        );
    }
    let (bindings, exposed) =
        berth_api::ports::port_maps(&a.publish, &a.expose).map_err(|e| Failure {
            message: Some(format!("berth: {e}.\nSee 'berth run --help'.")),
            code: 125,
        })?;
    let mut label_lines = Vec::new();
    for f in &a.kernel.label_file {
        label_lines.extend(super::run_flags::file_lines(f, false)?);
    }
    label_lines.extend(a.label.iter().cloned());
    let mut env = Vec::new();
    for f in &a.kernel.env_file {
        env.extend(super::run_flags::file_lines(f, true)?);
    }
    env.extend(a.env.iter().cloned());
    let labels: BTreeMap<String, String> = label_lines
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
    let mut host_config = HostConfig {
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
    };
    a.kernel.apply(&mut host_config)?;
    Ok(CreateBody {
        hostname: a.hostname.clone().unwrap_or_default(),
        domainname: a.domainname.clone().unwrap_or_default(),
        env: Some(env),
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
        host_config: Some(host_config),
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
    let mut query = Vec::new();
    if let Some(n) = &a.name {
        query.push(format!("name={}", encode(n)));
    }
    if let Some(p) = &a.kernel.platform {
        query.push(format!("platform={}", encode(p)));
    }
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    let body = serde_json::to_vec(&create_body(a)?).map_err(|e| Failure::msg(e.to_string()))?;
    let path = format!("/containers/create{q}");
    let v: IdResponse = match client.post_json(&path, Some(body.clone())).await {
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
    for w in v.warnings.iter().flatten() {
        eprintln!("WARNING: {w}");
    }
    Ok(v.id)
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

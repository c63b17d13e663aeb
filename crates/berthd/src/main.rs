//! berthd: the berth daemon.

mod api;
mod config;
mod engine;
mod membership;
mod preflight;
mod server;

use berth_net::sys::netlink::NetlinkKernel;
use berth_net::Controller;
use berth_store::Store;
use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use tokio::signal::unix::{signal, SignalKind};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(engine::keeper::SUBCOMMAND) {
        return engine::keeper::run(&argv[2..]);
    }
    let args = config::Args::parse();
    let cfg = match config::load(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berthd: {e}");
            return ExitCode::from(1);
        }
    };
    let level = match cfg.log_level.as_str() {
        "fatal" => "error",
        other => other,
    };
    if args.validate {
        return validate(&cfg);
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .init();
    for w in &cfg.cluster_warnings {
        tracing::warn!("{w}");
    }
    if !cfg.ignored_keys.is_empty() {
        tracing::warn!(
            keys = %cfg.ignored_keys.join(", "),
            "daemon.json: accepted dockerd settings that berth does not act on"
        );
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berthd: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(run(cfg));
    // Streams the drain gave up on (logs -f, attach) must not hold the exit.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("berthd: {e}");
            ExitCode::from(1)
        }
    }
}

/// `--validate`: everything `load` and the start check without touching the machine.
fn validate(cfg: &config::Config) -> ExitCode {
    let checked = cfg
        .tls
        .as_ref()
        .map(|t| {
            server::tls::server_config(t)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .unwrap_or(Ok(()))
        .and_then(|()| {
            server::socket_group(cfg.group.as_deref())
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    match checked {
        Ok(()) => {
            for w in &cfg.cluster_warnings {
                eprintln!("berthd: warning: {w}");
            }
            if !cfg.ignored_keys.is_empty() {
                eprintln!(
                    "berthd: warning: daemon.json settings accepted but not acted on: {}",
                    cfg.ignored_keys.join(", ")
                );
            }
            println!("configuration OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("berthd: {e}");
            ExitCode::from(1)
        }
    }
}

fn daemon_id(store: &Store) -> Result<String, berth_store::StoreError> {
    const META: berth_store::Table = berth_store::Table("meta");
    if let Some(id) = store.get::<String>(META, "daemon-id")? {
        return Ok(id);
    }
    let id = berth_net::network::new_id();
    store.put(META, "daemon-id", &id)?;
    Ok(id)
}

/// The embedded resolver's upstream servers: daemon.json `dns`, else the daemon's own
/// resolv.conf (loopback servers included: upstream queries leave from the daemon's namespace).
fn dns_upstreams(configured: &[String]) -> Vec<std::net::SocketAddr> {
    let servers = if configured.is_empty() {
        engine::etcfiles::nameservers(
            &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        )
    } else {
        configured.to_vec()
    };
    servers
        .iter()
        .filter_map(|s| s.parse::<std::net::IpAddr>().ok())
        .map(|ip| std::net::SocketAddr::new(ip, 53))
        .collect()
}

/// Joins the cluster (in the background) when one is configured. An endpoint of this node's
/// previous life is kept when its container is still running here.
async fn start_membership(
    settings: Option<config::ClusterSettings>,
    daemon_id: &str,
    engine: &engine::Engine,
) -> Arc<membership::Membership> {
    let Some(settings) = settings else {
        return membership::Membership::disabled();
    };
    let running: std::collections::HashSet<String> = engine
        .containers(false)
        .await
        .into_iter()
        .map(|c| c.id)
        .collect();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    membership::Membership::start(
        settings,
        daemon_id.to_string(),
        hostname,
        Arc::new(move |ep| running.contains(&ep.container_id)),
    )
}

async fn run(mut cfg: config::Config) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    // Container inits are re-parented to the daemon when the runtime exits, so that it can reap
    // their exit status without a shim process per container.
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only changes this process's own attribute.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) } != 0 {
        return Err(format!(
            "cannot become a child subreaper: {}",
            std::io::Error::last_os_error()
        )
        .into());
    }
    engine::reaper::start().map_err(|e| format!("cannot watch for ended children: {e}"))?;
    cfg.net.netns_dir = cfg.exec_root.join("netns");
    cfg.net.dns_upstreams = dns_upstreams(&cfg.dns);
    for dir in [&cfg.data_root, &cfg.exec_root] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create directory {}: {e}", dir.display()))?;
    }
    preflight::check(&cfg.runtime.1, cfg.iptables)?;
    let tls = cfg
        .tls
        .as_ref()
        .map(server::tls::server_config)
        .transpose()?;
    let gid = server::socket_group(cfg.group.as_deref())?;
    // Private state, as Docker's /var/lib/docker (0710) and its configs (0600).
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cfg.data_root, std::fs::Permissions::from_mode(0o710))
            .map_err(|e| format!("cannot make {} private: {e}", cfg.data_root.display()))?;
    }
    // Bind first: a second daemon on the same socket must fail before it touches anything.
    let bound = server::bind(&cfg.listen, tls.is_some(), gid).await?;
    let store = Arc::new(Store::open(&cfg.data_root.join("berth.db"))?);
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot make {} private: {e}", store.path().display()))?;
    }
    let kernel = Arc::new(
        NetlinkKernel::connect()?.with_spares(berth_net::sys::spare_netns::capacity_from_env()?),
    );
    cfg.net.firewall = cfg.iptables;
    let firewall: Arc<dyn berth_net::firewall::Firewall> = if cfg.iptables {
        Arc::new(berth_net::firewall::nftables::NftFirewall::default())
    } else {
        tracing::info!("iptables=false: berth will not manage the firewall");
        Arc::new(berth_net::firewall::Disabled)
    };
    let ctl = Controller::start(kernel, firewall, store.clone(), cfg.net.clone()).await?;
    let ctl = Arc::new(ctl);
    let (runtime_name, runtime_binary) = cfg.runtime.clone();
    let containers_dir = cfg.data_root.join("containers");
    let engine = engine::Engine::start(
        store.clone(),
        ctl.clone(),
        engine::OciRuntime::new(
            runtime_binary,
            cfg.exec_root.join(&runtime_name),
            cfg.cgroup_parent.clone(),
        ),
        engine::EnginePaths {
            images: cfg.data_root.join("images"),
            containers: containers_dir.clone(),
            host_resolv: "/etc/resolv.conf".into(),
            host_hosts: "/etc/hosts".into(),
            keep: cfg.exec_root.join("keep"),
        },
        cfg.dns.clone(),
    )
    .await?;
    engine.set_registry(cfg.registry.clone());
    let daemon_id = daemon_id(&store)?;
    let cluster = start_membership(cfg.cluster.clone(), &daemon_id, &engine).await;
    if cluster.enabled() {
        ctl.clone().follow_cluster(cluster.subscribe());
    }
    let state = api::AppState {
        cluster: cluster.clone(),
        engine: engine.clone(),
        containers_dir,
        ctl: ctl.clone(),
        data_root: cfg.data_root.clone(),
        daemon_id,
        ip_forward: cfg.net.ip_forward,
        pools: cfg.net.v4_pools.clone(),
        runtime_name: runtime_name.clone(),
    };
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "berthd ready"
    );
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // SIGHUP re-applies the firewall, for after someone flushed the ruleset.
    let mut hup = signal(SignalKind::hangup())?;
    let reload_ctl = ctl.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: re-applying the firewall");
            if let Err(e) = reload_ctl.reload_firewall().await {
                tracing::error!(error = %e, "firewall reload failed");
            }
        }
    });
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    };
    server::serve(bound, api::router(state), tls, shutdown).await;
    engine.settle(std::time::Duration::from_secs(5)).await;
    // Containers outlive the daemon: while some run, their endpoints stay under the lease
    // for a restart to take over; with none, the node leaves at once.
    let running = engine.containers(false).await.len();
    cluster.shutdown(running == 0).await;
    ctl.settle().await;
    tracing::info!("berthd stopped");
    Ok(())
}

//! berth: Docker's network commands against berthd.

mod client;
mod cmd;
mod format;
mod progress;
mod session;
mod tls;
mod units;
mod usage;

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "Docker-compatible container networking"
)]
struct Cli {
    /// Daemon socket to connect to: unix:///path, tcp://HOST[:PORT] or HOST:PORT (default:
    /// $BERTH_HOST, then $DOCKER_HOST, then the local socket).
    #[arg(short = 'H', long = "host", global = true, value_name = "URL")]
    host: Option<String>,
    /// Use TLS (without checking the daemon's certificate unless --tlsverify).
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    tls: Option<bool>,
    /// Use TLS and check the daemon's certificate against the CA (default: set when
    /// $BERTH_TLS_VERIFY or $DOCKER_TLS_VERIFY is not empty).
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    tlsverify: Option<bool>,
    /// CA the daemon's certificate must be signed by (default: CERT_DIR/ca.pem).
    #[arg(long, global = true, value_name = "FILE")]
    tlscacert: Option<std::path::PathBuf>,
    /// Client certificate (default: CERT_DIR/cert.pem).
    #[arg(long, global = true, value_name = "FILE")]
    tlscert: Option<std::path::PathBuf>,
    /// Client key (default: CERT_DIR/key.pem).
    #[arg(long, global = true, value_name = "FILE")]
    tlskey: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage networks.
    #[command(subcommand)]
    Network(cmd::network::NetworkCmd),
    /// Create and run a new container from an image.
    Run(Box<cmd::container::RunArgs>),
    /// Create a new container.
    Create(Box<cmd::container::RunArgs>),
    /// Start one or more stopped containers.
    Start(cmd::container::IdsArgs),
    /// Stop one or more running containers.
    Stop(cmd::container::StopArgs),
    /// Restart one or more containers.
    Restart(cmd::container::StopArgs),
    /// Kill one or more running containers.
    Kill(cmd::container::KillArgs),
    /// Remove one or more containers.
    Rm(cmd::container::RmArgs),
    /// List containers.
    Ps(cmd::ps::PsArgs),
    /// Return low-level information on containers, images or networks.
    Inspect(cmd::container::InspectArgs),
    /// Run a command in a running container.
    Exec(cmd::attached::ExecArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(cmd::attached::AttachArgs),
    /// Fetch the logs of a container.
    Logs(cmd::container::LogsArgs),
    /// List port mappings or a specific mapping for the container.
    Port(cmd::container::PortArgs),
    /// Block until containers stop, then print their exit codes.
    Wait(cmd::container::IdsArgs),
    /// Import a root filesystem tarball as an image.
    Import(cmd::container::ImportArgs),
    /// Load images from a `docker save` archive.
    Load(cmd::container::LoadArgs),
    /// List images.
    Images(cmd::container::ImagesArgs),
    /// Remove one or more images.
    Rmi(cmd::container::RmiArgs),
    /// Show the berth version information.
    Version(cmd::system::VersionArgs),
    /// Display system-wide information.
    Info(cmd::system::InfoArgs),
    /// Serve a live page of the topology and the reachability check on loopback.
    Ui(cmd::ui::UiArgs),
    /// Pause all processes within one or more containers.
    Pause(cmd::pause::PauseArgs),
    /// Unpause all processes within one or more containers.
    Unpause(cmd::pause::PauseArgs),
    /// Rename a container.
    Rename(cmd::pause::RenameArgs),
    /// Display the running processes of a container.
    Top(cmd::pause::TopArgs),
    /// Write a shell completion script (bash, zsh, fish) to stdout.
    Completion(cmd::completion::CompletionArgs),
    /// Write man pages into a directory.
    #[command(hide = true)]
    Man(cmd::completion::ManArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(cmd::cp::CpArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(cmd::image::TagArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(cmd::image::SaveArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(cmd::image::ImageCmd),
    /// Manage berth (disk usage).
    #[command(subcommand)]
    System(cmd::system_df::SystemCmd),
    /// Download an image from a registry.
    Pull(cmd::pull::PullArgs),
}

/// An error already printed, or to print, with the exit code to use.
#[derive(Debug)]
pub struct Failure {
    pub message: Option<String>,
    pub code: u8,
}

impl From<client::ClientError> for Failure {
    fn from(e: client::ClientError) -> Self {
        Failure {
            message: Some(e.to_string()),
            code: 1,
        }
    }
}

impl Failure {
    /// Exit 1 without a further message (each failure was already printed), or success.
    pub fn unless_failed(failed: bool) -> Result<(), Failure> {
        if failed {
            Err(Failure {
                message: None,
                code: 1,
            })
        } else {
            Ok(())
        }
    }

    pub fn msg(m: impl Into<String>) -> Self {
        Failure {
            message: Some(m.into()),
            code: 1,
        }
    }
}

/// The first non-empty variable of `names`.
fn env_first(names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .find(|v| !v.is_empty())
}

/// Docker's certificate directory: `$BERTH_CERT_PATH`, `$DOCKER_CERT_PATH`, else `~/.berth`
/// when it exists, else `~/.docker`.
fn cert_dir() -> std::path::PathBuf {
    if let Some(d) = env_first(&["BERTH_CERT_PATH", "DOCKER_CERT_PATH"]) {
        return d.into();
    }
    let home = std::path::PathBuf::from(env_first(&["HOME"]).unwrap_or_else(|| "/root".into()));
    let berth = home.join(".berth");
    if berth.is_dir() {
        berth
    } else {
        home.join(".docker")
    }
}

/// The daemon address and TLS settings from flags, then the environment, as the docker CLI.
fn endpoint(cli: &Cli) -> (String, Option<tls::TlsOptions>) {
    let verify = cli
        .tlsverify
        .unwrap_or_else(|| env_first(&["BERTH_TLS_VERIFY", "DOCKER_TLS_VERIFY"]).is_some());
    let tls = (verify || cli.tls.unwrap_or(false)).then(|| {
        let dir = cert_dir();
        tls::TlsOptions {
            verify,
            ca: cli.tlscacert.clone().unwrap_or_else(|| dir.join("ca.pem")),
            cert: cli.tlscert.clone().unwrap_or_else(|| dir.join("cert.pem")),
            key: cli.tlskey.clone().unwrap_or_else(|| dir.join("key.pem")),
        }
    });
    let host = cli
        .host
        .clone()
        .or_else(|| env_first(&["BERTH_HOST", "DOCKER_HOST"]))
        .unwrap_or_else(|| {
            if tls.is_some() {
                "tcp://localhost:2376".to_string()
            } else {
                berth_api::DEFAULT_HOST.to_string()
            }
        });
    (host, tls)
}

fn main() -> ExitCode {
    let cli: Cli = usage::parse();
    let (host, tls) = endpoint(&cli);
    // These two need no daemon.
    let result = match cli.command {
        Command::Completion(a) => cmd::completion::completion(Cli::command(), a),
        Command::Man(a) => cmd::completion::man(Cli::command(), a),
        command => with_daemon(&host, tls.as_ref(), command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if let Some(m) = f.message {
                eprintln!("{m}");
            }
            ExitCode::from(f.code)
        }
    }
}

/// Runs a command that talks to the daemon.
fn with_daemon(host: &str, tls: Option<&tls::TlsOptions>, command: Command) -> Result<(), Failure> {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return Err(Failure::msg(format!(
                "berth: cannot start the async runtime: {e}"
            )))
        }
    };
    let client = client::Client::new(host, tls)?;
    rt.block_on(async {
        match command {
            Command::Network(c) => cmd::network::run(&client, c).await,
            Command::Version(a) => cmd::system::version(&client, a).await,
            Command::Run(a) => cmd::container::run(&client, *a).await,
            Command::Create(a) => cmd::container::create_cmd(&client, *a).await,
            Command::Start(a) => cmd::container::start(&client, a).await,
            Command::Stop(a) => cmd::container::stop(&client, a).await,
            Command::Restart(a) => cmd::container::restart(&client, a).await,
            Command::Kill(a) => cmd::container::kill(&client, a).await,
            Command::Rm(a) => cmd::container::rm(&client, a).await,
            Command::Ps(a) => cmd::ps::ps(&client, a).await,
            Command::Inspect(a) => cmd::container::inspect(&client, a).await,
            Command::Logs(a) => cmd::container::logs(&client, a).await,
            Command::Port(a) => cmd::container::port(&client, a).await,
            Command::Exec(a) => cmd::attached::exec(&client, a).await,
            Command::Attach(a) => cmd::attached::attach(&client, a).await,
            Command::Wait(a) => cmd::container::wait(&client, a).await,
            Command::Import(a) => cmd::container::import(&client, a).await,
            Command::Images(a) => cmd::container::images(&client, a).await,
            Command::Load(a) => cmd::container::load(&client, a).await,
            Command::Rmi(a) => cmd::container::rmi(&client, a).await,
            Command::Info(a) => cmd::system::info(&client, a).await,
            Command::Ui(a) => cmd::ui::ui(&client, a).await,
            Command::Pause(a) => cmd::pause::pause(&client, a).await,
            Command::Unpause(a) => cmd::pause::unpause(&client, a).await,
            Command::Rename(a) => cmd::pause::rename(&client, a).await,
            Command::Top(a) => cmd::pause::top(&client, a).await,
            Command::Completion(_) | Command::Man(_) => Ok(()),
            Command::Cp(a) => cmd::cp::cp(&client, a).await,
            Command::Tag(a) => cmd::image::tag(&client, a).await,
            Command::Save(a) => cmd::image::save(&client, a).await,
            Command::Image(c) => cmd::image::run(&client, c).await,
            Command::System(c) => cmd::system_df::run(&client, c).await,
            Command::Pull(a) => cmd::pull::pull(&client, a).await,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

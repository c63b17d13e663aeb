//! berth: Docker's network commands against berthd.

mod client;
mod cmd;
mod format;
mod session;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "Docker-compatible container networking"
)]
struct Cli {
    /// Daemon socket to connect to (unix:///path or tcp://host:port).
    #[arg(short = 'H', long = "host", env = "BERTH_HOST", default_value = berth_api::DEFAULT_HOST, global = true)]
    host: String,
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
    Ps(cmd::container::PsArgs),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let client = match client::Client::new(&cli.host) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Network(c) => cmd::network::run(&client, c).await,
            Command::Version(a) => cmd::system::version(&client, a).await,
            Command::Run(a) => cmd::container::run(&client, *a).await,
            Command::Create(a) => cmd::container::create_cmd(&client, *a).await,
            Command::Start(a) => cmd::container::start(&client, a).await,
            Command::Stop(a) => cmd::container::stop(&client, a).await,
            Command::Restart(a) => cmd::container::restart(&client, a).await,
            Command::Kill(a) => cmd::container::kill(&client, a).await,
            Command::Rm(a) => cmd::container::rm(&client, a).await,
            Command::Ps(a) => cmd::container::ps(&client, a).await,
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
        }
    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

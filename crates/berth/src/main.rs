//! berth: Docker's network commands against berthd.

mod client;
mod cmd;
mod format;

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
    /// Show the berth version information.
    Version(cmd::system::VersionArgs),
    /// Display system-wide information.
    Info(cmd::system::InfoArgs),
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
            Command::Info(a) => cmd::system::info(&client, a).await,
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

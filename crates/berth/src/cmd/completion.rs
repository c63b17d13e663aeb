//! `berth completion bash|zsh|fish` and the hidden `berth man DIR`: shell completions and man
//! pages made from the CLI's own definition, so they never drift from it. The setup script
//! installs both.

use crate::Failure;
use clap::{Args, Command, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to write a completion script for.
    shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write berth.1 and one page per command (berth-run.1, …) into.
    dir: PathBuf,
}

/// Writes the completion script to stdout.
pub fn completion(mut cli: Command, a: CompletionArgs) -> Result<(), Failure> {
    use clap_complete::{generate, shells};
    use std::io::Write;
    // Made in memory first: the generators panic on a write error (a closed pipe).
    let mut script = Vec::new();
    match a.shell {
        Shell::Bash => generate(shells::Bash, &mut cli, "berth", &mut script),
        Shell::Zsh => generate(shells::Zsh, &mut cli, "berth", &mut script),
        Shell::Fish => generate(shells::Fish, &mut cli, "berth", &mut script),
    }
    match std::io::stdout().write_all(&script) {
        Ok(()) => Ok(()),
        // The reader went away (`| head`): what it wanted it has.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::msg(format!(
            "cannot write the completion script: {e}"
        ))),
    }
}

/// Writes a page for berth and for each of its commands (nested ones as `berth-network-ls.1`).
pub fn man(cli: Command, a: ManArgs) -> Result<(), Failure> {
    std::fs::create_dir_all(&a.dir)
        .map_err(|e| Failure::msg(format!("cannot create {}: {e}", a.dir.display())))?;
    clap_mangen::generate_to(cli, &a.dir).map_err(|e| {
        Failure::msg(format!(
            "cannot write man pages to {}: {e}",
            a.dir.display()
        ))
    })
}

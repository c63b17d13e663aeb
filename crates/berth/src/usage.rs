//! Command-line misuse answered as the docker CLI answers it: the problem, the command's
//! usage and where its help is, with Docker's exit codes (125 for a bad flag, 1 for a missing
//! argument or an unknown command).

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Command, CommandFactory, FromArgMatches};

/// Global options that take a value in the next word (`-H URL`).
const GLOBAL_VALUES: &[&str] = &["-H", "--host", "--tlscacert", "--tlscert", "--tlskey"];

/// What to print and the exit code, for a command line clap refused.
#[derive(Debug, PartialEq, Eq)]
pub struct Misuse {
    pub message: String,
    pub code: u8,
}

/// The words of the command a command line names (`["network", "ls"]`), found by walking the
/// subcommands with the words that are not options.
fn command_path(cmd: &Command, args: &[String]) -> Vec<String> {
    let mut path = Vec::new();
    let mut cur = cmd;
    let mut words = args.iter().skip(1);
    while let Some(w) = words.next() {
        if w == "--" {
            break;
        }
        if w.starts_with('-') {
            if GLOBAL_VALUES.contains(&w.as_str()) {
                words.next();
            }
            continue;
        }
        match cur.find_subcommand(w) {
            Some(sub) => {
                path.push(sub.get_name().to_string());
                cur = sub;
            }
            None => break,
        }
    }
    path
}

/// Docker's words for clap's error `e` on the command line `args`.
pub fn misuse(e: &clap::Error, args: &[String]) -> Misuse {
    let mut root = super::Cli::command();
    root.build();
    let path = command_path(&root, args);
    let mut cmd = &root;
    for p in &path {
        match cmd.find_subcommand(p) {
            Some(sub) => cmd = sub,
            None => break,
        }
    }
    let mut cmd = cmd.clone();
    let name = std::iter::once("berth".to_string())
        .chain(path.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let usage = cmd
        .render_usage()
        .to_string()
        .replacen("Usage: ", "Usage:  ", 1);
    let arg = |kind: ContextKind| match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(s)) => s.join(", "),
        _ => String::new(),
    };
    match e.kind() {
        ErrorKind::InvalidSubcommand => Misuse {
            message: format!(
                "berth: unknown command: {name} {}\n\nRun '{name} --help' for more information",
                arg(ContextKind::InvalidSubcommand)
            ),
            code: 1,
        },
        ErrorKind::MissingRequiredArgument
        | ErrorKind::MissingSubcommand
        | ErrorKind::TooFewValues
        | ErrorKind::WrongNumberOfValues => Misuse {
            message: format!(
                "berth: '{name}' requires {}\n\n{usage}\n\nSee '{name} --help' for more information",
                match arg(ContextKind::InvalidArg) {
                    a if a.is_empty() => "a subcommand".to_string(),
                    a => format!("at least 1 argument: {a}"),
                }
            ),
            code: 1,
        },
        ErrorKind::UnknownArgument => Misuse {
            message: format!(
                "unknown flag: {}\n\n{usage}\n\nRun '{name} --help' for more information",
                arg(ContextKind::InvalidArg)
            ),
            code: 125,
        },
        _ => {
            // clap's own first line, without its "error: " and its hints.
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            Misuse {
                message: format!(
                    "{first}\n\n{usage}\n\nRun '{name} --help' for more information"
                ),
                code: 125,
            }
        }
    }
}

/// Parses the command line; help and version are printed and exit 0, misuse is printed as
/// Docker's CLI prints it and exits with its code.
pub fn parse<T: CommandFactory + FromArgMatches>() -> T {
    let args: Vec<String> = std::env::args().collect();
    let result = T::command()
        .try_get_matches_from(&args)
        .and_then(|m| T::from_arg_matches(&m));
    match result {
        Ok(t) => t,
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                // Nothing to do if the terminal is gone.
                let _ = e.print();
                std::process::exit(0)
            }
            _ => {
                let m = misuse(&e, &args);
                eprintln!("{}", m.message);
                std::process::exit(i32::from(m.code))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn refused(line: &str) -> Misuse {
        let args = words(line);
        let e = super::super::Cli::command()
            .try_get_matches_from(&args)
            .expect_err(line);
        misuse(&e, &args)
    }

    #[test]
    fn misuse_reads_as_the_docker_clis() {
        let m = refused("berth -H unix:///x run --nope busybox");
        assert_eq!(m.code, 125);
        assert!(
            m.message
                .starts_with("unknown flag: --nope\n\nUsage:  berth run"),
            "{}",
            m.message
        );
        assert!(
            m.message
                .ends_with("Run 'berth run --help' for more information"),
            "{}",
            m.message
        );
        let m = refused("berth network rm");
        assert_eq!(m.code, 1);
        assert!(
            m.message.starts_with("berth: 'berth network rm' requires"),
            "{}",
            m.message
        );
        let m = refused("berth nope");
        assert_eq!(
            (m.code, m.message.lines().next().unwrap_or_default()),
            (1, "berth: unknown command: berth nope")
        );
        let m = refused("berth ps -n x");
        assert_eq!(m.code, 125);
        assert!(
            m.message.contains("See") || m.message.contains("Run 'berth ps --help'"),
            "{}",
            m.message
        );
    }
}

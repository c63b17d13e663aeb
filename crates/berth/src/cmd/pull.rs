//! `berth pull NAME[:TAG|@DIGEST]`: an image from a registry, with dockerd's progress stream
//! shown as the docker CLI shows it: one line per layer, redrawn in place on a terminal, and
//! plain status lines otherwise. `run` and `create` pull through here when the image is
//! missing.

use crate::Failure;
use berth_client::{encode, Client};
use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::Value;
use std::io::{IsTerminal, Write};

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Suppress verbose output.
    #[arg(short, long)]
    quiet: bool,
    /// NAME[:TAG|@DIGEST]
    name: String,
}

pub async fn pull(client: &Client, a: PullArgs) -> Result<(), Failure> {
    let mut out = std::io::stdout();
    let tty = out.is_terminal();
    pull_image(client, &a.name, a.quiet, tty, &mut out).await?;
    println!("{}", full_name(&a.name));
    Ok(())
}

/// `busybox` → `busybox:latest`, as the CLI names what it pulled.
pub fn full_name(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || name.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// Pulls `name`, writing progress to `out` (redrawn in place when `tty`).
pub async fn pull_image(
    client: &Client,
    name: &str,
    quiet: bool,
    tty: bool,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let resp = client
        .open(
            Method::POST,
            &format!("/images/create?fromImage={}", encode(name)),
        )
        .await?;
    let mut body = resp.into_body();
    let mut view = View::new(tty);
    let mut pending = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Failure::msg(format!("the pull stream broke: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(at) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=at).collect();
            let Ok(v) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            if let Some(e) = v.get("error").and_then(Value::as_str) {
                return Err(Failure::msg(e.to_string()));
            }
            if !quiet {
                view.show(&v, out)
                    .map_err(|e| Failure::msg(format!("cannot write progress: {e}")))?;
            }
        }
    }
    Ok(())
}

/// What is on screen: one line per layer, in the order they first came.
struct View {
    tty: bool,
    ids: Vec<String>,
}

impl View {
    fn new(tty: bool) -> View {
        View {
            tty,
            ids: Vec::new(),
        }
    }

    fn show(&mut self, v: &Value, out: &mut impl Write) -> std::io::Result<()> {
        let status = v["status"].as_str().unwrap_or_default();
        let id = v["id"].as_str().unwrap_or_default();
        let progress = v["progress"].as_str().unwrap_or_default();
        if id.is_empty() || status.starts_with("Pulling from") {
            let text = if id.is_empty() {
                status.to_string()
            } else {
                format!("{id}: {status}")
            };
            return writeln!(out, "{text}");
        }
        if !self.tty {
            // Without a terminal the bars would be noise: status changes only, as the CLI.
            if !progress.is_empty() {
                return Ok(());
            }
            return writeln!(out, "{id}: {status}");
        }
        let line = if progress.is_empty() {
            format!("{id}: {status}")
        } else {
            format!("{id}: {status} {progress}")
        };
        match self.ids.iter().position(|i| i == id) {
            None => {
                self.ids.push(id.to_string());
                writeln!(out, "{line}")?;
            }
            Some(at) => {
                let up = self.ids.len() - at;
                // Up to the layer's line, rewrite it, and back down.
                write!(out, "\x1b[{up}A\r\x1b[2K{line}\r\x1b[{up}B")?;
            }
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_output_has_status_changes_only() {
        let mut v = View::new(false);
        let mut out = Vec::new();
        for l in [
            json!({"status": "Pulling from bb", "id": "latest"}),
            json!({"status": "Pulling fs layer", "id": "abc"}),
            json!({"status": "Downloading", "progress": "[=> ]", "id": "abc"}),
            json!({"status": "Pull complete", "id": "abc"}),
            json!({"status": "Digest: sha256:00"}),
        ] {
            v.show(&l, &mut out).unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "latest: Pulling from bb\nabc: Pulling fs layer\nabc: Pull complete\nDigest: sha256:00\n"
        );
        assert_eq!(full_name("127.0.0.1:5000/bb"), "127.0.0.1:5000/bb:latest");
        assert_eq!(full_name("bb:1"), "bb:1");
    }

    #[test]
    fn a_terminal_gets_each_layer_redrawn_in_place() {
        let mut v = View::new(true);
        let mut out = Vec::new();
        v.show(&json!({"status": "Pulling fs layer", "id": "a"}), &mut out)
            .unwrap();
        v.show(&json!({"status": "Pulling fs layer", "id": "b"}), &mut out)
            .unwrap();
        v.show(
            &json!({"status": "Downloading", "progress": "[=>]", "id": "a"}),
            &mut out,
        )
        .unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.ends_with("\x1b[2A\r\x1b[2Ka: Downloading [=>]\r\x1b[2B"),
            "{s:?}"
        );
    }
}

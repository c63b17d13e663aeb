//! `berth tag`, `berth save` and `berth image prune`, with Docker's flags and output.

use crate::client::{encode, Client};
use crate::Failure;
use clap::{Args, Subcommand};
use hyper::Method;
use std::io::{BufRead, IsTerminal, Write};

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image: NAME[:TAG] or ID.
    source: String,
    /// The new name: NAME[:TAG].
    target: String,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    output: Option<std::path::PathBuf>,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ImageCmd {
    /// Remove unused images.
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=<timestamp>").
    #[arg(long)]
    filter: Vec<String>,
}

/// Docker's question before a prune; true when the user agreed (`y` or `yes`).
pub(crate) fn confirm(warning: &str) -> bool {
    print!("WARNING! {warning}\nAre you sure you want to continue? [y/N] ");
    // A prompt that cannot be shown still gets its answer read: the user typed it blind.
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    // An unreadable stdin is a "no".
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}

/// `NAME[:TAG]` as the docker CLI sends it: the tag after the last colon that follows the
/// last slash (a registry's port is not a tag).
fn split_tag(r: &str) -> (&str, &str) {
    let slash = r.rfind('/').map(|i| i + 1).unwrap_or(0);
    match r[slash..].rfind(':') {
        Some(i) => (&r[..slash + i], &r[slash + i + 1..]),
        None => (r, ""),
    }
}

pub async fn tag(client: &Client, a: TagArgs) -> Result<(), Failure> {
    if a.target.contains('@') {
        return Err(Failure::msg(format!(
            "refusing to create a tag with a digest reference: {}",
            a.target
        )));
    }
    let (repo, tag) = split_tag(&a.target);
    client
        .request(
            Method::POST,
            &format!(
                "/images/{}/tag?repo={}&tag={}",
                encode(&a.source),
                encode(repo),
                encode(tag)
            ),
            None,
        )
        .await?;
    Ok(())
}

pub async fn save(client: &Client, a: SaveArgs) -> Result<(), Failure> {
    use http_body_util::BodyExt;
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(Failure::msg(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let names: Vec<String> = a
        .images
        .iter()
        .map(|n| format!("names={}", encode(n)))
        .collect();
    let resp = client
        .open(Method::GET, &format!("/images/get?{}", names.join("&")))
        .await?;
    // Written next to the destination and renamed at the end, so a failed save leaves no
    // half archive under the name asked for.
    let (mut out, partial): (
        Box<dyn Write>,
        Option<(std::path::PathBuf, std::path::PathBuf)>,
    ) = match &a.output {
        Some(path) => {
            let mut tmp = path.as_os_str().to_os_string();
            tmp.push(".berth-partial");
            let tmp = std::path::PathBuf::from(tmp);
            let f = std::fs::File::create(&tmp)
                .map_err(|e| Failure::msg(format!("cannot create {}: {e}", tmp.display())))?;
            (
                Box::new(std::io::BufWriter::new(f)),
                Some((tmp, path.clone())),
            )
        }
        None => (Box::new(std::io::stdout().lock()), None),
    };
    let mut body = resp.into_body();
    let result: Result<(), String> = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("the archive was cut short: {e}"))?;
            if let Some(data) = frame.data_ref() {
                out.write_all(data)
                    .map_err(|e| format!("cannot write the archive: {e}"))?;
            }
        }
        out.flush()
            .map_err(|e| format!("cannot write the archive: {e}"))
    }
    .await;
    drop(out);
    match (result, partial) {
        (Ok(()), Some((tmp, path))) => std::fs::rename(&tmp, &path)
            .map_err(|e| Failure::msg(format!("cannot write {}: {e}", path.display()))),
        (Ok(()), None) => Ok(()),
        (Err(e), partial) => {
            if let Some((tmp, _)) = partial {
                // Best effort: the failure below is what the user needs to hear.
                let _ = std::fs::remove_file(tmp);
            }
            Err(Failure::msg(e))
        }
    }
}

pub async fn run(client: &Client, c: ImageCmd) -> Result<(), Failure> {
    match c {
        ImageCmd::Prune(a) => prune(client, a).await,
    }
}

async fn prune(client: &Client, a: PruneArgs) -> Result<(), Failure> {
    let warning = if a.all {
        "This will remove all images without at least one container associated to them."
    } else {
        "This will remove all dangling images."
    };
    if !a.force && !confirm(warning) {
        return Ok(());
    }
    let mut filters = a.filter.clone();
    filters.push(format!("dangling={}", !a.all));
    let resp: serde_json::Value = client
        .post_json(
            &format!("/images/prune{}", super::network::filters_query(&filters)?),
            None,
        )
        .await?;
    let deleted = resp["ImagesDeleted"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Images:");
        for d in deleted {
            for (k, v) in d.as_object().into_iter().flatten() {
                println!("{}: {}", k.to_lowercase(), v.as_str().unwrap_or_default());
            }
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        super::system_df::human_size(resp["SpaceReclaimed"].as_u64().unwrap_or(0))
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_tag;

    #[test]
    fn tags_are_split_after_the_last_slash() {
        assert_eq!(split_tag("bb"), ("bb", ""));
        assert_eq!(split_tag("bb:v1"), ("bb", "v1"));
        assert_eq!(split_tag("localhost:5000/bb"), ("localhost:5000/bb", ""));
        assert_eq!(split_tag("localhost:5000/bb:2"), ("localhost:5000/bb", "2"));
    }
}

//! Image commands with Docker's flags and output: `images`, `rmi`, `import`, `load`, `tag`,
//! `save` and `image prune`.

use crate::client::{encode, Client, ClientError, RequestBody};
use crate::format;
use crate::Failure;
use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{json, Value};
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
        crate::units::human_size(resp["SpaceReclaimed"].as_u64().unwrap_or(0))
    );
    Ok(())
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
                "CreatedSince": super::container::ago(created), "CreatedAt": created_at(created),
                "Size": crate::units::human_size_with_precision(
                    i["Size"].as_u64().unwrap_or(0),
                    3,
                ),
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
    use super::split_tag;

    #[test]
    fn tags_are_split_after_the_last_slash() {
        assert_eq!(split_tag("bb"), ("bb", ""));
        assert_eq!(split_tag("bb:v1"), ("bb", "v1"));
        assert_eq!(split_tag("localhost:5000/bb"), ("localhost:5000/bb", ""));
        assert_eq!(split_tag("localhost:5000/bb:2"), ("localhost:5000/bb", "2"));
    }

    #[test]
    fn created_at_is_the_docker_clis_utc_time() {
        assert_eq!(super::created_at(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            super::created_at(1_709_251_199),
            "2024-02-29 23:59:59 +0000 UTC"
        );
    }
}

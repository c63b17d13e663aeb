//! `berth cp`: files and directories between a container and the local filesystem, as
//! Docker's CLI copies them (`CONTAINER:PATH` on one side, `-` for a tar stream on standard
//! input or output). The archive is built and unpacked in memory: meant for configuration
//! files and small trees, not for images.

use crate::client::{encode, Client, RequestBody};
use crate::Failure;
use clap::Args;
use hyper::Method;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Args)]
pub struct CpArgs {
    /// CONTAINER:SRC_PATH, a local path, or - (a tar stream on standard input).
    src: String,
    /// CONTAINER:DEST_PATH, a local path, or - (a tar stream on standard output).
    dest: String,
    /// Archive mode: files copied into a container that runs as a user become that user's
    /// (without it they keep the owners they have here).
    #[arg(short = 'a', long)]
    archive: bool,
    /// Always follow a symbolic link in SRC_PATH.
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
}

/// `CONTAINER:PATH` split, or None for a local path (one with a `/` before any `:` is local,
/// as Docker's).
fn remote(arg: &str) -> Option<(&str, &str)> {
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

fn name_of(p: &str) -> String {
    Path::new(p)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into())
}

pub async fn cp(client: &Client, a: CpArgs) -> Result<(), Failure> {
    match (remote(&a.src), remote(&a.dest)) {
        (Some((c, p)), None) => {
            let (src, name) = if a.follow_link {
                followed(client, c, p).await?
            } else {
                (p.to_string(), None)
            };
            copy_out(client, c, &src, name.as_deref(), &a.dest).await
        }
        (None, Some((c, p))) => {
            let src = if a.follow_link && a.src != "-" {
                std::fs::canonicalize(&a.src)
                    .map_err(|e| Failure::msg(format!("cannot follow {}: {e}", a.src)))?
                    .display()
                    .to_string()
            } else {
                a.src.clone()
            };
            // Named as the link, as Docker's (the target's own name is not the user's).
            copy_in(client, &src, &name_of(&a.src), c, p, a.archive).await
        }
        (Some(_), Some(_)) => Err(Failure::msg("copying between containers is not supported")),
        (None, None) => Err(Failure::msg("must specify at least one container source")),
    }
}

/// `-L` out of a container: a symlink at `path` is copied as what it points to (resolved in
/// the container by the daemon's stat), under the link's own name.
async fn followed(
    client: &Client,
    ctr: &str,
    path: &str,
) -> Result<(String, Option<String>), Failure> {
    let head = stat(client, ctr, path).await?;
    let Some(target) = stat_json(&head).and_then(|v| {
        v["linkTarget"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    }) else {
        return Ok((path.to_string(), None));
    };
    let target = if target.starts_with('/') {
        target
    } else {
        let parent = Path::new(path).parent().unwrap_or(Path::new("/"));
        parent.join(target).display().to_string()
    };
    Ok((target, Some(name_of(path))))
}

async fn stat(
    client: &Client,
    ctr: &str,
    path: &str,
) -> Result<berth_client::RawResponse, Failure> {
    Ok(client
        .raw_body(
            "HEAD",
            &format!(
                "/v{}/containers/{}/archive?path={}",
                berth_api::API_VERSION,
                encode(ctr),
                encode(path)
            ),
            RequestBody::Empty,
        )
        .await?)
}

async fn copy_out(
    client: &Client,
    ctr: &str,
    path: &str,
    name: Option<&str>,
    dest: &str,
) -> Result<(), Failure> {
    let tar = client
        .request(
            Method::GET,
            &format!("/containers/{}/archive?path={}", encode(ctr), encode(path)),
            None,
        )
        .await?;
    if dest == "-" {
        return std::io::stdout()
            .write_all(&tar)
            .map_err(|e| Failure::msg(format!("cannot write the archive: {e}")));
    }
    let dest = Path::new(dest);
    // Into an existing directory under the source's name, else as `dest` itself.
    let (dir, rename) = if dest.is_dir() {
        (dest.to_path_buf(), name.map(str::to_string))
    } else {
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        (parent.to_path_buf(), Some(name_of(&dest.to_string_lossy())))
    };
    let mut ar = tar::Archive::new(&tar[..]);
    let entries = ar
        .entries()
        .map_err(|e| Failure::msg(format!("the daemon's archive is damaged: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| Failure::msg(format!("the daemon's archive is damaged: {e}")))?;
        let rel = entry
            .path()
            .map_err(|e| Failure::msg(format!("bad path in the archive: {e}")))?
            .into_owned();
        let mut parts: Vec<Component> = rel.components().collect();
        if parts.iter().any(|c| !matches!(c, Component::Normal(_))) || parts.is_empty() {
            return Err(Failure::msg(format!(
                "the archive entry {} is outside of the destination",
                rel.display()
            )));
        }
        let renamed;
        if let Some(r) = &rename {
            renamed = std::ffi::OsString::from(r);
            parts[0] = Component::Normal(&renamed);
        }
        let target: PathBuf = dir.join(parts.iter().collect::<PathBuf>());
        entry
            .unpack(&target)
            .map_err(|e| Failure::msg(format!("cannot write {}: {e}", target.display())))?;
    }
    Ok(())
}

async fn copy_in(
    client: &Client,
    src: &str,
    src_name: &str,
    ctr: &str,
    path: &str,
    archive: bool,
) -> Result<(), Failure> {
    let put = |dir: &str| {
        format!(
            "/containers/{}/archive?path={}{}",
            encode(ctr),
            encode(dir),
            if archive { "&copyUIDGID=1" } else { "" }
        )
    };
    if src == "-" {
        client
            .send_body(Method::PUT, &put(path), RequestBody::tar_stdin())
            .await?;
        return Ok(());
    }
    // Into an existing directory of the container, else as `path` itself in its parent.
    let head = stat(client, ctr, path).await?;
    // A file there is replaced, as Docker's.
    let (dir, name) = if head.status == 200 && is_dir(&head.headers) {
        (path.to_string(), src_name.to_string())
    } else {
        let parent = Path::new(path)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".into());
        (parent, name_of(path))
    };
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let local = Path::new(src);
    let added = if local.is_dir() {
        b.append_dir_all(&name, local)
    } else {
        b.append_path_with_name(local, &name)
    };
    let tar = added
        .and_then(|()| b.into_inner())
        .map_err(|e| Failure::msg(format!("cannot read {src}: {e}")))?;
    let len = tar.len() as u64;
    let body = RequestBody::Stream {
        reader: Box::pin(std::io::Cursor::new(tar)),
        len: Some(len),
        content_type: "application/x-tar",
    };
    client.send_body(Method::PUT, &put(&dir), body).await?;
    Ok(())
}

/// Whether the stat header of a HEAD answer says directory (Go's `os.ModeDir`).
fn is_dir(headers: &[(String, String)]) -> bool {
    stat_header(headers)
        .and_then(|s| s["mode"].as_u64())
        .is_some_and(|m| m & (1 << 31) != 0)
}

/// The stat JSON of a HEAD answer (None when the path is missing).
fn stat_json(head: &berth_client::RawResponse) -> Option<serde_json::Value> {
    (head.status == 200)
        .then(|| stat_header(&head.headers))
        .flatten()
}

fn stat_header(headers: &[(String, String)]) -> Option<serde_json::Value> {
    let (_, v) = headers
        .iter()
        .find(|(k, _)| k == "x-docker-container-path-stat")?;
    serde_json::from_slice(&unbase64(v)?).ok()
}

fn unbase64(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    let s = s.trim_end_matches('=').as_bytes();
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_and_base64() {
        assert_eq!(remote("box:/etc"), Some(("box", "/etc")));
        assert_eq!(remote("./a:b"), None);
        assert_eq!(remote("/tmp/x"), None);
        assert_eq!(unbase64("Zm9v").as_deref(), Some(&b"foo"[..]));
        assert_eq!(unbase64("Zm8=").as_deref(), Some(&b"fo"[..]));
    }
}

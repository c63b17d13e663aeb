//! `pull`: an image from a registry (berth_image::registry does the protocol and the unpacking),
//! recorded under its tag like a loaded one, with Docker's progress messages on the way.

use super::image::Image;
use super::{Engine, Result, IMAGES};
use berth_api::progress::{JsonMessage, ProgressDetail};
use berth_image::registry::{LayerStatus, Progress, PullRef, RegistryOptions, Resolved};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// How a pull ended, for its last status line.
pub enum Pulled {
    /// The image and its name were here already.
    UpToDate(Image),
    /// Something changed: the image came, or a name moved to it.
    Newer(Image),
}

impl Engine {
    /// Where pulls may go; set once at start from daemon.json and the flags.
    pub fn set_registry(&self, opts: RegistryOptions) {
        match self.registry.write() {
            Ok(mut r) => *r = opts,
            Err(p) => *p.into_inner() = opts,
        }
    }

    pub fn registry_options(&self) -> RegistryOptions {
        match self.registry.read() {
            Ok(r) => r.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Finds what `from_image` (with `tag`: a tag, a digest or empty) names on its registry.
    /// Fails before any layer moves when the name is bad, unknown or unreachable.
    pub async fn pull_resolve(&self, from_image: &str, tag: &str) -> Result<Resolved> {
        let name = PullRef::parse(from_image, tag)?;
        let opts = self.registry_options();
        Ok(berth_image::registry::resolve(&opts, &name).await?)
    }

    /// Downloads what [`pull_resolve`] found (unless the image is here already) and names it,
    /// sending Docker's progress lines to `out` as it goes.
    pub async fn pull(&self, r: Resolved, out: UnboundedSender<JsonMessage>) -> Result<Pulled> {
        let id = r.image_id().to_string();
        let name = r.name.clone();
        let repo_digest = format!("{}@{}", name.familiar(), r.digest);
        let existing = self.image_by_id(&id).await;
        let fresh = existing.is_none();
        let img = match existing {
            Some(i) => {
                let tag_ok = name.tagged().is_none_or(|t| i.repo_tags.contains(&t));
                if tag_ok && i.repo_digests.contains(&repo_digest) {
                    return Ok(Pulled::UpToDate(i));
                }
                for l in r.layer_ids() {
                    // A closed stream only means the client went; the pull goes on.
                    let _ = out.send(layer_line(&Progress {
                        id: l,
                        status: LayerStatus::AlreadyExists,
                    }));
                }
                i
            }
            None => {
                let tx = out.clone();
                let progress: berth_image::registry::ProgressFn = Arc::new(move |p: Progress| {
                    // As above: the pull finishes even when nobody watches it.
                    let _ = tx.send(layer_line(&p));
                });
                r.fetch(&self.paths.images, progress).await?
            }
        };
        let mut st = self.state.lock().await;
        // The entry as it is now (another pull or a tag may have changed it meanwhile).
        let mut img = st.images.get(&id).cloned().unwrap_or(img);
        let mut changes = Vec::new();
        if let Some(t) = name.tagged() {
            changes.extend(super::image::untag_others(&mut st.images, &id, &t)?);
            if !img.repo_tags.contains(&t) {
                img.repo_tags.push(t);
            }
        }
        if !img.repo_digests.contains(&repo_digest) {
            img.repo_digests.push(repo_digest);
        }
        changes.push(berth_store::Change::put(IMAGES, &img.id, &img)?);
        self.store.apply(changes)?;
        st.images.insert(img.id.clone(), img.clone());
        tracing::info!(image = %name.shown(), id = %img.id, downloaded = fresh, "pulled");
        Ok(Pulled::Newer(img))
    }
}

/// A layer's progress as dockerd's JSON message.
pub fn layer_line(p: &Progress) -> JsonMessage {
    let (status, detail) = match &p.status {
        LayerStatus::Pulling => ("Pulling fs layer", None),
        LayerStatus::Downloading { current, total } => ("Downloading", Some((*current, *total))),
        LayerStatus::Verifying => ("Verifying Checksum", None),
        LayerStatus::DownloadComplete => ("Download complete", None),
        LayerStatus::Extracting { current, total } => ("Extracting", Some((*current, *total))),
        LayerStatus::Complete => ("Pull complete", None),
        LayerStatus::AlreadyExists => ("Already exists", None),
    };
    JsonMessage {
        status: Some(status.into()),
        progress_detail: Some(ProgressDetail {
            current: detail.map(|d| d.0),
            total: detail.map(|d| d.1),
        }),
        progress: detail.map(|(current, total)| bar(current, total)),
        id: Some(p.id.clone()),
        ..JsonMessage::default()
    }
}

/// dockerd's text bar: `[=====>      ]  1.2MB/3.4MB`.
fn bar(current: u64, total: u64) -> String {
    const WIDTH: u64 = 50;
    let filled = (current.min(total) * WIDTH)
        .checked_div(total)
        .unwrap_or(WIDTH)
        .min(WIDTH);
    let mut s = String::from("[");
    for i in 0..WIDTH {
        s.push(match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal => '>',
            std::cmp::Ordering::Greater => ' ',
        });
    }
    s.push(']');
    format!("{s} {:>8}/{}", human(current), human(total))
}

/// Sizes as dockerd's progress bars show them (decimal units).
fn human(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        return format!("{n}B");
    }
    let t = format!("{v:.3}");
    format!(
        "{}{}",
        t.trim_end_matches('0').trim_end_matches('.'),
        units[i]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_are_dockerds() {
        let l = layer_line(&Progress {
            id: "abc".into(),
            status: LayerStatus::Downloading {
                current: 500,
                total: 1000,
            },
        });
        let l = serde_json::to_value(&l).unwrap();
        assert_eq!(l["status"], "Downloading");
        assert_eq!(l["progressDetail"]["current"], 500);
        assert_eq!(l["progressDetail"]["total"], 1000);
        assert!(l["progress"]
            .as_str()
            .unwrap()
            .starts_with(&format!("[{}>", "=".repeat(25))));
        let l = layer_line(&Progress {
            id: "abc".into(),
            status: LayerStatus::Complete,
        });
        assert_eq!(
            serde_json::to_value(&l).unwrap(),
            serde_json::json!({"status": "Pull complete", "progressDetail": {}, "id": "abc"})
        );
        assert_eq!(human(999), "999B");
        assert_eq!(human(2_500_000), "2.5MB");
    }
}

//! `save`: which images a list of names picks, and under which tags, as Docker's exporter picks
//! them; the archive itself is written by `berth_image::save`.

use super::image::{self, Image};
use super::{Engine, EngineError, EngineError::BadRequest, Result};
use std::collections::BTreeMap;

impl Engine {
    /// The layers and configs of the images `names` pick, written to scratch files under the
    /// images directory; the caller streams the archive from what this returns.
    pub async fn save_images(&self, names: &[String]) -> Result<berth_image::save::Prepared> {
        if names.is_empty() {
            return Err(BadRequest(
                "no image named: save takes at least one name or ID (names=...)".into(),
            ));
        }
        let picked = {
            let st = self.state.lock().await;
            select(&st.images, names)?
        };
        let entries = picked
            .into_iter()
            .map(|(img, tags)| berth_image::save::Entry {
                rootfs: image::rootfs(&self.paths.images, &img),
                image: img,
                tags,
            })
            .collect();
        let dir = self.paths.images.clone();
        tokio::task::spawn_blocking(move || berth_image::save::prepare(entries, &dir))
            .await
            .map_err(EngineError::task("save"))?
            .map_err(EngineError::from)
    }
}

/// Docker's rules: an ID saves the image without a tag, `name:tag` that tag, a bare `name`
/// every tag of that repository; an image picked twice is saved once with all its tags, in the
/// order first asked for. A name that picks nothing is a 404 naming it.
fn select(images: &BTreeMap<String, Image>, names: &[String]) -> Result<Vec<(Image, Vec<String>)>> {
    let mut out: Vec<(Image, Vec<String>)> = Vec::new();
    let mut add = |img: &Image, tag: Option<&str>| {
        let at = match out.iter().position(|(i, _)| i.id == img.id) {
            Some(at) => at,
            None => {
                out.push((img.clone(), Vec::new()));
                out.len() - 1
            }
        };
        if let Some(t) = tag {
            if !out[at].1.iter().any(|x| x == t) {
                out[at].1.push(t.to_string());
            }
        }
    };
    for name in names {
        let bare = !name.contains('@') && !name.rsplit('/').next().unwrap_or(name).contains(':');
        let tagged: Vec<(&Image, &String)> = if bare {
            let prefix = format!("{name}:");
            images
                .values()
                .flat_map(|i| i.repo_tags.iter().map(move |t| (i, t)))
                .filter(|(_, t)| t.starts_with(&prefix))
                .collect()
        } else {
            let t = image::normalize_ref(name);
            images
                .values()
                .flat_map(|i| i.repo_tags.iter().map(move |x| (i, x)))
                .filter(|(_, x)| **x == t)
                .collect()
        };
        if !tagged.is_empty() {
            for (i, t) in tagged {
                add(i, Some(t));
            }
            continue;
        }
        match image::find(images, name) {
            Some(i) => add(i, None),
            None => return Err(EngineError::NotFound(format!("No such image: {name}"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(hex: &str, tags: &[&str]) -> Image {
        serde_json::from_value(serde_json::json!({
            "id": format!("sha256:{}", hex.repeat(32)),
            "repo_tags": tags, "created": chrono::Utc::now(), "size": 0,
        }))
        .unwrap()
    }

    #[test]
    fn names_pick_images_and_tags_as_docker() {
        let a = img("aa", &["bb:latest", "bb:v2", "other:1"]);
        let b = img("bb", &["bb:v3"]);
        let map = BTreeMap::from([(a.id.clone(), a.clone()), (b.id.clone(), b.clone())]);
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let s = select(&map, &names(&["bb"])).unwrap();
        assert_eq!(s.len(), 2, "a bare repository saves all its tags");
        assert_eq!(s[0].1, vec!["bb:latest", "bb:v2"]);
        assert_eq!(s[1].1, vec!["bb:v3"]);
        let s = select(&map, &names(&["other:1", "bb:latest", "other:1"])).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].1, vec!["other:1", "bb:latest"]);
        let s = select(&map, &names(&["aaaaaaaaaaaa"])).unwrap();
        assert!(s[0].1.is_empty(), "by ID: no tag");
        let e = select(&map, &names(&["nosuch"])).unwrap_err();
        assert!(matches!(e, EngineError::NotFound(m) if m == "No such image: nosuch"));
    }
}

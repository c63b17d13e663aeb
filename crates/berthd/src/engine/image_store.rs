//! The engine's image verbs: import, load, list, inspect, remove.

use super::image::{self, Image};
use super::{io, load, new_container_id, Engine, EngineError, Result, Status, IMAGES};
use chrono::Utc;

impl Engine {
    pub async fn import(&self, body: image::Upload, repo: &str, tag: &str) -> Result<Image> {
        if !repo.is_empty() {
            image::check_reference(&if tag.is_empty() {
                repo.to_string()
            } else {
                format!("{repo}:{tag}")
            })?;
        }
        let staging = self
            .paths
            .images
            .join(format!("tmp-{}", new_container_id()));
        let unpacked = {
            let staging = staging.clone();
            tokio::task::spawn_blocking(move || {
                let file = std::fs::File::open(&body.path).map_err(io("open upload"))?;
                image::unpack(std::io::BufReader::new(file), &staging.join("rootfs"))
            })
            .await
            .map_err(EngineError::task("import"))?
        };
        let (digest, size) = match unpacked {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        };
        let id = format!("sha256:{digest}");
        let tag_ref = if repo.is_empty() {
            None
        } else if tag.is_empty() {
            Some(image::normalize_ref(repo))
        } else {
            Some(format!("{repo}:{tag}"))
        };
        let mut st = self.state.lock().await;
        let final_dir = self.paths.images.join(&digest);
        let mut img = match st.images.get(&id) {
            Some(existing) => {
                let _ = std::fs::remove_dir_all(&staging);
                existing.clone()
            }
            None => {
                if final_dir.exists() {
                    let _ = std::fs::remove_dir_all(&final_dir);
                }
                std::fs::rename(&staging, &final_dir).map_err(io("store image"))?;
                Image {
                    id: id.clone(),
                    repo_tags: vec![],
                    repo_digests: vec![],
                    created: Utc::now(),
                    size,
                    cmd: vec![],
                    entrypoint: vec![],
                    env: vec![
                        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                    ],
                    working_dir: String::new(),
                    exposed_ports: vec![],
                    healthcheck: None,
                    labels: Default::default(),
                }
            }
        };
        let mut changes = Vec::new();
        if let Some(t) = tag_ref {
            changes.extend(image::untag_others(&mut st.images, &id, &t)?);
            if !img.repo_tags.contains(&t) {
                img.repo_tags.push(t);
            }
        }
        changes.push(berth_store::Change::put(IMAGES, &img.id, &img)?);
        self.store.apply(changes)?;
        st.images.insert(img.id.clone(), img.clone());
        Ok(img)
    }

    /// Loads the images of a `docker save` archive; returns their names (or IDs).
    pub async fn load(&self, body: image::Upload) -> Result<Vec<String>> {
        let dir = self.paths.images.clone();
        let loaded = tokio::task::spawn_blocking(move || load::load(&body, &dir))
            .await
            .map_err(EngineError::task("load"))??;
        let mut st = self.state.lock().await;
        let mut changes = Vec::new();
        let mut names = Vec::new();
        for img in loaded {
            for t in &img.repo_tags {
                changes.extend(image::untag_others(&mut st.images, &img.id, t)?);
            }
            if img.repo_tags.is_empty() {
                names.push(format!("Loaded image ID: {}", img.id));
            } else {
                names.extend(img.repo_tags.iter().map(|t| format!("Loaded image: {t}")));
            }
            changes.push(berth_store::Change::put(IMAGES, &img.id, &img)?);
            st.images.insert(img.id.clone(), img);
        }
        self.store.apply(changes)?;
        Ok(names)
    }

    pub async fn images(&self) -> Vec<Image> {
        let st = self.state.lock().await;
        let mut v: Vec<Image> = st.images.values().cloned().collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.created));
        v
    }

    pub async fn image(&self, key: &str) -> Result<Image> {
        let st = self.state.lock().await;
        image::find(&st.images, key)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("No such image: {key}")))
    }

    pub async fn remove_image(&self, key: &str, force: bool) -> Result<Vec<String>> {
        let mut st = self.state.lock().await;
        let img = image::find(&st.images, key)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("No such image: {key}")))?;
        let tag = image::normalize_ref(key);
        // Untag only, when the image has other names and was named by this one.
        if img.repo_tags.len() > 1 && img.repo_tags.contains(&tag) {
            let mut img = img;
            img.repo_tags.retain(|t| t != &tag);
            self.store.put(IMAGES, &img.id, &img)?;
            st.images.insert(img.id.clone(), img);
            return Ok(vec![format!("Untagged: {tag}")]);
        }
        if let Some(c) = st.containers.values().find(|c| c.image_id == img.id) {
            if !force || c.state.status == Status::Running {
                return Err(EngineError::Conflict(format!(
                    "conflict: unable to remove repository reference \"{key}\" (must force) - container {} is using its referenced image {}",
                    c.short_id(),
                    img.short_id()
                )));
            }
        }
        self.store.delete(IMAGES, &img.id)?;
        st.images.remove(&img.id);
        let _ =
            std::fs::remove_dir_all(self.paths.images.join(img.id.trim_start_matches("sha256:")));
        let mut out: Vec<String> = img
            .repo_tags
            .iter()
            .map(|t| format!("Untagged: {t}"))
            .collect();
        out.push(format!("Deleted: {}", img.id));
        Ok(out)
    }

    pub async fn image_by_id(&self, id: &str) -> Option<Image> {
        self.state.lock().await.images.get(id).cloned()
    }

    /// Every image by ID, copied under the map lock once (for listings of many containers).
    pub async fn images_by_id(&self) -> std::collections::BTreeMap<String, Image> {
        self.state.lock().await.images.clone()
    }
}

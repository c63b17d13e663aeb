//! Naming and pruning images: `tag` moves a name onto an image, `image prune` removes the images
//! no container uses (only the untagged ones unless asked for all).

use super::image::{self, Image};
use super::{Engine, EngineError, EngineState, Result, IMAGES};
use berth_store::Change;

impl Engine {
    /// `tag SOURCE REPO[:TAG]`: `repo` may carry the tag itself when `tag` is empty; the name
    /// moves here from whichever image had it. Returns the image and the full new name.
    pub async fn tag(&self, source: &str, repo: &str, tag: &str) -> Result<(Image, String)> {
        let mut st = self.state.lock().await;
        let img = image::find(&st.images, source)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("No such image: {source}")))?;
        let target = tag_target(repo, tag)?;
        let mut changes = Vec::new();
        Self::take_tag(&mut st, &target, &img.id, &mut changes)?;
        let mut img = img;
        if !img.repo_tags.contains(&target) {
            img.repo_tags.push(target.clone());
        }
        changes.push(Change::put(IMAGES, &img.id, &img)?);
        self.store.apply(changes)?;
        st.images.insert(img.id.clone(), img.clone());
        Ok((img, target))
    }

    /// Removes `tag` from every image but `keep_id`, recording each change.
    fn take_tag(
        st: &mut EngineState,
        tag: &str,
        keep_id: &str,
        changes: &mut Vec<Change>,
    ) -> Result<()> {
        for other in st.images.values_mut() {
            if other.id != keep_id && other.repo_tags.iter().any(|t| t == tag) {
                other.repo_tags.retain(|t| t != tag);
                changes.push(Change::put(IMAGES, &other.id, &*other)?);
            }
        }
        Ok(())
    }

    /// `image prune`: the images no container (of any state) uses, untagged ones only unless
    /// `all`, that `keep` does not spare. Their records go in one commit, then their files;
    /// returns the images removed.
    pub async fn prune_images(
        &self,
        all: bool,
        keep: impl Fn(&Image) -> bool,
    ) -> Result<Vec<Image>> {
        let mut st = self.state.lock().await;
        let used: std::collections::BTreeSet<&str> = st
            .containers
            .values()
            .map(|c| c.image_id.as_str())
            .collect();
        let doomed: Vec<Image> = st
            .images
            .values()
            .filter(|i| (all || i.repo_tags.is_empty()) && !used.contains(i.id.as_str()))
            .filter(|i| !keep(i))
            .cloned()
            .collect();
        if doomed.is_empty() {
            return Ok(Vec::new());
        }
        let changes: Vec<Change> = doomed
            .iter()
            .map(|i| Change::delete(IMAGES, &i.id))
            .collect();
        self.store.apply(changes)?;
        let mut out = Vec::with_capacity(doomed.len());
        for img in doomed {
            st.images.remove(&img.id);
            let dir = self.paths.images.join(img.id.trim_start_matches("sha256:"));
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                // The record is gone, so nothing names the files any more; they only cost space.
                tracing::warn!(path = %dir.display(), error = %e, "cannot remove a pruned image's files");
            }
            out.push(img);
        }
        Ok(out)
    }
}

/// The full name `tag` gives, checked as Docker's `TagImage` checks it.
fn tag_target(repo: &str, tag: &str) -> Result<String> {
    if repo.is_empty() {
        return Err(EngineError::BadRequest(
            "repository name must have at least one component: repo is required".into(),
        ));
    }
    if repo.contains('@') {
        return Err(EngineError::BadRequest(
            "refusing to create a tag with a digest reference".into(),
        ));
    }
    let full = if tag.is_empty() {
        repo.to_string()
    } else {
        // A tag given twice: the parameter wins, as Docker trims the repository's own.
        let name = match repo.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => n,
            _ => repo,
        };
        format!("{name}:{tag}")
    };
    image::check_reference(&full)?;
    let target = image::normalize_ref(familiar(&full));
    if target.starts_with("sha256:") {
        return Err(EngineError::BadRequest(
            "refusing to create an ambiguous tag using digest algorithm as name".into(),
        ));
    }
    Ok(target)
}

/// Docker Hub's names as berth keeps them: the docker CLI sends `docker.io/library/bb` for
/// `bb`, and `docker.io/team/bb` for `team/bb`.
fn familiar(name: &str) -> &str {
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::tag_target;

    #[test]
    fn tag_targets_as_docker_names_them() {
        assert_eq!(tag_target("bb", "").unwrap(), "bb:latest");
        assert_eq!(tag_target("bb", "v2").unwrap(), "bb:v2");
        assert_eq!(tag_target("bb:v1", "").unwrap(), "bb:v1");
        assert_eq!(tag_target("bb:v1", "v2").unwrap(), "bb:v2");
        assert_eq!(tag_target("docker.io/library/bb", "v2").unwrap(), "bb:v2");
        assert_eq!(
            tag_target("docker.io/team/bb", "").unwrap(),
            "team/bb:latest"
        );
        assert_eq!(
            tag_target("localhost:5000/x/bb", "1").unwrap(),
            "localhost:5000/x/bb:1"
        );
        for (repo, tag) in [
            ("", "x"),
            ("BB", ""),
            ("bb", "-x"),
            ("bb@sha256:aa", ""),
            ("sha256", ""),
        ] {
            assert!(tag_target(repo, tag).is_err(), "{repo} {tag}");
        }
    }
}

//! What a pull names: a registry (or Docker Hub), a repository, and a tag or digest.

use crate::error::{invalid, Result};

/// A reference to pull, normalised as Docker normalises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRef {
    /// `host[:port]` of the registry; `None` is Docker Hub.
    pub domain: Option<String>,
    /// The repository on the registry (`library/busybox` for Docker Hub's official images).
    pub path: String,
    /// The tag, when pulled by tag.
    pub tag: Option<String>,
    /// `sha256:…`, when pulled by digest.
    pub digest: Option<String>,
}

const HUB_DOMAINS: &[&str] = &["docker.io", "index.docker.io", "registry-1.docker.io"];

impl PullRef {
    /// `fromImage` and `tag` of `POST /images/create`: the tag may be a tag or a digest, or
    /// empty (then the name's own tag or digest, else `latest`).
    pub fn parse(from_image: &str, tag: &str) -> Result<PullRef> {
        let full = if tag.is_empty() {
            from_image.to_string()
        } else if tag.starts_with("sha256:") {
            format!("{from_image}@{tag}")
        } else {
            format!("{from_image}:{tag}")
        };
        crate::check_reference(&full)?;
        let (rest, digest) = match full.split_once('@') {
            Some((n, d)) => (n.to_string(), Some(d.to_string())),
            None => (full.clone(), None),
        };
        let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (
                rest[..slash + i].to_string(),
                Some(rest[slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if tag.is_some() && digest.is_some() {
            return Err(invalid(format!(
                "invalid reference format: {full:?}: give a tag or a digest, not both"
            )));
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                (Some(first.to_string()), rest.to_string())
            }
            _ => (None, name.clone()),
        };
        let domain = domain.filter(|d| !HUB_DOMAINS.contains(&d.as_str()));
        let path = if domain.is_none() && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        Ok(PullRef {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The repository as Docker shows it: `busybox`, `me/app`, `127.0.0.1:5000/app`.
    pub fn familiar(&self) -> String {
        match &self.domain {
            Some(d) => format!("{d}/{}", self.path),
            None => self
                .path
                .strip_prefix("library/")
                .unwrap_or(&self.path)
                .to_string(),
        }
    }

    /// `familiar:tag`, the name a tag pull gives the image.
    pub fn tagged(&self) -> Option<String> {
        self.tag
            .as_ref()
            .map(|t| format!("{}:{t}", self.familiar()))
    }

    /// The reference as Docker's messages spell it.
    pub fn shown(&self) -> String {
        match (&self.tag, &self.digest) {
            (_, Some(d)) => format!("{}@{d}", self.familiar()),
            (Some(t), None) => format!("{}:{t}", self.familiar()),
            (None, None) => self.familiar(),
        }
    }

    /// The tag or digest the registry's manifest endpoint takes.
    pub fn manifest_ref(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_as_in_docker() {
        let r = PullRef::parse("127.0.0.1:5000/bb", "latest").unwrap();
        assert_eq!(r.domain.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(r.path, "bb");
        assert_eq!(r.tagged().as_deref(), Some("127.0.0.1:5000/bb:latest"));
        let r = PullRef::parse("docker.io/library/busybox", "1.36").unwrap();
        assert_eq!(r.domain, None);
        assert_eq!(r.path, "library/busybox");
        assert_eq!(r.shown(), "busybox:1.36");
        let r = PullRef::parse("busybox", "").unwrap();
        assert_eq!(
            (r.path.as_str(), r.tag.as_deref()),
            ("library/busybox", Some("latest"))
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = PullRef::parse("localhost:5000/team/app", &d).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.manifest_ref(), d);
        assert_eq!(r.shown(), format!("localhost:5000/team/app@{d}"));
        let r = PullRef::parse(&format!("reg.example/app@{d}"), "").unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        let r = PullRef::parse("reg.example:5000/app:v2", "").unwrap();
        assert_eq!(r.tag.as_deref(), Some("v2"));
        assert!(PullRef::parse("UPPER", "").is_err());
        assert!(PullRef::parse("a", "bad tag").is_err());
        assert!(PullRef::parse(&format!("a:v1@{d}"), "").is_err());
    }
}

//! Image names with slashes in paths: the docker CLI sends `/images/127.0.0.1:5000/app:1/json`
//! unescaped, as dockerd's router takes `{name:.*}`. Before routing, the name's slashes are
//! escaped so that the `{name}` routes match and their extractor decodes the whole name.

/// What `/images/NAME/VERB` routes end with (anything else after `/images/` is all name).
const VERBS: &[&str] = &["json", "tag", "push", "history", "get"];

/// Routes under `/images/` that are not a name.
const FIXED: &[&str] = &["create", "load", "json", "prune", "search", "get"];

/// The path with the image name's slashes escaped, when it has any.
pub fn escape(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/images/")?;
    if !rest.contains('/') || FIXED.contains(&rest) {
        return None;
    }
    let (name, verb) = match rest.rsplit_once('/') {
        Some((n, v)) if VERBS.contains(&v) => (n, Some(v)),
        _ => (rest, None),
    };
    if !name.contains('/') {
        return None;
    }
    let name = name.replace('/', "%2F");
    Some(match verb {
        Some(v) => format!("/images/{name}/{v}"),
        None => format!("/images/{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn names_with_slashes_become_one_segment() {
        assert_eq!(
            escape("/images/127.0.0.1:5000/bb:latest/json").as_deref(),
            Some("/images/127.0.0.1:5000%2Fbb:latest/json")
        );
        assert_eq!(
            escape("/images/reg/team/app:1").as_deref(),
            Some("/images/reg%2Fteam%2Fapp:1")
        );
        assert_eq!(escape("/images/busybox/json"), None);
        assert_eq!(escape("/images/busybox"), None);
        assert_eq!(escape("/images/create"), None);
        assert_eq!(escape("/networks/a/b"), None);
    }
}

//! Image names in paths. The docker CLI puts a name into the path as it is, slashes included
//! (`POST /images/localhost:5000/team/bb/tag`), while a route's `{name}` is one segment. Before
//! routing, the slashes of the name are written as `%2F`, which the path extractor decodes
//! back: every `/images/{name}…` route then sees the whole name.

use axum::http::{Method, Uri};

/// The path with the image name's slashes escaped, or None when there is nothing to escape.
/// The name is everything between `/images/` and the last segment (the verb: `json`, `tag`,
/// `get`, `history`, `push`), or the whole rest for `DELETE /images/{name}`.
pub fn escape(method: &Method, path: &str) -> Option<String> {
    let rest = path.strip_prefix("/images/")?;
    let (name, verb) = if method == Method::DELETE {
        (rest, "")
    } else {
        rest.split_at(rest.rfind('/')?)
    };
    if !name.contains('/') {
        return None;
    }
    Some(format!("/images/{}{verb}", name.replace('/', "%2F")))
}

/// Rewrites the request's URI in place (query kept).
pub fn rewrite(method: &Method, uri: &mut Uri) {
    let Some(path) = escape(method, uri.path()) else {
        return;
    };
    let new = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    // The escaped path is the original with `/` replaced by valid `%2F`, so it parses; if it
    // somehow did not, the request goes on unchanged and routing answers it.
    if let Ok(u) = new.parse::<Uri>() {
        *uri = u;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_slashes_become_one_segment() {
        let g = Method::GET;
        assert_eq!(
            escape(&Method::POST, "/images/localhost:5000/team/bb/tag").as_deref(),
            Some("/images/localhost:5000%2Fteam%2Fbb/tag")
        );
        assert_eq!(
            escape(&g, "/images/a/b:1/json").as_deref(),
            Some("/images/a%2Fb:1/json")
        );
        assert_eq!(
            escape(&Method::DELETE, "/images/a/b").as_deref(),
            Some("/images/a%2Fb")
        );
        for p in [
            "/images/json",
            "/images/bb/json",
            "/images/get",
            "/containers/a/b",
        ] {
            assert_eq!(escape(&g, p), None, "{p}");
        }
        assert_eq!(escape(&Method::DELETE, "/images/bb"), None);
        let mut u: Uri = "/images/a/b/get?x=1".parse().unwrap();
        rewrite(&g, &mut u);
        assert_eq!(u.to_string(), "/images/a%2Fb/get?x=1");
    }
}

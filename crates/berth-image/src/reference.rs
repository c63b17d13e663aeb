//! Docker's image references (distribution/reference).

use crate::error::{invalid, Result};

/// `busybox` → `busybox:latest`; a reference with a tag or digest stays as is.
pub fn normalize_ref(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || name.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// Docker's reference grammar (distribution/reference): `[domain[:port]/]path[:tag][@digest]`,
/// path components lowercase alphanumerics joined by `.`, `_`, `__` or dashes, a tag of at most
/// 128 word characters, dots and dashes, a name of at most 255 characters.
pub fn check_reference(r: &str) -> Result<()> {
    let bad = || invalid(format!("invalid reference format: {r:?}"));
    let (rest, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    if let Some(d) = digest {
        let (algo, hex) = d.split_once(':').ok_or_else(bad)?;
        if algo != "sha256" || hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
    }
    // A tag is after the last colon that comes after the last slash (a port is before it).
    let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let mut cs = t.chars();
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if t.len() > 128
            || !cs.next().is_some_and(word)
            || !cs.all(|c| word(c) || c == '.' || c == '-')
        {
            return Err(bad());
        }
    }
    if name.is_empty() || name.len() > 255 {
        return Err(bad());
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let first = parts[0];
    if parts.len() > 1
        && (first.contains(['.', ':'])
            || first == "localhost"
            || first.bytes().any(|b| b.is_ascii_uppercase()))
    {
        if !valid_domain(first) {
            return Err(bad());
        }
        parts.remove(0);
    }
    if parts.iter().all(|p| valid_path_component(p)) {
        Ok(())
    } else {
        Err(bad())
    }
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || d.starts_with('[') => (h, Some(p)),
        _ => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !c.starts_with('-')
                && !c.ends_with('-')
        })
}

fn valid_path_component(p: &str) -> bool {
    let b = p.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    let mut after_sep = false;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            after_sep = false;
            continue;
        }
        if after_sep {
            return false;
        }
        after_sep = true;
        // A separator: one `.`, one or two `_`, or any number of `-`.
        let start = i;
        let c = b[i];
        while i < b.len() && b[i] == c {
            i += 1;
        }
        let ok = match c {
            b'.' => i - start == 1,
            b'_' => i - start <= 2,
            b'-' => true,
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize() {
        assert_eq!(normalize_ref("busybox"), "busybox:latest");
        assert_eq!(normalize_ref("busybox:1"), "busybox:1");
        assert_eq!(
            normalize_ref("localhost:5000/bb"),
            "localhost:5000/bb:latest"
        );
    }

    #[test]
    fn reference_grammar() {
        for good in [
            "busybox",
            "busybox:latest",
            "my_org/app-1.x:v1.0",
            "a__b/c---d",
            "localhost/x",
            "localhost:5000/bb:1",
            "registry.example.com/team/app",
            "Registry.Example:443/app",
            "[::1]:5000/app:tag",
            &format!("app@sha256:{}", "a".repeat(64)),
            &format!("app:{}", "t".repeat(128)),
        ] {
            check_reference(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "",
            "UPPER",
            "evil\nname:1",
            "../../x:1",
            "a/../b",
            "a:b:c",
            "x:-bad",
            "x:",
            "trailing/",
            "/lead",
            " x",
            "a..b",
            "a___b",
            "a.-b",
            "-a",
            "a-",
            "host:port/x:y:z",
            &format!("app:{}", "t".repeat(129)),
            &"a".repeat(256),
            "app@sha256:abc",
            "app@md5:0",
        ] {
            assert!(check_reference(bad).is_err(), "{bad:?} was accepted");
        }
    }
}

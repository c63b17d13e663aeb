//! Output formats as the docker CLI prints them: aligned tables, Go-template-like `--format`,
//! and indented JSON.

use serde_json::Value;

/// Docker's tabwriter settings: minimum width 10, padding 3; the last column is not padded.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count() + 3).max(10);
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// JSON with 4-space indentation, like `docker inspect`.
pub fn pretty(v: &impl serde::Serialize) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    match v.serialize(&mut ser) {
        Ok(()) => String::from_utf8_lossy(&buf).into_owned(),
        Err(e) => format!("<cannot encode: {e}>"),
    }
}

fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim();
    if path == "." {
        return Some(root);
    }
    let mut cur = root;
    for part in path.trim_start_matches('.').split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".into(),
        Value::Object(m) => {
            let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{}", plain(v))).collect();
            format!("map[{}]", inner.join(" "))
        }
        Value::Array(a) => {
            let inner: Vec<String> = a.iter().map(plain).collect();
            format!("[{}]", inner.join(" "))
        }
        other => other.to_string(),
    }
}

/// Renders the subset of Go templates people use with docker: `{{.A.B}}`, `{{json .A}}`,
/// `{{index .Options "key"}}`, `\t` and `\n` escapes.
pub fn render(template: &str, v: &Value) -> Result<String, String> {
    let template = template.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = template.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("template parsing error: unclosed action in {template:?}"))?;
        let action = after[..end].trim();
        out.push_str(&eval(action, v)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn eval(action: &str, v: &Value) -> Result<String, String> {
    let missing = |p: &str| format!("template: executing: can't evaluate field {p}");
    if let Some(arg) = action.strip_prefix("json ") {
        let val = lookup(v, arg).ok_or_else(|| missing(arg))?;
        return serde_json::to_string(val).map_err(|e| e.to_string());
    }
    if let Some(args) = action.strip_prefix("index ") {
        let (obj, key) = args
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("template: index needs a map and a key: {action}"))?;
        let map = lookup(v, obj).ok_or_else(|| missing(obj))?;
        let key = key.trim().trim_matches('"');
        return Ok(map
            .get(key)
            .map(plain)
            .unwrap_or_else(|| "<no value>".into()));
    }
    if action.starts_with('.') {
        return lookup(v, action).map(plain).ok_or_else(|| missing(action));
    }
    Err(format!("template: function {action:?} not supported"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_matches_docker_spacing() {
        let t = table(&[
            vec![
                "NETWORK ID".into(),
                "NAME".into(),
                "DRIVER".into(),
                "SCOPE".into(),
            ],
            vec![
                "ec244777282d".into(),
                "bridge".into(),
                "bridge".into(),
                "local".into(),
            ],
        ]);
        assert_eq!(
            t,
            "NETWORK ID     NAME      DRIVER    SCOPE\nec244777282d   bridge    bridge    local\n"
        );
    }

    #[test]
    fn templates() {
        let v = json!({"Name": "n", "IPAM": {"Config": [{"Subnet": "10.0.0.0/24"}]}, "Options": {"a.b": "1"}});
        assert_eq!(
            render("{{.Name}}\\t{{json .IPAM.Config}}", &v).unwrap(),
            "n\t[{\"Subnet\":\"10.0.0.0/24\"}]"
        );
        assert_eq!(render("{{index .Options \"a.b\"}}", &v).unwrap(), "1");
        assert!(render("{{.Nope}}", &v).is_err());
        assert!(render("{{.Name", &v).is_err());
    }
}

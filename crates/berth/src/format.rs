//! Output formats as the docker CLI prints them: aligned tables, `--format` with Go's
//! text/template (through `gtmpl`, with Docker's extra functions), and indented JSON.
//!
//! Lists (`ps`, `images`, `network ls`) take `table` (the default columns), `json` (one
//! object a line), `table TEMPLATE` (a header row of the columns the template names, then
//! aligned rows) or a bare `TEMPLATE` (one rendering a line), as Docker's formatter does.

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

/// JSON as a template value: objects become maps (a missing key is `<no value>`, as a Go map's).
fn to_template(v: &Value) -> gtmpl::Value {
    match v {
        Value::Null => gtmpl::Value::Nil,
        Value::Bool(b) => gtmpl::Value::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => gtmpl::Value::from(u),
            (_, Some(i), _) => gtmpl::Value::from(i),
            (_, _, Some(f)) => gtmpl::Value::from(f),
            _ => gtmpl::Value::Nil,
        },
        Value::String(s) => gtmpl::Value::String(s.clone()),
        Value::Array(a) => gtmpl::Value::Array(a.iter().map(to_template).collect()),
        Value::Object(m) => {
            gtmpl::Value::Map(m.iter().map(|(k, v)| (k.clone(), to_template(v))).collect())
        }
    }
}

/// A template value back as JSON, for `{{json .X}}`; map keys sorted, as Go's encoder sorts them.
fn to_json(v: &gtmpl::Value) -> Value {
    use gtmpl::Value as T;
    match v {
        T::NoValue | T::Nil | T::Function(_) => Value::Null,
        T::Bool(b) => Value::Bool(*b),
        T::String(s) => Value::String(s.clone()),
        T::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::from(u),
            (_, Some(i), _) => Value::from(i),
            (_, _, Some(f)) => Value::from(f),
            _ => Value::Null,
        },
        T::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        T::Map(m) | T::Object(m) => {
            let sorted: std::collections::BTreeMap<_, _> = m.iter().collect();
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), to_json(v)))
                    .collect(),
            )
        }
    }
}

fn arg<'a>(
    args: &'a [gtmpl::Value],
    i: usize,
    name: &str,
) -> Result<&'a gtmpl::Value, gtmpl::FuncError> {
    args.get(i)
        .ok_or_else(|| gtmpl::FuncError::AtLeastXArgs(name.into(), i + 1))
}

fn text(v: &gtmpl::Value) -> String {
    match v {
        gtmpl::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn json_fn(args: &[gtmpl::Value]) -> Result<gtmpl::Value, gtmpl::FuncError> {
    let v = arg(args, 0, "json")?;
    serde_json::to_string(&to_json(v))
        .map(gtmpl::Value::String)
        .map_err(|e| gtmpl::FuncError::Generic(e.to_string()))
}

/// `join LIST SEP`.
fn join_fn(args: &[gtmpl::Value]) -> Result<gtmpl::Value, gtmpl::FuncError> {
    let sep = text(arg(args, 1, "join")?);
    match arg(args, 0, "join")? {
        gtmpl::Value::Array(a) => Ok(gtmpl::Value::String(
            a.iter().map(text).collect::<Vec<_>>().join(&sep),
        )),
        gtmpl::Value::Nil | gtmpl::Value::NoValue => Ok(gtmpl::Value::String(String::new())),
        other => Err(gtmpl::FuncError::Generic(format!(
            "join: expected a list, got {other}"
        ))),
    }
}

/// `split STRING SEP`.
fn split_fn(args: &[gtmpl::Value]) -> Result<gtmpl::Value, gtmpl::FuncError> {
    let s = text(arg(args, 0, "split")?);
    let sep = text(arg(args, 1, "split")?);
    Ok(gtmpl::Value::Array(
        s.split(sep.as_str())
            .map(|p| gtmpl::Value::String(p.to_string()))
            .collect(),
    ))
}

fn lower_fn(args: &[gtmpl::Value]) -> Result<gtmpl::Value, gtmpl::FuncError> {
    Ok(gtmpl::Value::String(
        text(arg(args, 0, "lower")?).to_lowercase(),
    ))
}

fn upper_fn(args: &[gtmpl::Value]) -> Result<gtmpl::Value, gtmpl::FuncError> {
    Ok(gtmpl::Value::String(
        text(arg(args, 0, "upper")?).to_uppercase(),
    ))
}

/// `title`: the first letter of each word upper-cased.
fn title_fn(args: &[gtmpl::Value]) -> Result<gtmpl::Value, gtmpl::FuncError> {
    let s = text(arg(args, 0, "title")?);
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c.is_whitespace();
    }
    Ok(gtmpl::Value::String(out))
}

fn count(v: &gtmpl::Value, name: &str) -> Result<usize, gtmpl::FuncError> {
    v.to_string()
        .parse()
        .map_err(|_| gtmpl::FuncError::Generic(format!("{name}: expected a count, got {v}")))
}

/// `truncate STRING N`.
fn truncate_fn(args: &[gtmpl::Value]) -> Result<gtmpl::Value, gtmpl::FuncError> {
    let s = text(arg(args, 0, "truncate")?);
    let n = count(arg(args, 1, "truncate")?, "truncate")?;
    Ok(gtmpl::Value::String(s.chars().take(n).collect()))
}

/// `pad STRING LEFT RIGHT`: spaces around.
fn pad_fn(args: &[gtmpl::Value]) -> Result<gtmpl::Value, gtmpl::FuncError> {
    let s = text(arg(args, 0, "pad")?);
    let l = count(arg(args, 1, "pad")?, "pad")?;
    let r = count(arg(args, 2, "pad")?, "pad")?;
    Ok(gtmpl::Value::String(format!(
        "{}{s}{}",
        " ".repeat(l),
        " ".repeat(r)
    )))
}

/// A value as Go's `fmt` prints it with `%v`, which is how text/template prints an action:
/// `[a b]` for a list, `map[k:v]` for a map (keys sorted), `<nil>` for null.
fn go_text(v: &gtmpl::Value) -> String {
    use gtmpl::Value as T;
    match v {
        T::String(s) => s.clone(),
        T::Nil => "<nil>".into(),
        T::NoValue => "<no value>".into(),
        T::Function(_) => String::new(),
        T::Bool(_) | T::Number(_) => v.to_string(),
        T::Array(a) => format!("[{}]", a.iter().map(go_text).collect::<Vec<_>>().join(" ")),
        T::Map(m) | T::Object(m) => {
            let sorted: std::collections::BTreeMap<_, _> = m.iter().collect();
            let items: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", go_text(v)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

fn gostr_fn(args: &[gtmpl::Value]) -> Result<gtmpl::Value, gtmpl::FuncError> {
    Ok(gtmpl::Value::String(
        args.last().map(go_text).unwrap_or_default(),
    ))
}

/// Where the action opened just before `s` closes (`}}` outside quotes).
fn action_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut quote = None;
    let mut i = 0;
    while i < b.len() {
        match quote {
            Some(q) if b[i] == b'\\' && q == b'"' => i += 1,
            Some(q) if b[i] == q => quote = None,
            Some(_) => {}
            None if matches!(b[i], b'"' | b'`' | b'\'') => quote = Some(b[i]),
            None if b[i] == b'}' && b.get(i + 1) == Some(&b'}') => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

/// An action that prints is piped into `gostr`, so it prints as Go's would (gtmpl prints
/// lists and maps in Rust's debug form); control actions and assignments are left alone.
fn print_as_go(inner: &str) -> String {
    let (lead, body) = match inner.strip_prefix('-') {
        Some(r) if r.starts_with(char::is_whitespace) => ("-", r),
        _ => ("", inner),
    };
    let (body, trail) = match body.strip_suffix('-') {
        Some(r) if r.ends_with(char::is_whitespace) => (r, " -"),
        _ => (body, ""),
    };
    let t = body.trim();
    let first = t.split_whitespace().next().unwrap_or_default();
    let control = matches!(
        first,
        "if" | "else"
            | "end"
            | "range"
            | "with"
            | "define"
            | "template"
            | "block"
            | "break"
            | "continue"
    ) || t.is_empty()
        || t.starts_with("/*")
        || (t.starts_with('$') && (t.contains(":=") || t.contains(" = ")));
    if first == "range" {
        // The trim marker wants exactly one space before it.
        format!("{lead}{}{trail}", sorted_range(body).trim_end())
    } else if control {
        inner.to_string()
    } else {
        format!("{lead}{body} | gostr{trail}")
    }
}

/// Go's `range` visits a map's keys in sorted order; gtmpl walks its HashMap in whatever order
/// it holds them. So the ranged pipeline goes through `rangeable` (a map becomes its values in
/// key order) and, when the key is declared too, through `rangepairs` (`{k, v}` pairs in key
/// order) whose fields are bound to the user's two variables at the top of the body.
fn sorted_range(body: &str) -> String {
    let Some(rest) = body.trim_start().strip_prefix("range") else {
        return body.to_string();
    };
    let decls: Option<(Vec<&str>, &str)> = rest.split_once(":=").and_then(|(vars, pipe)| {
        let vars: Vec<&str> = vars.split(',').map(str::trim).collect();
        let names = vars.iter().all(|v| {
            v.strip_prefix('$').is_some_and(|n| {
                !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_')
            })
        });
        names.then_some((vars, pipe))
    });
    match decls {
        Some((vars, pipe)) if vars.len() == 2 => format!(
            " range $berthkv := rangepairs ({}) }}}}{{{{{} := $berthkv.k}}}}{{{{{} := $berthkv.v ",
            pipe.trim(),
            vars[0],
            vars[1]
        ),
        Some((vars, pipe)) => format!(" range {} := rangeable ({}) ", vars.join(", "), pipe.trim()),
        None if rest.trim().is_empty() => body.to_string(),
        None => format!(" range rangeable ({}) ", rest.trim()),
    }
}

/// A map's entries in Go's order: by key.
fn sorted_entries(
    m: &std::collections::HashMap<String, gtmpl::Value>,
) -> Vec<(&String, &gtmpl::Value)> {
    let mut entries: Vec<_> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// `rangeable X`: a map as its values in key order; nothing (a missing key, null) as no
/// values, as Go ranges over a nil map; anything else as it is.
fn rangeable_fn(args: &[gtmpl::Value]) -> Result<gtmpl::Value, gtmpl::FuncError> {
    Ok(match arg(args, 0, "rangeable")? {
        gtmpl::Value::Map(m) | gtmpl::Value::Object(m) => gtmpl::Value::Array(
            sorted_entries(m)
                .into_iter()
                .map(|(_, v)| v.clone())
                .collect(),
        ),
        gtmpl::Value::Nil | gtmpl::Value::NoValue => gtmpl::Value::Array(Vec::new()),
        other => other.clone(),
    })
}

/// `rangepairs X`: a map's entries as `{k, v}` in key order, a list's as `{index, element}`.
fn rangepairs_fn(args: &[gtmpl::Value]) -> Result<gtmpl::Value, gtmpl::FuncError> {
    let pair = |k: gtmpl::Value, v: &gtmpl::Value| {
        gtmpl::Value::Map([("k".to_string(), k), ("v".to_string(), v.clone())].into())
    };
    Ok(match arg(args, 0, "rangepairs")? {
        gtmpl::Value::Map(m) | gtmpl::Value::Object(m) => gtmpl::Value::Array(
            sorted_entries(m)
                .into_iter()
                .map(|(k, v)| pair(gtmpl::Value::String(k.clone()), v))
                .collect(),
        ),
        gtmpl::Value::Array(a) => gtmpl::Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| pair(gtmpl::Value::from(i as u64), v))
                .collect(),
        ),
        gtmpl::Value::Nil | gtmpl::Value::NoValue => gtmpl::Value::Array(Vec::new()),
        other => other.clone(),
    })
}

fn go_printing(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = action_end(after) else {
            // Unclosed: left for the parser to name.
            out.push_str(&rest[start..]);
            return out;
        };
        out.push_str("{{");
        out.push_str(&print_as_go(&after[..end]));
        out.push_str("}}");
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A parsed `--format` template with Docker's functions.
pub struct Template(gtmpl::Template);

impl Template {
    /// Parses TEMPLATE; `\t` and `\n` written out stand for a tab and a newline, as the docker
    /// CLI reads them.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = go_printing(&text.replace("\\t", "\t").replace("\\n", "\n"));
        let mut t = gtmpl::Template::default();
        t.add_funcs(&[
            ("json", json_fn as gtmpl::Func),
            ("join", join_fn),
            ("split", split_fn),
            ("lower", lower_fn),
            ("upper", upper_fn),
            ("title", title_fn),
            ("truncate", truncate_fn),
            ("pad", pad_fn),
            ("gostr", gostr_fn),
            ("rangeable", rangeable_fn),
            ("rangepairs", rangepairs_fn),
        ]);
        t.parse(text.as_str())
            .map_err(|e| format!("template parsing error: {e}"))?;
        Ok(Template(t))
    }

    pub fn render(&self, v: &Value) -> Result<String, String> {
        self.0
            .render(&gtmpl::Context::from(to_template(v)))
            .map_err(|e| format!("template: executing: {e}"))
    }
}

/// Renders TEMPLATE once against `v` (inspect, version, info).
pub fn render(template: &str, v: &Value) -> Result<String, String> {
    Template::parse(template)?.render(v)
}

/// How a list is to be printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListFormat {
    /// The command's own columns, aligned, with headers.
    Table,
    /// One JSON object a line.
    Json,
    /// `table TEMPLATE` (`table: true`) or a bare template.
    Template { table: bool, text: String },
}

impl ListFormat {
    pub fn parse(f: Option<&str>) -> Self {
        match f.map(str::trim) {
            None | Some("") | Some("table") => ListFormat::Table,
            Some("json") => ListFormat::Json,
            Some(t) => match t.strip_prefix("table ") {
                Some(rest) => ListFormat::Template {
                    table: true,
                    text: rest.trim().to_string(),
                },
                None => ListFormat::Template {
                    table: false,
                    text: t.to_string(),
                },
            },
        }
    }
}

/// A list's columns: (field of a row, its header), the defaults first.
pub struct Columns<'a> {
    /// The fields `table` shows.
    pub default: &'a [&'a str],
    /// Every field a template may name, with its header.
    pub headers: &'a [(&'a str, &'a str)],
}

/// Prints `rows` (objects with the fields of `cols`) as `format` asks.
pub fn list(format: &ListFormat, cols: &Columns, rows: &[Value]) -> Result<String, String> {
    let text = match format {
        ListFormat::Json => {
            let mut out = String::new();
            for r in rows {
                out.push_str(&r.to_string());
                out.push('\n');
            }
            return Ok(out);
        }
        ListFormat::Table => cols
            .default
            .iter()
            .map(|k| format!("{{{{.{k}}}}}"))
            .collect::<Vec<_>>()
            .join("\t"),
        ListFormat::Template { text, .. } => text.clone(),
    };
    let table_mode = !matches!(format, ListFormat::Template { table: false, .. });
    let t = Template::parse(&text)?;
    let mut lines = Vec::new();
    if table_mode {
        // The header is the template rendered against each field's header, as Docker's.
        let header: serde_json::Map<String, Value> = cols
            .headers
            .iter()
            .map(|(k, h)| (k.to_string(), Value::String(h.to_string())))
            .collect();
        lines.push(t.render(&Value::Object(header))?);
    }
    for r in rows {
        lines.push(t.render(r)?);
    }
    if table_mode {
        let cells: Vec<Vec<String>> = lines
            .iter()
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect();
        Ok(table(&cells))
    } else {
        Ok(lines.into_iter().map(|l| l + "\n").collect())
    }
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
    fn go_templates_with_dockers_functions() {
        let v = json!({"Name": "n", "IPAM": {"Config": [{"Subnet": "10.0.0.0/24"}]},
            "Options": {"a.b": "1"}, "Aliases": ["x", "y"], "Internal": false, "Size": 3});
        let r = |t: &str| render(t, &v).unwrap();
        assert_eq!(
            r("{{.Name}}\\t{{json .IPAM.Config}}"),
            "n\t[{\"Subnet\":\"10.0.0.0/24\"}]"
        );
        assert_eq!(r("{{index .Options \"a.b\"}}"), "1");
        assert_eq!(r("{{join .Aliases \",\"}}"), "x,y");
        assert_eq!(r("{{len .Aliases}}"), "2");
        assert_eq!(r("{{range .Aliases}}<{{.}}>{{end}}"), "<x><y>");
        assert_eq!(r("{{if .Internal}}yes{{else}}no{{end}}"), "no");
        assert_eq!(r("{{range .IPAM.Config}}{{.Subnet}}{{end}}"), "10.0.0.0/24");
        assert_eq!(r("{{upper .Name}}{{.Size}}"), "N3");
        assert_eq!(
            r("{{json .}}").len(),
            serde_json::to_string(&v).unwrap().len()
        );
        assert_eq!(r("{{.Nope}}"), "<no value>");
        // Printed as Go prints them, not as Rust debugs them.
        assert_eq!(
            r("{{.Aliases}} {{.Options}} {{.IPAM.Config}}"),
            "[x y] map[a.b:1] [map[Subnet:10.0.0.0/24]]"
        );
        assert_eq!(
            r("{{- .Name -}} {{ $n := .Name }}{{$n}} {{\"}}\"}}"),
            "nn }}"
        );
        assert_eq!(render("{{.V}}", &json!({"V": null})).unwrap(), "<nil>");
        // range over a map visits its keys sorted, as Go's does, with one, two or no variables.
        let m = json!({"L": {"zeta": "1", "alpha": "2", "mid": "3", "beta": "4", "omega": "5"}});
        let r = |t: &str| render(t, &m).unwrap();
        assert_eq!(r("{{range .L}}{{.}}{{end}}"), "24351");
        assert_eq!(r("{{range $v := .L}}{{$v}}{{end}}"), "24351");
        assert_eq!(
            r("{{range $k, $v := .L}}{{$k}}={{$v}};{{end}}"),
            "alpha=2;beta=4;mid=3;omega=5;zeta=1;"
        );
        assert_eq!(
            r("{{- range $k, $v := .L -}} {{$k}} {{- end}}"),
            "alphabetamidomegazeta"
        );
        assert_eq!(r("{{range $i, $e := .A}}{{$i}}{{$e}}{{end}}"), "");
        assert_eq!(
            render(
                "{{range $i, $e := .A}}{{$i}}{{$e}} {{end}}",
                &json!({"A": ["x", "y"]})
            )
            .unwrap(),
            "0x 1y "
        );
        assert!(render("{{.Name", &v).is_err());
        assert!(render("{{nosuchfunc .Name}}", &v).is_err());
    }

    #[test]
    fn lists_as_docker_formats_them() {
        let cols = Columns {
            default: &["ID", "Name"],
            headers: &[("ID", "NETWORK ID"), ("Name", "NAME"), ("Driver", "DRIVER")],
        };
        let rows = vec![
            json!({"ID": "abc", "Name": "bridge", "Driver": "bridge"}),
            json!({"ID": "def", "Name": "n", "Driver": "macvlan"}),
        ];
        let f = |s: Option<&str>| list(&ListFormat::parse(s), &cols, &rows).unwrap();
        assert_eq!(
            f(None),
            "NETWORK ID   NAME\nabc          bridge\ndef          n\n"
        );
        assert_eq!(
            f(Some("table {{.Name}}\\t{{.Driver}}")),
            "NAME      DRIVER\nbridge    bridge\nn         macvlan\n"
        );
        assert_eq!(f(Some("{{.Name}}")), "bridge\nn\n");
        assert_eq!(f(Some("json")).lines().count(), 2);
    }
}

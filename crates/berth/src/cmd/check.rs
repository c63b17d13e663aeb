//! `berth network check SRC DST [--port PORT[/PROTO]] [--probe] [--format json]`: asks the
//! daemon's `/berth/check` and prints the verdict. Exit 0 reachable, 1 unreachable, 2 bad input.

use crate::client::{encode, Client, ClientError};
use crate::Failure;
use clap::Args;
use serde_json::Value;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Where the connection starts: a container (name or ID), host, outside, or an IP address.
    pub src: String,
    /// Where it goes: a container, host, outside, or an IP address.
    pub dst: String,
    /// A connection to this port (PORT or PORT/tcp, PORT/udp); from outside, the published port.
    #[arg(long)]
    pub port: Option<String>,
    /// Also send one real connection attempt from the source's namespace.
    #[arg(long)]
    pub probe: bool,
    /// Output format: text (default) or json.
    #[arg(long, default_value = "text")]
    pub format: String,
}

fn bad(message: String) -> Failure {
    Failure {
        message: Some(message),
        code: 2,
    }
}

pub async fn check(client: &Client, a: CheckArgs) -> Result<(), Failure> {
    if !matches!(a.format.as_str(), "text" | "json") {
        return Err(bad(format!(
            "invalid --format {}: use text or json",
            a.format
        )));
    }
    let mut path = format!("/berth/check?src={}&dst={}", encode(&a.src), encode(&a.dst));
    if let Some(p) = &a.port {
        path.push_str(&format!("&port={}", encode(p)));
    }
    if a.probe {
        path.push_str("&probe=1");
    }
    let report: Value = match client.get_json(&path).await {
        Ok(v) => v,
        Err(e @ ClientError::Daemon { status, .. }) if status.is_client_error() => {
            return Err(bad(e.to_string()))
        }
        Err(e) => return Err(e.into()),
    };
    if a.format == "json" {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", render(&report));
    }
    if report["reachable"].as_bool() == Some(true) {
        Ok(())
    } else {
        Err(Failure {
            message: None,
            code: 1,
        })
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// The verdict first, then the deciding element, the path, and the kernel's and probe's word.
pub fn render(r: &Value) -> String {
    let mut out = String::new();
    let reachable = r["reachable"].as_bool() == Some(true);
    out.push_str(if reachable {
        "reachable\n"
    } else {
        "unreachable\n"
    });
    for (key, label) in [("code", "code"), ("reason", "blocked by"), ("hint", "hint")] {
        if let Some(t) = r[key].as_str() {
            out.push_str(&format!("  {label}: {t}\n"));
        }
    }
    let path = r["path"].as_array().cloned().unwrap_or_default();
    if !path.is_empty() {
        out.push_str("  path:\n");
        for h in &path {
            let detail = match h["detail"].as_str() {
                Some(d) if !d.is_empty() => format!("  ({d})"),
                _ => String::new(),
            };
            out.push_str(&format!(
                "    {:<10} {}{detail}\n",
                s(&h["kind"]),
                s(&h["name"])
            ));
        }
    }
    for n in r["notes"].as_array().into_iter().flatten() {
        out.push_str(&format!("  note: {}\n", s(n)));
    }
    let k = &r["kernel"];
    if k["checked"].as_bool() != Some(true) {
        if let Some(e) = k["error"].as_str() {
            out.push_str(&format!("  kernel: not checked: {e}\n"));
        }
    } else if k["agrees"].as_bool() == Some(true) {
        out.push_str("  kernel: agrees (ruleset, sets and interfaces read back)\n");
    } else {
        let what = if k["reachable"].as_bool() == Some(true) {
            "reachable".to_string()
        } else {
            format!("unreachable ({})", k["code"].as_str().unwrap_or("?"))
        };
        out.push_str(&format!(
            "  DISAGREEMENT: the kernel's state makes it {what}\n"
        ));
        if let Some(reason) = k["reason"].as_str() {
            out.push_str(&format!("    kernel: {reason}\n"));
        }
    }
    let diffs = k["differences"].as_array().cloned().unwrap_or_default();
    for d in diffs.iter().take(20) {
        out.push_str(&format!("    differs: {}\n", s(d)));
    }
    if diffs.len() > 20 {
        out.push_str(&format!("    … and {} more\n", diffs.len() - 20));
    }
    let p = &r["probe"];
    if p.is_object() {
        let agree = match p["agrees"].as_bool() {
            Some(true) => "agrees",
            Some(false) => "DISAGREES with the verdict",
            None => "no verdict from the probe",
        };
        out.push_str(&format!(
            "  probe: {} {} → {} ({agree})\n",
            s(&p["method"]),
            s(&p["target"]),
            s(&p["outcome"])
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_verdict_names_code_reason_and_disagreement() {
        let r = serde_json::json!({
            "reachable": false, "code": "networks_isolated", "reason": "inet berth filter_forward: oifname @bridges drop",
            "hint": "connect them", "path": [{"kind": "container", "name": "a", "detail": "eth0 10.1.0.2"}],
            "notes": [], "kernel": {"checked": true, "agrees": false, "reachable": true, "code": null,
            "differences": ["rule missing from the kernel: x"]},
            "probe": {"method": "icmp", "target": "10.2.0.2", "outcome": "replied", "reachable": true, "agrees": false}
        });
        let t = render(&r);
        assert!(
            t.starts_with("unreachable\n  code: networks_isolated\n"),
            "{t}"
        );
        assert!(
            t.contains("DISAGREEMENT: the kernel's state makes it reachable"),
            "{t}"
        );
        assert!(
            t.contains("differs: rule missing from the kernel: x"),
            "{t}"
        );
        assert!(
            t.contains("probe: icmp 10.2.0.2 → replied (DISAGREES with the verdict)"),
            "{t}"
        );
    }
}

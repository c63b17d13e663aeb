//! Create-time validation: values that would end up in the container's /etc files or in
//! kernel calls are refused at create with 400 and a message naming the value, through the
//! API, the berth CLI and the docker CLI, and nothing is created.

mod common;

use common::dns::in_netns;
use common::{fails, ok, Host};
use serde_json::{json, Value};
use std::path::PathBuf;

fn containers(h: &Host) -> usize {
    let (status, v) = h.api("GET", "/containers/json?all=1", None);
    assert_eq!(status, 200);
    v.as_array().map(Vec::len).unwrap_or(0)
}

/// POSTs a create body (and query), expecting 400 with `needle` in the JSON message.
fn refused(h: &Host, query: &str, body: &Value, needle: &str) {
    let (status, v) = h.api(
        "POST",
        &format!("/containers/create{query}"),
        Some(&body.to_string()),
    );
    assert_eq!(status, 400, "{body}: {v}");
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "{body}: {msg:?} lacks {needle:?}");
    assert_eq!(containers(h), 0, "{body}: nothing is created");
}

fn with(extra: Value) -> Value {
    let mut b = json!({"Image": "busybox", "Cmd": ["true"]});
    for (k, v) in extra.as_object().expect("object") {
        b[k] = v.clone();
    }
    b
}

#[test]
fn injection_and_bad_values_are_refused_at_create_by_the_api() {
    let h = Host::with_busybox();
    let long = "a".repeat(300);
    let cases = [
        (
            json!({"Hostname": "evil\n6.6.6.6 injected"}),
            r#"invalid hostname "evil\n6.6.6.6 injected""#,
        ),
        (json!({"Hostname": long}), "300 characters"),
        (json!({"Hostname": "a\u{0}b"}), "invalid hostname"),
        (json!({"Hostname": "a b"}), "invalid hostname \"a b\""),
        (
            json!({"Domainname": "x\ny"}),
            r#"invalid domainname "x\ny""#,
        ),
        (json!({"Env": ["A=x\u{0}y"]}), "NUL"),
        (
            json!({"MacAddress": "ff:ff:ff:ff:ff:ff"}),
            "ff:ff:ff:ff:ff:ff: the broadcast address",
        ),
        (json!({"MacAddress": "01:00:5e:00:00:01"}), "multicast"),
        (json!({"MacAddress": "00:00:00:00:00:00"}), "all-zero"),
        (
            json!({"WorkingDir": "relative/dir"}),
            r#""relative/dir" is invalid, it needs to be an absolute path"#,
        ),
        (
            json!({"HostConfig": []}),
            "invalid HostConfig in request body: expected an object, got a list",
        ),
        (
            json!({"HostConfig": {"ExtraHosts": ["a b:10.0.0.1"]}}),
            r#""a b:10.0.0.1" for "--add-host""#,
        ),
        (
            json!({"HostConfig": {"ExtraHosts": ["a\n6.6.6.6 evil:10.0.0.1"]}}),
            "--add-host",
        ),
        (
            json!({"HostConfig": {"ExtraHosts": ["a:10.0.0.1\nevil"]}}),
            "--add-host",
        ),
        (
            json!({"HostConfig": {"DnsSearch": ["corp\nnameserver 6.6.6.6"]}}),
            r#"invalid dns search domain "corp\nnameserver 6.6.6.6""#,
        ),
        (
            json!({"HostConfig": {"DnsOptions": ["ndots:1\nnameserver 6.6.6.6"]}}),
            r#"invalid dns option "ndots:1\nnameserver 6.6.6.6""#,
        ),
        (
            json!({"HostConfig": {"DnsOptions": ["a b"]}}),
            "invalid dns option",
        ),
        (
            json!({"HostConfig": {"Dns": ["10.0.0.1\nnameserver 6.6.6.6"]}}),
            "is not an ip address",
        ),
        (
            json!({"NetworkingConfig": {"EndpointsConfig": {"bridge": {"MacAddress": "ff:ff:ff:ff:ff:ff"}}}}),
            "broadcast",
        ),
        (
            json!({"HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "10.99.99.99", "HostPort": "8080"}]}}}),
            "invalid HostIp 10.99.99.99: it is not an address of this host",
        ),
        (
            json!({"HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "10.99.99.99"}]}}}),
            "not an address of this host",
        ),
    ];
    for (extra, needle) in cases {
        refused(&h, "", &with(extra), needle);
    }
    refused(
        &h,
        &format!("?name={}", "a".repeat(10_000)),
        &with(json!({})),
        "10000 characters",
    );
    refused(
        &h,
        "?name=a%0Ab",
        &with(json!({})),
        r#"Invalid container name ("a\nb")"#,
    );
    // What is allowed still is.
    let (status, v) = h.api(
        "POST",
        "/containers/create?name=fine",
        Some(
            &with(json!({
                "Hostname": "web-1", "Domainname": "corp.example", "Env": ["A=b c"], "WorkingDir": "/tmp",
                "MacAddress": "02:42:ac:11:00:09",
                "HostConfig": {"ExtraHosts": ["db.local:10.0.0.1", "gw:host-gateway"], "DnsSearch": ["corp.example"],
                    "DnsOptions": ["ndots:2", "rotate"], "Dns": ["10.9.9.9"],
                    "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}},
            }))
            .to_string(),
        ),
    );
    assert_eq!(status, 201, "{v}");
}

#[test]
fn the_clis_get_the_same_refusals() {
    let h = Host::with_busybox();
    let berth_cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--hostname".into(), "evil\n6.6.6.6 x".into()],
            "invalid hostname",
        ),
        (
            vec!["--hostname".into(), "h".repeat(64)],
            "a label of 64 characters",
        ),
        (
            vec!["--add-host".into(), "a b:10.0.0.1".into()],
            "--add-host",
        ),
        (
            vec!["--dns-search".into(), "x\nnameserver 6.6.6.6".into()],
            "invalid dns search domain",
        ),
        (
            vec!["--dns-option".into(), "ndots:1\nnameserver 6.6.6.6".into()],
            "invalid dns option",
        ),
        (
            vec!["-e".into(), "A=\u{1}".into(), "-w".into(), "rel".into()],
            "needs to be an absolute path",
        ),
        (
            vec!["--mac-address".into(), "01:00:5e:00:00:01".into()],
            "multicast",
        ),
        (
            vec!["--name".into(), "n".repeat(10_000)],
            "10000 characters",
        ),
        (
            vec!["-p".into(), "10.99.99.99:8080:80".into()],
            "not an address of this host",
        ),
    ];
    for (flags, needle) in &berth_cases {
        let mut args: Vec<&str> = vec!["create"];
        args.extend(flags.iter().map(String::as_str));
        args.extend(["busybox", "true"]);
        let (code, err) = fails(h.berth(&args));
        assert_eq!(code, 125, "{flags:?}: {err}");
        assert!(err.contains(needle), "{flags:?}: {err}");
        assert_eq!(containers(&h), 0, "{flags:?}: nothing is created");
    }
    // The docker CLI sends what it does not check itself; berthd refuses it the same way.
    for (flags, needle) in &berth_cases {
        let mut args: Vec<&str> = vec!["create"];
        args.extend(flags.iter().map(String::as_str));
        args.extend(["busybox", "true"]);
        let out = h.docker(&args);
        assert!(!out.status.success(), "docker {flags:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(needle) || err.contains("invalid argument") || err.contains("invalid"),
            "docker {flags:?}: {err}"
        );
        assert_eq!(containers(&h), 0, "docker {flags:?}: nothing is created");
    }
    let (_, err) = fails(h.docker(&["create", "--hostname", "a\nb", "busybox", "true"]));
    assert!(err.contains(r#"invalid hostname "a\nb""#), "{err}");
    ok(h.berth(&[
        "create",
        "--name",
        "ok",
        "--hostname",
        "web",
        "busybox",
        "true",
    ]));
}

#[test]
fn a_port_another_program_holds_is_refused_at_create() {
    let h = Host::with_busybox();
    let ns = PathBuf::from(format!("/proc/{}/ns/net", h.pid()));
    let held = in_netns(&ns, || {
        std::net::TcpListener::bind("0.0.0.0:15301").expect("bind")
    });
    let body = with(json!({"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "15301"}]}}}));
    let (status, v) = h.api("POST", "/containers/create", Some(&body.to_string()));
    assert_eq!(status, 409, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("listen tcp4 0.0.0.0:15301: bind: address already in use"),
        "{v}"
    );
    assert_eq!(containers(&h), 0);
    // Berth's own publications clash with Docker's words, 409 too.
    drop(held);
    let mut sleeper = body.clone();
    sleeper["Cmd"] = json!(["sleep", "100"]);
    let (status, v) = h.api(
        "POST",
        "/containers/create?name=first",
        Some(&sleeper.to_string()),
    );
    assert_eq!(status, 201, "{v}");
    ok(h.berth(&["start", "first"]));
    let (status, v) = h.api("POST", "/containers/create", Some(&body.to_string()));
    assert_eq!(status, 409, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("port is already allocated"),
        "{v}"
    );
    ok(h.berth(&["rm", "-f", "first"]));
}

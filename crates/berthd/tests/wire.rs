//! The container wire model end to end: a field of the wrong type is a 400 naming it and
//! creates nothing, a field berth ignores as Docker does is ignored, an endpoint address of the
//! other family is refused by create and by `network connect` alike, and the CLI streams an
//! image from standard input.

mod common;

use common::{ok, Host};
use std::process::Stdio;

fn containers(h: &Host) -> usize {
    ok(h.berth(&["ps", "-aq"])).lines().count()
}

#[test]
fn a_wrong_type_is_refused_naming_the_field_and_creates_nothing() {
    let h = Host::with_busybox();
    for (body, field) in [
        (
            r#"{"Image":"busybox","HostConfig":{"Memory":"lots"}}"#,
            "HostConfig.Memory",
        ),
        (r#"{"Image":"busybox","Env":"A=b"}"#, "Env"),
        (
            r#"{"Image":"busybox","HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":80}]}}}"#,
            "HostConfig.PortBindings.80/tcp[0].HostPort",
        ),
        (
            r#"{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"bridge":{"Aliases":"a"}}}}"#,
            "NetworkingConfig.EndpointsConfig.bridge.Aliases",
        ),
    ] {
        let (status, v) = h.api("POST", "/containers/create", Some(body));
        assert_eq!(status, 400, "{body}: {v}");
        let msg = v["message"].as_str().unwrap_or_default();
        assert!(msg.contains(field), "{body}: {msg}");
    }
    assert_eq!(containers(&h), 0);
    // Null means unset, and fields Docker's clients send empty are ignored.
    let (status, v) = h.api(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","Hostname":null,"Healthcheck":null,"HostConfig":{"Memory":null,"Isolation":""}}"#),
    );
    assert_eq!(status, 201, "{v}");
    assert_eq!(containers(&h), 1);
}

#[test]
fn an_address_of_the_other_family_is_refused_by_create_and_connect() {
    let h = Host::with_busybox();
    ok(h.berth(&["network", "create", "--subnet", "10.77.0.0/24", "fam"]));
    let (status, v) = h.api(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","HostConfig":{"NetworkMode":"fam"},"NetworkingConfig":{"EndpointsConfig":{"fam":{"IPAMConfig":{"IPv4Address":"fd00::9"}}}}}"#),
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid IPv4 address: fd00::9"),
        "{v}"
    );
    ok(h.berth(&["create", "--name", "c", "busybox", "true"]));
    let (status, v) = h.api(
        "POST",
        "/networks/fam/connect",
        Some(r#"{"Container":"c","EndpointConfig":{"IPAMConfig":{"IPv4Address":"fd00::9"}}}"#),
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid IPv4 address"),
        "{v}"
    );
}

#[test]
fn import_reads_the_archive_from_standard_input() {
    let h = Host::new();
    let tar = std::fs::File::open(common::busybox_tar()).expect("open busybox tar");
    let out = h
        .berth_cmd(&["import", "-", "piped:1"])
        .stdin(Stdio::from(tar))
        .output()
        .expect("run berth import");
    let id = ok(out);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let (_, images) = h.api("GET", "/images/json", None);
    assert!(
        images
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["RepoTags"][0] == "piped:1"),
        "{images}"
    );
    let run = ok(h.berth(&["run", "--rm", "piped:1", "echo", "from stdin"]));
    assert_eq!(run, "from stdin\n");
}

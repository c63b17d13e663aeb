//! Contract tests of the typed answers berth-api models outside the container model: each
//! answer the daemon gives is exactly its type's encoding (no key more, none less, no value of
//! another type), and the docker CLI reads it. One daemon serves the whole scenario.

mod common;

use berth_api::answers::{ContainerPruneReport, IdResponse, TopResponse, WaitResponse};
use berth_api::event::EventMessage;
use berth_api::exec::ExecInspect;
use berth_api::image::{DeleteItem, ImageInspect, ImagePruneReport, ImageSummary};
use berth_api::progress::JsonMessage;
use berth_api::stats::Stats;
use common::{ok, Host};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// `raw` decodes as `T` and `T` encodes back to exactly `raw`.
fn is_exactly<T: DeserializeOwned + Serialize>(what: &str, raw: &Value) -> T {
    let typed: T = serde_json::from_value(raw.clone())
        .unwrap_or_else(|e| panic!("{what}: {raw} does not decode: {e}"));
    let back = serde_json::to_value(&typed).expect("encode");
    assert_eq!(&back, raw, "{what}: the answer is not its type's encoding");
    typed
}

/// Every JSON line of a streamed answer.
fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn raw(h: &Host, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let (status, _, text) = h.raw_api(method, path, body).expect("API request");
    (status, text)
}

#[test]
fn answers_outside_the_container_model_are_their_types_encoding() {
    let h = Host::with_busybox();

    // IdResponse: create (with Warnings) and exec create (without).
    let (status, v) = h.api(
        "POST",
        "/containers/create?name=w1",
        Some(r#"{"Image":"busybox","Cmd":["sleep","1000"]}"#),
    );
    assert_eq!(status, 201, "{v}");
    let created: IdResponse = is_exactly("container create", &v);
    assert!(created.warnings.is_some(), "{v}");
    assert_eq!(h.api("POST", "/containers/w1/start", None).0, 204);
    let (status, v) = h.api(
        "POST",
        "/containers/w1/exec",
        Some(r#"{"Cmd":["sh","-c","exit 3"],"AttachStdout":true}"#),
    );
    assert_eq!(status, 201, "{v}");
    let exec: IdResponse = is_exactly("exec create", &v);
    assert_eq!(exec.warnings, None);

    // ExecInspect, before and after the run; the docker CLI's exec reads the same answers.
    let (_, v) = h.api("GET", &format!("/exec/{}/json", exec.id), None);
    let before: ExecInspect = is_exactly("exec inspect", &v);
    assert_eq!(before.container_id, created.id);
    assert_eq!(before.process_config.entrypoint.as_deref(), Some("sh"));
    let (status, _) = raw(
        &h,
        "POST",
        &format!("/exec/{}/start", exec.id),
        Some(r#"{"Detach":false}"#),
    );
    assert_eq!(status, 200);
    let after: ExecInspect = common::eventually("the exec ends", || {
        let (_, v) = h.api("GET", &format!("/exec/{}/json", exec.id), None);
        let e: ExecInspect = is_exactly("exec inspect", &v);
        (!e.running).then_some(e)
    });
    assert_eq!(after.exit_code, Some(3));
    assert_eq!(ok(h.docker(&["exec", "w1", "echo", "hi"])), "hi\n");

    // TopResponse.
    let (_, v) = h.api("GET", "/containers/w1/top", None);
    let top: TopResponse = is_exactly("top", &v);
    assert!(top.titles.iter().any(|t| t == "PID"), "{v}");
    assert!(ok(h.docker(&["top", "w1"])).contains("sleep 1000"));

    // Stats, one sample; the docker CLI draws its table from it.
    let (status, text) = raw(&h, "GET", "/containers/w1/stats?stream=0&one-shot=1", None);
    assert_eq!(status, 200, "{text}");
    let s: Stats = is_exactly("stats", &lines(&text)[0]);
    assert_eq!(s.name, "/w1");
    let out = ok(h.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "w1",
    ]));
    assert!(out.starts_with("w1 "), "{out}");

    // ImageSummary and ImageInspect.
    let (_, v) = h.api("GET", "/images/json", None);
    let list = v.as_array().expect("image list");
    assert!(!list.is_empty(), "{v}");
    for i in list {
        is_exactly::<ImageSummary>("image list", i);
    }
    let (_, v) = h.api("GET", "/images/busybox/json", None);
    let inspect: ImageInspect = is_exactly("image inspect", &v);
    assert_eq!(inspect.root_fs.kind, "layers");
    assert!(ok(h.docker(&["images", "--format", "{{.Repository}}"])).contains("busybox"));

    // WaitResponse: the exit code, Error null.
    assert_eq!(h.api("POST", "/containers/w1/kill", None).0, 204);
    let (status, text) = raw(&h, "POST", "/containers/w1/wait", None);
    assert_eq!(status, 200, "{text}");
    let w: WaitResponse = is_exactly("wait", &lines(&text)[0]);
    assert_eq!((w.status_code, w.error), (137, None));

    // ContainerPruneReport.
    let (_, v) = h.api("POST", "/containers/prune", None);
    let pruned: ContainerPruneReport = is_exactly("container prune", &v);
    assert_eq!(pruned.containers_deleted, vec![created.id.clone()]);

    // JsonMessage (an import's answer), DeleteItem and ImagePruneReport.
    let client =
        berth_client::Client::new(&format!("unix://{}", h.socket.display()), None).expect("client");
    let r = berth_client::blocking::post_tar_file(
        &client,
        "/images/create?fromSrc=-&repo=spare&tag=1",
        &common::busybox_tar(),
        std::time::Duration::from_secs(120),
    )
    .expect("import");
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, 200, "{text}");
    let imported: JsonMessage = is_exactly("import", &lines(&text)[0]);
    assert!(
        imported.status.is_some_and(|id| id.starts_with("sha256:")),
        "{text}"
    );
    let (_, v) = h.api("DELETE", "/images/spare:1", None);
    let removed: Vec<DeleteItem> = is_exactly("image remove", &v);
    assert_eq!(removed[0], DeleteItem::Untagged("spare:1".into()), "{v}");
    let (_, v) = h.api(
        "POST",
        "/images/prune?filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D",
        None,
    );
    let report: ImagePruneReport = is_exactly("image prune", &v);
    assert!(report.images_deleted.is_some(), "{v}");
    let (_, v) = h.api("POST", "/images/prune", None);
    let report: ImagePruneReport = is_exactly("an empty image prune", &v);
    assert_eq!(report.images_deleted, None, "{v}");

    // EventMessage: every line of the history so far.
    let until = common::unix_stamp(1.0);
    let (status, text) = raw(&h, "GET", &format!("/events?since=0&until={until}"), None);
    assert_eq!(status, 200, "{text}");
    let events = lines(&text);
    assert!(events.len() > 3, "{text}");
    for e in &events {
        is_exactly::<EventMessage>("event", e);
    }
    assert!(
        events
            .iter()
            .any(|e| e["Type"] == "container" && e["status"] == "start"),
        "{text}"
    );
}

//! Image labels, through the docker CLI and berth: a loaded image's `Config.Labels` shown by
//! inspect, matched by `images --filter label=`, inherited by its containers (their own label
//! winning a clash, as Docker's); and berth's `--format` ranging over such a map in Go's key
//! order. One daemon for all.

mod common;

use common::{busybox_tar, ok, Host};

/// A `docker save` archive of the busybox root filesystem whose config carries `labels`.
fn labelled_image(dir: &std::path::Path, labels: &serde_json::Value) -> std::path::PathBuf {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, path, data).expect("append");
    };
    let config =
        serde_json::json!({"config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "Labels": labels}});
    add("config.json", config.to_string().as_bytes());
    add(
        "l0/layer.tar",
        &std::fs::read(busybox_tar()).expect("busybox tar"),
    );
    let manifest = serde_json::json!([{"Config": "config.json", "RepoTags": ["labelled:1"], "Layers": ["l0/layer.tar"]}]);
    add("manifest.json", manifest.to_string().as_bytes());
    let path = dir.join("labelled.tar");
    std::fs::write(&path, b.into_inner().expect("tar")).expect("write archive");
    path
}

#[test]
fn image_labels_are_shown_filtered_and_inherited() {
    let h = Host::with_busybox();
    let labels = serde_json::json!({"zeta": "z", "org.berth.tier": "web", "alpha": "a", "shared": "image", "mid": "m"});
    let archive = labelled_image(h.dir.path(), &labels);
    ok(h.docker(&["load", "-i", &archive.display().to_string()]));

    let shown = ok(h.docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Labels}}",
        "labelled:1",
    ]));
    let shown: serde_json::Value = serde_json::from_str(shown.trim()).expect("labels json");
    assert_eq!(shown, labels);

    let id = ok(h.docker(&["images", "-q", "labelled:1"]));
    let by = |filter: &str| ok(h.docker(&["images", "-q", "--filter", filter]));
    assert_eq!(by("label=org.berth.tier=web"), id);
    assert_eq!(by("label=org.berth.tier"), id);
    assert_eq!(by("label=org.berth.tier=db"), "");
    // busybox (imported) has no labels: only the labelled image matches.
    assert_eq!(by("label=alpha"), id);

    ok(h.docker(&[
        "create",
        "--name",
        "inherits",
        "--label",
        "shared=mine",
        "labelled:1",
    ]));
    let got = ok(h.docker(&["inspect", "-f", "{{json .Config.Labels}}", "inherits"]));
    let got: serde_json::Value = serde_json::from_str(got.trim()).expect("labels json");
    assert_eq!(got["org.berth.tier"], "web");
    assert_eq!(got["shared"], "mine");
    assert_eq!(
        ok(h.docker(&[
            "ps",
            "-a",
            "--filter",
            "label=org.berth.tier=web",
            "--format",
            "{{.Names}}"
        ])),
        "inherits\n"
    );

    // berth's --format: range over the map in key order, every time (a HashMap's order would
    // differ between runs and between maps).
    for _ in 0..5 {
        assert_eq!(
            ok(h.berth(&[
                "inspect",
                "--type",
                "image",
                "--format",
                "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
                "labelled:1",
            ])),
            "alpha=a;mid=m;org.berth.tier=web;shared=image;zeta=z;\n"
        );
        assert_eq!(
            ok(h.berth(&[
                "inspect",
                "--type",
                "image",
                "--format",
                "{{range .Config.Labels}}{{.}}{{end}}",
                "labelled:1",
            ])),
            "amwebimagez\n"
        );
    }
}

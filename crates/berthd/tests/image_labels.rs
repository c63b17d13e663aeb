//! Image labels, through the docker CLI and berth: a loaded image's `Config.Labels` shown by
//! inspect, matched by `images --filter label=`, inherited by its containers (their own label
//! winning a clash, as Docker's); and berth's `--format` ranging over such a map in Go's key
//! order. One daemon for all.

mod common;

use common::{busybox_tar, ok, Host};

/// A `docker save` archive of the busybox root filesystem whose config carries `labels`,
/// laid out in a directory and packed by tar.
fn labelled_image(dir: &std::path::Path, labels: &serde_json::Value) -> std::path::PathBuf {
    let tree = dir.join("labelled");
    std::fs::create_dir_all(tree.join("l0")).expect("mkdir");
    let config =
        serde_json::json!({"config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "Labels": labels}});
    let manifest = serde_json::json!([{"Config": "config.json", "RepoTags": ["labelled:1"], "Layers": ["l0/layer.tar"]}]);
    std::fs::write(tree.join("config.json"), config.to_string()).expect("config");
    std::fs::write(tree.join("manifest.json"), manifest.to_string()).expect("manifest");
    std::fs::copy(busybox_tar(), tree.join("l0/layer.tar")).expect("layer");
    let path = dir.join("labelled.tar");
    let packed = std::process::Command::new("tar")
        .arg("-C")
        .arg(&tree)
        .arg("-cf")
        .arg(&path)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(packed.success(), "tar failed");
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
    let berth_format = |template: &str| {
        ok(h.berth(&[
            "inspect",
            "--type",
            "image",
            "--format",
            template,
            "labelled:1",
        ]))
    };
    for _ in 0..5 {
        assert_eq!(
            berth_format("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}"),
            "alpha=a;mid=m;org.berth.tier=web;shared=image;zeta=z;\n"
        );
        assert_eq!(
            berth_format("{{range .Config.Labels}}{{.}}{{end}}"),
            "amwebimagez\n"
        );
    }
}

//! Image verbs through the stock docker CLI, berth's CLI and the API: `tag` (names with
//! slashes too), `save` of several images and tags read back by `docker load`, `image prune`
//! (dangling and `-a`), and `system df` with real sizes. One daemon for the whole scenario.

mod common;

use common::{eventually, fails, ok, Host};
use std::process::Command;

fn image_id(h: &Host, name: &str) -> String {
    ok(h.docker(&["image", "inspect", "--format", "{{.Id}}", name]))
        .trim()
        .to_string()
}

/// A one-file image, distinct from busybox, imported under `name`.
fn import_tiny(h: &Host, name: Option<&str>, content: &str) {
    let dir = h.dir.path().join(format!("tiny-{content}"));
    std::fs::create_dir_all(dir.join("etc")).expect("mkdir");
    std::fs::write(dir.join("etc/motd"), content).expect("write");
    let tar = dir.with_extension("tar");
    let out = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .output()
        .expect("tar");
    assert!(out.status.success(), "tar failed");
    let mut args = vec!["import", tar.to_str().expect("utf-8")];
    args.extend(name);
    ok(h.berth(&args));
}

/// The manifest of a `docker save` archive, read with the host's tar.
fn manifest(archive: &std::path::Path) -> serde_json::Value {
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(archive)
        .arg("manifest.json")
        .output()
        .expect("tar");
    assert!(out.status.success(), "no manifest.json in the archive");
    serde_json::from_slice(&out.stdout).expect("manifest.json is JSON")
}

fn tags_of(entry: &serde_json::Value) -> Vec<String> {
    entry["RepoTags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(String::from))
        .collect()
}

#[test]
fn tag_save_prune_and_df() {
    let h = Host::with_busybox();
    let busybox = image_id(&h, "busybox");

    // ---- tag
    ok(h.docker(&["tag", "busybox", "bb:v2"]));
    ok(h.docker(&["tag", "busybox:latest", "localhost:5000/team/bb:1"]));
    ok(h.berth(&["tag", "bb:v2", "bb:v3"]));
    for name in ["bb:v2", "bb:v3", "localhost:5000/team/bb:1"] {
        assert_eq!(image_id(&h, name), busybox, "{name} names busybox");
    }
    let (_, err) = fails(h.docker(&["tag", "nosuch", "x:1"]));
    assert!(err.contains("No such image: nosuch"), "{err}");
    let (status, body) = h.api("POST", "/images/busybox/tag?repo=Bad", None);
    assert_eq!(status, 400, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("invalid reference format"));
    let (status, _) = h.api("POST", "/images/busybox/tag?repo=sha256", None);
    assert_eq!(status, 400);
    // A tag moves: bb:v3 onto another image leaves busybox its other names.
    import_tiny(&h, Some("tiny:1"), "one");
    ok(h.docker(&["tag", "tiny:1", "bb:v3"]));
    assert_eq!(image_id(&h, "bb:v3"), image_id(&h, "tiny:1"));
    assert_eq!(image_id(&h, "bb:v2"), busybox);
    let until = common::unix_stamp(1.0);
    let events = ok(h.docker(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "event=tag",
        "--format",
        "{{.Actor.Attributes.name}}",
    ]));
    assert!(events.lines().any(|l| l == "bb:v3"), "tag events: {events}");

    // ---- save: several images and tags in one archive, read back by docker load
    let archive = h.dir.path().join("saved.tar");
    let archive_s = archive.to_str().expect("utf-8");
    ok(h.docker(&[
        "save",
        "-o",
        archive_s,
        "bb:v2",
        "tiny:1",
        "busybox:latest",
        "bb:v3",
    ]));
    let m = manifest(&archive);
    let entries = m.as_array().expect("manifest is a list");
    assert_eq!(entries.len(), 2, "one entry per image: {m}");
    assert_eq!(tags_of(&entries[0]), ["bb:v2", "busybox:latest"]);
    assert_eq!(tags_of(&entries[1]), ["tiny:1", "bb:v3"]);
    let (_, err) = fails(h.docker(&["save", "-o", archive_s, "nosuch:1"]));
    assert!(err.contains("No such image: nosuch:1"), "{err}");
    // Gone, then back from the archive, runnable.
    ok(h.docker(&["rmi", "bb:v2", "tiny:1", "bb:v3"]));
    let loaded = ok(h.docker(&["load", "-i", archive_s]));
    for t in ["bb:v2", "busybox:latest", "tiny:1", "bb:v3"] {
        assert!(loaded.contains(&format!("Loaded image: {t}")), "{loaded}");
    }
    let out = ok(h.docker(&["run", "--rm", "bb:v2", "cat", "/etc/hostname"]));
    assert!(!out.trim().is_empty());
    // berth's save of a loaded image gives the same ID when loaded again (one config, one
    // layer, written the same way each time).
    let loaded_id = image_id(&h, "tiny:1");
    let again = h.dir.path().join("again.tar");
    ok(h.berth(&["save", "-o", again.to_str().expect("utf-8"), "tiny"]));
    let m = manifest(&again);
    assert_eq!(tags_of(&m[0]), ["tiny:1"], "a bare name saves all its tags");
    assert_eq!(
        m[0]["Config"].as_str().unwrap_or_default(),
        format!("{}.json", loaded_id.trim_start_matches("sha256:"))
    );
    ok(h.berth(&["load", "-i", again.to_str().expect("utf-8")]));
    assert_eq!(image_id(&h, "tiny:1"), loaded_id);

    // ---- system df: a container with a writable layer and a volume
    ok(h.docker(&[
        "run",
        "-d",
        "--name",
        "filler",
        "-v",
        "vol1:/data",
        "bb:v2",
        "sh",
        "-c",
        "echo hello > /data/x; dd if=/dev/zero of=/big bs=1024 count=200; exec sleep 1000",
    ]));
    let df = eventually("the container's writable layer grows", || {
        let (status, v) = h.api("GET", "/system/df", None);
        assert_eq!(status, 200, "{v}");
        let grown =
            v["Containers"].as_array().into_iter().flatten().any(|c| {
                c["Names"][0] == "/filler" && c["SizeRw"].as_u64().unwrap_or(0) >= 200 * 1024
            });
        grown.then_some(v)
    });
    let vol = df["Volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["Name"] == "vol1")
        .unwrap_or_else(|| panic!("vol1 in df: {df}"));
    assert_eq!(vol["UsageData"]["RefCount"], 1, "{vol}");
    assert_eq!(vol["UsageData"]["Size"], 6, "{vol}");
    let bb = df["Images"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| {
            i["RepoTags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|x| x == "bb:v2"))
        })
        .unwrap_or_else(|| panic!("bb:v2 in df: {df}"));
    assert_eq!(bb["Containers"], 1, "{bb}");
    let sizes: u64 = df["Images"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["Size"].as_u64().unwrap_or(0))
        .sum();
    assert!(sizes > 0);
    assert_eq!(df["LayersSize"].as_u64(), Some(sizes));
    assert_eq!(df["BuildCache"], serde_json::json!([]));
    let table = ok(h.docker(&["system", "df"]));
    let images_row = table
        .lines()
        .find(|l| l.starts_with("Images"))
        .unwrap_or_else(|| panic!("{table}"));
    let n_images = df["Images"].as_array().map(Vec::len).unwrap_or(0);
    let cols: Vec<&str> = images_row.split_whitespace().collect();
    assert_eq!(cols[1], n_images.to_string(), "{table}");
    assert_eq!(cols[2], "1", "one image in use: {table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("Local Volumes") && l.split_whitespace().nth(2) == Some("1")),
        "{table}"
    );
    let verbose = ok(h.docker(&["system", "df", "-v"]));
    assert!(
        verbose.contains("filler") && verbose.contains("vol1"),
        "{verbose}"
    );
    let mine = ok(h.berth(&["system", "df"]));
    assert!(mine.lines().any(|l| l.starts_with("Images")), "{mine}");

    // ---- image prune: dangling first, then every unused image with -a
    import_tiny(&h, None, "dangling");
    let (status, body) = h.api(
        "POST",
        "/images/prune?filters=%7B%22nosuch%22%3A%5B%22x%22%5D%7D",
        None,
    );
    assert_eq!(status, 400, "{body}");
    let before = ok(h.docker(&["images", "-q", "--filter", "dangling=true"]));
    assert!(!before.trim().is_empty(), "the untagged import is dangling");
    let out = ok(h.docker(&["image", "prune", "-f"]));
    assert!(out.contains("deleted: sha256:"), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert!(ok(h.docker(&["images", "-q", "--filter", "dangling=true"]))
        .trim()
        .is_empty());
    assert_eq!(
        image_id(&h, "tiny:1"),
        loaded_id,
        "a tagged image stays without -a"
    );
    let (status, v) = h.api("POST", "/images/prune", None);
    assert_eq!(
        (status, &v["ImagesDeleted"]),
        (200, &serde_json::Value::Null),
        "{v}"
    );
    let out = ok(h.berth(&["image", "prune", "-a", "-f"]));
    assert!(out.contains("untagged: tiny:1"), "{out}");
    assert!(fails(h.docker(&["image", "inspect", "tiny:1"]))
        .1
        .contains("No such image"));
    // The image the running container uses stays.
    assert_eq!(image_id(&h, "bb:v2"), image_id(&h, "busybox"));
    ok(h.docker(&["rm", "-f", "filler"]));
}

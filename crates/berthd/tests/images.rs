//! Hostile image archives: `load` and `import` of crafted tarballs whose symlinks, whiteouts,
//! `..` paths and hardlinks aim outside the root filesystem. A sentinel "host" directory next to
//! the daemon's data root must come through every one of them untouched, and a legitimate
//! image with the same tricks pointed inside must still unpack as Docker would unpack it.

mod common;

use common::{fails, ok, Host};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One entry of a crafted layer; names and link targets are written raw, `..` and all.
enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Char(&'a str),
}

fn header(kind: tar::EntryType, name: &str, link: &str, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    let gnu = h.as_gnu_mut().expect("gnu header");
    assert!(name.len() < 100 && link.len() < 100, "{name} / {link}");
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    if kind == tar::EntryType::Char {
        // /dev/null's numbers: harmless, but not for an image to create.
        gnu.dev_major = *b"0000001\0";
        gnu.dev_minor = *b"0000003\0";
    }
    h.set_cksum();
    h
}

fn layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (h, data): (tar::Header, &[u8]) = match e {
            E::Dir(n) => (header(tar::EntryType::Directory, n, "", 0, 0o755), b""),
            E::File(n, d) => (
                header(tar::EntryType::Regular, n, "", d.len() as u64, 0o644),
                d.as_bytes(),
            ),
            E::Symlink(n, t) => (header(tar::EntryType::Symlink, n, t, 0, 0o777), b""),
            E::Hardlink(n, t) => (header(tar::EntryType::Link, n, t, 0, 0o644), b""),
            E::Char(n) => (header(tar::EntryType::Char, n, "", 0, 0o666), b""),
        };
        b.append(&h, data).expect("append");
    }
    b.into_inner().expect("tar")
}

/// A `docker save` archive (classic layout) of `layers`, tagged `tag`; a distinct `Cmd` makes
/// each image ID distinct.
fn save(dir: &Path, name: &str, tag: &str, layers: &[Vec<u8>]) -> PathBuf {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, path, data).expect("append");
    };
    let config = format!(r#"{{"config":{{"Cmd":["{name}"],"Env":["PATH=/bin"]}}}}"#);
    add("config.json", config.as_bytes());
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("l{i}/layer.tar"))
        .collect();
    for (n, l) in names.iter().zip(layers) {
        add(n, l);
    }
    let manifest =
        serde_json::json!([{"Config": "config.json", "RepoTags": [tag], "Layers": names}]);
    add("manifest.json", manifest.to_string().as_bytes());
    let path = dir.join(format!("{name}.tar"));
    std::fs::write(&path, b.into_inner().expect("tar")).expect("write archive");
    path
}

/// The sentinel: a directory outside the data root that no archive may change.
struct Sentinel {
    dir: PathBuf,
}

impl Sentinel {
    fn new(h: &Host) -> Sentinel {
        let dir = h.dir.path().join("host");
        std::fs::create_dir_all(dir.join("sub/dir1")).unwrap();
        std::fs::write(dir.join("keep"), "precious\n").unwrap();
        std::fs::write(dir.join("sub/dir1/deep"), "deep\n").unwrap();
        Sentinel { dir }
    }

    fn path(&self) -> String {
        self.dir.to_string_lossy().into_owned()
    }

    /// `..` enough times to climb from anywhere in the rootfs to `/`, then the sentinel.
    fn relative(&self) -> String {
        format!("../../../../../../../../../../..{}", self.path())
    }

    fn assert_intact(&self, case: &str) {
        let keep = self.dir.join("keep");
        assert_eq!(
            std::fs::read_to_string(&keep).ok().as_deref(),
            Some("precious\n"),
            "{case}: host file changed"
        );
        assert_eq!(
            std::fs::metadata(&keep).unwrap().nlink(),
            1,
            "{case}: host file hardlinked"
        );
        assert!(
            self.dir.join("sub/dir1/deep").is_file(),
            "{case}: host directory emptied"
        );
        let names: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{case}: host dir now holds {names:?}");
    }
}

/// POSTs an archive to the API (crafted archives are ASCII, so the text helper carries them).
fn post(h: &Host, path: &str, archive: &Path) -> (u16, String) {
    let body = std::fs::read_to_string(archive).expect("ASCII archive");
    h.try_api("POST", path, Some(&body)).expect("API request")
}

#[test]
fn load_never_touches_the_host() {
    let h = Host::new();
    let s = Sentinel::new(&h);
    let abs = s.path();
    let rel = s.relative();
    let up = format!("../../../../../../../../../..{abs}/planted");
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "opaque marker through an absolute symlink of a lower layer",
            vec![
                layer(&[E::Symlink("evil", &abs)]),
                layer(&[E::File("evil/.wh..wh..opq", "")]),
            ],
        ),
        (
            "whiteout through an absolute symlink of a lower layer",
            vec![
                layer(&[E::Symlink("evil", &abs)]),
                layer(&[E::File("evil/.wh.keep", ""), E::File("evil/.wh.sub", "")]),
            ],
        ),
        (
            "a file replacing a directory through a symlink",
            vec![
                layer(&[E::Symlink("evil", &abs)]),
                layer(&[E::File("evil/sub", "x"), E::File("evil/keep", "x")]),
            ],
        ),
        (
            "the same tricks inside one layer",
            vec![layer(&[
                E::Symlink("evil", &abs),
                E::File("evil/.wh..wh..opq", ""),
                E::File("evil/.wh.keep", ""),
                E::File("evil/sub", "x"),
                E::Dir("evil/newdir"),
                E::File("evil/planted", "x"),
            ])],
        ),
        (
            "relative symlinks climbing out",
            vec![
                layer(&[E::Symlink("a", &rel), E::Dir("d"), E::Symlink("d/b", &rel)]),
                layer(&[
                    E::File("a/.wh..wh..opq", ""),
                    E::File("d/b/.wh.keep", ""),
                    E::File("a/sub", "x"),
                ]),
            ],
        ),
        (
            "a symlinked directory of a directory",
            vec![
                layer(&[E::Dir("x"), E::Symlink("x/y", &rel)]),
                layer(&[E::Symlink("z", "x/y"), E::File("z/sub/.wh.dir1", "")]),
            ],
        ),
        (
            "hardlinks to host files",
            vec![
                layer(&[E::Symlink("evil", &abs)]),
                layer(&[E::Hardlink("stolen", "evil/keep")]),
            ],
        ),
        (
            "a hardlink named by an absolute path",
            vec![layer(&[E::Hardlink("stolen", &format!("{abs}/keep"))])],
        ),
        (
            "a file whose path climbs out",
            vec![layer(&[E::File(&up, "x")])],
        ),
        (
            "a whiteout whose path climbs out",
            vec![layer(&[E::File(
                &format!("../../../../../../../../../..{abs}/.wh.keep"),
                "",
            )])],
        ),
        (
            "a hardlink whose target climbs out",
            vec![layer(&[E::Hardlink("stolen", &format!("{rel}/keep"))])],
        ),
    ];
    for (i, (case, layers)) in cases.iter().enumerate() {
        let archive = save(
            h.dir.path(),
            &format!("case{i}"),
            &format!("evil:{i}"),
            layers,
        );
        let (status, body) = post(&h, "/images/load", &archive);
        s.assert_intact(case);
        // Refused (400 with a JSON message) or loaded with everything kept inside its rootfs.
        assert!(status == 200 || status == 400, "{case}: {status} {body}");
        if status == 400 {
            let v: serde_json::Value = serde_json::from_str(&body).expect("JSON error body");
            assert!(v["message"].is_string(), "{case}: {body}");
        }
    }
    // Climbing paths are refused outright, naming the entry.
    let archive = save(
        h.dir.path(),
        "climb",
        "evil:climb",
        &[layer(&[E::File(&up, "x")])],
    );
    let (status, body) = post(&h, "/images/load", &archive);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("outside of the root filesystem") && body.contains("planted"),
        "{body}"
    );
    // Nothing of a refused load stays in the data root.
    let leftovers: Vec<_> = std::fs::read_dir(h.data_root().join("images"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with("tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn import_never_touches_the_host() {
    let h = Host::new();
    let s = Sentinel::new(&h);
    let abs = s.path();
    let rel = s.relative();
    let dir = h.dir.path();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "absolute symlink then whiteouts and files through it",
            layer(&[
                E::Symlink("evil", &abs),
                E::File("evil/.wh..wh..opq", ""),
                E::File("evil/.wh.keep", ""),
                E::File("evil/sub", "x"),
                E::File("evil/planted", "x"),
            ]),
        ),
        (
            "relative symlink then a hardlink through it",
            layer(&[E::Symlink("evil", &rel), E::Hardlink("stolen", "evil/keep")]),
        ),
        (
            "a path climbing out",
            layer(&[E::File(
                &format!("../../../../../../../..{abs}/planted"),
                "x",
            )]),
        ),
    ];
    for (i, (case, tarball)) in cases.iter().enumerate() {
        let file = dir.join(format!("import{i}.tar"));
        std::fs::write(&file, tarball).unwrap();
        let (status, body) = post(
            &h,
            &format!("/images/create?fromSrc=-&repo=evil&tag={i}"),
            &file,
        );
        s.assert_intact(case);
        assert!(status == 200 || status == 400, "{case}: {status} {body}");
    }
    // The berth CLI says why a climbing archive is refused.
    let file = dir.join("import2.tar");
    let (_, err) = fails(h.berth(&["import", file.to_str().unwrap(), "evil:climb"]));
    assert!(err.contains("outside of the root filesystem"), "{err}");
    s.assert_intact("berth import");
}

/// The rootfs of a loaded image, on disk.
fn rootfs_of(h: &Host, image: &str) -> PathBuf {
    let (status, v) = h.api("GET", &format!("/images/{image}/json"), None);
    assert_eq!(status, 200, "{v}");
    let id = v["Id"].as_str().unwrap().trim_start_matches("sha256:");
    h.data_root().join("images").join(id).join("rootfs")
}

#[test]
fn layers_still_unpack_as_docker_does() {
    let h = Host::new();
    let dir = h.dir.path();
    let l0 = layer(&[
        E::Dir("usr"),
        E::Dir("usr/lib"),
        E::File("usr/lib/old.so", "old"),
        // Absolute and relative links resolve inside the rootfs, as in the container.
        E::Symlink("lib", "/usr/lib"),
        E::Symlink("lib2", "../../usr/lib"),
        E::Dir("etc"),
        E::File("etc/a", "a"),
        E::File("etc/b", "b"),
        E::Dir("opt/sub"),
        E::File("opt/sub/x", "x"),
        E::File("gone", "gone"),
        E::Dir("var"),
        E::File("var/f", "f"),
        E::Char("dev/evilnull"),
    ]);
    let l1 = layer(&[
        E::File("lib/new.so", "new"),
        E::File("lib2/newer.so", "newer"),
        E::Dir("etc"),
        E::File("etc/.wh..wh..opq", ""),
        E::File("etc/c", "c"),
        E::File(".wh.gone", ""),
        // A file replacing a directory and a directory replacing a file.
        E::File("opt", "now a file"),
        E::Dir("var/f"),
        E::Hardlink("usr/lib/hard.so", "lib/new.so"),
    ]);
    let archive = save(dir, "good", "good:1", &[l0, l1]);
    assert_eq!(
        ok(h.berth(&["load", "-i", archive.to_str().unwrap()])),
        "Loaded image: good:1\n"
    );
    let root = rootfs_of(&h, "good:1");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).ok();
    assert_eq!(read("usr/lib/old.so").as_deref(), Some("old"));
    assert_eq!(
        read("usr/lib/new.so").as_deref(),
        Some("new"),
        "written through /usr/lib"
    );
    assert_eq!(
        read("usr/lib/newer.so").as_deref(),
        Some("newer"),
        "through ../../usr/lib"
    );
    assert_eq!(
        std::fs::read_link(root.join("lib")).unwrap(),
        Path::new("/usr/lib"),
        "the link itself is kept"
    );
    let mut etc: Vec<String> = std::fs::read_dir(root.join("etc"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    etc.sort();
    assert_eq!(
        etc,
        ["c"],
        "the opaque marker hid the lower layer's files only"
    );
    assert!(!root.join("gone").exists(), "whiteout");
    assert_eq!(read("opt").as_deref(), Some("now a file"));
    assert!(root.join("var/f").is_dir());
    let hard = std::fs::metadata(root.join("usr/lib/hard.so")).unwrap();
    assert_eq!(
        hard.ino(),
        std::fs::metadata(root.join("usr/lib/new.so"))
            .unwrap()
            .ino()
    );
    assert!(
        !root.join("dev/evilnull").exists(),
        "device nodes are not created"
    );
    let mode = std::fs::metadata(root.join("etc/c")).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o644);
}

#[test]
fn load_refuses_bad_repo_tags() {
    let h = Host::new();
    let l = layer(&[E::File("f", "x")]);
    for (i, tag) in [
        "evil\nname:1",
        "../../x:1",
        "UPPER:1",
        "a:b:c",
        "x:-bad",
        "trailing/:1",
        " x:1",
    ]
    .iter()
    .enumerate()
    {
        let archive = save(
            h.dir.path(),
            &format!("tag{i}"),
            tag,
            std::slice::from_ref(&l),
        );
        let (status, body) = post(&h, "/images/load", &archive);
        assert_eq!(status, 400, "{tag:?}: {body}");
        assert!(body.contains("invalid reference format"), "{tag:?}: {body}");
    }
    let (_, v) = h.api("GET", "/images/json", None);
    assert_eq!(
        v.as_array().map(Vec::len),
        Some(0),
        "nothing was loaded: {v}"
    );
    let std_dir = std::fs::read_dir(h.data_root().join("images"))
        .unwrap()
        .count();
    assert_eq!(std_dir, 0, "nothing was unpacked");
    // Good names of Docker's grammar load.
    let archive = save(
        h.dir.path(),
        "okname",
        "localhost:5000/my_org/app-1.x:v1.0",
        &[l],
    );
    let (status, body) = post(&h, "/images/load", &archive);
    assert_eq!(status, 200, "{body}");
    // The docker CLI's import streams its body as well.
    let rootfs = h.dir.path().join("plain.tar");
    std::fs::write(&rootfs, layer(&[E::File("hello", "hi")])).unwrap();
    ok(h.docker(&["import", rootfs.to_str().unwrap(), "plain:1"]));
    assert!(rootfs_of(&h, "plain:1").join("hello").is_file());
    // And the docker CLI's import is held to the same grammar.
    let (_, err) = fails(h.docker(&["import", archive.to_str().unwrap(), "Bad/Name"]));
    assert!(err.contains("invalid reference format"), "{err}");
}

#[test]
fn load_takes_gzip_and_shared_layers_and_restart_sweeps_leftovers() {
    let mut h = Host::new();
    let dir = h.dir.path();
    // Two images sharing a layer: docker save stores it once, the second as a symlink.
    let base = layer(&[E::Dir("etc"), E::File("etc/base", "base")]);
    let top = layer(&[E::File("etc/top", "top")]);
    let mut b = tar::Builder::new(Vec::new());
    let add = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    };
    add(&mut b, "a.json", br#"{"config":{"Cmd":["a"]}}"#);
    add(&mut b, "b.json", br#"{"config":{"Cmd":["b"]}}"#);
    add(&mut b, "base/layer.tar", &base);
    add(&mut b, "top/layer.tar", &top);
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    b.append_link(&mut link, "shared/layer.tar", "../base/layer.tar")
        .unwrap();
    let manifest = serde_json::json!([
        {"Config": "a.json", "RepoTags": ["a:1"], "Layers": ["base/layer.tar"]},
        {"Config": "b.json", "RepoTags": ["b:1"], "Layers": ["shared/layer.tar", "top/layer.tar"]},
    ]);
    add(&mut b, "manifest.json", manifest.to_string().as_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &b.into_inner().unwrap()).unwrap();
    let archive = dir.join("shared.tar.gz");
    std::fs::write(&archive, gz.finish().unwrap()).unwrap();
    let out = ok(h.berth(&["load", "-i", archive.to_str().unwrap()]));
    assert_eq!(out, "Loaded image: a:1\nLoaded image: b:1\n");
    let root = rootfs_of(&h, "b:1");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/base")).unwrap(),
        "base"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/top")).unwrap(),
        "top"
    );
    // A gzip rootfs imports as well; its ID is the archive's digest.
    let rootfs_gz = dir.join("root.tar.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &top).unwrap();
    let bytes = gz.finish().unwrap();
    std::fs::write(&rootfs_gz, &bytes).unwrap();
    ok(h.berth(&["import", rootfs_gz.to_str().unwrap(), "gz:1"]));
    let (_, v) = h.api("GET", "/images/gz:1/json", None);
    use sha2::Digest;
    assert_eq!(
        v["Id"].as_str().unwrap(),
        format!("sha256:{:x}", sha2::Sha256::digest(&bytes))
    );
    // What an interrupted upload or unpack left is gone after a restart; images stay.
    let images = h.data_root().join("images");
    std::fs::write(images.join("tmp-upload-dead"), "x").unwrap();
    std::fs::create_dir_all(images.join("tmp-load-dead/rootfs/etc")).unwrap();
    h.stop_daemon();
    h.start_daemon();
    assert!(!images.join("tmp-upload-dead").exists());
    assert!(!images.join("tmp-load-dead").exists());
    assert!(rootfs_of(&h, "a:1").join("etc/base").exists());
    // The spooled bodies went with their requests.
    let left: Vec<String> = std::fs::read_dir(&images)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

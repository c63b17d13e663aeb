//! `cp` beyond the basics, through the docker CLI and berth: the volumes and bind mounts of a
//! stopped container (reached as Docker reaches them, a read-only one refusing writes), `-a`
//! (entries owned by the container's user) against the default (owners kept from the archive),
//! `-L` (a symlink in the source copied as what it points to), and a copy into a stopped
//! container racing its start (the copy holds the container's lock). One daemon for all.

mod common;

use common::{fails, ok, Host};
use std::os::unix::fs::MetadataExt;

#[test]
fn cp_volumes_owners_links_and_start() {
    let h = Host::with_busybox();
    let work = tempfile::tempdir().expect("tempdir");
    let w = |p: &str| work.path().join(p).display().to_string();
    let bind = work.path().join("bind");
    std::fs::create_dir(&bind).expect("mkdir bind");
    std::fs::write(bind.join("from-host"), "bound\n").expect("write");

    // Volumes and binds of a stopped container: it ran once, so its mount points exist.
    ok(h.docker(&[
        "run",
        "--name",
        "vols",
        "-v",
        "cpvol:/data",
        "-v",
        &format!("{}:/ro:ro", bind.display()),
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/old",
    ]));
    std::fs::write(w("new"), "into the volume\n").expect("write");
    ok(h.docker(&["cp", &w("new"), "vols:/data/new"]));
    ok(h.docker(&["cp", "vols:/data/old", &w("old")]));
    assert_eq!(std::fs::read_to_string(w("old")).expect("old"), "kept\n");
    ok(h.docker(&["cp", "vols:/ro/from-host", &w("from-host")]));
    assert_eq!(
        std::fs::read_to_string(w("from-host")).expect("from-host"),
        "bound\n"
    );
    let (_, err) = fails(h.docker(&["cp", &w("new"), "vols:/ro/"]));
    assert!(!err.is_empty(), "a copy into a read-only bind must fail");
    assert!(
        !bind.join("new").exists(),
        "nothing written through a read-only bind"
    );
    // The volume itself holds the copy: another container sees it.
    assert_eq!(
        ok(h.docker(&["run", "--rm", "-v", "cpvol:/v", "busybox", "cat", "/v/new"])),
        "into the volume\n"
    );

    // Owners: kept from the archive by default; the container's user's with -a.
    std::fs::write(w("owned"), "x").expect("write");
    std::os::unix::fs::chown(w("owned"), Some(4321), Some(4322)).expect("chown");
    ok(h.docker(&[
        "run",
        "-d",
        "--name",
        "user",
        "-u",
        "1234:1235",
        "busybox",
        "sleep",
        "1000",
    ]));
    let owner = |path: &str| ok(h.docker(&["exec", "user", "stat", "-c", "%u:%g", path]));
    ok(h.docker(&["cp", &w("owned"), "user:/tmp/plain"]));
    assert_eq!(owner("/tmp/plain"), "4321:4322\n");
    ok(h.docker(&["cp", "-a", &w("owned"), "user:/tmp/archived"]));
    assert_eq!(owner("/tmp/archived"), "1234:1235\n");
    ok(h.berth(&["cp", "-a", &w("owned"), "user:/tmp/berth-archived"]));
    assert_eq!(owner("/tmp/berth-archived"), "1234:1235\n");
    ok(h.berth(&["cp", &w("owned"), "user:/tmp/berth-plain"]));
    assert_eq!(owner("/tmp/berth-plain"), "4321:4322\n");

    // -L: the link's target, under the link's name; without it, the link itself.
    ok(h.docker(&[
        "run",
        "-d",
        "--name",
        "links",
        "busybox",
        "sh",
        "-c",
        "echo target > /tmp/t && ln -s t /tmp/link && exec sleep 1000",
    ]));
    ok(h.docker(&[
        "exec",
        "links",
        "sh",
        "-c",
        "until [ -L /tmp/link ]; do sleep 0.1; done",
    ]));
    ok(h.docker(&["cp", "-L", "links:/tmp/link", &w("followed")]));
    assert_eq!(
        std::fs::read_to_string(w("followed")).expect("followed"),
        "target\n"
    );
    ok(h.berth(&["cp", "-L", "links:/tmp/link", &w("berth-followed")]));
    let meta = std::fs::symlink_metadata(w("berth-followed")).expect("stat");
    assert!(meta.is_file(), "berth cp -L copies the target");
    assert_eq!(
        std::fs::read_to_string(w("berth-followed")).expect("read"),
        "target\n"
    );
    ok(h.berth(&["cp", "links:/tmp/link", &w("berth-link")]));
    assert!(std::fs::symlink_metadata(w("berth-link"))
        .expect("stat")
        .file_type()
        .is_symlink());
    std::os::unix::fs::symlink(w("owned"), w("local-link")).expect("symlink");
    ok(h.berth(&["cp", "-L", &w("local-link"), "links:/tmp/in-followed"]));
    assert_eq!(
        ok(h.docker(&["exec", "links", "cat", "/tmp/in-followed"])),
        "x"
    );

    // A copy into a stopped container while it starts: the start waits for the copy, so the
    // container runs with every copied file and the copy's overlay mount is gone.
    let dir = work.path().join("many");
    std::fs::create_dir(&dir).expect("mkdir");
    for i in 0..400 {
        std::fs::write(dir.join(format!("f{i}")), format!("{i}\n")).expect("write");
    }
    let uid = std::fs::metadata(&dir).expect("stat").uid();
    assert_eq!(uid, 0, "the test runs as root");
    for round in 0..3 {
        let name = format!("race{round}");
        ok(h.docker(&["create", "--name", &name, "busybox", "sleep", "1000"]));
        let copy = {
            let cmd = h.docker_cmd(&["cp", &dir.display().to_string(), &format!("{name}:/many")]);
            std::thread::spawn(move || {
                let mut cmd = cmd;
                cmd.output().expect("docker cp")
            })
        };
        ok(h.docker(&["start", &name]));
        let copied = copy.join().expect("copy thread");
        assert!(
            copied.status.success(),
            "cp: {}",
            String::from_utf8_lossy(&copied.stderr)
        );
        assert_eq!(
            ok(h.docker(&["exec", &name, "sh", "-c", "ls /many | wc -l"])).trim(),
            "400"
        );
        ok(h.docker(&["rm", "-f", &name]));
    }
}

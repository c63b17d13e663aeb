//! `docker cp` and `berth cp` both ways against berthd, on running and stopped containers, as
//! files, directories and tar streams; missing and bad paths; and crafted archives that try to
//! climb out of the target directory or the container. One daemon for all.

mod common;

use common::{fails, ok, Host};
use std::io::Write;
use std::process::Stdio;

/// A tar whose one entry has `name` written as is (the tar crate refuses `..` itself).
fn raw_tar(name: &[u8], kind: tar::EntryType, link: &[u8], data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

fn put(h: &Host, name: &str, path: &str, tar: &[u8]) -> (u16, String) {
    let client =
        berth_client::Client::new(&format!("unix://{}", h.socket.display()), None).expect("client");
    let r = berth_client::blocking::raw(
        &client,
        "PUT",
        &format!("/containers/{name}/archive?path={path}"),
        Some(tar.to_vec()),
        std::time::Duration::from_secs(30),
    )
    .expect("PUT archive");
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

#[test]
fn cp_both_ways() {
    let h = Host::with_busybox();
    let work = tempfile::tempdir().expect("tempdir");
    let w = |p: &str| work.path().join(p).display().to_string();
    ok(h.docker(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]));
    ok(h.docker(&[
        "exec",
        "box",
        "sh",
        "-c",
        "mkdir -p /d/sub && echo deep > /d/sub/f && echo top > /d/t && ln -s t /d/l",
    ]));

    // Out: a file, a directory (links as links), and a missing path.
    ok(h.docker(&["cp", "box:/d/t", &w("t")]));
    assert_eq!(std::fs::read_to_string(w("t")).expect("t"), "top\n");
    ok(h.docker(&["cp", "box:/d", &w("d")]));
    assert_eq!(std::fs::read_to_string(w("d/sub/f")).expect("f"), "deep\n");
    assert_eq!(
        std::fs::read_link(w("d/l"))
            .expect("link")
            .to_string_lossy(),
        "t"
    );
    let (_, err) = fails(h.docker(&["cp", "box:/nosuch", &w("x")]));
    assert!(
        err.contains("Could not find the file /nosuch in container box"),
        "{err}"
    );
    let (status, _, _) = h
        .raw_api("HEAD", "/containers/box/archive?path=/d", None)
        .expect("HEAD");
    assert_eq!(status, 200);
    let (status, headers, _) = h
        .raw_api("GET", "/containers/box/archive?path=/d/t", None)
        .expect("GET");
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(k, _)| k == "x-docker-container-path-stat"),
        "{headers:?}"
    );
    let (status, body) = h
        .try_api("GET", "/containers/box/archive", None)
        .expect("GET");
    assert_eq!(status, 400, "{body}");

    // In: a file, a directory, and a tar stream on stdin; then out as a tar stream.
    std::fs::write(w("in.txt"), "from the host\n").expect("write");
    ok(h.docker(&["cp", &w("in.txt"), "box:/tmp/"]));
    ok(h.docker(&["cp", &w("d"), "box:/copied"]));
    assert_eq!(
        ok(h.docker(&["exec", "box", "cat", "/tmp/in.txt", "/copied/sub/f"])),
        "from the host\ndeep\n"
    );
    let mut tar = tar::Builder::new(Vec::new());
    let mut hd = tar::Header::new_gnu();
    hd.set_size(7);
    hd.set_mode(0o600);
    hd.set_uid(0);
    hd.set_gid(0);
    hd.set_mtime(0);
    hd.set_cksum();
    tar.append_data(&mut hd, "streamed", &b"via tar"[..])
        .expect("tar");
    let tar = tar.into_inner().expect("tar");
    let mut child = h
        .docker_cmd(&["cp", "-", "box:/tmp"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cp -");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&tar)
        .expect("write");
    let done = child.wait_with_output().expect("wait");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(
        ok(h.docker(&["exec", "box", "cat", "/tmp/streamed"])),
        "via tar"
    );
    let out = h.docker(&["cp", "box:/tmp/streamed", "-"]);
    assert!(out.status.success());
    let mut ar = tar::Archive::new(&out.stdout[..]);
    let names: Vec<String> = ar
        .entries()
        .expect("a tar")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(names, ["streamed"]);

    // The berth CLI.
    ok(h.berth(&["cp", "box:/d/t", &w("t2")]));
    assert_eq!(std::fs::read_to_string(w("t2")).expect("t2"), "top\n");
    ok(h.berth(&["cp", &w("in.txt"), "box:/tmp/again.txt"]));
    assert_eq!(
        ok(h.docker(&["exec", "box", "cat", "/tmp/again.txt"])),
        "from the host\n"
    );

    // Resolved inside the container: its absolute symlink to / is its own root.
    let marker = format!("berth-cp-escape-{}", std::process::id());
    ok(h.docker(&["exec", "box", "ln", "-s", "/", "/hostroot"]));
    std::fs::write(w(&marker), "x").expect("write");
    ok(h.docker(&["cp", &w(&marker), "box:/hostroot/tmp/"]));
    assert!(
        !std::path::Path::new("/tmp").join(&marker).exists(),
        "written on the host"
    );
    ok(h.docker(&["exec", "box", "test", "-f", &format!("/tmp/{marker}")]));

    // Crafted archives: climbing out is refused with 400 and writes nothing; a link to / is
    // the target's own root.
    let (status, body) = put(
        &h,
        "box",
        "/tmp",
        &raw_tar(b"../escaped", tar::EntryType::Regular, b"", b"bad"),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = put(
        &h,
        "box",
        "/tmp",
        &raw_tar(b"hl", tar::EntryType::Link, b"../../etc/passwd", b""),
    );
    assert_eq!(status, 400, "{body}");
    let mut two = raw_tar(b"up", tar::EntryType::Symlink, b"/", b"");
    two.truncate(512);
    two.extend(raw_tar(
        format!("up/{marker}.2").as_bytes(),
        tar::EntryType::Regular,
        b"",
        b"x",
    ));
    let (status, body) = put(&h, "box", "/tmp", &two);
    assert_eq!(status, 200, "{body}");
    ok(h.docker(&["exec", "box", "test", "-f", &format!("/tmp/{marker}.2")]));
    fails(h.docker(&["exec", "box", "test", "-e", &format!("/{marker}.2")]));
    assert!(!std::path::Path::new("/")
        .join(format!("{marker}.2"))
        .exists());
    assert!(
        !std::path::Path::new("/escaped").exists()
            && !std::path::Path::new("/tmp/escaped").exists()
    );
    fails(h.docker(&["exec", "box", "test", "-e", "/escaped"]));
    let (status, body) = put(&h, "box", "/nosuch", &two);
    assert_eq!(status, 404, "{body}");
    let (status, body) = put(&h, "box", "/tmp/in.txt", &two);
    assert_eq!(status, 400, "{body}");

    // A stopped container: both ways, seen after its next start.
    ok(h.docker(&["stop", "-t", "0", "box"]));
    ok(h.docker(&["cp", "box:/tmp/in.txt", &w("stopped.txt")]));
    assert_eq!(
        std::fs::read_to_string(w("stopped.txt")).expect("read"),
        "from the host\n"
    );
    ok(h.docker(&["cp", &w("t"), "box:/tmp/while-stopped"]));
    ok(h.docker(&["start", "box"]));
    assert_eq!(
        ok(h.docker(&["exec", "box", "cat", "/tmp/while-stopped"])),
        "top\n"
    );
    ok(h.docker(&["rm", "-f", "box"]));
    assert!(
        h.mounts_below_dir().is_empty(),
        "{:?}",
        h.mounts_below_dir()
    );
}

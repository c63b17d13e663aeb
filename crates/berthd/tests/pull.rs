//! Pulls from a registry (issue 21 item 5): Debian's `docker-registry` serves the v2 API on
//! loopback inside the test's own namespace, filled by `skopeo copy` from archives the test
//! makes; berthd pulls with the docker CLI, the berth CLI and `run` of a missing image. No test
//! reaches any outside registry: the namespace has loopback only, and Docker Hub names are
//! refused before any connection.

mod common;

use common::{fails, ok, Host};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A registry process in a host's namespace, killed when this goes.
struct Registry {
    child: Child,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tools_missing() -> Option<&'static str> {
    ["docker-registry", "skopeo"].into_iter().find(|t| {
        !Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Starts `docker-registry` in `h`'s namespace on `addr` and waits until it answers.
fn start_registry(h: &Host, addr: &str) -> Registry {
    let dir = h.dir.path().join("registry");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("registry.log")).unwrap();
    let mut cmd = Command::new("nsenter");
    cmd.args(["-t", &h.pid().to_string(), "-n", "-m", "--"])
        .arg("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    // SAFETY: prctl only changes this (child) process's own settings.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let reg = Registry {
        child: cmd.spawn().expect("spawn docker-registry"),
    };
    let port = addr.rsplit(':').next().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let probe = h.sh_out(&format!(
            "busybox wget -q -O /dev/null http://127.0.0.1:{port}/v2/"
        ));
        if probe.status.success() {
            return reg;
        }
        assert!(
            Instant::now() < deadline,
            "docker-registry did not come up: {}",
            std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut hd = tar::Header::new_gnu();
        hd.set_size(data.len() as u64);
        hd.set_mode(0o644);
        hd.set_uid(0);
        hd.set_gid(0);
        hd.set_mtime(1_700_000_000);
        hd.set_cksum();
        b.append_data(&mut hd, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A `docker save` archive of busybox plus a layer with `/etc/hello` saying `hello`.
fn archive(dir: &Path, hello: &str) -> PathBuf {
    use sha2::Digest;
    let base = std::fs::read(common::busybox_tar()).unwrap();
    let top = tar_of(&[("etc/hello", hello.as_bytes())]);
    let diff = |b: &[u8]| format!("sha256:{:x}", sha2::Sha256::digest(b));
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "WorkingDir": "/etc"},
        "rootfs": {"type": "layers", "diff_ids": [diff(&base), diff(&top)]},
    })
    .to_string();
    let manifest = serde_json::json!([
        {"Config": "config.json", "RepoTags": ["x:1"], "Layers": ["base/layer.tar", "top/layer.tar"]}
    ])
    .to_string();
    let out = tar_of(&[
        ("base/layer.tar", &base),
        ("top/layer.tar", &top),
        ("config.json", config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
    ]);
    let path = dir.join(format!("{hello}.tar"));
    std::fs::write(&path, out).unwrap();
    path
}

/// Copies an archive into the registry as `dest` (`REPO:TAG`), in `format` (v2s2 or oci).
fn push(h: &Host, archive: &Path, dest: &str, format: &str) {
    h.sh(&format!(
        "TMPDIR={} skopeo --insecure-policy copy -q --format {format} --dest-tls-verify=false docker-archive:{} docker://{dest}",
        h.dir.path().display(),
        archive.display()
    ));
}

fn stdout_and_err(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn pulls_from_a_registry_by_tag_and_digest_with_dockers_messages() {
    if let Some(t) = tools_missing() {
        eprintln!("skipping: {t} is not installed (scripts/install-deps.sh installs it)");
        return;
    }
    let h = Host::new();
    let _reg = start_registry(&h, "127.0.0.1:5000");
    let one = archive(h.dir.path(), "one");
    let two = archive(h.dir.path(), "two");
    push(&h, &one, "127.0.0.1:5000/bb:latest", "v2s2");
    push(&h, &two, "127.0.0.1:5000/bb:oci", "oci");
    push(&h, &two, "127.0.0.1:5000/team/app:1", "v2s2");

    // docker pull: Docker's progress lines and closing status; the image runs.
    let out = ok(h.docker(&["pull", "127.0.0.1:5000/bb"]));
    assert!(out.contains("latest: Pulling from bb"), "{out}");
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains("Digest: sha256:"), "{out}");
    assert!(
        out.contains("Status: Downloaded newer image for 127.0.0.1:5000/bb:latest"),
        "{out}"
    );
    let said = ok(h.docker(&["run", "--rm", "127.0.0.1:5000/bb", "cat", "/etc/hello"]));
    assert_eq!(said, "one");
    let out = ok(h.docker(&["pull", "127.0.0.1:5000/bb:latest"]));
    assert!(
        out.contains("Status: Image is up to date for 127.0.0.1:5000/bb:latest"),
        "{out}"
    );
    let (_, v) = h.api("GET", "/images/127.0.0.1:5000/bb:latest/json", None);
    assert_eq!(v["Config"]["WorkingDir"], "/etc", "{v}");
    assert!(
        v["RepoDigests"][0]
            .as_str()
            .is_some_and(|d| d.starts_with("127.0.0.1:5000/bb@sha256:")),
        "{v}"
    );
    // The raw stream is dockerd's: JSON lines with progressDetail for bytes moving.
    let (status, _, body) = h
        .raw_api(
            "POST",
            "/images/create?fromImage=127.0.0.1:5000/bb&tag=oci",
            None,
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.iter().any(|l| l["status"] == "Pulling fs layer"),
        "{body}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["status"] == "Downloading" && l["progressDetail"]["total"].is_u64()),
        "{body}"
    );
    assert_eq!(
        lines.last().unwrap()["status"],
        "Status: Downloaded newer image for 127.0.0.1:5000/bb:oci"
    );

    // berth pull without a terminal: plain status lines, then the name.
    let o = h.berth(&["pull", "127.0.0.1:5000/team/app:1"]);
    let (out, err) = stdout_and_err(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        out.contains("Pull complete") || out.contains("Already exists"),
        "{out}"
    );
    assert!(out.ends_with("127.0.0.1:5000/team/app:1\n"), "{out}");
    assert!(!out.contains('\x1b'), "{out:?}");

    // run of a missing image pulls it first, from the docker CLI and from berth.
    push(&h, &one, "127.0.0.1:5000/fresh:a", "v2s2");
    push(&h, &two, "127.0.0.1:5000/fresh:b", "oci");
    let o = h.docker(&["run", "--rm", "127.0.0.1:5000/fresh:a", "cat", "/etc/hello"]);
    let (out, err) = stdout_and_err(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(out, "one");
    assert!(
        err.contains("Unable to find image '127.0.0.1:5000/fresh:a' locally"),
        "{err}"
    );
    let o = h.berth(&["run", "--rm", "127.0.0.1:5000/fresh:b", "cat", "/etc/hello"]);
    let (out, err) = stdout_and_err(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(out, "two");
    assert!(
        err.contains("Unable to find image '127.0.0.1:5000/fresh:b' locally"),
        "{err}"
    );

    // By digest: an image pulled by its manifest's digest only stays untagged, named by it.
    let three = archive(h.dir.path(), "three");
    push(&h, &three, "127.0.0.1:5000/dg:t", "v2s2");
    let digest = h
        .sh(&format!(
            "TMPDIR={} skopeo inspect --tls-verify=false --format '{{{{.Digest}}}}' docker://127.0.0.1:5000/dg:t",
            h.dir.path().display()
        ))
        .trim()
        .to_string();
    assert!(digest.starts_with("sha256:"), "{digest}");
    let by_digest = format!("127.0.0.1:5000/dg@{digest}");
    let out = ok(h.docker(&["pull", &by_digest]));
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    let said = ok(h.docker(&["run", "--rm", &by_digest, "cat", "/etc/hello"]));
    assert_eq!(said, "three");
    let (_, v) = h.api("GET", &format!("/images/{by_digest}/json"), None);
    assert_eq!(v["RepoTags"], serde_json::json!([]), "{v}");
    assert_eq!(v["RepoDigests"], serde_json::json!([by_digest]), "{v}");
    // A name with slashes is one image name to rmi too.
    ok(h.docker(&["rmi", "127.0.0.1:5000/team/app:1"]));

    // A digest the registry does not have, and an unknown tag: Docker's messages.
    let wrong = format!("127.0.0.1:5000/bb@sha256:{}", "0".repeat(64));
    let (_, err) = fails(h.docker(&["pull", &wrong]));
    assert!(
        err.contains(&format!("manifest for {wrong} not found")),
        "{err}"
    );
    let (_, err) = fails(h.docker(&["pull", "127.0.0.1:5000/bb:nope"]));
    assert!(
        err.contains("manifest for 127.0.0.1:5000/bb:nope not found: manifest unknown"),
        "{err}"
    );
    let (code, err) = fails(h.berth(&["pull", "127.0.0.1:5000/bb:nope"]));
    assert_eq!(code, 1);
    assert!(err.contains("manifest unknown"), "{err}");
    // A Docker Hub name is refused by berthd itself: no mirror, no internet.
    let (_, err) = fails(h.docker(&["pull", "busybox:1.36"]));
    assert!(err.contains("does not reach Docker Hub"), "{err}");
    let (_, err) = fails(h.docker(&["run", "--rm", "alpine", "true"]));
    assert!(err.contains("does not reach Docker Hub"), "{err}");
    // Nothing of the pulls is left in the images directory but images.
    let left: Vec<String> = std::fs::read_dir(h.data_root().join("images"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn mirrors_serve_docker_hub_names_and_insecure_registries_are_honoured() {
    if let Some(t) = tools_missing() {
        eprintln!("skipping: {t} is not installed (scripts/install-deps.sh installs it)");
        return;
    }
    let mut h = Host::new();
    // A second address of this namespace's own, where the registry is not loopback.
    h.sh("ip addr add 198.51.100.7/32 dev lo");
    let _reg = start_registry(&h, "0.0.0.0:5000");
    let one = archive(h.dir.path(), "one");
    push(&h, &one, "127.0.0.1:5000/library/hubby:1", "v2s2");
    push(&h, &one, "127.0.0.1:5000/far/app:1", "v2s2");
    // Not insecure: HTTPS to a plain HTTP registry fails, naming the registry.
    let (_, err) = fails(h.docker(&["pull", "198.51.100.7:5000/far/app:1"]));
    assert!(err.contains("198.51.100.7:5000"), "{err}");
    h.stop_daemon();
    std::fs::write(
        h.config_file(),
        r#"{"registry-mirrors": ["http://127.0.0.1:5000"], "insecure-registries": ["198.51.100.0/24"]}"#,
    )
    .unwrap();
    h.start_daemon();
    let out = ok(h.docker(&["pull", "hubby:1"]));
    assert!(
        out.contains("Status: Downloaded newer image for hubby:1"),
        "{out}"
    );
    let said = ok(h.docker(&["run", "--rm", "hubby:1", "cat", "/etc/hello"]));
    assert_eq!(said, "one");
    let out = ok(h.docker(&["pull", "198.51.100.7:5000/far/app:1"]));
    assert!(out.contains("far/app:1"), "{out}");
    // What the mirror lacks is not found, and never asked of Docker Hub.
    let (_, err) = fails(h.docker(&["pull", "nosuch:1"]));
    assert!(err.contains("nosuch"), "{err}");
}

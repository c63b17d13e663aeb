//! `ps --filter`, `-n`, `-l`, `-s` and `images --filter` through the stock docker CLI (and
//! berth's): each filter keeps exactly the containers Docker's would, and an unknown filter is
//! an error naming it rather than a list of everything.

mod common;

use common::{fails, ok, Host};

/// Names printed by `ps --format {{.Names}}` with the given extra arguments, sorted.
fn names(h: &Host, args: &[&str]) -> Vec<String> {
    let mut a = vec!["ps", "--format", "{{.Names}}"];
    a.extend_from_slice(args);
    let mut v: Vec<String> = ok(h.docker(&a)).lines().map(str::to_string).collect();
    v.sort();
    v
}

/// web1 running on net1 publishing 80, web2 exited with code 3, db created (never started).
fn three(h: &Host) {
    ok(h.docker(&["network", "create", "net1"]));
    ok(h.docker(&[
        "run",
        "-d",
        "--name",
        "web1",
        "--network",
        "net1",
        "-l",
        "app=web",
        "-l",
        "tier=front",
        "-p",
        "8080:80",
        "busybox",
        "sleep",
        "1000",
    ]));
    let (code, _) = fails(h.docker(&[
        "run", "--name", "web2", "-l", "app=web", "busybox", "sh", "-c", "exit 3",
    ]));
    assert_eq!(code, 3);
    ok(h.docker(&[
        "create", "--name", "db", "-l", "app=db", "--expose", "5432", "busybox", "sleep", "1000",
    ]));
}

#[test]
fn ps_filters_keep_only_what_matches() {
    let h = Host::with_busybox();
    three(&h);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    // The one that made this dangerous: `rm -f $(ps -q --filter name=x)` must not see others.
    let ids = ok(h.docker(&["ps", "-aq", "--filter", "name=web1"]));
    assert_eq!(ids.lines().count(), 1, "{ids}");
    assert_eq!(names(&h, &["-a", "--filter", "name=web1"]), s(&["web1"]));
    assert_eq!(
        names(&h, &["-a", "--filter", "name=^web"]),
        s(&["web1", "web2"])
    );
    assert_eq!(names(&h, &["-a", "--filter", "name=nosuch"]), s(&[]));
    assert_eq!(
        names(&h, &["--filter", "name=web"]),
        s(&["web1"]),
        "running only without -a"
    );

    let id = ok(h.docker(&["inspect", "-f", "{{.Id}}", "db"]));
    assert_eq!(
        names(&h, &["-a", "--filter", &format!("id={}", &id[..10])]),
        s(&["db"])
    );

    assert_eq!(
        names(&h, &["-a", "--filter", "label=app=web"]),
        s(&["web1", "web2"])
    );
    assert_eq!(
        names(&h, &["-a", "--filter", "label=app"]),
        s(&["db", "web1", "web2"])
    );
    assert_eq!(
        names(
            &h,
            &["-a", "--filter", "label=app=web", "--filter", "label=tier"]
        ),
        s(&["web1"]),
        "every label filter must hold"
    );

    // A status filter lists stopped containers without -a, as Docker's.
    assert_eq!(names(&h, &["--filter", "status=exited"]), s(&["web2"]));
    assert_eq!(names(&h, &["--filter", "status=created"]), s(&["db"]));
    assert_eq!(
        names(
            &h,
            &["--filter", "status=running", "--filter", "status=created"]
        ),
        s(&["db", "web1"])
    );
    assert_eq!(names(&h, &["-a", "--filter", "exited=3"]), s(&["web2"]));
    assert_eq!(names(&h, &["-a", "--filter", "exited=0"]), s(&[]));

    assert_eq!(names(&h, &["-a", "--filter", "network=net1"]), s(&["web1"]));
    assert_eq!(
        names(&h, &["-a", "--filter", "network=bridge"]),
        s(&["db", "web2"])
    );
    assert_eq!(names(&h, &["-a", "--filter", "ancestor=busybox"]).len(), 3);
    assert_eq!(
        names(&h, &["-a", "--filter", "ancestor=nosuchimage"]),
        s(&[])
    );

    assert_eq!(
        names(&h, &["-a", "--filter", "before=db"]),
        s(&["web1", "web2"])
    );
    assert_eq!(
        names(&h, &["-a", "--filter", "since=web1"]),
        s(&["db", "web2"])
    );

    assert_eq!(names(&h, &["-a", "--filter", "publish=80"]), s(&["web1"]));
    assert_eq!(names(&h, &["-a", "--filter", "publish=80/udp"]), s(&[]));
    assert_eq!(
        names(&h, &["-a", "--filter", "expose=5000-6000"]),
        s(&["db"])
    );
    assert_eq!(names(&h, &["-a", "--filter", "health=none"]).len(), 3);
    assert_eq!(names(&h, &["-a", "--filter", "health=healthy"]), s(&[]));

    // berth's own CLI sends the same query.
    let out = ok(h.berth(&[
        "ps",
        "-a",
        "--filter",
        "label=app=db",
        "--format",
        "{{.Names}}",
    ]));
    assert_eq!(out.trim(), "db");
}

#[test]
fn ps_bad_filters_are_errors_naming_them() {
    let h = Host::with_busybox();
    three(&h);
    for (arg, want) in [
        ("nosuch=1", "invalid filter 'nosuch'"),
        ("status=sleeping", "invalid filter 'status=sleeping'"),
        ("exited=x", "invalid filter 'exited=x'"),
        ("name=(", "invalid filter 'name=('"),
        ("before=nosuchctr", "No such container: nosuchctr"),
    ] {
        let (_, err) = fails(h.docker(&["ps", "-a", "-q", "--filter", arg]));
        assert!(err.contains(want), "{arg}: {err}");
    }
    let (status, body) = h.api(
        "GET",
        "/containers/json?filters=%7B%22nosuch%22%3A%5B%22x%22%5D%7D",
        None,
    );
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap_or("").contains("nosuch"),
        "{body}"
    );
    let (_, err) = fails(h.berth(&["ps", "--filter", "nosuch=1"]));
    assert!(err.contains("invalid filter 'nosuch'"), "{err}");
}

#[test]
fn ps_last_latest_and_size() {
    let h = Host::with_busybox();
    three(&h);
    // -n and -l include every state, newest first.
    assert_eq!(names(&h, &["-n", "1"]), vec!["db".to_string()]);
    assert_eq!(names(&h, &["-l"]), vec!["db".to_string()]);
    assert_eq!(names(&h, &["-n", "2"]).len(), 2);
    ok(h.docker(&[
        "exec",
        "web1",
        "sh",
        "-c",
        "head -c 5000 /dev/zero > /tmp/blob",
    ]));
    let out = ok(h.docker(&["ps", "-s", "--filter", "name=web1", "--format", "{{.Size}}"]));
    // The docker CLI prints `5kB (virtual 1.2MB)`: the writable layer holds the file written.
    assert!(out.contains("kB (virtual "), "{out}");
    let table = ok(h.berth(&["ps", "-s"]));
    assert!(
        table.lines().next().unwrap_or("").contains("SIZE"),
        "{table}"
    );
}

#[test]
fn image_filters() {
    let h = Host::with_busybox();
    let tar = common::busybox_tar();
    ok(h.berth(&[
        "import",
        tar.to_str().expect("utf-8 path"),
        "other/thing:v1",
    ]));
    let list = |f: &str| {
        let mut v: Vec<String> = ok(h.docker(&[
            "images",
            "--filter",
            f,
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ]))
        .lines()
        .map(str::to_string)
        .collect();
        v.sort();
        v
    };
    assert_eq!(list("reference=busybox"), vec!["busybox:latest"]);
    assert_eq!(list("reference=busy*"), vec!["busybox:latest"]);
    assert_eq!(list("reference=*/*:v1"), vec!["other/thing:v1"]);
    assert_eq!(list("reference=nomatch"), Vec::<String>::new());
    assert_eq!(list("dangling=true"), Vec::<String>::new());
    assert_eq!(list("dangling=false").len(), 2);
    assert_eq!(
        list("before=other/thing:v1").len(),
        0,
        "same archive, same image"
    );
    let (_, err) = fails(h.docker(&["images", "--filter", "nosuch=1"]));
    assert!(err.contains("invalid filter 'nosuch'"), "{err}");
    let (_, err) = fails(h.docker(&["images", "--filter", "dangling=maybe"]));
    assert!(err.contains("dangling=maybe"), "{err}");
    let out = ok(h.berth(&["images", "--filter", "reference=other/*"]));
    assert!(
        out.contains("other/thing") && !out.contains("busybox"),
        "{out}"
    );
}

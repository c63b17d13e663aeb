//! The stock docker CLI's own logic against berthd's answers: errors it must show as they are
//! (not as a missing image it then tries to pull).

mod common;

use common::{fails, ok, Host};

#[test]
fn missing_network_or_link_is_reported_not_pulled() {
    let h = Host::with_busybox();
    for (flags, want) in [
        (
            &["--network", "nosuchnet"][..],
            "network nosuchnet not found",
        ),
        (
            &["--link", "nosuchctr"][..],
            "could not get container for nosuchctr",
        ),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&["busybox", "true"]);
        let (code, err) = fails(h.docker(&a));
        assert_eq!(code, 125, "{err}");
        assert!(err.contains(want), "{flags:?}: {err}");
        assert!(
            !err.contains("Unable to find image"),
            "the CLI must not try to pull: {err}"
        );
    }
    // A missing image is still a 404, so the CLI still tries to pull it.
    let (_, err) = fails(h.docker(&["run", "--rm", "nosuchimage", "true"]));
    assert!(
        err.contains("Unable to find image 'nosuchimage:latest' locally"),
        "{err}"
    );
    assert_eq!(
        ok(h.docker(&["ps", "-aq"])).trim(),
        "",
        "failed runs leave nothing"
    );
}

#[test]
fn events_past_filtered_and_live() {
    let h = Host::with_busybox();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let t0 = common::unix_stamp(0.0);
    let tar = common::busybox_tar();
    ok(h.berth(&["import", tar.to_str().expect("utf-8 path"), "evimg:v1"]));
    ok(h.docker(&["network", "create", "evnet"]));
    ok(h.docker(&["create", "--name", "ev1", "busybox", "true"]));
    ok(h.docker(&["network", "connect", "evnet", "ev1"]));
    ok(h.docker(&["start", "-a", "ev1"]));
    ok(h.docker(&["network", "disconnect", "evnet", "ev1"]));
    ok(h.docker(&["rm", "ev1"]));
    ok(h.docker(&["network", "rm", "evnet"]));
    ok(h.docker(&["rmi", "evimg:v1"]));
    let t1 = common::unix_stamp(1.0);
    let events = |filters: &[&str]| {
        let mut a = vec![
            "events",
            "--since",
            &t0,
            "--until",
            &t1,
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        ];
        a.extend_from_slice(filters);
        ok(h.docker(&a))
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let all = events(&[]);
    let want = [
        "image import evimg:v1",
        "network create evnet",
        "container create ev1",
        "network connect evnet",
        "container start ev1",
        "container die ev1",
        "network disconnect evnet",
        "container destroy ev1",
        "network destroy evnet",
        "image untag evimg:v1",
    ];
    assert_eq!(all, want, "every event, in order");
    assert_eq!(
        events(&["--filter", "type=container", "--filter", "event=die"]),
        ["container die ev1"]
    );
    assert_eq!(events(&["--filter", "network=evnet"]).len(), 4);
    assert_eq!(
        events(&["--filter", "container=ev1"]).len(),
        4,
        "container events only"
    );
    let (_, err) = fails(h.docker(&["events", "--filter", "nosuch=1", "--until", &t1]));
    assert!(err.contains("invalid filter 'nosuch'"), "{err}");

    // Live: a follower sees a start as it happens.
    let mut follower = h
        .docker_cmd(&[
            "events",
            "--filter",
            "event=start",
            "--format",
            "{{.Actor.Attributes.name}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("docker events");
    std::thread::sleep(std::time::Duration::from_millis(500));
    ok(h.docker(&["run", "--rm", "--name", "live1", "busybox", "true"]));
    let mut line = String::new();
    let stdout = follower.stdout.take().expect("stdout");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("read");
    let _ = follower.kill();
    let _ = follower.wait();
    assert_eq!(line.trim(), "live1");
}

#[test]
fn container_prune_takes_stopped_ones_only() {
    let h = Host::with_busybox();
    ok(h.docker(&["run", "-d", "--name", "up", "busybox", "sleep", "1000"]));
    ok(h.docker(&["run", "--name", "done", "busybox", "true"]));
    ok(h.docker(&["create", "--name", "new", "-l", "keep=1", "busybox", "true"]));
    ok(h.docker(&["run", "--name", "kept", "-l", "keep=1", "busybox", "true"]));
    let out = ok(h.docker(&["container", "prune", "-f", "--filter", "label!=keep"]));
    let done = ok(h.docker(&["inspect", "-f", "{{.Id}}", "up"]));
    assert!(!out.contains(done.trim()), "{out}");
    let mut left: Vec<String> = ok(h.docker(&["ps", "-a", "--format", "{{.Names}}"]))
        .lines()
        .map(str::to_string)
        .collect();
    left.sort();
    assert_eq!(left, ["kept", "new", "up"]);
    ok(h.docker(&["container", "prune", "-f"]));
    let left = ok(h.docker(&["ps", "-a", "--format", "{{.Names}}"]));
    assert_eq!(left.trim(), "up");
    let (_, err) = fails(h.docker(&["container", "prune", "-f", "--filter", "nosuch=1"]));
    assert!(err.contains("invalid filter 'nosuch'"), "{err}");
}

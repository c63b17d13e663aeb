//! berth's own CLI against a berthd in a namespace: `--format` with Go templates (range, if,
//! index, len, join, json, table with headers) on ps, images, network ls and inspect;
//! `inspect --type`; Docker's exit codes and usage errors; and, without a daemon, shell
//! completions (bash's parsed by `bash -n`) and man pages.

mod common;

use common::{berth_bin, fails, ok, Host};
use std::process::{Command, Stdio};

#[test]
fn templates_inspect_type_and_exit_codes() {
    let h = Host::with_busybox();
    let b = |args: &[&str]| ok(h.berth(args));
    b(&["network", "create", "--label", "team=blue", "tmplnet"]);
    b(&[
        "run",
        "-d",
        "--name",
        "web",
        "--label",
        "k=v",
        "--network",
        "tmplnet",
        "busybox",
        "sleep",
        "1000",
    ]);

    // network ls: a bare template, `table` with the headers of the fields it names, json.
    let f = ["--filter", "name=tmplnet"];
    let ls = |t: &str| b(&[&["network", "ls", "--format", t][..], &f[..]].concat());
    assert_eq!(
        ls("{{.Name}} {{.Driver}} {{.Labels}}"),
        "tmplnet bridge team=blue\n"
    );
    assert_eq!(
        ls("table {{.Name}}\\t{{.Driver}}"),
        "NAME      DRIVER\ntmplnet   bridge\n"
    );
    let line: serde_json::Value = serde_json::from_str(ls("json").trim()).expect("json line");
    assert_eq!(line["Name"], "tmplnet");

    // ps: the docker CLI's row fields, `{{json .}}` a parseable object.
    assert_eq!(
        b(&["ps", "--format", "{{.Names}} {{.State}}"]),
        "web running\n"
    );
    let table = b(&["ps", "--format", "table {{.Names}}\\t{{.Networks}}"]);
    assert_eq!(table, "NAMES     NETWORKS\nweb       tmplnet\n");
    let row: serde_json::Value =
        serde_json::from_str(b(&["ps", "--format", "{{json .}}"]).trim()).expect("ps json");
    assert_eq!(row["Names"], "web");
    assert_eq!(row["Labels"], "k=v");

    // inspect: the whole object to the template, Go's functions and control structures.
    let t = "{{range .Config.Cmd}}[{{.}}]{{end}} {{len .Config.Cmd}} {{join .Config.Cmd \",\"}} \
             {{if .State.Running}}up{{else}}down{{end}} {{index .Config.Labels \"k\"}} \
             {{json .State.Running}}";
    assert_eq!(
        b(&["inspect", "--format", t, "web"]),
        "[sleep][1000] 2 sleep,1000 up v true\n"
    );
    // Printed as Go's text/template prints values.
    assert_eq!(
        b(&[
            "inspect",
            "--format",
            "{{.Config.Cmd}} {{.Config.Labels}}",
            "web"
        ]),
        "[sleep 1000] map[k:v]\n"
    );
    let (_, err) = fails(h.berth(&["inspect", "--format", "{{.Name", "web"]));
    assert!(err.contains("template"), "{err}");

    // images --format.
    let images = b(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.lines().any(|l| l == "busybox:latest"), "{images}");
    let head = b(&["images", "--format", "table {{.Repository}}\\t{{.Size}}"]);
    assert!(head.starts_with("REPOSITORY   SIZE\n"), "{head}");

    // inspect --type looks for that kind of object only.
    assert_eq!(
        b(&[
            "inspect",
            "--type",
            "network",
            "--format",
            "{{.Name}}",
            "tmplnet"
        ]),
        "tmplnet\n"
    );
    let (code, err) = fails(h.berth(&["inspect", "--type", "network", "web"]));
    assert_eq!((code, err.trim()), (1, "Error: No such network: web"));
    let (_, err) = fails(h.berth(&["inspect", "--type", "nothing", "web"]));
    assert!(err.contains("nothing"), "{err}");

    // Exit codes as Docker's: the container's, 127 (no such command), 126 (cannot be
    // run), 125 (the daemon refused, or a bad flag), 1 (a missing argument).
    let code = |args: &[&str]| fails(h.berth(args));
    assert_eq!(code(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]).0, 3);
    assert_eq!(code(&["run", "--rm", "busybox", "/no/such/cmd"]).0, 127);
    assert_eq!(code(&["run", "--rm", "busybox", "/etc"]).0, 126);
    let (c, err) = code(&["run", "--rm", "--network", "nosuchnet", "busybox", "true"]);
    assert_eq!(c, 125, "{err}");
    assert!(err.contains("nosuchnet"), "{err}");
    let (c, err) = code(&["run", "--nope", "busybox"]);
    assert_eq!(c, 125, "{err}");
    assert!(
        err.starts_with("unknown flag: --nope\n\nUsage:  berth run"),
        "{err}"
    );
    assert!(
        err.trim_end()
            .ends_with("Run 'berth run --help' for more information"),
        "{err}"
    );
    let (c, err) = code(&["run"]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("See 'berth run --help'"), "{err}");
    let (c, err) = code(&["nosuchverb"]);
    assert_eq!(c, 1, "{err}");
    assert!(
        err.starts_with("berth: unknown command: berth nosuchverb"),
        "{err}"
    );

    b(&["rm", "-f", "web"]);
    b(&["network", "rm", "tmplnet"]);
}

fn berth_alone(args: &[&str]) -> String {
    let out = Command::new(berth_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run berth");
    ok(out)
}

#[test]
fn completions_and_man_pages_need_no_daemon() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bash = berth_alone(&["completion", "bash"]);
    assert!(
        bash.contains("complete") && bash.contains("network"),
        "{bash}"
    );
    let script = dir.path().join("berth.bash");
    std::fs::write(&script, &bash).expect("write");
    let parsed = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash -n");
    assert!(
        parsed.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    assert!(berth_alone(&["completion", "zsh"]).starts_with("#compdef berth"));
    assert!(berth_alone(&["completion", "fish"]).contains("complete -c berth"));
    let man = dir.path().join("man1");
    berth_alone(&["man", man.to_str().expect("utf-8 path")]);
    for page in ["berth.1", "berth-run.1", "berth-network-ls.1"] {
        let text =
            std::fs::read_to_string(man.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}: {text}");
    }
}

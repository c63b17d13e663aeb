//! docker-compose 1.29 (Debian's, docker-py underneath) against berthd: a project with two
//! networks (one with IPAM config), aliases, published ports, depends_on, a bind-mounted volume
//! and environment comes up, answers ps/logs/exec/restart, goes down leaving others alone, and
//! comes up twice without error.

mod common;

use common::{ok, Host};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const COMPOSE: &str = "/usr/bin/docker-compose";

fn compose(h: &Host, dir: &Path, args: &[&str]) -> Output {
    assert!(
        Path::new(COMPOSE).exists(),
        "docker-compose is expected at {COMPOSE} (scripts/install-deps.sh installs it)"
    );
    Command::new(COMPOSE)
        .args(["--no-ansi", "-p", "proj"])
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", format!("unix://{}", h.socket.display()))
        .env("DOCKER_CONFIG", h.dir.path().join("docker-config"))
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run docker-compose")
}

const PROJECT: &str = r#"
version: "2.4"
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "echo db up as $$ROLE; echo served > /www/index.html; exec httpd -f -p 80 -h /www"]
    environment:
      ROLE: database
    networks:
      back:
        aliases: [database, store]
  web:
    image: busybox:latest
    command: ["sh", "-c", "echo web says $$GREETING; cat /data/hello.txt; exec sleep 1000"]
    depends_on: [db]
    ports: ["18080:80"]
    environment:
      - GREETING=hi
    volumes:
      - ./data:/data
    networks: [front, back]
networks:
  front: {}
  back:
    ipam:
      config:
        - subnet: 10.77.0.0/24
"#;

#[test]
fn compose_project_lifecycle() {
    let h = Host::with_busybox();
    let dir = h.dir.path().join("proj");
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    std::fs::write(dir.join("docker-compose.yml"), PROJECT).expect("write yaml");
    std::fs::write(dir.join("data/hello.txt"), "hello from the host\n").expect("write data");
    // Someone else's container, which `down` must leave alone.
    ok(h.docker(&[
        "run",
        "-d",
        "--name",
        "bystander",
        "busybox",
        "sleep",
        "1000",
    ]));

    ok(compose(&h, &dir, &["up", "-d"]));
    let ps = ok(compose(&h, &dir, &["ps"]));
    assert!(
        ps.contains("proj_db_1") && ps.contains("proj_web_1"),
        "{ps}"
    );
    assert_eq!(ps.matches(" Up ").count(), 2, "{ps}");
    assert!(ps.contains("0.0.0.0:18080->80/tcp"), "{ps}");

    let nets = ok(h.docker(&["network", "ls", "--format", "{{.Name}}"]));
    assert!(
        nets.contains("proj_front") && nets.contains("proj_back"),
        "{nets}"
    );
    let subnet = ok(h.docker(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
        "proj_back",
    ]));
    assert_eq!(subnet.trim(), "10.77.0.0/24");
    let web_nets = ok(h.docker(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        "proj_web_1",
    ]));
    assert_eq!(
        web_nets.trim(),
        "proj_back proj_front",
        "web is on both networks once"
    );

    // Aliases resolve through the embedded DNS; the bind mount and environment are there.
    let got = ok(compose(
        &h,
        &dir,
        &["exec", "-T", "web", "wget", "-qO-", "http://database/"],
    ));
    assert_eq!(got.trim(), "served");
    let ping = ok(compose(
        &h,
        &dir,
        &["exec", "-T", "web", "ping", "-c1", "-W2", "store"],
    ));
    assert!(ping.contains("10.77.0."), "{ping}");
    let env = ok(compose(
        &h,
        &dir,
        &["exec", "-T", "web", "sh", "-c", "echo $GREETING"],
    ));
    assert_eq!(env.trim(), "hi");

    let logs = ok(compose(&h, &dir, &["logs", "--no-color"]));
    assert!(logs.contains("web says hi"), "{logs}");
    assert!(logs.contains("hello from the host"), "{logs}");
    assert!(logs.contains("db up as database"), "{logs}");

    ok(compose(&h, &dir, &["restart"]));
    let ps = ok(compose(&h, &dir, &["ps"]));
    assert_eq!(ps.matches(" Up ").count(), 2, "{ps}");

    // A second `up` finds everything in place.
    ok(compose(&h, &dir, &["up", "-d"]));

    ok(compose(&h, &dir, &["down"]));
    let left = ok(h.docker(&["ps", "-a", "--format", "{{.Names}}"]));
    assert_eq!(
        left.trim(),
        "bystander",
        "down removes only the project's containers"
    );
    let nets = ok(h.docker(&["network", "ls", "--format", "{{.Name}}"]));
    assert!(!nets.contains("proj_"), "{nets}");

    // And the project comes up again after down.
    ok(compose(&h, &dir, &["up", "-d"]));
    ok(compose(&h, &dir, &["down"]));
}

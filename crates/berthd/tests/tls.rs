//! The remote API secured: mutual TLS driven by the stock docker CLI and berth, each refusal,
//! the plain-TCP rules, a Docker user's daemon.json, the socket's group, and the bounds every
//! connection gets (header read timeout, connection cap, JSON error bodies).
//! Certificates are made at test time with rcgen.

mod common;

use common::{berth_bin, berthd_bin, fails, ok, Host, DOCKER};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A CA and what it signs, written as PEM files into one directory.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p.self_signed(&key).expect("self-sign CA");
        Ca { cert, key }
    }

    /// Signs a leaf for `usage`, writing `<stem>-cert.pem` and `<stem>-key.pem` into `dir`.
    fn issue(
        &self,
        dir: &Path,
        stem: &str,
        usage: ExtendedKeyUsagePurpose,
        expired: bool,
    ) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().expect("leaf key");
        let mut p = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("leaf params");
        p.distinguished_name.push(DnType::CommonName, stem);
        p.extended_key_usages = vec![usage];
        if expired {
            p.not_before = rcgen::date_time_ymd(2001, 1, 1);
            p.not_after = rcgen::date_time_ymd(2002, 1, 1);
        }
        let cert = p.signed_by(&key, &self.cert, &self.key).expect("sign leaf");
        let c = dir.join(format!("{stem}-cert.pem"));
        let k = dir.join(format!("{stem}-key.pem"));
        std::fs::write(&c, cert.pem()).expect("write cert");
        std::fs::write(&k, key.serialize_pem()).expect("write key");
        (c, k)
    }

    fn write(&self, path: &Path) {
        std::fs::write(path, self.cert.pem()).expect("write CA");
    }
}

/// A server certificate, a good client certificate and the CA, plus a DOCKER_CERT_PATH-style
/// directory (`ca.pem`, `cert.pem`, `key.pem`) for the client.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    server: (PathBuf, PathBuf),
    client: (PathBuf, PathBuf),
    client_dir: PathBuf,
    authority: Ca,
}

fn pki(h: &Host) -> Pki {
    let dir = h.dir.path().join("pki");
    std::fs::create_dir_all(&dir).expect("pki dir");
    let authority = Ca::new("berth test CA");
    let ca = dir.join("ca.pem");
    authority.write(&ca);
    let server = authority.issue(&dir, "server", ExtendedKeyUsagePurpose::ServerAuth, false);
    let client = authority.issue(&dir, "client", ExtendedKeyUsagePurpose::ClientAuth, false);
    let client_dir = dir.join("client");
    std::fs::create_dir_all(&client_dir).expect("client dir");
    std::fs::copy(&ca, client_dir.join("ca.pem")).expect("copy ca");
    std::fs::copy(&client.0, client_dir.join("cert.pem")).expect("copy cert");
    std::fs::copy(&client.1, client_dir.join("key.pem")).expect("copy key");
    Pki {
        dir,
        ca,
        server,
        client,
        client_dir,
        authority,
    }
}

fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

const TLS_HOST: &str = "tcp://127.0.0.1:2376";

/// A daemon serving mutual TLS on the namespace's loopback (and its unix socket).
fn tls_host(with_busybox: bool) -> (Host, Pki) {
    let mut h = Host::bare();
    let p = pki(&h);
    h.extra_args = vec![
        "-H".into(),
        TLS_HOST.into(),
        "--tlsverify".into(),
        "--tlscacert".into(),
        s(&p.ca),
        "--tlscert".into(),
        s(&p.server.0),
        "--tlskey".into(),
        s(&p.server.1),
    ];
    h.start_daemon();
    if with_busybox {
        h.import_busybox();
    }
    (h, p)
}

/// `prog args…` inside the host's network namespace, with no inherited client settings.
fn in_ns(h: &Host, prog: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("nsenter");
    c.args(["-t", &h.pid().to_string(), "-n", "--"])
        .arg(prog)
        .args(args)
        .stdin(Stdio::null())
        .env("DOCKER_CONFIG", h.dir.path().join("docker-config"))
        .env("HOME", h.dir.path());
    for v in [
        "DOCKER_HOST",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "BERTH_HOST",
        "BERTH_TLS_VERIFY",
        "BERTH_CERT_PATH",
    ] {
        c.env_remove(v);
    }
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("run client")
}

fn tls_flags(p: &Pki) -> Vec<String> {
    vec![
        "--tlsverify".into(),
        "--tlscacert".into(),
        s(&p.ca),
        "--tlscert".into(),
        s(&p.client.0),
        "--tlskey".into(),
        s(&p.client.1),
        "-H".into(),
        TLS_HOST.into(),
    ]
}

/// The whole client round: network ls, run --rm with output, exec, logs -f.
fn exercise(h: &Host, prog: &Path, flags: &[String], env: &[(&str, String)], tag: &str) {
    let cmd = |args: &[&str]| {
        let mut all: Vec<&str> = flags.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        let mut c = in_ns(h, prog, &all);
        for (k, v) in env {
            c.env(k, v);
        }
        c
    };
    let names = ok(run(cmd(&["network", "ls", "--format", "{{.Name}}"])));
    assert_eq!(names, "bridge\nhost\nnone\n", "{tag}");
    let out = ok(run(cmd(&["run", "--rm", "busybox", "echo", "over-tls"])));
    assert_eq!(out, "over-tls\n", "{tag}");
    let name = format!("tls-{tag}");
    ok(run(cmd(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo first; sleep 1; echo second; sleep 30",
    ])));
    let out = ok(run(cmd(&["exec", &name, "echo", "exec-ok"])));
    assert_eq!(out, "exec-ok\n", "{tag}");
    // logs -f streams until the container ends; stop it from the side once both lines are in.
    let mut follow = cmd(&["logs", "-f", &name])
        .stdout(Stdio::piped())
        .spawn()
        .expect("logs -f");
    let mut stdout = follow.stdout.take().expect("piped");
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&got).contains("second") {
        assert!(Instant::now() < deadline, "{tag}: logs -f gave {got:?}");
        let n = stdout.read(&mut buf).expect("read logs");
        assert!(n > 0, "{tag}: logs -f ended early with {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(String::from_utf8_lossy(&got), "first\nsecond\n", "{tag}");
    ok(run(cmd(&["rm", "-f", &name])));
    let status = follow.wait().expect("logs -f ends");
    assert!(status.success(), "{tag}: logs -f exited with {status}");
}

#[test]
fn docker_and_berth_drive_the_daemon_over_mutual_tls() {
    let (h, p) = tls_host(true);
    let docker = Path::new(DOCKER);
    exercise(&h, docker, &tls_flags(&p), &[], "docker-flags");
    let env = vec![
        ("DOCKER_TLS_VERIFY", "1".to_string()),
        ("DOCKER_CERT_PATH", s(&p.client_dir)),
        ("DOCKER_HOST", TLS_HOST.to_string()),
    ];
    exercise(&h, docker, &[], &env, "docker-env");
    exercise(&h, &berth_bin(), &tls_flags(&p), &[], "berth-flags");
    // berth reads its own variables, falling back to Docker's.
    let env = vec![
        ("BERTH_TLS_VERIFY", "1".to_string()),
        ("BERTH_CERT_PATH", s(&p.client_dir)),
        ("BERTH_HOST", TLS_HOST.to_string()),
    ];
    exercise(&h, &berth_bin(), &[], &env, "berth-env");
    let env = vec![
        ("DOCKER_TLS_VERIFY", "1".to_string()),
        ("DOCKER_CERT_PATH", s(&p.client_dir)),
        ("DOCKER_HOST", TLS_HOST.to_string()),
    ];
    let names = ok(run({
        let mut c = in_ns(
            &h,
            &berth_bin(),
            &["network", "ls", "--format", "{{.Name}}"],
        );
        c.envs(env);
        c
    }));
    assert_eq!(names, "bridge\nhost\nnone\n");
    // The default cert directory: ~/.berth when it exists (HOME is the test's dir).
    let home_certs = h.dir.path().join(".berth");
    std::fs::create_dir_all(&home_certs).expect("mkdir ~/.berth");
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(p.client_dir.join(f), home_certs.join(f)).expect("copy to ~/.berth");
    }
    let names = ok(run(in_ns(
        &h,
        &berth_bin(),
        &["--tlsverify", "-H", TLS_HOST, "network", "ls", "-q"],
    )));
    assert_eq!(names.lines().count(), 3);
}

#[test]
fn refused_clients_are_logged_once_each_and_serving_goes_on() {
    let (h, p) = tls_host(false);
    let other = Ca::new("some other CA");
    let foreign = other.issue(
        &p.dir,
        "foreign",
        ExtendedKeyUsagePurpose::ClientAuth,
        false,
    );
    let expired = p
        .authority
        .issue(&p.dir, "expired", ExtendedKeyUsagePurpose::ClientAuth, true);
    let none = p.dir.join("absent.pem");
    let berth = berth_bin();
    let attempt = |cert: &Path, key: &Path| {
        let ca = s(&p.ca);
        let (cert, key) = (s(cert), s(key));
        fails(run(in_ns(
            &h,
            &berth,
            &[
                "--tlsverify",
                "--tlscacert",
                &ca,
                "--tlscert",
                &cert,
                "--tlskey",
                &key,
                "-H",
                TLS_HOST,
                "network",
                "ls",
            ],
        )))
        .1
    };
    let before = h.log().matches("TLS client refused").count();
    let e = attempt(&none, &none);
    assert!(e.contains("127.0.0.1:2376"), "no client certificate: {e}");
    let e = attempt(&foreign.0, &foreign.1);
    assert!(e.contains("127.0.0.1:2376"), "other CA: {e}");
    let e = attempt(&expired.0, &expired.1);
    assert!(e.contains("127.0.0.1:2376"), "expired: {e}");
    // Plain HTTP to the TLS port gets the answer Docker's daemon gives.
    let (_, e) = fails(run(in_ns(&h, &berth, &["-H", TLS_HOST, "network", "ls"])));
    assert!(
        e.contains("Client sent an HTTP request to an HTTPS server"),
        "plain HTTP: {e}"
    );
    // The log says why, once per connection; poll briefly: the log line may trail the client.
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused = || -> Vec<String> {
        h.log()
            .lines()
            .filter(|l| l.contains("TLS client refused"))
            .map(str::to_lowercase)
            .collect()
    };
    while refused().len() < before + 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let lines = refused();
    assert_eq!(lines.len(), before + 4, "{}", h.log());
    let all = lines.join("\n");
    for why in ["no certificates", "unknownissuer", "expired", "plain http"] {
        assert!(all.contains(why), "no refusal naming {why}:\n{all}");
    }
    let (_, e) = fails(run(in_ns(
        &h,
        Path::new(DOCKER),
        &["-H", TLS_HOST, "version"],
    )));
    assert!(e.contains("HTTPS server"), "docker over plain HTTP: {e}");
    let flags = tls_flags(&p);
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend(["network", "ls", "-q"]);
    assert_eq!(ok(run(in_ns(&h, &berth, &args))).lines().count(), 3);
}

/// berthd's exit and stderr for a start that must fail before serving.
fn start_fails(h: &Host, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = h
        .daemon_command(&args)
        .stdin(Stdio::null())
        .output()
        .expect("run berthd");
    assert!(!out.status.success(), "berthd started with {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn plain_tcp_only_on_loopback_or_when_asked_for() {
    let mut h = Host::bare();
    h.sh("ip link add tls-a type veth peer name tls-b && ip addr add 10.77.0.1/24 dev tls-a && ip link set tls-a up && ip link set tls-b up");
    let e = start_fails(&h, &["-H", "tcp://10.77.0.1:2375"]);
    assert!(
        e.contains("refusing to listen on tcp://10.77.0.1:2375 without TLS")
            && e.contains("--tlsverify")
            && e.contains("--tls=false"),
        "{e}"
    );
    // An address without a port takes Docker's plain port, and is refused the same way.
    let e = start_fails(&h, &["-H", "tcp://10.77.0.1"]);
    assert!(e.contains("tcp://10.77.0.1:2375"), "{e}");
    h.extra_args = [
        "-H",
        "10.77.0.1:2375",
        "--tls=false",
        "-H",
        "tcp://127.0.0.1",
    ]
    .map(String::from)
    .to_vec();
    h.start_daemon();
    for host in ["tcp://10.77.0.1:2375", "127.0.0.1:2375"] {
        let out = ok(run(in_ns(
            &h,
            &berth_bin(),
            &["-H", host, "network", "ls", "-q"],
        )));
        assert_eq!(out.lines().count(), 3, "{host}");
    }
    let log = h.log();
    assert!(log.contains("--tls=false"), "{log}");
    assert!(log.contains("listening on TCP without TLS"), "{log}");
    h.stop_daemon();
    // With TLS a port-less address means 2376.
    let p = pki(&h);
    h.extra_args = vec![
        "-H".into(),
        "tcp://10.77.0.1".into(),
        "--tls".into(),
        "--tlscert".into(),
        s(&p.server.0),
        "--tlskey".into(),
        s(&p.server.1),
    ];
    h.start_daemon();
    // --tls without --tlsverify: encrypted, no client certificate asked for.
    let out = ok(run(in_ns(
        &h,
        &berth_bin(),
        &["--tls", "-H", "tcp://10.77.0.1:2376", "network", "ls", "-q"],
    )));
    assert_eq!(out.lines().count(), 3);
}

#[test]
fn certificate_problems_name_the_file() {
    let h = Host::bare();
    let p = pki(&h);
    let other = Ca::new("other");
    let stray = other.issue(&p.dir, "stray", ExtendedKeyUsagePurpose::ServerAuth, false);
    let empty = p.dir.join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").expect("write");
    let missing = p.dir.join("missing.pem");
    let conf = h.config_file();
    let validate = |ca: &Path, cert: &Path, key: &Path| {
        Command::new(berthd_bin())
            .args([
                "--validate",
                "--config-file",
                &s(&conf),
                "-H",
                TLS_HOST,
                "--tlsverify",
            ])
            .args([
                "--tlscacert",
                &s(ca),
                "--tlscert",
                &s(cert),
                "--tlskey",
                &s(key),
            ])
            .output()
            .expect("berthd --validate")
    };
    let out = validate(&p.ca, &p.server.0, &p.server.1);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "configuration OK\n");
    for (ca, cert, key, needle) in [
        (&p.ca, &missing, &p.server.1, s(&missing)),
        (&p.ca, &p.server.0, &missing, s(&missing)),
        (
            &p.ca,
            &p.server.0,
            &stray.1,
            format!("{} does not match", s(&stray.1)),
        ),
        (
            &empty,
            &p.server.0,
            &p.server.1,
            format!("{} contains no PEM certificate", s(&empty)),
        ),
        (&missing, &p.server.0, &p.server.1, s(&missing)),
    ] {
        let out = validate(ca, cert, key);
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && e.contains(&needle),
            "{needle}: {e}"
        );
    }
    // The same checks stop a real start.
    let e = start_fails(
        &h,
        &[
            "-H",
            TLS_HOST,
            "--tlsverify",
            "--tlscacert",
            &s(&p.ca),
            "--tlscert",
            &s(&missing),
            "--tlskey",
            &s(&p.server.1),
        ],
    );
    assert!(e.contains(&s(&missing)), "{e}");
}

#[test]
fn a_docker_users_daemon_json_starts_berthd() {
    let mut h = Host::bare();
    std::fs::write(
        h.config_file(),
        r#"{"registry-mirrors": ["https://x"], "max-concurrent-downloads": 3, "bip": "192.168.88.8/24"}"#,
    )
    .expect("write daemon.json");
    h.start_daemon();
    let (status, net) = h.api("GET", "/networks/bridge", None);
    assert_eq!(status, 200);
    assert_eq!(net["IPAM"]["Config"][0]["Subnet"], "192.168.88.0/24");
    assert_eq!(net["IPAM"]["Config"][0]["Gateway"], "192.168.88.8");
    let log = h.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("does not act on"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    // registry-mirrors is acted on (pulls ask the mirror); the download limit is not.
    assert!(warnings[0].contains("max-concurrent-downloads"), "{log}");
    assert!(!warnings[0].contains("registry-mirrors"), "{log}");
    h.stop_daemon();
    std::fs::write(
        h.config_file(),
        r#"{"bip": "192.168.88.8/24", "mirrors-of-registry": 1}"#,
    )
    .expect("write daemon.json");
    let e = start_fails(&h, &[]);
    assert!(
        e.contains("don't match any configuration option: mirrors-of-registry"),
        "{e}"
    );
}

/// A GID no account on the machine uses, so the test needs no group of its own.
fn unused_gid() -> u32 {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    (61000..62000)
        .find(|g| {
            !groups
                .lines()
                .any(|l| l.split(':').nth(2) == Some(&g.to_string()))
        })
        .expect("a free GID")
}

#[test]
fn the_socket_belongs_to_root_and_its_group() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let gid = unused_gid();
    let h = Host::with_args(&["-G", &gid.to_string()]);
    let meta = std::fs::metadata(&h.socket).expect("socket");
    assert_eq!((meta.uid(), meta.gid()), (0, gid));
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    // Let an unprivileged user reach the socket's directory; the socket itself decides.
    for d in [
        h.dir.path().to_path_buf(),
        h.socket.parent().expect("dir").to_path_buf(),
    ] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o711)).expect("chmod");
    }
    let as_nobody = |groups: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534"])
            .args(groups)
            .arg(berth_bin())
            .args([
                "-H",
                &format!("unix://{}", h.socket.display()),
                "network",
                "ls",
                "-q",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("setpriv")
    };
    let out = ok(as_nobody(&[&format!("--groups={gid}")]));
    assert_eq!(out.lines().count(), 3);
    let (_, e) = fails(as_nobody(&["--clear-groups"]));
    assert!(e.to_lowercase().contains("permission denied"), "{e}");
    // A group that does not exist stops the start, naming it.
    let e = start_fails(&Host::bare(), &["-G", "no-such-group-berth-test"]);
    assert!(e.contains("no-such-group-berth-test"), "{e}");
}

/// A daemon with small bounds, started by hand: the bounds come from its environment.
struct Bounded {
    host: Host,
    daemon: std::process::Child,
}

impl Drop for Bounded {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn bounded(timeout_s: &str, max: &str) -> Bounded {
    bounded_with(Host::bare(), timeout_s, max, &[])
}

fn bounded_with(host: Host, timeout_s: &str, max: &str, args: &[String]) -> Bounded {
    let daemon = host
        .daemon_command(args)
        .env("BERTH_HEADER_READ_TIMEOUT", timeout_s)
        .env("BERTH_MAX_CONNECTIONS", max)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn berthd");
    let deadline = Instant::now() + Duration::from_secs(20);
    while host
        .try_api("GET", "/_ping", None)
        .map(|r| r.0)
        .unwrap_or(0)
        != 200
    {
        assert!(Instant::now() < deadline, "berthd did not become ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    Bounded { host, daemon }
}

fn ping_on(s: &mut UnixStream) -> String {
    s.write_all(b"GET /_ping HTTP/1.1\r\nHost: berth\r\n\r\n")
        .expect("send ping");
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).expect("read ping");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Waits until the daemon closes `s` (EOF), up to `limit`.
fn closed_within(s: &mut UnixStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).expect("timeout");
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0))
}

#[test]
fn idle_and_half_sent_connections_are_cut_while_others_are_served() {
    let b = bounded("1", "4");
    let sock = &b.host.socket;
    let mut busy = UnixStream::connect(sock).expect("connect");
    assert!(ping_on(&mut busy).starts_with("HTTP/1.1 200"));
    let mut idle = UnixStream::connect(sock).expect("connect");
    let mut half = UnixStream::connect(sock).expect("connect");
    half.write_all(b"GET /_ping HTTP/1.1\r\nHost: be")
        .expect("half a request");
    let mut third = UnixStream::connect(sock).expect("connect");
    // The cap (4) is reached: a fifth client waits, while the open ones are still served.
    let mut waiting = UnixStream::connect(sock).expect("connect");
    waiting
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
        .expect("send");
    assert!(ping_on(&mut busy).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    for (name, s) in [
        ("idle", &mut idle),
        ("half-sent", &mut half),
        ("third", &mut third),
    ] {
        assert!(
            closed_within(s, Duration::from_secs(5)),
            "{name} connection not cut"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(4));
    // Once the slots are free, the waiting client is served.
    waiting
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut answer = String::new();
    waiting.read_to_string(&mut answer).expect("served");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
}

#[test]
fn every_refusal_is_json_with_dockers_status() {
    let h = Host::new();
    let (status, body) = h.api("GET", "/no/such/route", None);
    assert_eq!(status, 404);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("/no/such/route")),
        "{body}"
    );
    let (status, body) = h.api("DELETE", "/_ping", None);
    assert_eq!(status, 405);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("DELETE")),
        "{body}"
    );
    // An oversized body: the daemon may answer before it is all sent, so write errors are fine.
    let mut s = UnixStream::connect(&h.socket).expect("connect");
    let len = 3 * 1024 * 1024;
    let _ = write!(
        s,
        "POST /networks/create HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    );
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..len / chunk.len() {
        if s.write_all(&chunk).is_err() {
            break;
        }
    }
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    assert!(
        answer.contains(r#"{"message":"request body too large"#),
        "{answer:?}"
    );
    // Malformed HTTP: hyper answers 400 and closes.
    let mut s = UnixStream::connect(&h.socket).expect("connect");
    s.write_all(b"GARBAGE\x01 / NOPE\r\n\r\n").expect("send");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    // Nothing of it stopped the daemon.
    assert_eq!(h.try_api("GET", "/_ping", None).expect("ping").0, 200);
}

#[test]
fn a_tls_handshake_that_never_comes_is_cut() {
    let host = Host::bare();
    let p = pki(&host);
    let args: Vec<String> = ["-H", TLS_HOST, "--tlsverify", "--tlscacert", &s(&p.ca)]
        .into_iter()
        .map(String::from)
        .chain([
            "--tlscert".into(),
            s(&p.server.0),
            "--tlskey".into(),
            s(&p.server.1),
        ])
        .collect();
    let b = bounded_with(host, "1", "8", &args);
    // The TCP port lives in the test's namespace: a shell there holds a silent connection
    // open and reports how long it lasted.
    let script = "exec 3<>/dev/tcp/127.0.0.1/2376 2>/dev/null || exit 9; s=$(date +%s); cat <&3 >/dev/null; echo $(( $(date +%s) - s ))";
    let out = b.host.sh_out(&format!("timeout 10 bash -c '{script}'"));
    assert!(out.status.success(), "connection not cut: {out:?}");
    let held: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("seconds");
    assert!(held <= 3, "a silent TLS client was held {held} s");
    let flags = tls_flags(&p);
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend(["network", "ls", "-q"]);
    assert_eq!(
        ok(run(in_ns(&b.host, &berth_bin(), &args))).lines().count(),
        3
    );
}

//! What mutual TLS costs: the same API round trips over the unix socket and over TLS on
//! loopback, alternated in one run against one release berthd.
//!
//! - On one open connection each (after the first connection, so the handshake is excluded):
//!   `network create` + `rm`, and `run -d` as the CLI makes it (create + start).
//! - Through the berth CLI, one process and so one connection (and handshake) per command.
//!
//! Usage: bench-tls [N]   (default 100 round trips of each kind per transport)

use berth_bench::{enter_private_namespaces, pct, spread, Daemon};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

const TLS_ADDR: &str = "127.0.0.1:2376";
const API: &str = "/v1.51";

/// CA, server and client certificates as PEM files in `dir`.
fn make_certs(dir: &Path) {
    let ca_key = KeyPair::generate().expect("key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = p.self_signed(&ca_key).expect("CA");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write");
    for (stem, usage) in [
        ("server", ExtendedKeyUsagePurpose::ServerAuth),
        ("client", ExtendedKeyUsagePurpose::ClientAuth),
    ] {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        p.extended_key_usages = vec![usage];
        let cert = p.signed_by(&key, &ca, &ca_key).expect("sign");
        std::fs::write(dir.join(format!("{stem}-cert.pem")), cert.pem()).expect("write");
        std::fs::write(dir.join(format!("{stem}-key.pem")), key.serialize_pem()).expect("write");
    }
}

fn client_tls(dir: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.join("ca.pem")).expect("ca") {
        roots.add(c.expect("ca pem")).expect("root");
    }
    let chain = CertificateDer::pem_file_iter(dir.join("client-cert.pem"))
        .expect("cert")
        .collect::<Result<Vec<_>, _>>()
        .expect("cert pem");
    let key = PrivateKeyDer::from_pem_file(dir.join("client-key.pem")).expect("key");
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .expect("client cert");
    Arc::new(cfg)
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// One keep-alive HTTP/1.1 connection.
struct Conn(BufReader<Box<dyn Stream>>);

impl Conn {
    fn unix(sock: &Path) -> Conn {
        let s = std::os::unix::net::UnixStream::connect(sock).expect("connect unix");
        Conn(BufReader::new(Box::new(s)))
    }

    fn tls(cfg: &Arc<rustls::ClientConfig>) -> Conn {
        let tcp = std::net::TcpStream::connect(TLS_ADDR).expect("connect tcp");
        tcp.set_nodelay(true).expect("nodelay");
        let name = ServerName::try_from("127.0.0.1").expect("name");
        let c = rustls::ClientConnection::new(cfg.clone(), name).expect("tls client");
        Conn(BufReader::new(Box::new(rustls::StreamOwned::new(c, tcp))))
    }

    /// Sends one request and reads the whole answer; panics unless it is 2xx.
    fn call(&mut self, method: &str, path: &str, body: &str) -> String {
        let req = format!(
            "{method} {API}{path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let s = self.0.get_mut();
        s.write_all(req.as_bytes()).expect("send");
        s.flush().expect("flush");
        let mut line = String::new();
        self.0.read_line(&mut line).expect("status");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let (mut len, mut chunked) = (0usize, false);
        loop {
            line.clear();
            self.0.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let lower = l.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.0.read_line(&mut line).expect("chunk size");
                let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0u8; n + 2];
                self.0.read_exact(&mut chunk).expect("chunk");
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
            }
        } else {
            out.resize(len, 0);
            self.0.read_exact(&mut out).expect("body");
        }
        let text = String::from_utf8_lossy(&out).into_owned();
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {text}"
        );
        text
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn network_round(c: &mut Conn, name: &str) -> f64 {
    let t = Instant::now();
    c.call(
        "POST",
        "/networks/create",
        &format!(r#"{{"Name":"{name}"}}"#),
    );
    c.call("DELETE", &format!("/networks/{name}"), "");
    ms(t)
}

fn run_d(c: &mut Conn, name: &str) -> f64 {
    let t = Instant::now();
    let created = c.call(
        "POST",
        &format!("/containers/create?name={name}"),
        r#"{"Image":"busybox","Cmd":["sleep","100000"]}"#,
    );
    let id = serde_json::from_str::<serde_json::Value>(&created).expect("create answer")["Id"]
        .as_str()
        .expect("Id")
        .to_string();
    c.call("POST", &format!("/containers/{id}/start"), "");
    ms(t)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    enter_private_namespaces();
    let certs = tempfile::tempdir().expect("tempdir");
    let dir = certs.path();
    make_certs(dir);
    let p = |f: &str| dir.join(f).display().to_string();
    let d = Daemon::start_with(&[
        "-H".into(),
        format!("tcp://{TLS_ADDR}"),
        "--tlsverify".into(),
        "--tlscacert".into(),
        p("ca.pem"),
        "--tlscert".into(),
        p("server-cert.pem"),
        "--tlskey".into(),
        p("server-key.pem"),
    ]);
    let cfg = client_tls(dir);
    let t = Instant::now();
    let mut tls = Conn::tls(&cfg);
    tls.call("GET", "/_ping", "");
    let first_tls = ms(t);
    let t = Instant::now();
    let mut unix = Conn::unix(&d.sock);
    unix.call("GET", "/_ping", "");
    let first_unix = ms(t);

    let (mut net_u, mut net_t, mut run_u, mut run_t) = (vec![], vec![], vec![], vec![]);
    // A create right after an rm waits for the kernel to unregister the old bridge: which
    // transport goes first alternates, so that wait falls on both alike.
    for i in 0..n {
        if i % 2 == 0 {
            net_u.push(network_round(&mut unix, &format!("nu{i}")));
            net_t.push(network_round(&mut tls, &format!("nt{i}")));
        } else {
            net_t.push(network_round(&mut tls, &format!("nt{i}")));
            net_u.push(network_round(&mut unix, &format!("nu{i}")));
        }
    }
    for i in 0..n {
        if i % 2 == 0 {
            run_u.push(run_d(&mut unix, &format!("ru{i}")));
            run_t.push(run_d(&mut tls, &format!("rt{i}")));
        } else {
            run_t.push(run_d(&mut tls, &format!("rt{i}")));
            run_u.push(run_d(&mut unix, &format!("ru{i}")));
        }
    }

    // Through the CLI: a process, a connection and (over TLS) a full handshake per command.
    let berth = std::env::current_exe()
        .expect("own path")
        .with_file_name("berth");
    let cli = |tls: bool, args: &[&str]| {
        let mut c = Command::new(&berth);
        if tls {
            c.args(["--tlsverify", "--tlscacert", &p("ca.pem")])
                .args([
                    "--tlscert",
                    &p("client-cert.pem"),
                    "--tlskey",
                    &p("client-key.pem"),
                ])
                .args(["-H", &format!("tcp://{TLS_ADDR}")]);
        } else {
            c.arg("-H").arg(format!("unix://{}", d.sock.display()));
        }
        let t = Instant::now();
        let out = c.args(args).output().expect("run berth");
        assert!(
            out.status.success(),
            "berth {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ms(t)
    };
    let (mut cli_u, mut cli_t) = (vec![], vec![]);
    for i in 0..n.div_ceil(4) {
        for (tls, v) in [(false, &mut cli_u), (true, &mut cli_t)] {
            let name = format!("cli{}{i}", if tls { "t" } else { "u" });
            v.push(cli(tls, &["network", "create", &name]) + cli(tls, &["network", "rm", &name]));
        }
    }
    let ids = d.cli(&["ps", "-aq"]);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids);
    d.cli(&rm);

    let ratio = |t: &[f64], u: &[f64]| pct(t, 0.5) / pct(u, 0.5);
    println!(
        "TLS against the unix socket, {n} alternated round trips each (ms), one release berthd:"
    );
    println!("  first request on a new connection: unix {first_unix:.2}  TLS {first_tls:.2} (handshake included)");
    println!(
        "  network create+rm, open connection: unix {}",
        spread(&net_u)
    );
    println!(
        "                                      TLS  {}",
        spread(&net_t)
    );
    println!(
        "    ratio of medians TLS/unix: {:.2} (target <= 1.2)",
        ratio(&net_t, &net_u)
    );
    println!(
        "  run -d (create+start), open connection: unix {}",
        spread(&run_u)
    );
    println!(
        "                                          TLS  {}",
        spread(&run_t)
    );
    println!(
        "    ratio of medians TLS/unix: {:.2} (target <= 1.2)",
        ratio(&run_t, &run_u)
    );
    println!(
        "  berth network create + rm, a process and connection each ({} runs): unix {}",
        cli_u.len(),
        spread(&cli_u)
    );
    println!(
        "                                                              TLS  {}",
        spread(&cli_t)
    );
    println!(
        "    ratio of medians TLS/unix: {:.2} (includes two handshakes)",
        ratio(&cli_t, &cli_u)
    );
}

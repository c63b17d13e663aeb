//! `berth ui` in a real browser: headless Chromium driven over WebDriver (chromedriver) by the
//! small client below. The page lists networks and containers, shows a container started
//! afterwards without a reload, and its check form gives the CLI's verdict.
//!
//! berthd runs in the test's own namespace as usual; `berth ui`, chromedriver and Chromium run
//! in the machine's namespace and talk over its loopback only (the ui reaches berthd through
//! the test's unix socket). Chromium gets a fresh profile and no network features.

mod common;

use common::{ok, Host};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// One HTTP/1.1 request with a JSON body; the JSON answer.
fn http_json(port: u16, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    // chromedriver keeps the connection open after its answer: read by Content-Length.
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok());
            if len.is_some_and(|l| rest.len() >= l) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let (_, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok(serde_json::from_str(rest).unwrap_or(Value::Null))
}

/// chromedriver and one browser session; both end when this is dropped.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is missing: install chromium and chromium-driver (scripts/install-deps.sh)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http_json(port, "GET", "/status", None)
            .map(|v| v["value"]["ready"] != true)
            .unwrap_or(true)
        {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::Builder::new()
            .prefix("berth-ui-chromium-")
            .tempdir()
            .expect("profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let v = http_json(port, "POST", "/session", Some(&caps)).expect("new session");
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        Browser {
            driver,
            port,
            session,
            _profile: profile,
        }
    }

    fn cmd(&self, method: &str, what: &str, body: Value) -> Value {
        let path = format!("/session/{}/{what}", self.session);
        let v = http_json(self.port, method, &path, Some(&body)).expect("webdriver request");
        assert!(v["value"].get("error").is_none(), "{what}: {v}");
        v["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "url", json!({"url": url}));
    }

    fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    /// Runs `script` until it returns something other than null or false (10 s at most).
    fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.js(script);
            if !v.is_null() && v != false {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http_json(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A child process ended when the test ends, even by a panic.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `berth ui` on a free loopback port; its address, and the process.
fn start_ui(h: &Host) -> (String, Killed) {
    let mut child = h
        .berth_cmd(&["ui", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start berth ui");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read berth ui's first line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (url, Killed(child))
}

fn rows(table: &str) -> String {
    format!("Array.from(document.querySelectorAll('#{table} tbody tr')).map(r => r.dataset.name)")
}

#[test]
fn the_page_lists_updates_live_and_checks_like_the_cli() {
    let h = Host::with_busybox();
    ok(h.berth(&["network", "create", "--subnet", "10.1.0.0/24", "front"]));
    ok(h.berth(&["run", "-d", "--name", "a", "busybox", "sleep", "1000"]));
    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "b",
        "--network",
        "front",
        "busybox",
        "sleep",
        "1000",
    ]));
    ok(h.berth(&["run", "-d", "--name", "a2", "busybox", "sleep", "1000"]));
    let (url, ui) = start_ui(&h);
    let browser = Browser::start();
    browser.goto(&url);
    let nets = browser.wait_for(
        "the networks",
        &format!(
            "const n = {}; return n.includes('front') ? n : null",
            rows("networks")
        ),
    );
    assert!(
        nets.as_array().unwrap().iter().any(|n| n == "bridge"),
        "{nets}"
    );
    browser.wait_for(
        "the containers",
        &format!(
            "const c = {}; return c.includes('a') && c.includes('b') ? c : null",
            rows("containers")
        ),
    );
    browser.wait_for(
        "the graph",
        "return document.querySelector('#graph svg') !== null",
    );

    // A container started now appears without a reload: the marker set on this page survives.
    browser.js("window.berthMarker = 42; return true");
    ok(h.berth(&[
        "run",
        "-d",
        "--name",
        "late",
        "--network",
        "front",
        "busybox",
        "sleep",
        "1000",
    ]));
    browser.wait_for(
        "the new container",
        &format!("return {}.includes('late')", rows("containers")),
    );
    assert_eq!(
        browser.js("return window.berthMarker"),
        42,
        "the page was reloaded"
    );
    browser.wait_for(
        "the new container in the graph",
        "return document.querySelector('#graph svg').textContent.includes('late')",
    );

    // The form gives the CLI's verdict, for a blocked pair and a reachable one.
    for (src, dst) in [("a", "b"), ("a", "a2"), ("b", "late")] {
        let cli = h.berth(&["network", "check", src, dst, "--format", "json"]);
        let want: Value = serde_json::from_slice(&cli.stdout).expect("json");
        browser.js(&format!(
            "document.getElementById('result').hidden = true; document.getElementById('verdict').textContent = '';
             document.getElementById('src').value = '{src}'; document.getElementById('dst').value = '{dst}';
             document.getElementById('run-check').click(); return true"
        ));
        let got = browser.wait_for("the verdict", "const v = document.getElementById('verdict').textContent; return v ? [v, document.getElementById('verdict-code').textContent] : null");
        let want_text = if want["reachable"] == true {
            "reachable"
        } else {
            "unreachable"
        };
        assert_eq!(got[0], want_text, "{src} → {dst}: page {got}, CLI {want}");
        assert_eq!(got[1], want["code"].as_str().unwrap_or(""), "{src} → {dst}");
        assert_eq!(
            cli.status.code(),
            Some(if want_text == "reachable" { 0 } else { 1 })
        );
    }
    // A rename shows at once too, in the list, the check form and the graph.
    ok(h.berth(&["rename", "a2", "renamed"]));
    browser.wait_for(
        "the renamed container",
        &format!(
            "const c = {}; return c.includes('renamed') && !c.includes('a2')",
            rows("containers")
        ),
    );
    browser.wait_for(
        "the new name in the form and the graph",
        "return [...document.getElementById('src').options].some((o) => o.value === 'renamed') && document.querySelector('#graph svg').textContent.includes('renamed')",
    );
    assert_eq!(
        browser.js("return window.berthMarker"),
        42,
        "the page was reloaded"
    );
    let text =
        String::from_utf8_lossy(&h.berth(&["network", "check", "a", "b"]).stdout).into_owned();
    assert_eq!(
        text.lines().next(),
        Some("unreachable"),
        "a and b share no network"
    );
    drop(browser);
    drop(ui);
}

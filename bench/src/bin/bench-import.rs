//! Image bodies: berthd's peak resident memory (VmHWM) around `import` of a generated rootfs
//! tarball of N MB, around three such imports at once, and around a `load` of a `docker save`
//! archive holding it as a layer. The body is streamed from the file over the socket, so what
//! grows is the daemon's own buffering only. Runs a release berthd in private namespaces.
//!
//! Usage: bench-import [MB]   (default 300)

use berth_bench::{enter_private_namespaces, Daemon};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// A field of /proc/PID/status, in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Resets the peak (VmHWM) to the current RSS, so each phase reports its own peak.
fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// A rootfs of `mb` MB of incompressible-looking files (1 MB each, in 10 directories), tarred.
fn rootfs_tar(dir: &Path, mb: usize) -> PathBuf {
    let root = dir.join("big-rootfs");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..mb {
        let d = root.join(format!("d{}", i % 10));
        std::fs::create_dir_all(&d).expect("mkdir");
        for chunk in buf.chunks_mut(8) {
            // xorshift: fast, and gzip would not shrink it (not that import compresses).
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        std::fs::write(d.join(format!("f{i}")), &buf).expect("write");
    }
    let tar = dir.join("big.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status();
    assert!(ok.map(|s| s.success()).unwrap_or(false), "tar failed");
    std::fs::remove_dir_all(&root).expect("remove rootfs");
    tar
}

/// A `docker save` archive whose one layer is `layer`.
fn save_archive(dir: &Path, layer: &Path) -> PathBuf {
    let d = dir.join("save");
    std::fs::create_dir_all(d.join("l1")).expect("mkdir");
    std::fs::hard_link(layer, d.join("l1/layer.tar")).expect("link layer");
    std::fs::write(d.join("config.json"), r#"{"config":{"Cmd":["sh"]}}"#).expect("write");
    std::fs::write(
        d.join("manifest.json"),
        r#"[{"Config":"config.json","RepoTags":["bigsave:1"],"Layers":["l1/layer.tar"]}]"#,
    )
    .expect("write");
    let out = dir.join("save.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&d)
        .arg("-cf")
        .arg(&out)
        .args(["manifest.json", "config.json", "l1/layer.tar"])
        .status();
    assert!(ok.map(|s| s.success()).unwrap_or(false), "tar failed");
    std::fs::remove_dir_all(&d).expect("remove");
    out
}

/// POSTs `file` as the body, streamed; panics unless the daemon answers 200.
fn post_file(sock: &Path, path: &str, file: &Path) {
    let (status, body) = berth_bench::post_tar_file(sock, path, file).expect("send archive");
    assert!(
        status == 200,
        "{path}: {status} {}",
        body.lines().last().unwrap_or_default()
    );
}

fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    enter_private_namespaces();
    let d = Daemon::start();
    let pid = d.child.id();
    let tar = rootfs_tar(d.dir.path(), size);
    let bytes = std::fs::metadata(&tar).map(|m| m.len()).unwrap_or(0);
    println!(
        "image bodies, berthd's resident memory (MB) around a {:.0} MB rootfs tarball:",
        bytes as f64 / (1 << 20) as f64
    );
    let rss0 = status_kb(pid, "VmRSS:");
    reset_peak(pid);
    let t = Instant::now();
    post_file(&d.sock, "/images/create?fromSrc=-&repo=big&tag=1", &tar);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "  import: before {:.1} resident, peak during {:.1}, after {:.1}  ({secs:.1} s; issue 16: 1.08 GB peak before streaming)",
        mb(rss0),
        mb(status_kb(pid, "VmHWM:")),
        mb(status_kb(pid, "VmRSS:"))
    );
    let rss0 = status_kb(pid, "VmRSS:");
    reset_peak(pid);
    let t = Instant::now();
    std::thread::scope(|s| {
        for i in 0..3 {
            let (sock, tar) = (&d.sock, &tar);
            s.spawn(move || {
                post_file(
                    sock,
                    &format!("/images/create?fromSrc=-&repo=par&tag={i}"),
                    tar,
                )
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    println!(
        "  3 imports at once: before {:.1}, peak during {:.1}, after {:.1}  ({secs:.1} s; issue 16: 2.15 GB peak, 579 MB after, for 3 x 200 MB)",
        mb(rss0),
        mb(status_kb(pid, "VmHWM:")),
        mb(status_kb(pid, "VmRSS:"))
    );
    let save = save_archive(d.dir.path(), &tar);
    let rss0 = status_kb(pid, "VmRSS:");
    reset_peak(pid);
    let t = Instant::now();
    post_file(&d.sock, "/images/load", &save);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "  load of a docker save archive with it as a layer: before {:.1}, peak during {:.1}, after {:.1}  ({secs:.1} s)",
        mb(rss0),
        mb(status_kb(pid, "VmHWM:")),
        mb(status_kb(pid, "VmRSS:"))
    );
    println!("  (target: the peak independent of the image's size, within tens of MB)");
}

//! Image archives: arbitrary bytes applied as one layer onto a root filesystem, unpacked as a
//! `docker cp` upload, and loaded as a `docker save` archive, through berth's own unpacker
//! (`berth_image`). Errors are fine; a panic, or anything written outside the root, is a
//! crash.
//!
//! The unpacker writes as root where an archive says, so the target first shuts itself in a
//! mount namespace where every mount is read-only except this fuzz directory (libFuzzer's
//! corpus and artifacts, and a tmpfs for the work): an input that escaped the root could not
//! change the machine. Inside the tmpfs, `outside/` sits next to the root (`root/`) and the
//! images (`images/`); after every input it must be exactly as it was, and nothing new may
//! appear next to them (relative symlinks such as `../outside` are what an escape would use).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

fn check(rc: libc::c_int, what: &str) {
    assert!(rc == 0, "{what}: {}", std::io::Error::last_os_error());
}

/// A mount namespace of this process where only the fuzz directory is writable; the images go
/// to a tmpfs in it, `work`.
fn sandbox() -> PathBuf {
    #[repr(C)]
    struct MountAttr {
        set: u64,
        clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 1;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let work = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/load-work");
    std::fs::create_dir_all(&work).expect("work dir");
    let fuzz_dir = std::ffi::CString::new(env!("CARGO_MANIFEST_DIR")).expect("path");
    let work_c = std::ffi::CString::new(work.as_os_str().as_encoded_bytes()).expect("path");
    let attr = |set: u64, clr: u64| MountAttr {
        set,
        clr,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: plain syscalls on NUL-terminated paths and a struct of the kernel's layout.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS), "unshare the mount namespace");
        check(
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ),
            "make mounts private",
        );
        // The fuzz directory gets a mount of its own before everything goes read-only.
        check(
            libc::mount(
                fuzz_dir.as_ptr(),
                fuzz_dir.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ),
            "bind the fuzz directory",
        );
        let ro = attr(MOUNT_ATTR_RDONLY, 0);
        check(
            libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                c"/".as_ptr(),
                AT_RECURSIVE,
                &ro as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            ) as libc::c_int,
            "make every mount read-only",
        );
        let rw = attr(0, MOUNT_ATTR_RDONLY);
        check(
            libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                fuzz_dir.as_ptr(),
                0 as libc::c_uint,
                &rw as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            ) as libc::c_int,
            "make the fuzz directory writable",
        );
        check(
            libc::mount(
                c"berth-fuzz".as_ptr(),
                work_c.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            ),
            "mount the work tmpfs",
        );
    }
    work
}

/// Every name under `dir` (not following links) with its type, mode, owner, size and bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let what = if m.is_dir() {
                stack.push(p.clone());
                String::from("dir")
            } else if m.file_type().is_symlink() {
                format!("link {:?}", std::fs::read_link(&p).ok())
            } else {
                format!("file {:?}", std::fs::read(&p).ok())
            };
            let rel = p.strip_prefix(dir).unwrap_or(&p).to_path_buf();
            out.insert(
                rel,
                format!("{what} mode {:o} uid {} gid {}", m.mode(), m.uid(), m.gid()),
            );
        }
    }
    out
}

/// The work directory, with the `outside/` tree the inputs must never change.
struct Work {
    dir: PathBuf,
    outside: BTreeMap<PathBuf, String>,
}

fn setup() -> Work {
    let dir = sandbox();
    let outside = dir.join("outside");
    std::fs::create_dir_all(outside.join("dir/sub")).expect("outside");
    std::fs::write(outside.join("keep"), b"sentinel").expect("outside/keep");
    std::fs::write(outside.join("dir/inner"), b"inner").expect("outside/dir/inner");
    std::os::unix::fs::symlink("inner", outside.join("dir/link")).expect("outside/dir/link");
    let outside = tree(&outside);
    Work { dir, outside }
}

/// The names the work directory may hold between inputs.
const NEXT_TO_ROOT: [&str; 4] = ["outside", "root", "images", "upload"];

fn untouched(work: &Work, data_len: usize) {
    let now = tree(&work.dir.join("outside"));
    assert!(
        now == work.outside,
        "an input of {data_len} bytes changed outside/: {now:#?}"
    );
    for e in std::fs::read_dir(&work.dir).expect("read work").flatten() {
        let name = e.file_name();
        assert!(
            NEXT_TO_ROOT.iter().any(|n| name == *n),
            "an input of {data_len} bytes made {:?} next to the root",
            name
        );
    }
}

fuzz_target!(
    init: {
        if WORK.set(setup()).is_err() {
            panic!("set up twice");
        }
    },
    |data: &[u8]| {
        let Some(work) = WORK.get() else { return };
        let root = work.dir.join("root");
        let images = work.dir.join("images");
        let upload = work.dir.join("upload");
        // As one layer of a root filesystem (import's path, and each layer of a load).
        if let Ok(rootfs) = berth_image::layer::Rootfs::open(&root) {
            let _ = berth_image::layer::apply(&rootfs, data);
        }
        untouched(work, data.len());
        // As a `docker cp` upload (PUT /containers/{id}/archive): the same unpacker, names
        // that look like whiteouts taken as files.
        if let Ok(rootfs) = berth_image::layer::Rootfs::open(&root) {
            let _ = berth_image::layer::extract(&rootfs, data);
        }
        untouched(work, data.len());
        // As a whole `docker save` archive.
        std::fs::create_dir_all(&images).expect("images");
        std::fs::write(&upload, data).expect("upload");
        let _ = berth_image::archive::load(&upload, &images);
        untouched(work, data.len());
        for p in [&root, &images] {
            if p.exists() {
                std::fs::remove_dir_all(p).expect("clean up");
            }
        }
        std::fs::remove_file(&upload).expect("clean up the upload");
    }
);

static WORK: std::sync::OnceLock<Work> = std::sync::OnceLock::new();

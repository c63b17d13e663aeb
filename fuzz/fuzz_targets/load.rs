//! `load` of a `docker save` archive: the outer tar, manifest.json, image configs and each
//! layer applied with its whiteouts. The engine's own code is compiled in (berthd is a binary
//! crate); errors are fine, panics are not.
//!
//! The layer applier writes as root where an archive says, so the target first shuts itself in
//! a mount namespace where every mount is read-only except this fuzz directory (libFuzzer's
//! corpus and artifacts, and a tmpfs for the images): an input that escaped the rootfs could
//! not change the machine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

// The engine's modules at this crate's root, which stands in for `engine` (their `super`).
#[allow(dead_code)]
#[path = "../../crates/berthd/src/engine/image.rs"]
mod image;
#[allow(dead_code)]
#[path = "../../crates/berthd/src/engine/load.rs"]
mod load;

/// The engine's error, as far as these two modules use it.
#[allow(dead_code)]
#[derive(Debug, thiserror::Error)]
enum EngineError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Io(String),
}

type Result<T> = std::result::Result<T, EngineError>;

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

fuzz_target!(
    init: {
        WORK.set(sandbox()).expect("set once");
    },
    |data: &[u8]| {
        let Some(work) = WORK.get() else { return };
        let images = work.join("images");
        let _ = std::fs::create_dir_all(&images);
        let _ = load::load(data, &images);
        let _ = std::fs::remove_dir_all(&images);
    }
);

static WORK: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

//! Where containers' cgroups live, and the sweep that removes the ones nobody deletes.
//!
//! Every container's cgroups go under one parent (`cgroup-parent`, `/berth` by default, as
//! Docker uses `/docker`), named by the container's ID. Without a path the runtime would put
//! them under whatever cgroup berthd itself runs in, scattered and hard to find. A container
//! whose runtime state is never deleted (the daemon killed with it, or the machine's runtime
//! state wiped) leaves its cgroups behind, and on cgroup v1 each empty memory cgroup still pins
//! about 400 KB of kernel memory: thousands of them slowed every `run` on this machine.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Checks and normalises a `cgroup-parent` value to an absolute cgroup path (`berth` → `/berth`).
pub fn parent(value: &str) -> Result<String, String> {
    let trimmed = value.trim_matches('/');
    let ok = !trimmed.is_empty()
        && trimmed.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:@".contains(c))
        });
    if ok {
        Ok(format!("/{trimmed}"))
    } else {
        Err(format!(
            "invalid cgroup-parent {value:?}: expected a cgroup path such as /berth (letters, digits, - _ . : @ between slashes)"
        ))
    }
}

/// The OCI `cgroupsPath` of container `id`.
pub fn container_path(parent: &str, id: &str) -> String {
    format!("{parent}/{id}")
}

/// Mount points of the cgroup hierarchies (v1 controllers, named v1 hierarchies, v2).
fn hierarchies() -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|line| {
            // "… mount-point … - fstype source options": the type follows the separator.
            let (left, right) = line.split_once(" - ")?;
            let fstype = right.split_whitespace().next()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            left.split_whitespace().nth(4).map(PathBuf::from)
        })
        .collect()
}

fn is_container_id(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Removes a cgroup directory and the cgroups below it, deepest first; a cgroup that still has
/// processes refuses (EBUSY) and stays.
fn remove_tree(dir: &Path) -> bool {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    std::fs::remove_dir(dir).is_ok()
}

/// Removes, under `parent` in every hierarchy, the cgroups of containers not in `known`.
/// Called at start, before any container can be created: the runtime deletes the cgroups of
/// every container it deletes, so what is left of unknown containers is debris. A cgroup
/// that still holds processes is left alone. Returns how many directories went.
pub fn sweep(parent: &str, known: &BTreeSet<String>) -> usize {
    sweep_in(&hierarchies(), parent, known)
}

fn sweep_in(roots: &[PathBuf], parent: &str, known: &BTreeSet<String>) -> usize {
    let mut removed = 0;
    for root in roots {
        let dir = root.join(parent.trim_start_matches('/'));
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if is_container_id(&name)
                && !known.contains(&name)
                && e.file_type().is_ok_and(|t| t.is_dir())
                && remove_tree(&e.path())
            {
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_is_checked_and_made_absolute() {
        assert_eq!(parent("berth").unwrap(), "/berth");
        assert_eq!(parent("/berth/").unwrap(), "/berth");
        assert_eq!(parent("/a/b-c_d").unwrap(), "/a/b-c_d");
        for bad in ["", "/", "a/../b", "a b", "a//b", "x\n"] {
            let e = parent(bad).unwrap_err();
            assert!(e.contains("invalid cgroup-parent"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn hierarchies_are_found_here() {
        // Every Linux machine berth runs on has at least one cgroup hierarchy mounted.
        assert!(!hierarchies().is_empty());
    }

    #[test]
    fn sweep_removes_only_unknown_empty_container_cgroups() {
        // Directories in a plain filesystem stand in for two hierarchies: same layout, and
        // rmdir refuses a non-empty directory as it refuses a cgroup with processes.
        let dir = tempfile::tempdir().unwrap();
        let roots = [dir.path().join("memory"), dir.path().join("pids")];
        let known = "a".repeat(64);
        let debris = "b".repeat(64);
        let busy = "c".repeat(64);
        for root in &roots {
            for d in [&known, &debris, &busy, &"not-a-container".to_string()] {
                std::fs::create_dir_all(root.join("berth").join(d)).unwrap();
            }
            std::fs::create_dir_all(root.join("berth").join(&debris).join("child")).unwrap();
            std::fs::write(root.join("berth").join(&busy).join("cgroup.procs"), "1").unwrap();
        }
        let removed = sweep_in(&roots, "/berth", &BTreeSet::from([known.clone()]));
        assert_eq!(removed, 2);
        for root in &roots {
            let parent = root.join("berth");
            assert!(parent.join(&known).exists());
            assert!(parent.join(&busy).exists());
            assert!(parent.join("not-a-container").exists());
            assert!(!parent.join(&debris).exists());
        }
    }
}

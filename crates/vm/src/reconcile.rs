//! What a previous orchestrator left under `vm/run/` when it died: each VM directory whose owner
//! process is gone has its QEMU and passt killed (only when the pid still names that directory
//! on its command line, so a recycled pid is never hit) and is removed. Directories of a living
//! owner — another orchestrator on the same state dir, or this process — are left alone.

use std::path::Path;

use crate::vm::OWNER_FILE;

pub(crate) fn reconcile(run: &Path) {
    let Ok(entries) = std::fs::read_dir(run) else { return };
    for entry in entries.flatten() {
        let dir = entry.path();
        if !dir.is_dir() {
            continue;
        }
        if read_pid(&dir.join(OWNER_FILE)).is_some_and(alive) {
            continue;
        }
        for file in ["qemu.pid", "passt.pid"] {
            if let Some(pid) = read_pid(&dir.join(file))
                && names(pid, &dir)
            {
                tracing::warn!(pid, dir = %dir.display(), "killing a leftover process of a dead orchestrator");
                kill(pid);
            }
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => tracing::warn!(dir = %dir.display(), "removed a VM directory a dead orchestrator left"),
            Err(error) => tracing::warn!(%error, dir = %dir.display(), "removing a leftover VM directory failed"),
        }
    }
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok().filter(|&pid| pid > 0)
}

fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = i32::try_from(pid) else { return false };
        // SAFETY: signal 0 only checks that the process exists.
        let result = unsafe { libc::kill(pid, 0) };
        result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}

/// Whether process `pid`'s command line mentions `dir` (Linux; elsewhere never, so nothing is
/// killed on a guess).
fn names(pid: u32, dir: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let needle = dir.as_os_str().as_encoded_bytes();
    cmdline.windows(needle.len().max(1)).any(|window| window == needle)
}

fn kill(pid: u32) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) on a pid we just verified belongs to the leftover VM.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_dirs_of_dead_owners_and_keeps_living_ones() {
        let run = tempfile::tempdir().unwrap();
        let dead = run.path().join("J-1.1");
        let living = run.path().join("K-1.1");
        std::fs::create_dir(&dead).unwrap();
        std::fs::create_dir(&living).unwrap();
        // pid_max is at most 2^22 on Linux: this pid cannot exist.
        std::fs::write(dead.join(OWNER_FILE), "4194305\n").unwrap();
        std::fs::write(dead.join("qemu.pid"), "1\n").unwrap();
        std::fs::write(living.join(OWNER_FILE), format!("{}\n", std::process::id())).unwrap();
        reconcile(run.path());
        assert!(!dead.exists());
        assert!(living.exists());
    }
}

//! Linux: adopting and killing the daemons steps leave behind.

use std::path::Path;

use crate::host::HostError;

/// `prctl(PR_SET_CHILD_SUBREAPER)`: orphaned descendants are re-parented to this process
/// instead of init. False when the kernel refuses.
pub(super) fn become_subreaper() -> bool {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag and touches no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot become a child subreaper; daemons of steps may outlive the job");
    }
    rc == 0
}

/// Kills every child of this process and reaps what already died. Called when no step runs, so
/// every child is something a step left behind.
pub(super) fn kill_children() -> Result<Vec<u32>, HostError> {
    let me = std::process::id();
    let proc = Path::new("/proc");
    let entries = std::fs::read_dir(proc).map_err(|e| HostError::io("list", proc, e))?;
    let mut killed = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        if parent_of(&stat) != Some(me) {
            continue;
        }
        let Ok(raw) = libc::pid_t::try_from(pid) else { continue };
        // SAFETY: kill has no memory-safety preconditions; `raw` is our own child.
        if unsafe { libc::kill(raw, libc::SIGKILL) } == 0 {
            killed.push(pid);
        }
    }
    reap();
    Ok(killed)
}

/// The parent pid from `/proc/<pid>/stat` (`pid (comm) state ppid …`; comm may hold spaces and
/// parentheses, so parse after the last `)`).
fn parent_of(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Collects exited adopted children so they do not linger as zombies.
fn reap() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes only into `status`, a valid local.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_parent_after_the_command_name() {
        assert_eq!(super::parent_of("42 (a) b) c) S 7 42 42 0"), Some(7));
        assert_eq!(super::parent_of("garbage"), None);
    }
}

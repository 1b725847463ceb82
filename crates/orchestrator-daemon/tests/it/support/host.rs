//! What the daemon may have left on the host (the reading of `/proc` is testkit's).

use std::path::{Path, PathBuf};
use std::time::Duration;

use testkit::leftovers::{files_under, job_descendants, processes_naming};
use tokio::time::Instant;

/// Everything under `state` but what the daemon keeps there on purpose: its id, the
/// accelerator probe's cache, the packed agent's cache, the images and the (empty) directories
/// VMs are made in.
pub fn state_files(state: &Path) -> Vec<PathBuf> {
    files_under(state, &["orchestrator-id", "vm/accel", "vm/agents", "images"], &["vm", "vm/run"])
}

/// Waits (the teardown may still be reaping) until no QEMU, passt or ssh runs below `daemon`
/// (when it still runs), no process names `state`, and no file is left in it but the daemon's
/// own; fails naming what is left.
pub async fn wait_until_clean(daemon: Option<u32>, state: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let descendants = daemon.map(job_descendants).unwrap_or_default();
        let processes = processes_naming(state);
        let files = state_files(state);
        if descendants.is_empty() && processes.is_empty() && files.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "left behind after 30 s: descendants {descendants:#?}, processes naming the state dir \
                 {processes:#?}, files {files:#?}"
            );
        }
    }
}

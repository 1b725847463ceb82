//! What is left on the host: processes (read from `/proc`) and files in a state dir.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

/// The programs a job may start on the host and must not leave running.
const JOB_PROGRAMS: [&str; 3] = ["qemu", "passt", "ssh"];

/// Living processes whose command line mentions `dir` (QEMU and passt name their files under
/// the state dir; the local executor's agent lives in the agent dir), as `pid: cmdline`.
/// Zombies have an empty command line and so are not counted: they are dead.
pub fn processes_naming(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for (pid, _) in processes() {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

/// Descendants of `root` that run QEMU, passt or ssh, as `pid: name`.
pub fn job_descendants(root: u32) -> Vec<String> {
    let table = processes();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, (ppid, _)) in &table {
        children.entry(*ppid).or_default().push(pid);
    }
    let mut found = Vec::new();
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            let name = &table[&child].1;
            if JOB_PROGRAMS.iter().any(|program| name.starts_with(program)) {
                found.push(format!("{child}: {name}"));
            }
            todo.push(child);
        }
    }
    found
}

/// Everything under `state` but what the daemon keeps there on purpose: its id, the
/// accelerator probe's cache, the packed agent's cache, the images and the (empty) directories
/// VMs are made in.
pub fn state_files(state: &Path) -> Vec<PathBuf> {
    let kept = ["orchestrator-id", "vm/accel", "vm/agents", "images"].map(|path| state.join(path));
    let containers = [state.join("vm"), state.join("vm/run")];
    let mut found = Vec::new();
    let mut todo = vec![state.to_owned()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if kept.contains(&path) {
                continue;
            }
            if containers.contains(&path) {
                todo.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
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

/// pid → (ppid, name) of every process.
fn processes() -> HashMap<u32, (u32, String)> {
    let mut table = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return table };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (name) state ppid …`; the name may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let name = stat[open + 1..close].to_owned();
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().unwrap_or_default();
        let Some(ppid) = rest.next().and_then(|ppid| ppid.parse().ok()) else { continue };
        if state != "Z" {
            table.insert(pid, (ppid, name));
        }
    }
    table
}

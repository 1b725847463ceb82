//! What a job may have left on the host: processes (read from `/proc`) and files in a state dir.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The programs a job may start on the host and must not leave running.
pub const JOB_PROGRAMS: [&str; 3] = ["qemu", "passt", "ssh"];

/// Living processes whose command line mentions `dir` (QEMU and passt name their files under
/// the state dir), as `pid: cmdline`. Zombies are dead and not counted.
pub fn processes_naming(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for pid in processes().into_keys() {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

/// Waits until no living process names `dir` ([`processes_naming`]), for at most `within`;
/// returns what still runs then. Nothing announces the end of a process that is not our child,
/// hence the bounded re-reads of `/proc`.
pub async fn wait_until_no_process_names(dir: &Path, within: std::time::Duration) -> Result<(), Vec<String>> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = processes_naming(dir);
        if left.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(left);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Living descendants of `root` that run QEMU, passt or ssh, as `pid: name`.
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
            let Some((_, name)) = table.get(&child) else { continue };
            if JOB_PROGRAMS.iter().any(|program| name.starts_with(program)) {
                found.push(format!("{child}: {name}"));
            }
            todo.push(child);
        }
    }
    found
}

/// Everything under `state` but the paths in `kept` (relative to it), looking inside the
/// directories in `containers` (relative too) rather than reporting them.
pub fn files_under(state: &Path, kept: &[&str], containers: &[&str]) -> Vec<PathBuf> {
    let kept: Vec<PathBuf> = kept.iter().map(|path| state.join(path)).collect();
    let containers: Vec<PathBuf> = containers.iter().map(|path| state.join(path)).collect();
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

/// pid → (ppid, name) of every living process.
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

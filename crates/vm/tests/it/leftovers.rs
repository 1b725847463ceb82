//! What a job must not leave behind: VM directories, processes, private key files.
//!
//! Key files: under the state dir, any file holding a private key is a failure. Under `/tmp`,
//! where other tests may write keys of their own at the same time, a file fails the check when
//! it decodes to a key that is the job's: its comment names the job (`solstice-<job>-…`) or its
//! public half is the one the guest was given.

use std::path::Path;
use std::time::{Duration, SystemTime};

use testkit::leftovers::processes_naming;
use tokio::time::Instant;

/// The job a leftover check is about.
pub(crate) struct JobKeys<'a> {
    /// `<job id>-<attempt>`, in the key's comment.
    pub name: &'a str,
    /// The `authorized_keys` line the guest got, when the test read it back.
    pub public: Option<&'a str>,
}

/// Polls (the teardown may still be reaping) until nothing is left, or fails naming what is.
pub(crate) async fn wait_until_gone(state: &Path, run_dir: &Path, since: SystemTime, job: &JobKeys<'_>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        if vm_dirs(run_dir).is_empty() && processes_naming(state).is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    assert_none(state, run_dir, since, job);
}

pub(crate) fn assert_none(state: &Path, run_dir: &Path, since: SystemTime, job: &JobKeys<'_>) {
    let dirs = vm_dirs(run_dir);
    assert!(dirs.is_empty(), "VM directories left behind: {dirs:?}");
    let processes = processes_naming(state);
    assert!(processes.is_empty(), "processes left behind: {processes:#?}");
    let mut keys = Vec::new();
    private_key_files(state, since, 0, &|_| true, &mut keys);
    private_key_files(Path::new("/tmp"), since, 0, &|text| is_the_jobs(text, job), &mut keys);
    assert!(keys.is_empty(), "private key files written during the job: {keys:?}");
}

fn vm_dirs(run_dir: &Path) -> Vec<String> {
    std::fs::read_dir(run_dir)
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

fn is_the_jobs(text: &str, job: &JobKeys<'_>) -> bool {
    let Ok(key) = russh::keys::decode_secret_key(text, None) else { return false };
    let public = key.public_key().to_openssh().unwrap_or_default();
    let same_public = job.public.is_some_and(|line| line.split_whitespace().nth(1) == public.split_whitespace().nth(1));
    key.comment().as_str_lossy().contains(job.name) || same_public
}

/// Small files changed since `since` that hold a private key (PEM or OpenSSH) matching `ours`.
fn private_key_files(
    dir: &Path,
    since: SystemTime,
    depth: usize,
    ours: &dyn Fn(&str) -> bool,
    found: &mut Vec<String>,
) {
    if depth > 6 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else { continue };
        if meta.is_dir() {
            private_key_files(&entry.path(), since, depth + 1, ours, found);
        } else if meta.is_file()
            && meta.len() < 64 * 1024
            && meta.modified().is_ok_and(|modified| modified >= since)
            && std::fs::read(entry.path())
                .is_ok_and(|bytes| contains(&bytes, b"PRIVATE KEY-----") && ours(&String::from_utf8_lossy(&bytes)))
        {
            found.push(entry.path().display().to_string());
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

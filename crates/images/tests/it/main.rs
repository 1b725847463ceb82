//! The image cache against a loopback HTTP server (`server.rs`) that plays the publishers:
//! images compressed with zstd and xz, their checksum files in the formats met (bare sidecar,
//! GNU, BSD), a channel index, a wrong checksum and a server that dies mid-download. Pulls run
//! the real `qemu-img`. `verify` boots the real `linux-test` image under the VM skip rule.

mod list;
mod pull;
mod server;
mod verify;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use images::{NoProgress, PullOptions};

/// Options for tests: two quick tries, `qemu-img` from `PATH`.
fn options() -> PullOptions {
    PullOptions { attempts: 2, retry_delay: Duration::from_millis(10), ..PullOptions::default() }
}

fn no_progress() -> Arc<NoProgress> {
    Arc::new(NoProgress)
}

/// What the images dir holds, sorted, lock files left out (they stay, empty, by design).
fn images_dir_entries(state: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(images::images_dir(state)) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    names.sort();
    names
}

/// `qemu-img info --output=json` of `path`.
fn qemu_img_info(path: &Path) -> serde_json::Value {
    let output = std::process::Command::new("qemu-img").args(["info", "--output=json"]).arg(path).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The guest-visible bytes of a disk image (converted to raw).
fn disk_bytes(path: &Path) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("out.raw");
    let status =
        std::process::Command::new("qemu-img").args(["convert", "-O", "raw"]).arg(path).arg(&raw).status().unwrap();
    assert!(status.success());
    std::fs::read(raw).unwrap()
}

//! The agent as it travels to the guest. A release `workflow-runner` carries line tables and a
//! symbol table (23 MB), and under TCG the SSH channel moves about 5 MB/s, so sending it as built
//! costs seconds per job. Instead the executor sends a stripped, gzip-compressed copy (about a
//! tenth of the size) that the guest unpacks with `gzip -dc` — busybox, illumos, the BSDs and
//! every Linux distribution have it — and falls back to the file as built through `cat` when the
//! copy cannot be made or the guest cannot unpack it.
//!
//! The copy is made once per agent build with the host's `strip` and `gzip` and kept under
//! `<state_dir>/vm/agents/`, named after the agent's size, inode and modification time: the
//! metadata changes whenever the binary is rebuilt, and reading it costs nothing, while hashing
//! 23 MB before every job would cost more than the cache saves.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use crate::ssh::{Session, SshError};

/// Uploads `agent` to `guest_path` in the guest and makes it executable, compressed when it can.
pub(crate) async fn upload(
    session: &Session,
    agent: &Path,
    guest_path: &str,
    state_dir: &Path,
) -> Result<(), SshError> {
    if let Some(packed) = packed(agent, &state_dir.join("vm").join("agents")).await {
        match session.upload(&packed, &unpack_command(guest_path)).await {
            Ok(()) => return Ok(()),
            // A guest without gzip (or whose gzip fails) still gets the agent, uncompressed.
            Err(error) => {
                tracing::warn!(error = %crate::vm::chain(&error), "compressed agent upload failed; sending it as built")
            }
        }
    }
    session.upload(agent, &format!("cat > {guest_path} && chmod +x {guest_path}")).await
}

/// Unpacks stdin into `guest_path`. Whatever happens, the guest reads stdin to its end: a
/// command that stopped reading (no `gzip`, a corrupt stream) would leave the SSH channel's
/// window shut and the upload waiting for ever. `/bin/sh -c`, because the user's login shell
/// may be csh.
fn unpack_command(guest_path: &str) -> String {
    format!(
        "/bin/sh -c 'if command -v gzip >/dev/null 2>&1 && gzip -dc > {guest_path}; \
         then chmod +x {guest_path}; else cat > /dev/null; exit 97; fi'"
    )
}

/// The stripped, compressed copy of `agent` under `cache`, made now when missing; `None` when it
/// cannot be made (no `gzip` on the host, an unreadable agent, a full disk).
pub(crate) async fn packed(agent: &Path, cache: &Path) -> Option<PathBuf> {
    let meta = tokio::fs::metadata(agent).await.ok()?;
    let name = agent.file_name()?.to_string_lossy();
    let stamp = modified_nanos(&meta);
    let target = cache.join(format!("{name}-{}-{}-{stamp}.gz", meta.len(), inode(&meta)));
    if tokio::fs::metadata(&target).await.is_ok() {
        return Some(target);
    }
    match pack(agent, cache, &target).await {
        Ok(()) => Some(target),
        Err(error) => {
            tracing::warn!(agent = %agent.display(), %error, "could not make a compressed copy of the agent");
            None
        }
    }
}

/// Strips (when `strip` can: it may not know a foreign target's format) and compresses `agent`
/// into `target`, through temporary files renamed into place so concurrent jobs never see half a
/// copy.
async fn pack(agent: &Path, cache: &Path, target: &Path) -> std::io::Result<()> {
    tokio::fs::create_dir_all(cache).await?;
    let unique = format!("{}.{}", std::process::id(), ulid::Ulid::new());
    let stripped = cache.join(format!("stripped.{unique}"));
    let compressed = cache.join(format!("gz.{unique}"));
    let result = async {
        let strip = Command::new("strip")
            .arg("-o")
            .arg(&stripped)
            .arg(agent)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        let source = match strip {
            Ok(status) if status.success() => stripped.as_path(),
            _ => agent,
        };
        let out = std::fs::File::create(&compressed)?;
        let status = Command::new("gzip")
            .args(["-6", "-c"])
            .arg(source)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .status()
            .await?;
        if !status.success() {
            return Err(std::io::Error::other(format!("gzip exited with {status}")));
        }
        tokio::fs::rename(&compressed, target).await
    }
    .await;
    let _ = tokio::fs::remove_file(&stripped).await;
    let _ = tokio::fs::remove_file(&compressed).await;
    result
}

fn modified_nanos(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_nanos())
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_meta: &std::fs::Metadata) -> u64 {
    0
}

//! Answers the agent's `checkout_requested`: tars a working tree on the host (with `.git`) and
//! streams it over the control channel as base64 `workspace_chunk`s and one `workspace_end`.

use std::io::{self, Write};
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use contract::{CheckoutRequest, ControlMessage};
use tokio::sync::mpsc;

/// Raw bytes per chunk: 192 KiB become exactly 256 KiB of base64.
pub const RAW_CHUNK_BYTES: usize = 192 * 1024;

/// A working tree on the host that checkouts are served from (`solstice run`: the git top-level
/// of the workflow file, or the current directory).
#[derive(Debug, Clone)]
pub struct WorkspaceSource {
    pub root: PathBuf,
    /// `owner/name` of the tree's repository, if known: a checkout of another repository is
    /// refused rather than silently answered with this tree.
    pub repository: Option<String>,
    /// Paths relative to `root` left out of the tar (e.g. `target`); empty: nothing is left out.
    pub exclude: Vec<PathBuf>,
}

/// Streams the checkout for step `index` and ends it with `workspace_end` (with the error, if
/// the tree could not be produced). Returns when everything was handed to `control`.
pub async fn stream_checkout(
    source: Option<WorkspaceSource>,
    index: u32,
    request: CheckoutRequest,
    control: mpsc::Sender<ControlMessage>,
) {
    let end = control.clone();
    let outcome = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let source = source.ok_or("this orchestrator has no working tree to check out from")?;
        check_request(&source, &request)?;
        let mut writer = ChunkWriter { control, index, buffer: Vec::with_capacity(RAW_CHUNK_BYTES) };
        write_tar(&source, &mut writer).map_err(|error| format!("tar {}: {error}", source.root.display()))?;
        writer.flush().map_err(|error| error.to_string())
    })
    .await;
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error),
        Err(join) => Some(format!("the tar task failed: {join}")),
    };
    if let Some(error) = &error {
        tracing::warn!(index, %error, "checkout failed");
    }
    let _ = end.send(ControlMessage::WorkspaceEnd { index, error }).await;
}

fn check_request(source: &WorkspaceSource, request: &CheckoutRequest) -> Result<(), String> {
    if let (Some(wanted), Some(have)) = (&request.repository, &source.repository)
        && !wanted.eq_ignore_ascii_case(have)
    {
        return Err(format!("only the local working tree ({have}) can be checked out here, not {wanted}"));
    }
    if let Some(git_ref) = &request.git_ref {
        tracing::info!(%git_ref, "checkout ref ignored: the local working tree is sent as it is");
    }
    Ok(())
}

/// Every entry under `source.root`, in name order, with symlinks kept as symlinks.
fn write_tar(source: &WorkspaceSource, writer: &mut ChunkWriter) -> io::Result<()> {
    let mut builder = tar::Builder::new(writer);
    builder.follow_symlinks(false);
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(source.root.join(&relative))?.collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|entry| entry.file_name());
        // Reversed onto the stack so directories are visited in name order.
        let mut subdirs = Vec::new();
        for entry in entries {
            let name = relative.join(entry.file_name());
            if source.exclude.iter().any(|excluded| excluded == &name) {
                continue;
            }
            let file_type = entry.file_type()?;
            if !(file_type.is_file() || file_type.is_dir() || file_type.is_symlink()) {
                tracing::debug!(path = %name.display(), "not a file, directory or symlink; left out");
                continue;
            }
            builder.append_path_with_name(entry.path(), &name)?;
            if file_type.is_dir() {
                subdirs.push(name);
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    builder.into_inner()?.flush()
}

/// Cuts the tar stream into chunks and sends them, blocking while the channel is full.
struct ChunkWriter {
    control: mpsc::Sender<ControlMessage>,
    index: u32,
    buffer: Vec<u8>,
}

impl ChunkWriter {
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let data = STANDARD.encode(&self.buffer);
        self.buffer.clear();
        self.control
            .blocking_send(ControlMessage::WorkspaceChunk { index: self.index, data })
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the agent is gone"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let room = RAW_CHUNK_BYTES - self.buffer.len();
        let taken = bytes.len().min(room);
        self.buffer.extend_from_slice(&bytes[..taken]);
        if self.buffer.len() == RAW_CHUNK_BYTES {
            self.send_buffer()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}

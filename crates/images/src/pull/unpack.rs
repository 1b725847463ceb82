//! From the downloaded file to the qcow2 the executor boots: decompression (zstd, xz) in a
//! blocking task, then `qemu-img convert` for raw and vmdk, and a check that the result is a
//! qcow2 with no backing file (a downloaded qcow2 naming a host file as its backing file would
//! let a guest read that file).

use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vm::{Compression, SourceFormat};

use crate::progress::Progress;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("decompress ({compression})")]
    Decompress {
        compression: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the decompression task died")]
    Task(#[source] tokio::task::JoinError),
    #[error("run {}", program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("qemu-img {action} failed: {stderr}")]
    QemuImg { action: &'static str, stderr: String },
    #[error("the image is not what the catalog says: {problem}")]
    NotQcow2 { problem: String },
    #[error("move the image into place")]
    Rename(#[source] std::io::Error),
}

/// Decompresses `from` into `to` and removes `from`; with no compression, renames it.
pub(super) async fn decompress(
    compression: Compression,
    from: &Path,
    to: &Path,
    progress: Arc<dyn Progress>,
) -> Result<(), UnpackError> {
    if compression == Compression::None {
        return std::fs::rename(from, to).map_err(UnpackError::Rename);
    }
    let (from, to) = (from.to_owned(), to.to_owned());
    let name = compression.as_str();
    let result = tokio::task::spawn_blocking(move || {
        let total = std::fs::metadata(&from).map(|meta| meta.len()).ok();
        progress.phase(&format!("decompress ({name})"), total);
        let input = Counted { inner: BufReader::new(std::fs::File::open(&from)?), progress: progress.as_ref() };
        let mut output = BufWriter::new(std::fs::File::create(&to)?);
        match compression {
            Compression::Zstd => std::io::copy(&mut zstd::stream::read::Decoder::new(input)?, &mut output)?,
            Compression::Xz => std::io::copy(&mut liblzma::read::XzDecoder::new_multi_decoder(input), &mut output)?,
            Compression::None => 0,
        };
        output.into_inner().map_err(|error| error.into_error())?.sync_all()?;
        progress.finish();
        std::fs::remove_file(&from)
    })
    .await
    .map_err(UnpackError::Task)?;
    result.map_err(|source| UnpackError::Decompress { compression: name, source })
}

/// A reader that reports how much of the compressed input was read.
struct Counted<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.progress.advance(read as u64);
        Ok(read)
    }
}

/// Makes `to` a qcow2 from `from` (converting raw and vmdk, renaming qcow2) and checks it.
pub(super) async fn to_qcow2(qemu_img: &Path, format: SourceFormat, from: &Path, to: &Path) -> Result<(), UnpackError> {
    if format == SourceFormat::Qcow2 {
        // Checked before it is trusted as a base: `info` of the file as downloaded.
        check_qcow2(qemu_img, from).await?;
        std::fs::rename(from, to).map_err(UnpackError::Rename)?;
    } else {
        let mut command = tokio::process::Command::new(qemu_img);
        command.args(["convert", "-q", "-f", format.as_str(), "-O", "qcow2"]).arg(from).arg(to);
        run(qemu_img, command, "convert").await?;
        std::fs::remove_file(from).map_err(UnpackError::Rename)?;
    }
    check_qcow2(qemu_img, to).await
}

async fn check_qcow2(qemu_img: &Path, path: &Path) -> Result<(), UnpackError> {
    let mut command = tokio::process::Command::new(qemu_img);
    // `-f qcow2`: never let qemu-img probe the format of a downloaded file.
    command.args(["info", "-f", "qcow2", "--output=json"]).arg(path);
    let stdout = run(qemu_img, command, "info").await?;
    let info: serde_json::Value = serde_json::from_slice(&stdout)
        .map_err(|error| UnpackError::NotQcow2 { problem: format!("qemu-img info is not JSON: {error}") })?;
    if info.get("format").and_then(serde_json::Value::as_str) != Some("qcow2") {
        return Err(UnpackError::NotQcow2 { problem: format!("qemu-img says its format is {}", info["format"]) });
    }
    if let Some(backing) = info.get("backing-filename") {
        return Err(UnpackError::NotQcow2 { problem: format!("it names a backing file, {backing}") });
    }
    Ok(())
}

async fn run(
    program: &Path,
    mut command: tokio::process::Command,
    action: &'static str,
) -> Result<Vec<u8>, UnpackError> {
    command.stdin(std::process::Stdio::null()).kill_on_drop(true);
    let output = command.output().await.map_err(|source| UnpackError::Spawn { program: program.to_owned(), source })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        return Err(UnpackError::QemuImg { action, stderr });
    }
    Ok(output.stdout)
}

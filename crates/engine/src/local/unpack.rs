//! Unpacking a checkout's tar stream on this machine. The `tar` crate is synchronous, so the
//! archive is read on a blocking thread from a channel the async side fills.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::host::{HostError, TarSink};

pub(super) struct LocalTarSink {
    chunks: Option<mpsc::Sender<Vec<u8>>>,
    worker: JoinHandle<Result<(), HostError>>,
}

impl LocalTarSink {
    pub(super) fn start(dest: PathBuf) -> LocalTarSink {
        let (tx, rx) = mpsc::channel(8);
        let worker =
            tokio::task::spawn_blocking(move || unpack(&dest, ChannelReader { rx, current: Vec::new(), pos: 0 }));
        LocalTarSink { chunks: Some(tx), worker }
    }

    async fn worker_result(self: Box<Self>) -> Result<(), HostError> {
        let LocalTarSink { chunks, worker } = *self;
        drop(chunks);
        worker.await.map_err(|e| HostError::Unpack(format!("the unpacking thread failed: {e}")))?
    }
}

#[async_trait]
impl TarSink for LocalTarSink {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), HostError> {
        let Some(chunks) = &self.chunks else {
            return Err(HostError::Unpack("the stream was already finished".into()));
        };
        if chunks.send(chunk.to_vec()).await.is_err() {
            // The worker stopped reading: it failed, and its error says why.
            self.chunks = None;
            return match (&mut self.worker).await {
                Ok(Err(e)) => Err(e),
                Ok(Ok(())) => Err(HostError::Unpack("data after the end of the archive".into())),
                Err(e) => Err(HostError::Unpack(format!("the unpacking thread failed: {e}"))),
            };
        }
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<(), HostError> {
        self.worker_result().await
    }
}

struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.current.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn unpack(dest: &Path, reader: ChannelReader) -> Result<(), HostError> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let entries = archive.entries().map_err(|e| HostError::Unpack(format!("read the archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| HostError::Unpack(format!("read an archive entry: {e}")))?;
        let path = entry.path().map_err(|e| HostError::Unpack(format!("read an entry's path: {e}")))?.into_owned();
        if escapes(&path) {
            return Err(HostError::Unpack(format!("entry {} points outside the target directory", path.display())));
        }
        // `unpack_in` also refuses entries that would be written through a symlink leading out.
        let inside = entry.unpack_in(dest).map_err(|e| HostError::Unpack(format!("write {}: {e}", path.display())))?;
        if !inside {
            return Err(HostError::Unpack(format!("entry {} points outside the target directory", path.display())));
        }
    }
    // Drain what the sender may still push (e.g. tar's trailing zero blocks) so it never blocks.
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| HostError::Unpack(format!("read the archive: {e}")))?;
    Ok(())
}

fn escapes(path: &Path) -> bool {
    path.components().any(|c| matches!(c, Component::ParentDir | Component::RootDir | Component::Prefix(_)))
}

//! A checkout's tar stream unpacked in the guest by `tar -x` on an exec channel. Every chunk is
//! checked here before it is sent ([`ArchiveCheck`]), so an entry that would land outside the
//! destination fails the unpack before the guest's tar sees it, whatever that tar's own rules.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use engine::{HostError, TarSink};
use russh::ChannelMsg;
use russh::client::Msg;

use super::command;
use super::quote::quote_path;
use crate::ssh::Session;

const BLOCK: usize = 512;

pub(crate) struct SshTarSink {
    channel: russh::Channel<Msg>,
    check: ArchiveCheck,
    command: String,
}

impl SshTarSink {
    pub(crate) async fn start(session: &Session, dest: &Path) -> Result<SshTarSink, HostError> {
        // `cd` rather than `-C`, and the old option form: what every tar (illumos too) understands.
        let command = format!("cd {} && exec tar xf -", quote_path(dest));
        let channel = command::open(session, &command).await?;
        Ok(SshTarSink { channel, check: ArchiveCheck::default(), command })
    }
}

#[async_trait]
impl TarSink for SshTarSink {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), HostError> {
        self.check.push(chunk).map_err(HostError::Unpack)?;
        self.channel.data(chunk).await.map_err(|e| HostError::Unpack(format!("send to the guest's tar: {e}")))
    }

    async fn finish(self: Box<Self>) -> Result<(), HostError> {
        let SshTarSink { mut channel, command, .. } = *self;
        channel.eof().await.map_err(|e| HostError::Unpack(format!("send to the guest's tar: {e}")))?;
        let mut status = None;
        let mut stderr = Vec::new();
        while let Some(message) = channel.wait().await {
            match message {
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::ExtendedData { data, ext: 1 } if stderr.len() < 4096 => stderr.extend_from_slice(&data),
                _ => {}
            }
        }
        if status == Some(0) {
            return Ok(());
        }
        let output = command::Output { status, stdout: Vec::new(), stderr };
        Err(HostError::Unpack(crate::vm::chain(&output.failure(&command))))
    }
}

/// Follows a tar stream's headers as it passes: every entry's path (ustar name and prefix, a
/// GNU long name, a pax `path`) must stay inside the destination, a hard link's target too, and
/// no entry may be written through a symlink the archive made.
#[derive(Default)]
pub(crate) struct ArchiveCheck {
    /// A partial header block.
    header: Vec<u8>,
    /// Data bytes (with padding) of the current entry still to pass.
    skip: usize,
    /// The current entry is a GNU long name or a pax header: its data is kept.
    meta: Option<(u8, Vec<u8>, usize)>,
    /// Names that the next header uses instead of its own.
    long_name: Option<String>,
    long_link: Option<String>,
    symlinks: BTreeSet<PathBuf>,
}

impl ArchiveCheck {
    pub(crate) fn push(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                if let Some((_, kept, wanted)) = self.meta.as_mut() {
                    let room = wanted.saturating_sub(kept.len()).min(n);
                    kept.extend_from_slice(&data[..room]);
                }
                self.skip -= n;
                data = &data[n..];
                if self.skip == 0 {
                    self.end_meta();
                }
                continue;
            }
            let n = (BLOCK - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.header.len() == BLOCK {
                let header = std::mem::take(&mut self.header);
                self.header(&header)?;
            }
        }
        Ok(())
    }

    fn header(&mut self, block: &[u8]) -> Result<(), String> {
        if block.iter().all(|&b| b == 0) {
            return Ok(());
        }
        let size = parse_size(&block[124..136]).ok_or("an archive header has an unreadable size")?;
        let padded = size.div_ceil(BLOCK) * BLOCK;
        let kind = block[156];
        match kind {
            b'L' | b'K' | b'x' => {
                self.meta = Some((kind, Vec::new(), size));
                self.skip = padded;
                if padded == 0 {
                    self.end_meta();
                }
                return Ok(());
            }
            b'g' => {
                self.skip = padded;
                return Ok(());
            }
            _ => {}
        }
        let name = match self.long_name.take() {
            Some(name) => name,
            None => {
                let name = field(&block[0..100]);
                let prefix = if &block[257..262] == b"ustar" { field(&block[345..500]) } else { String::new() };
                if prefix.is_empty() { name } else { format!("{prefix}/{name}") }
            }
        };
        let link = self.long_link.take().unwrap_or_else(|| field(&block[157..257]));
        let path = relative(&name).ok_or_else(|| format!("entry {name} points outside the target directory"))?;
        if self.symlinks.iter().any(|link| path.starts_with(link) && path != *link) {
            return Err(format!("entry {name} would be written through a symlink"));
        }
        match kind {
            b'1' if relative(&link).is_none() => {
                return Err(format!("hard link {name} points outside the target directory"));
            }
            b'2' => {
                self.symlinks.insert(path);
            }
            _ => {}
        }
        self.skip = if matches!(kind, b'1' | b'2' | b'5') { 0 } else { padded };
        Ok(())
    }

    fn end_meta(&mut self) {
        let Some((kind, data, _)) = self.meta.take() else { return };
        match kind {
            b'L' => self.long_name = Some(field(&data)),
            b'K' => self.long_link = Some(field(&data)),
            _ => {
                for (key, value) in pax_records(&data) {
                    match key.as_str() {
                        "path" => self.long_name = Some(value),
                        "linkpath" => self.long_link = Some(value),
                        _ => {}
                    }
                }
            }
        }
    }
}

/// A NUL-terminated header field as text.
fn field(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Octal, or GNU's base-256 (high bit set) for large sizes.
fn parse_size(bytes: &[u8]) -> Option<usize> {
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        let mut value: usize = (bytes[0] & 0x7f) as usize;
        for &b in &bytes[1..] {
            value = value.checked_mul(256)?.checked_add(b as usize)?;
        }
        return Some(value);
    }
    let text = field(bytes);
    let text = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if text.is_empty() {
        return Some(0);
    }
    usize::from_str_radix(text, 8).ok()
}

/// `len key=value\n` records.
fn pax_records(data: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(data);
    let mut records = Vec::new();
    let mut rest: &str = &text;
    while let Some((len, _)) = rest.split_once(' ') {
        let Ok(len) = len.parse::<usize>() else { break };
        let Some(record) = rest.get(..len) else { break };
        rest = &rest[len..];
        if let Some((_, pair)) = record.trim_end_matches('\n').split_once(' ')
            && let Some((key, value)) = pair.split_once('=')
        {
            records.push((key.to_owned(), value.to_owned()));
        }
    }
    records
}

/// The entry's path when it stays below the destination.
fn relative(name: &str) -> Option<PathBuf> {
    let mut path = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::ArchiveCheck;

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        builder.into_inner().unwrap_or_default()
    }

    fn file(builder: &mut tar::Builder<Vec<u8>>, name: &str) {
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // Bypasses the tar crate's own refusal of `..`, as a hostile archive would.
        let bytes = name.as_bytes();
        header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        header.set_cksum();
        builder.append(&header, &b"abc"[..]).unwrap_or_default();
    }

    fn check_in_small_chunks(data: &[u8]) -> Result<(), String> {
        let mut check = ArchiveCheck::default();
        data.chunks(100).try_for_each(|chunk| check.push(chunk))
    }

    #[test]
    fn a_plain_archive_passes_and_an_escaping_one_does_not() {
        let long = format!("{}/file.txt", "d".repeat(150));
        let good = archive(|b| {
            file(b, "src/main.rs");
            let mut header = tar::Header::new_gnu();
            header.set_size(1);
            header.set_mode(0o644);
            b.append_data(&mut header, &long, &b"x"[..]).unwrap_or_default();
        });
        assert_eq!(check_in_small_chunks(&good), Ok(()));
        let bad = archive(|b| {
            file(b, "ok.txt");
            file(b, "../../etc/evil");
        });
        assert!(check_in_small_chunks(&bad).is_err_and(|e| e.contains("outside")));
    }

    #[test]
    fn nothing_is_written_through_a_symlink() {
        let bad = archive(|b| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            b.append_link(&mut header, "out", "/etc").unwrap_or_default();
            file(b, "out/passwd");
        });
        assert!(check_in_small_chunks(&bad).is_err_and(|e| e.contains("symlink")));
    }
}

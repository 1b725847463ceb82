//! The guest's serial console, which QEMU writes to a file: read as it grows for the ready and
//! failed markers, and its tail quoted when a boot fails.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Reads the lines a growing file gained since the last call.
#[derive(Debug)]
pub(crate) struct SerialWatch {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl SerialWatch {
    pub(crate) fn new(path: PathBuf) -> SerialWatch {
        SerialWatch { path, offset: 0, partial: Vec::new() }
    }

    /// The complete lines written since the last call (none when the file does not exist yet).
    pub(crate) fn new_lines(&mut self) -> Vec<String> {
        let Ok(mut file) = std::fs::File::open(&self.path) else { return Vec::new() };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut fresh = Vec::new();
        let Ok(read) = file.read_to_end(&mut fresh) else { return Vec::new() };
        self.offset += read as u64;
        self.partial.extend_from_slice(&fresh);
        let mut lines = Vec::new();
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            lines.push(clean(&line));
        }
        lines
    }
}

/// The last `count` lines of the file, oldest first; an unfinished last line counts too.
pub(crate) fn tail(path: &Path, count: usize) -> Vec<String> {
    let Ok(bytes) = std::fs::read(path) else { return Vec::new() };
    let lines: Vec<String> = bytes.split(|&b| b == b'\n').map(clean).collect();
    let mut lines: Vec<String> = lines.into_iter().rev().skip_while(String::is_empty).collect();
    lines.truncate(count);
    lines.reverse();
    lines
}

/// A console line as text: lossy UTF-8, no line terminator, no terminal escapes or other
/// control characters (they would garble a job log).
fn clean(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ parameters… final byte in @..~
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_yields_only_complete_new_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serial.log");
        let mut watch = SerialWatch::new(path.clone());
        assert!(watch.new_lines().is_empty());
        std::fs::write(&path, "SeaBIOS\r\nLinux vers").unwrap();
        assert_eq!(watch.new_lines(), ["SeaBIOS"]);
        std::fs::write(&path, "SeaBIOS\r\nLinux version 6\r\n\x1b[1mSOLSTICE-READY x\x1b[0m\n").unwrap();
        assert_eq!(watch.new_lines(), ["Linux version 6", "SOLSTICE-READY x"]);
    }

    #[test]
    fn tail_keeps_the_last_lines_and_an_unfinished_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serial.log");
        std::fs::write(&path, "a\nb\nc\nKernel panic - not syncing\n\n").unwrap();
        assert_eq!(tail(&path, 2), ["c", "Kernel panic - not syncing"]);
        std::fs::write(&path, "a\nb").unwrap();
        assert_eq!(tail(&path, 5), ["a", "b"]);
        assert!(tail(&dir.path().join("none"), 5).is_empty());
    }
}

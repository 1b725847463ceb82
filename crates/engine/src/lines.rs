//! Turning a process's output bytes into log lines: `\n`, `\r\n` and a lone `\r` end a line (as
//! .NET's `ReadLine` does in GitHub's runner), invalid UTF-8 becomes U+FFFD, and a line longer
//! than [`MAX_LINE`] bytes is split.

/// The longest line a log event carries; longer output is split into several lines.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next one belongs to it.
    after_cr: bool,
}

impl LineSplitter {
    pub fn new() -> LineSplitter {
        LineSplitter::default()
    }

    /// Feeds bytes, returning the lines they complete.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        while let Some(pos) = bytes.iter().position(|b| *b == b'\n' || *b == b'\r') {
            self.partial.extend_from_slice(&bytes[..pos]);
            self.take_long(&mut lines);
            lines.push(String::from_utf8_lossy(&self.partial).into_owned());
            self.partial.clear();
            let cr = bytes[pos] == b'\r';
            bytes = &bytes[pos + 1..];
            if cr {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.partial.extend_from_slice(bytes);
        self.take_long(&mut lines);
        lines
    }

    /// The end of the stream: what is left is the last line.
    pub fn finish(&mut self) -> Option<String> {
        if self.partial.is_empty() {
            return None;
        }
        let line = String::from_utf8_lossy(&self.partial).into_owned();
        self.partial.clear();
        Some(line)
    }

    fn take_long(&mut self, lines: &mut Vec<String>) {
        while self.partial.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            // Prefer not to split a UTF-8 sequence: back up over continuation bytes.
            while cut > MAX_LINE - 4 && is_continuation(self.partial[cut]) {
                cut -= 1;
            }
            if is_continuation(self.partial[cut]) {
                cut = MAX_LINE;
            }
            let rest = self.partial.split_off(cut);
            lines.push(String::from_utf8_lossy(&self.partial).into_owned());
            self.partial = rest;
        }
    }
}

fn is_continuation(byte: u8) -> bool {
    byte & 0b1100_0000 == 0b1000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_every_terminator_across_chunks() {
        let mut s = LineSplitter::new();
        let mut lines = s.push(b"a\nb\r\nc\rd");
        lines.extend(s.push(b"e\r"));
        lines.extend(s.push(b"\nf\xff"));
        lines.extend(s.finish());
        assert_eq!(lines, ["a", "b", "c", "de", "f\u{fffd}"]);
    }

    #[test]
    fn splits_long_lines_on_char_boundaries() {
        let mut s = LineSplitter::new();
        let mut input = vec![b'x'; MAX_LINE - 1];
        input.extend("é".as_bytes());
        input.extend(b"tail\n");
        let lines = s.push(&input);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE - 1);
        assert_eq!(lines[1], "étail");
    }
}

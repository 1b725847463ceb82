//! Text cut into rows the way Forgejo stores them: one line per row, valid UTF-8, at most
//! [`MAX_ROW_BYTES`] each.

use time::OffsetDateTime;

use super::{MAX_ROW_BYTES, Row};

/// The rows of `text`: one per line (a final line terminator ends the last line, it does not
/// start an empty one), a trailing `\r` dropped, lines longer than [`MAX_ROW_BYTES`] continued on
/// further rows rather than cut, because Forgejo would silently truncate them.
pub fn rows(time: OffsetDateTime, text: &str) -> Vec<Row> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut rows = Vec::new();
    for line in text.split('\n') {
        let mut rest = line.strip_suffix('\r').unwrap_or(line);
        loop {
            let cut = char_boundary_at_most(rest, MAX_ROW_BYTES);
            let (head, tail) = rest.split_at(cut);
            rows.push(Row { time, content: head.to_owned() });
            if tail.is_empty() {
                break;
            }
            rest = tail;
        }
    }
    rows
}

/// The rows of raw bytes (a process's output that is not UTF-8): invalid sequences become U+FFFD,
/// because the server rejects a whole request holding one invalid string.
pub fn rows_from_bytes(time: OffsetDateTime, bytes: &[u8]) -> Vec<Row> {
    rows(time, &String::from_utf8_lossy(bytes))
}

/// `text` with every secret value, and every line of a multi-line one, replaced by `***`.
pub(crate) fn mask(text: &str, secrets: &[String]) -> String {
    let mut masked = text.to_owned();
    for secret in secrets {
        if secret.is_empty() {
            continue;
        }
        masked = masked.replace(secret.as_str(), "***");
        if secret.contains('\n') {
            for line in secret.lines().map(|line| line.trim_end_matches('\r')).filter(|line| !line.is_empty()) {
                masked = masked.replace(line, "***");
            }
        }
    }
    masked
}

/// The largest index ≤ `limit` that is a char boundary of `text` (all of it when it is short).
fn char_boundary_at_most(text: &str, limit: usize) -> usize {
    if text.len() <= limit {
        return text.len();
    }
    let mut cut = limit;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

//! File commands: the `GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_PATH` and `GITHUB_STEP_SUMMARY`
//! files a step writes, parsed after it ends the way GitHub's runner parses them.

use std::path::{Path, PathBuf};

/// GitHub refuses summaries above 1 MiB.
pub const SUMMARY_LIMIT: usize = 1024 * 1024;

/// The per-step files, created empty before the step starts.
#[derive(Debug, Clone)]
pub struct StepFiles {
    pub env: PathBuf,
    pub output: PathBuf,
    pub path: PathBuf,
    pub summary: PathBuf,
    pub state: PathBuf,
}

impl StepFiles {
    pub fn new(dir: &Path, step_index: u32) -> StepFiles {
        let file = |prefix: &str| dir.join(format!("{prefix}{step_index}"));
        StepFiles {
            env: file("set_env_"),
            output: file("set_output_"),
            path: file("add_path_"),
            summary: file("step_summary_"),
            state: file("save_state_"),
        }
    }

    pub fn all(&self) -> [&Path; 5] {
        [&self.env, &self.output, &self.path, &self.summary, &self.state]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileCommandError {
    #[error("Invalid format '{line}'. Name must not be empty")]
    EmptyName { line: String },
    #[error("Invalid format '{line}'. Name must not be empty and delimiter must not be empty")]
    EmptyHeredoc { line: String },
    #[error("Invalid value. Matching delimiter not found '{delimiter}'")]
    NoDelimiter { delimiter: String },
    #[error("Invalid format '{line}'")]
    Invalid { line: String },
}

/// Parses `NAME=value` lines and `NAME<<DELIM` … `DELIM` heredocs. Lines end at LF only (a CR
/// stays part of the value, as on GitHub's Unix runners); empty lines are skipped. A heredoc's
/// value ends at the first line that equals the delimiter, so a value cannot contain it.
pub fn parse_key_values(text: &str) -> Result<Vec<(String, String)>, FileCommandError> {
    let mut pairs = Vec::new();
    let mut lines = text.split_inclusive('\n').map(|l| l.strip_suffix('\n').unwrap_or(l));
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let equals = line.find('=');
        let heredoc = line.find("<<");
        match (equals, heredoc) {
            (Some(eq), h) if h.is_none_or(|h| eq < h) => {
                let (name, value) = (&line[..eq], &line[eq + 1..]);
                if name.is_empty() {
                    return Err(FileCommandError::EmptyName { line: line.to_owned() });
                }
                pairs.push((name.to_owned(), value.to_owned()));
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                if name.is_empty() || delimiter.is_empty() {
                    return Err(FileCommandError::EmptyHeredoc { line: line.to_owned() });
                }
                let mut value: Vec<&str> = Vec::new();
                loop {
                    match lines.next() {
                        Some(l) if l == delimiter => break,
                        Some(l) => value.push(l),
                        None => return Err(FileCommandError::NoDelimiter { delimiter: delimiter.to_owned() }),
                    }
                }
                pairs.push((name.to_owned(), value.join("\n")));
            }
            _ => return Err(FileCommandError::Invalid { line: line.to_owned() }),
        }
    }
    Ok(pairs)
}

/// `GITHUB_PATH`: every non-empty line is a directory, in order.
pub fn parse_paths(text: &str) -> Vec<String> {
    text.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Result<Vec<(String, String)>, FileCommandError> {
        parse_key_values(text)
    }

    #[test]
    fn key_values_and_heredocs() {
        let got = pairs("A=1\n\nB=x=y\nC<<EOF\nline 1\nline 2\nEOF\nD<<X\nX\nE=a<<b\n").unwrap_or_default();
        let want = [("A", "1"), ("B", "x=y"), ("C", "line 1\nline 2"), ("D", ""), ("E", "a<<b")];
        assert_eq!(got, want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>());
    }

    #[test]
    fn errors_like_github() {
        assert!(matches!(pairs("=1\n"), Err(FileCommandError::EmptyName { .. })));
        assert!(matches!(pairs("A<<\n"), Err(FileCommandError::EmptyHeredoc { .. })));
        assert!(matches!(pairs("A<<EOF\nvalue\n"), Err(FileCommandError::NoDelimiter { .. })));
        assert!(matches!(pairs("JUSTTEXT\n"), Err(FileCommandError::Invalid { .. })));
    }

    #[test]
    fn paths_skip_blank_lines() {
        assert_eq!(parse_paths("/a\n\n/b\r\n"), vec!["/a".to_owned(), "/b".to_owned()]);
    }
}

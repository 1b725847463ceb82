//! Quoting for POSIX `sh`: everything we put into a command line or a launcher script goes
//! through [`quote`], so no path or value is ever parsed by the guest's shell.

use std::path::Path;

/// `text` as one single-quoted `sh` word. A `'` inside closes the quote, adds an escaped
/// quote and reopens it, which every POSIX shell reads back as the original text.
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

pub(crate) fn quote_path(path: &Path) -> String {
    quote(&path.to_string_lossy())
}

/// A name `sh` can assign and export (`[A-Za-z_][A-Za-z0-9_]*`).
pub(crate) fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_survive_a_shell() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$HOME `x` \"y\"\n"), "'$HOME `x` \"y\"\n'");
    }

    #[test]
    fn shell_names() {
        assert!(is_shell_name("GITHUB_ENV") && is_shell_name("_x1"));
        assert!(!is_shell_name("1A") && !is_shell_name("A-B") && !is_shell_name(""));
    }
}

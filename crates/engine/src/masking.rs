//! Secret masking: every secret value, every line of a multi-line secret and every
//! `::add-mask::` value becomes `***` in whatever leaves the engine (log lines, annotations,
//! summaries, outputs, display names).

use std::fmt;

pub const MASK: &str = "***";

#[derive(Clone, Default)]
pub struct Masker {
    /// Longest first, so a secret that contains another is replaced whole.
    values: Vec<String>,
}

impl Masker {
    pub fn new() -> Masker {
        Masker::default()
    }

    /// Registers `value` and, when it spans lines, each of its lines.
    pub fn add(&mut self, value: &str) {
        self.insert(value);
        if value.contains(['\n', '\r']) {
            for line in value.split(['\n', '\r']) {
                self.insert(line);
            }
        }
    }

    fn insert(&mut self, value: &str) {
        // Masking whitespace would shred every line while protecting nothing.
        if value.trim().is_empty() || self.values.iter().any(|v| v == value) {
            return;
        }
        let at = self.values.iter().position(|v| v.len() < value.len()).unwrap_or(self.values.len());
        self.values.insert(at, value.to_owned());
    }

    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), MASK);
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Masker({} values)", self.values.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_whole_values_and_lines_longest_first() {
        let mut masker = Masker::new();
        masker.add("abc");
        masker.add("abcdef");
        masker.add("line one\nline two");
        assert_eq!(masker.mask("x abcdef y abc"), "x *** y ***");
        assert_eq!(masker.mask("line two"), "***");
        assert_eq!(masker.mask("nothing"), "nothing");
    }

    #[test]
    fn ignores_blank_values() {
        let mut masker = Masker::new();
        masker.add(" \n");
        assert!(masker.is_empty());
    }
}

//! Whole-line patterns for `stdout-matches:`: `*` stands for any run of characters (none too),
//! `\*` for a literal star and `\\` for a backslash; everything else is literal. Deliberately not
//! a regex: the lines we match are full of `[`, `(`, `.` and `$`, which read best unescaped.

/// A pattern that must match a whole line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePattern {
    source: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyRun,
}

impl LinePattern {
    pub fn new(source: &str) -> Result<Self, String> {
        let mut tokens = Vec::new();
        let mut chars = source.chars();
        while let Some(c) = chars.next() {
            match c {
                '*' => tokens.push(Token::AnyRun),
                '\\' => match chars.next() {
                    Some(escaped @ ('*' | '\\')) => tokens.push(Token::Char(escaped)),
                    Some(other) => return Err(format!("unknown escape `\\{other}` in pattern `{source}`")),
                    None => return Err(format!("pattern `{source}` ends in a lone backslash")),
                },
                other => tokens.push(Token::Char(other)),
            }
        }
        Ok(LinePattern { source: source.to_owned(), tokens })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole `line` matches. Classic wildcard matching: on a mismatch, go back to the
    /// last `*` and let it take one more character.
    pub fn matches(&self, line: &str) -> bool {
        let text: Vec<char> = line.chars().collect();
        let (mut t, mut p) = (0, 0);
        let mut backtrack: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::AnyRun) => {
                    backtrack = Some((p, t));
                    p += 1;
                }
                Some(Token::Char(c)) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match backtrack {
                    Some((star, taken)) => {
                        p = star + 1;
                        t = taken + 1;
                        backtrack = Some((star, taken + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|token| *token == Token::AnyRun)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, line: &str, expected: bool) {
        let compiled = LinePattern::new(pattern).unwrap();
        assert_eq!(compiled.matches(line), expected, "pattern {pattern:?} against {line:?}");
    }

    #[test]
    fn literal_patterns_match_whole_lines_only() {
        check("[job] hi", "[job] hi", true);
        check("[job] hi", "[job] hi there", false);
        check("[job] hi", "x[job] hi", false);
        check("", "", true);
        check("", "x", false);
    }

    #[test]
    fn star_matches_any_run() {
        check("[*] combo a", "[m (a, b)] combo a", true);
        check("[*] combo a", "[] combo a", true);
        check("[job] ##[error]*pwsh*", "[job] ##[error]File not found: 'pwsh'", true);
        check("[job] ##[error]*pwsh*", "[job] ##[error]pwsh", true);
        check("[job] ##[error]*pwsh*", "[job] ##[warning]pwsh", false);
        check("*", "", true);
        check("a*b*c", "abbbbc", true);
        check("a*b*c", "acb", false);
        check("*ab", "aab", true);
    }

    #[test]
    fn escaped_star_is_literal() {
        check("[job] token is \\*\\*\\*", "[job] token is ***", true);
        check("[job] token is \\*\\*\\*", "[job] token is abc", false);
        check("a\\\\b", "a\\b", true);
    }

    #[test]
    fn bad_escapes_are_errors() {
        assert!(LinePattern::new("a\\b").is_err());
        assert!(LinePattern::new("a\\").is_err());
    }
}

//! What a run must show, and the check of one run's output against it.

use crate::pattern::LinePattern;

/// One thing the run's output must (or must not) show.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// A whole stdout line, exactly.
    StdoutHas(String),
    /// No stdout line contains this text.
    StdoutLacks(String),
    /// A whole stdout line matching a pattern where `*` stands for any text.
    StdoutMatches(LinePattern),
    /// stdout has exactly this many lines.
    StdoutLines(usize),
    /// stderr contains this text, ignoring ASCII case (diagnostics are prose, and may be JSON).
    StderrHas(String),
    /// stderr does not contain this text, ignoring ASCII case.
    StderrLacks(String),
    /// These whole stdout lines appear in this order (other lines may come between them).
    Order(Vec<String>),
}

impl Expectation {
    /// Whether it asks for something to be present: a file needs at least one of these, because
    /// absences alone hold for a run that printed nothing.
    pub fn is_positive(&self) -> bool {
        !matches!(self, Expectation::StdoutLacks(_) | Expectation::StderrLacks(_))
    }

    /// `Err` says, in one line, what the output got wrong.
    pub fn check(&self, stdout: &str, stderr: &str) -> Result<(), String> {
        let lines = || stdout.lines();
        let stderr_lower = || stderr.to_ascii_lowercase();
        let holds = match self {
            Expectation::StdoutHas(line) => lines().any(|l| l == line),
            Expectation::StdoutLacks(text) => !stdout.contains(text.as_str()),
            Expectation::StdoutMatches(pattern) => lines().any(|l| pattern.matches(l)),
            Expectation::StdoutLines(count) => lines().count() == *count,
            Expectation::StderrHas(text) => stderr_lower().contains(&text.to_ascii_lowercase()),
            Expectation::StderrLacks(text) => !stderr_lower().contains(&text.to_ascii_lowercase()),
            Expectation::Order(wanted) => return check_order(wanted, lines()),
        };
        if holds { Ok(()) } else { Err(self.describe_failure(stdout)) }
    }

    fn describe_failure(&self, stdout: &str) -> String {
        match self {
            Expectation::StdoutHas(line) => format!("stdout has no line `{line}`"),
            Expectation::StdoutLacks(text) => {
                let offender = stdout.lines().find(|l| l.contains(text.as_str())).unwrap_or_default();
                format!("stdout contains `{text}` (in line `{offender}`)")
            }
            Expectation::StdoutMatches(pattern) => format!("no stdout line matches `{}`", pattern.as_str()),
            Expectation::StdoutLines(count) => {
                format!("stdout has {} lines, expected {count}", stdout.lines().count())
            }
            Expectation::StderrHas(text) => format!("stderr does not contain `{text}` (ignoring case)"),
            Expectation::StderrLacks(text) => format!("stderr contains `{text}` (ignoring case)"),
            Expectation::Order(_) => unreachable!("order failures are described by check_order"),
        }
    }
}

/// Each wanted line must appear after the one before it; the first occurrence after the previous
/// match is taken, so repeated lines need repeated occurrences.
fn check_order<'a>(wanted: &[String], mut lines: impl Iterator<Item = &'a str>) -> Result<(), String> {
    for (index, line) in wanted.iter().enumerate() {
        if !lines.any(|l| l == line) {
            return Err(if index == 0 {
                format!("order: stdout has no line `{line}`")
            } else {
                format!("order: no line `{line}` after `{}`", wanted[index - 1])
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STDOUT: &str = "[a] === Set up job\n[a] one\n[b] two\n[a] one\n[a] token ***\n";

    fn holds(expectation: Expectation) -> bool {
        expectation.check(STDOUT, "Error: Bad FILE x.yml").is_ok()
    }

    #[test]
    fn has_wants_a_whole_line() {
        assert!(holds(Expectation::StdoutHas("[a] one".into())));
        assert!(!holds(Expectation::StdoutHas("[a] on".into())));
        assert!(!holds(Expectation::StdoutHas("one".into())));
    }

    #[test]
    fn lacks_looks_at_substrings() {
        assert!(holds(Expectation::StdoutLacks("secret".into())));
        assert!(!holds(Expectation::StdoutLacks("tw".into())));
        let e = Expectation::StdoutLacks("tw".into()).check(STDOUT, "").unwrap_err();
        assert!(e.contains("[b] two"), "{e}");
    }

    #[test]
    fn matches_uses_the_line_pattern() {
        assert!(holds(Expectation::StdoutMatches(LinePattern::new("[*] two").unwrap())));
        assert!(holds(Expectation::StdoutMatches(LinePattern::new("[a] token \\*\\*\\*").unwrap())));
        assert!(!holds(Expectation::StdoutMatches(LinePattern::new("[*] three").unwrap())));
    }

    #[test]
    fn line_count() {
        assert!(holds(Expectation::StdoutLines(5)));
        assert!(!holds(Expectation::StdoutLines(0)));
        assert!(Expectation::StdoutLines(0).check("", "").is_ok());
    }

    #[test]
    fn stderr_ignores_case() {
        assert!(holds(Expectation::StderrHas("bad file".into())));
        assert!(holds(Expectation::StderrHas("x.yml".into())));
        assert!(!holds(Expectation::StderrHas("y.yml".into())));
        assert!(holds(Expectation::StderrLacks("abc123".into())));
        assert!(!holds(Expectation::StderrLacks("BAD".into())));
    }

    #[test]
    fn order_is_a_subsequence() {
        let order = |lines: &[&str]| Expectation::Order(lines.iter().map(|l| (*l).to_owned()).collect());
        assert!(holds(order(&["[a] === Set up job", "[b] two"])));
        assert!(holds(order(&["[a] one", "[b] two", "[a] one"])));
        assert!(!holds(order(&["[b] two", "[a] === Set up job"])));
        assert!(!holds(order(&["[b] two", "[b] two"])));
        let e = order(&["[b] two", "[a] === Set up job"]).check(STDOUT, "").unwrap_err();
        assert!(e.contains("after `[b] two`"), "{e}");
        let e = order(&["[c] three", "[a] one"]).check(STDOUT, "").unwrap_err();
        assert!(e.contains("no line `[c] three`"), "{e}");
    }
}

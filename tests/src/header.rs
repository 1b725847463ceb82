//! The expectations a workflow file declares in its leading comment lines (grammar in
//! `tests/README.md`).
//!
//! Parsing is strict on purpose: an unknown key, a duplicate `exit:` or a file without an `exit:`
//! and at least one positive expectation is an error, so no test can pass by expecting nothing.

use std::fmt;

use crate::expectation::Expectation;
use crate::pattern::LinePattern;

/// Everything the header of one workflow file says.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Where the expected behaviour is documented (at least one).
    pub docs: Vec<String>,
    /// The exit code `solstice run` must return.
    pub exit: i32,
    /// Extra arguments for `solstice run`, escapes already applied; `{workflows}` is left for the
    /// runner to replace.
    pub args: Vec<String>,
    /// Variables set in the environment of the `solstice` process itself.
    pub caller_env: Vec<(String, String)>,
    pub expectations: Vec<Expectation>,
}

/// A header line that breaks the grammar; `line` is 1-based (0 when the header as a whole is
/// incomplete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "header: {}", self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for HeaderError {}

/// Reads the header: the comment lines (`#…`) the file starts with, up to the first line that is
/// not a comment.
pub fn parse(text: &str) -> Result<Header, HeaderError> {
    let mut docs = Vec::new();
    let mut exit = None;
    let mut args = Vec::new();
    let mut caller_env = Vec::new();
    let mut expectations = Vec::new();

    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let Some(comment) = raw.strip_prefix('#') else { break };
        let error = |message: String| HeaderError { line: number, message };
        if comment.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = comment.strip_prefix(' ').and_then(|rest| rest.split_once(':')) else {
            return Err(error(format!("expected `# key: value`, found `{raw}`")));
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(error(format!("`{key}:` needs a value")));
        }
        match key {
            "doc" => docs.push(value.to_owned()),
            "note" => {}
            "exit" => {
                if exit.is_some() {
                    return Err(error("`exit:` given twice".into()));
                }
                let code = value.parse().map_err(|_| error(format!("`exit:` wants an integer, found `{value}`")))?;
                exit = Some(code);
            }
            "args" => {
                for word in value.split_whitespace() {
                    args.push(unescape(word).map_err(error)?);
                }
            }
            "caller-env" => {
                let (name, val) = value
                    .split_once('=')
                    .filter(|(name, _)| !name.is_empty())
                    .ok_or_else(|| error(format!("`caller-env:` wants NAME=VALUE, found `{value}`")))?;
                caller_env.push((name.to_owned(), val.to_owned()));
            }
            "stdout-has" => expectations.push(Expectation::StdoutHas(value.to_owned())),
            "stdout-lacks" => expectations.push(Expectation::StdoutLacks(value.to_owned())),
            "stdout-matches" => expectations.push(Expectation::StdoutMatches(LinePattern::new(value).map_err(error)?)),
            "stdout-lines" => {
                let count =
                    value.parse().map_err(|_| error(format!("`stdout-lines:` wants a count, found `{value}`")))?;
                expectations.push(Expectation::StdoutLines(count));
            }
            "stderr-has" => expectations.push(Expectation::StderrHas(value.to_owned())),
            "stderr-lacks" => expectations.push(Expectation::StderrLacks(value.to_owned())),
            "order" => {
                let lines: Vec<String> = value.split(" || ").map(|line| line.trim().to_owned()).collect();
                if lines.len() < 2 || lines.iter().any(String::is_empty) {
                    return Err(error(format!(
                        "`order:` wants two or more lines separated by ` || `, found `{value}`"
                    )));
                }
                expectations.push(Expectation::Order(lines));
            }
            other => return Err(error(format!("unknown key `{other}`"))),
        }
    }

    let incomplete = |message: &str| HeaderError { line: 0, message: message.to_owned() };
    let exit = exit.ok_or_else(|| incomplete("no `exit:` line"))?;
    if docs.is_empty() {
        return Err(incomplete("no `doc:` line: say where the expected behaviour is documented"));
    }
    if !expectations.iter().any(Expectation::is_positive) {
        return Err(incomplete(
            "no positive expectation (`stdout-has`, `stdout-matches`, `stdout-lines`, `stderr-has` or `order`)",
        ));
    }
    Ok(Header { docs, exit, args, caller_env, expectations })
}

/// `\n` newline, `\s` space, `\\` backslash; any other escape is a mistake.
fn unescape(word: &str) -> Result<String, String> {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some(other) => return Err(format!("unknown escape `\\{other}` in `args:` (use \\n, \\s or \\\\)")),
            None => return Err(format!("`args:` word `{word}` ends in a lone backslash")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Header {
        match parse(text) {
            Ok(header) => header,
            Err(e) => panic!("{e}\n--- header:\n{text}"),
        }
    }

    fn parse_err(text: &str) -> HeaderError {
        match parse(text) {
            Ok(header) => panic!("accepted {header:?}\n--- header:\n{text}"),
            Err(e) => e,
        }
    }

    const MINIMAL: &str = "# doc: https://docs.github.com/x\n# exit: 0\n# stdout-has: [job] hi\non: push\n";

    #[test]
    fn reads_every_key() {
        let header = parse_ok(
            "# doc: https://docs.github.com/a#b\n\
             # doc: docs/faq.md\n\
             # note: free text: with colons\n\
             #\n\
             # exit: 1\n\
             # args: --secret TOKEN=abc --var X=1\n\
             # args: --env MULTI=one\\ntwo\\sthree\\\\\n\
             # caller-env: NO_COLOR=1\n\
             # caller-env: EMPTY=\n\
             # stdout-has: [job] a: b\n\
             # stdout-lacks: abc\n\
             # stdout-matches: [*] x \\*\n\
             # stdout-lines: 0\n\
             # stderr-has: Bad File\n\
             # stderr-lacks: abc\n\
             # order: [a] one || [b] two || [c] three\n\
             name: w\n\
             # a comment in the workflow is not header\n",
        );
        assert_eq!(header.docs, ["https://docs.github.com/a#b", "docs/faq.md"]);
        assert_eq!(header.exit, 1);
        assert_eq!(header.args, ["--secret", "TOKEN=abc", "--var", "X=1", "--env", "MULTI=one\ntwo three\\"]);
        assert_eq!(header.caller_env, [("NO_COLOR".to_owned(), "1".to_owned()), ("EMPTY".to_owned(), String::new())]);
        assert_eq!(
            header.expectations,
            [
                Expectation::StdoutHas("[job] a: b".into()),
                Expectation::StdoutLacks("abc".into()),
                Expectation::StdoutMatches(LinePattern::new("[*] x \\*").unwrap()),
                Expectation::StdoutLines(0),
                Expectation::StderrHas("Bad File".into()),
                Expectation::StderrLacks("abc".into()),
                Expectation::Order(vec!["[a] one".into(), "[b] two".into(), "[c] three".into()]),
            ]
        );
    }

    #[test]
    fn header_ends_at_the_first_line_that_is_not_a_comment() {
        let header = parse_ok("# doc: d\n# exit: 0\n# stdout-has: x\n\n# exit: 5\n# bogus line\n");
        assert_eq!(header.exit, 0);
    }

    #[test]
    fn values_are_trimmed_and_keep_inner_colons() {
        let header = parse_ok("# doc: d\n# exit: 0\n# stdout-has:   [job] outcome=failure: x   \n");
        assert_eq!(header.expectations, [Expectation::StdoutHas("[job] outcome=failure: x".into())]);
    }

    #[test]
    fn a_file_without_exit_fails() {
        let e = parse_err("# doc: d\n# stdout-has: x\non: push\n");
        assert_eq!(e.line, 0);
        assert!(e.message.contains("exit"), "{e}");
    }

    #[test]
    fn a_file_without_doc_fails() {
        let e = parse_err("# exit: 0\n# stdout-has: x\n");
        assert!(e.message.contains("doc"), "{e}");
    }

    #[test]
    fn a_file_without_any_expectation_fails() {
        let e = parse_err("# doc: d\n# exit: 0\non: push\n");
        assert!(e.message.contains("positive expectation"), "{e}");
    }

    #[test]
    fn absences_alone_are_not_enough() {
        let e = parse_err("# doc: d\n# exit: 0\n# stdout-lacks: x\n# stderr-lacks: y\n");
        assert!(e.message.contains("positive expectation"), "{e}");
    }

    #[test]
    fn an_empty_file_fails() {
        assert!(parse("").is_err());
        assert!(parse("on: push\njobs: {}\n").is_err());
    }

    #[test]
    fn malformed_lines_fail_with_their_line_number() {
        let cases = [
            ("# doc: d\n# exit: 0\n# stdout-hsa: x\n", 3, "unknown key `stdout-hsa`"),
            ("# doc: d\n#exit: 0\n", 2, "expected `# key: value`"),
            ("# doc: d\n# just some prose\n", 2, "expected `# key: value`"),
            ("# doc: d\n# exit: zero\n", 2, "integer"),
            ("# doc: d\n# exit: 0\n# exit: 1\n", 3, "twice"),
            ("# doc: d\n# stdout-has:\n", 2, "needs a value"),
            ("# doc: d\n# stdout-has:    \n", 2, "needs a value"),
            ("# doc: d\n# stdout-lines: many\n", 2, "count"),
            ("# doc: d\n# caller-env: NO_COLOR\n", 2, "NAME=VALUE"),
            ("# doc: d\n# caller-env: =1\n", 2, "NAME=VALUE"),
            ("# doc: d\n# order: [a] one\n", 2, "two or more"),
            ("# doc: d\n# order: [a] one ||  || [b] two\n", 2, "two or more"),
            ("# doc: d\n# args: --env X=a\\tb\n", 2, "unknown escape"),
            ("# doc: d\n# args: --env X=a\\\n", 2, "lone backslash"),
            ("# doc: d\n# stdout-matches: x\\y\n", 2, "escape"),
        ];
        for (text, line, message) in cases {
            let e = parse_err(text);
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(message), "{text:?}: expected `{message}` in `{e}`");
        }
    }

    #[test]
    fn minimal_header_is_enough() {
        let header = parse_ok(MINIMAL);
        assert_eq!(header.exit, 0);
        assert!(header.args.is_empty() && header.caller_env.is_empty());
    }
}

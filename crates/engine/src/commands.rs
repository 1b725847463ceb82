//! Workflow commands (`::name key=value,key=value::data`) as a step prints them: parsing and
//! GitHub's escaping rules. What each command does is in `output.rs`.

use std::collections::BTreeMap;

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Lowercased.
    pub name: String,
    pub properties: BTreeMap<String, String>,
    pub data: String,
}

/// Parses `line` the way GitHub's runner does: leading whitespace is ignored, the command
/// section ends at the first `::` after the opening one, the name ends at the first space,
/// properties are `key=value` separated by commas. `None` when it is not a command.
pub fn parse(line: &str) -> Option<Command> {
    let line = line.trim_start();
    let rest = line.strip_prefix("::")?;
    let end = rest.find("::")?;
    let section = &rest[..end];
    let data = &rest[end + 2..];
    let (name, props) = match section.split_once(' ') {
        Some((name, props)) => (name, props),
        None => (section, ""),
    };
    if name.is_empty() {
        return None;
    }
    let mut properties = BTreeMap::new();
    for pair in props.split(',').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                properties.insert(key.to_owned(), unescape_property(value));
            }
            _ => {}
        }
    }
    Some(Command { name: name.to_ascii_lowercase(), properties, data: unescape_data(data) })
}

/// `%0D`, `%0A` and finally `%25`, in that order, as GitHub's runner unescapes command data.
pub fn unescape_data(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")
}

/// Properties additionally escape `:` and `,`.
pub fn unescape_property(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")
}

#[cfg(test)]
mod tests {
    use super::*;

    type Expected<'a> = Option<(&'a str, &'a [(&'a str, &'a str)], &'a str)>;

    fn check(line: &str, expected: Expected<'_>) {
        let got = parse(line);
        let expected = expected.map(|(name, props, data)| Command {
            name: name.to_owned(),
            properties: props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            data: data.to_owned(),
        });
        assert_eq!(got, expected, "{line}");
    }

    #[test]
    fn parses_like_github() {
        check("::group::Build", Some(("group", &[], "Build")));
        check("  ::endgroup::", Some(("endgroup", &[], "")));
        check(
            "::error file=a.rs,line=3,col=5,title=T%3A x%2C y::bad%0Athing %25",
            Some(("error", &[("file", "a.rs"), ("line", "3"), ("col", "5"), ("title", "T: x, y")], "bad\nthing %")),
        );
        check("::warning ::w", Some(("warning", &[], "w")));
        check("::ERROR::m", Some(("error", &[], "m")));
        check("::add-mask::a::b", Some(("add-mask", &[], "a::b")));
        check("no command", None);
        check(":: ::x", None);
        check("::group", None);
        check("echo ::group::x", None);
    }
}

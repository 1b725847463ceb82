//! Workflow strings with `${{ }}` in them, turned into one expression as GitHub's workflow
//! parser does, so that a string is evaluated exactly once and the text around the
//! expressions can never be taken for an expression itself.

use crate::{ParseError, parse};

enum Segment<'a> {
    Text(&'a str),
    Expr(&'a str),
}

pub(crate) fn to_expr(text: &str) -> Result<Option<String>, ParseError> {
    if !text.contains("${{") {
        return Ok(None);
    }
    let mut segments = Vec::new();
    let mut rest = 0;
    while let Some(found) = text[rest..].find("${{") {
        let open = rest + found;
        if open > rest {
            segments.push(Segment::Text(&text[rest..open]));
        }
        let inner_start = open + 3;
        let position = text[..open].encode_utf16().count() + 1;
        let Some(close) = find_close(text, inner_start) else {
            return Err(ParseError {
                message: "The expression is not closed. An unescaped ${{ sequence was found, but the closing }} sequence was not found.".to_owned(),
                position,
            });
        };
        let inner = text[inner_start..close].trim();
        if inner.is_empty() {
            return Err(ParseError { message: "An expression was expected".to_owned(), position });
        }
        parse(inner)?;
        segments.push(Segment::Expr(inner));
        rest = close + 2;
    }
    if rest < text.len() {
        segments.push(Segment::Text(&text[rest..]));
    }

    if let [Segment::Expr(only)] = segments.as_slice() {
        return Ok(Some((*only).to_owned()));
    }
    let mut pattern = String::new();
    let mut args = Vec::new();
    for segment in &segments {
        match segment {
            Segment::Text(t) => escape_into(&mut pattern, t),
            Segment::Expr(e) => {
                pattern.push_str(&format!("{{{}}}", args.len()));
                args.push(*e);
            }
        }
    }
    let combined = format!("format('{pattern}', {})", args.join(", "));
    // The whole expression must itself be acceptable: GitHub rejects, for example, a `run:`
    // script whose expression would exceed the maximum length.
    parse(&combined)?;
    Ok(Some(combined))
}

/// The `}}` that ends an expression starting at `from`, skipping any inside a string literal
/// (so `${{ '}}' }}` is one expression). A doubled quote inside a literal toggles twice, which
/// leaves the state right.
fn find_close(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut in_string = false;
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => in_string = !in_string,
            b'}' if !in_string && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Literal text inside a `format` string literal: quotes doubled for the literal, braces
/// doubled for `format`.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\'' => out.push_str("''"),
            '{' => out.push_str("{{"),
            '}' => out.push_str("}}"),
            c => out.push(c),
        }
    }
}

//! `${{ }}` inside workflow strings: finding each expression, checking it parses and uses only
//! the contexts allowed where it stands, and turning values into `contract::Template`s.

use contract::Template;

use crate::node::{Node, Value};

/// Functions every expression may call; status functions and `hashFiles` are allowed per key.
const BUILTIN_FUNCTIONS: &[&str] =
    &["contains", "startswith", "endswith", "format", "join", "tojson", "fromjson", "case"];

const NOT_CLOSED: &str =
    "The expression is not closed. An unescaped ${{ sequence was found, but the closing }} sequence was not found.";
const INSERT_EMBEDDED: &str = "The directive 'insert' is not allowed in this context. Directives are not supported \
     for expressions that are embedded within a string. Directives are only supported when the entire value is an \
     expression.";

/// What a string with `${{` turned out to be.
#[derive(Debug, PartialEq)]
pub(crate) enum Scanned {
    /// `${{ 'text' }}` alone: the string literal it spells.
    Literal(String),
    /// `${{ insert }}` alone.
    Insert,
    Expression,
}

/// Checks every `${{ }}` in `text` against `allowed` (named contexts and `fn(min,max)` entries).
pub(crate) fn scan(text: &str, allowed: &[&str]) -> Result<Scanned, String> {
    let mut rest = text;
    let mut pieces = 0usize;
    let mut only: Option<&str> = None;
    while let Some(start) = rest.find("${{") {
        if start > 0 {
            pieces += 1;
        }
        let after = &rest[start + 3..];
        let end = closing(after).ok_or_else(|| NOT_CLOSED.to_string())?;
        let inner = after[..end].trim();
        rest = &after[end + 2..];
        pieces += 1;
        if inner.is_empty() {
            return Err("An expression was expected".into());
        }
        if is_insert(inner) {
            if start > 0 || !rest.is_empty() || pieces > 1 {
                return Err(INSERT_EMBEDDED.into());
            }
            return Ok(Scanned::Insert);
        }
        check(inner, allowed)?;
        only = Some(inner);
    }
    if !rest.is_empty() {
        pieces += 1;
    }
    if pieces == 1
        && let Some(literal) = only.and_then(string_literal)
    {
        return Ok(Scanned::Literal(literal));
    }
    Ok(Scanned::Expression)
}

/// The offset of the `}}` that closes an expression, quotes respected.
fn closing(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut in_string = false;
    for i in 0..bytes.len() {
        match bytes[i] {
            b'\'' => in_string = !in_string,
            b'}' if !in_string && i > 0 && bytes[i - 1] == b'}' => return Some(i - 1),
            _ => {}
        }
    }
    None
}

fn is_insert(inner: &str) -> bool {
    inner.strip_prefix("insert").is_some_and(|r| r.is_empty() || r.starts_with(char::is_whitespace))
}

/// `'it''s'` → `it's`; `None` unless the whole expression is one string literal.
fn string_literal(expr: &str) -> Option<String> {
    let body = expr.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' && chars.next() != Some('\'') {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

/// Parses one expression and checks its contexts and functions against `allowed`.
pub(crate) fn check(source: &str, allowed: &[&str]) -> Result<expr::Expr, String> {
    let named = allowed.iter().filter(|a| !a.contains('(')).copied();
    let parsed = expr::parse_with(source, &expr::ParseOptions::with_named_values(named)).map_err(|e| e.message)?;
    for function in parsed.functions() {
        let known = BUILTIN_FUNCTIONS.contains(&function.as_str())
            || allowed
                .iter()
                .any(|a| a.split('(').next().is_some_and(|f| a.contains('(') && f.eq_ignore_ascii_case(&function)));
        if !known {
            return Err(format!("Unrecognized function: '{function}'. Located within expression: {source}"));
        }
    }
    Ok(parsed)
}

/// A value the step engine evaluates later: a literal when it holds no `${{`, else the one
/// expression GitHub's parser makes of it (`format('…{0}…', x)` for text around expressions).
pub(crate) fn template(node: &Node, as_text: bool) -> Result<Template, String> {
    match &node.value {
        Value::String(s) if s.contains("${{") => match expr::template_to_expr(s) {
            Ok(Some(source)) => Ok(Template::Expr(source)),
            Ok(None) => Ok(Template::Literal(serde_json::Value::String(s.clone()))),
            Err(e) => Err(e.message),
        },
        _ if as_text => Ok(Template::Literal(serde_json::Value::String(node.scalar_text().unwrap_or_default()))),
        _ => Ok(Template::Literal(node.to_json())),
    }
}

/// An `if:` condition: bare text is an expression, `${{ }}` is unwrapped, and a condition that
/// calls no status function is wrapped in `success() && (…)` as GitHub does. Empty means
/// `success()`, returned as `None`.
pub(crate) fn condition(node: &Node, allowed: &[&str]) -> Result<Option<Template>, String> {
    let text = match &node.value {
        Value::String(s) if s.contains("${{") => match expr::template_to_expr(s).map_err(|e| e.message)? {
            Some(source) => source,
            None => s.trim().to_string(),
        },
        _ => node.scalar_text().unwrap_or_default().trim().to_string(),
    };
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = check(&text, allowed)?;
    if parsed.has_status_function() {
        Ok(Some(Template::Expr(text)))
    } else {
        Ok(Some(Template::Expr(format!("success() && ({text})"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_forms() {
        assert_eq!(string_literal("'it''s'"), Some("it's".into()));
        assert_eq!(string_literal("'a' || 'b'"), None);
        assert_eq!(closing("x }} y"), Some(2));
        assert_eq!(closing("'}}' }}"), Some(5));
        assert!(is_insert("insert"));
        assert!(!is_insert("inserted"));
    }
}

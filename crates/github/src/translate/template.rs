//! TemplateTokens → contract [`Template`]s: an expression token is `Template::Expr` with its
//! text as sent; literals are `Template::Literal`.

use std::collections::BTreeMap;

use contract::Template;
use serde_json::{Map, Value};

use crate::message::{MessageError, Path, Problem, Token};

/// A value the step engine uses as text (a script, an env value, a display name): literal
/// scalars as the runner coerces them to text (`true`, `3`, empty for null).
pub(super) fn text(token: &Token, path: &Path<'_>) -> Result<Template, MessageError> {
    match token {
        Token::Expression(source) => Ok(Template::Expr(source.clone())),
        scalar => match scalar.literal_text() {
            Some(text) => Ok(Template::Literal(Value::String(text))),
            None => Err(MessageError::new(path, Problem::WrongType { expected: "text", found: token.kind() })),
        },
    }
}

/// A value the step engine reads as data (`continue-on-error`, `timeout-minutes`): literals
/// keep their JSON type.
pub(super) fn value(token: &Token, path: &Path<'_>) -> Result<Template, MessageError> {
    match token {
        Token::Expression(source) => Ok(Template::Expr(source.clone())),
        literal => literal_json(literal, path).map(Template::Literal),
    }
}

/// A literal as JSON; an expression nested inside a sequence or a mapping cannot be one
/// template, so it is refused.
fn literal_json(token: &Token, path: &Path<'_>) -> Result<Value, MessageError> {
    Ok(match token {
        Token::String(s) => Value::String(s.clone()),
        Token::Bool(b) => Value::Bool(*b),
        Token::Number(n) => Value::Number(n.clone()),
        Token::Null => Value::Null,
        Token::Sequence(items) => {
            Value::Array(items.iter().map(|item| literal_json(item, path)).collect::<Result<_, _>>()?)
        }
        Token::Mapping(_) => {
            let mut map = Map::new();
            for (key, item) in entries(token, path)? {
                map.insert(key, literal_json(item, path)?);
            }
            Value::Object(map)
        }
        Token::Expression(_) => {
            let problem = Problem::Unsupported("an expression inside a sequence or mapping is not supported".into());
            return Err(MessageError::new(path, problem));
        }
    })
}

/// The entries of a mapping token with their keys as text, in order. Null is an empty mapping;
/// an expression in place of the mapping or of a key is refused (GitHub allows neither in the
/// places we read).
pub(super) fn entries<'t>(token: &'t Token, path: &Path<'_>) -> Result<Vec<(String, &'t Token)>, MessageError> {
    let pairs = match token {
        Token::Null => return Ok(Vec::new()),
        Token::Mapping(pairs) => pairs,
        other => {
            let problem = Problem::WrongType { expected: "a mapping", found: other.kind() };
            return Err(MessageError::new(path, problem));
        }
    };
    pairs
        .iter()
        .map(|(key, value)| match key.literal_text() {
            Some(key) => Ok((key, value)),
            None => {
                let problem = Problem::Unsupported(format!("{} as a mapping key is not supported", key.kind()));
                Err(MessageError::new(path, problem))
            }
        })
        .collect()
}

/// A mapping of text values (`env:`, `with:`, job outputs); a key given twice keeps its last
/// value, as the runner's evaluation does.
pub(super) fn text_map(token: &Token, path: &Path<'_>) -> Result<BTreeMap<String, Template>, MessageError> {
    let mut out = BTreeMap::new();
    for (key, value) in entries(token, path)? {
        let template = text(value, &path.key(&key))?;
        out.insert(key, template);
    }
    Ok(out)
}

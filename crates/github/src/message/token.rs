//! TemplateTokens (ref §4.2): how the message carries workflow values the server left for the
//! runner to evaluate (step inputs, env, display names, `continue-on-error`, job outputs).

use serde_json::{Number, Value};

use super::{MAX_DEPTH, MessageError, Path, Problem, field, list};

/// A decoded TemplateToken. File/line/column annotations are dropped: nothing we show uses them.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// Type 0, or a bare JSON string, or an object without `type`.
    String(String),
    /// Type 1 (`seq`).
    Sequence(Vec<Token>),
    /// Type 2 (`map`: `[{"Key", "Value"}]`), in the message's order; keys may repeat.
    Mapping(Vec<(Token, Token)>),
    /// Type 3 (`expr`): a bare expression, no `${{ }}`.
    Expression(String),
    /// Type 5, or a bare JSON boolean.
    Bool(bool),
    /// Type 6, or a bare JSON number.
    Number(Number),
    /// Type 7, or JSON null.
    Null,
}

impl Token {
    /// Decodes the token at `path`. Type 4 (an `insert` directive) is refused: it only makes
    /// sense inside a mapping the server should have expanded, and we cannot evaluate it.
    pub fn parse(value: &Value, path: &Path<'_>) -> Result<Token, MessageError> {
        if path.depth() > MAX_DEPTH {
            return Err(MessageError::new(path, Problem::TooDeep));
        }
        let object = match value {
            Value::Null => return Ok(Token::Null),
            Value::Bool(b) => return Ok(Token::Bool(*b)),
            Value::Number(n) => return Ok(Token::Number(n.clone())),
            Value::String(s) => return Ok(Token::String(s.clone())),
            Value::Array(_) => return Err(MessageError::wrong_type(path, "a template token", value)),
            Value::Object(_) => value,
        };
        let type_path = path.key("type");
        let kind = match field(object, "type") {
            None | Some(Value::Null) => 0,
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| unknown(&type_path, n.to_string()))?,
            Some(other) => return Err(MessageError::wrong_type(&type_path, "a token type number", other)),
        };
        match kind {
            0 => match field(object, "lit") {
                None | Some(Value::Null) => Ok(Token::String(String::new())),
                Some(Value::String(s)) => Ok(Token::String(s.clone())),
                Some(other) => Err(MessageError::wrong_type(&path.key("lit"), "a string", other)),
            },
            1 => {
                let items = list(object, "seq", path)?;
                let seq_path = path.key("seq");
                let tokens = items.iter().enumerate().map(|(i, item)| Token::parse(item, &seq_path.index(i)));
                Ok(Token::Sequence(tokens.collect::<Result<_, _>>()?))
            }
            2 => {
                let items = list(object, "map", path)?;
                let map_path = path.key("map");
                let mut pairs = Vec::with_capacity(items.len());
                for (i, pair) in items.iter().enumerate() {
                    let pair_path = map_path.index(i);
                    if !pair.is_object() {
                        return Err(MessageError::wrong_type(&pair_path, "a mapping with `Key` and `Value`", pair));
                    }
                    let key = member(pair, "Key", &pair_path)?;
                    let value = member(pair, "Value", &pair_path)?;
                    let key = Token::parse(key, &pair_path.key("Key"))?;
                    let value = Token::parse(value, &pair_path.key("Value"))?;
                    pairs.push((key, value));
                }
                Ok(Token::Mapping(pairs))
            }
            3 => match member(object, "expr", path)? {
                Value::String(s) => Ok(Token::Expression(s.clone())),
                other => Err(MessageError::wrong_type(&path.key("expr"), "a string", other)),
            },
            4 => Err(MessageError::new(path, Problem::InsertDirective)),
            5 => match member(object, "bool", path)? {
                Value::Bool(b) => Ok(Token::Bool(*b)),
                other => Err(MessageError::wrong_type(&path.key("bool"), "a boolean", other)),
            },
            6 => match member(object, "num", path)? {
                Value::Number(n) => Ok(Token::Number(n.clone())),
                other => Err(MessageError::wrong_type(&path.key("num"), "a number", other)),
            },
            7 => Ok(Token::Null),
            other => Err(unknown(&type_path, other.to_string())),
        }
    }

    /// A field of the message that may be absent (absent and null are both `None`).
    pub fn optional(object: &Value, name: &str, path: &Path<'_>) -> Result<Option<Token>, MessageError> {
        match field(object, name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => Token::parse(value, &path.key(name)).map(Some),
        }
    }

    /// What kind of token this is, for error texts.
    pub fn kind(&self) -> &'static str {
        match self {
            Token::String(_) => "a string",
            Token::Sequence(_) => "a sequence",
            Token::Mapping(_) => "a mapping",
            Token::Expression(_) => "an expression",
            Token::Bool(_) => "a boolean",
            Token::Number(_) => "a number",
            Token::Null => "null",
        }
    }

    /// The text of a scalar literal as the runner coerces it to a string (`true`, `3`, empty
    /// for null); `None` for expressions and collections.
    pub fn literal_text(&self) -> Option<String> {
        match self {
            Token::String(s) => Some(s.clone()),
            Token::Bool(b) => Some(b.to_string()),
            Token::Number(n) => Some(number_text(n)),
            Token::Null => Some(String::new()),
            Token::Sequence(_) | Token::Mapping(_) | Token::Expression(_) => None,
        }
    }
}

/// A number as the official runner prints a double: integral values without a fraction.
fn number_text(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => n.to_string(),
    }
}

fn member<'a>(object: &'a Value, name: &str, path: &Path<'_>) -> Result<&'a Value, MessageError> {
    field(object, name).ok_or_else(|| MessageError::new(&path.key(name), Problem::Missing))
}

fn unknown(path: &Path<'_>, found: String) -> MessageError {
    MessageError::new(path, Problem::UnknownType { what: "template token", found })
}

//! PipelineContextData (ref §4.2): how the message carries the contexts the server resolved
//! (`github`, `needs`, `matrix`, …). We keep them as plain JSON, the form `contract::Contexts`
//! holds and the expression engine reads.

use serde_json::{Map, Value};

use super::{MAX_DEPTH, MessageError, Path, Problem, field, list};

/// Decodes PipelineContextData at `path` into JSON: bare strings, booleans, numbers and null
/// stay as they are; objects carry `t` (0 string `s`, 1 array `a`, 2 and 5 dictionary `d` of
/// `{"k", "v"}`, 3 bool `b`, 4 number `n`; no `t` means a string). A dictionary key given twice
/// keeps its last value.
pub fn context_data(value: &Value, path: &Path<'_>) -> Result<Value, MessageError> {
    if path.depth() > MAX_DEPTH {
        return Err(MessageError::new(path, Problem::TooDeep));
    }
    let object = match value {
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => return Ok(value.clone()),
        Value::Array(_) => return Err(MessageError::wrong_type(path, "pipeline context data", value)),
        Value::Object(_) => value,
    };
    let type_path = path.key("t");
    let kind = match field(object, "t") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| unknown(&type_path, n.to_string()))?,
        Some(other) => return Err(MessageError::wrong_type(&type_path, "a context data type number", other)),
    };
    match kind {
        0 => scalar(object, "s", path, "a string", Value::is_string, Value::String(String::new())),
        1 => {
            let items = list(object, "a", path)?;
            let a_path = path.key("a");
            let values = items.iter().enumerate().map(|(i, item)| context_data(item, &a_path.index(i)));
            Ok(Value::Array(values.collect::<Result<_, _>>()?))
        }
        2 | 5 => {
            let items = list(object, "d", path)?;
            let d_path = path.key("d");
            let mut map = Map::new();
            for (i, pair) in items.iter().enumerate() {
                let pair_path = d_path.index(i);
                let key = match field(pair, "k") {
                    Some(Value::String(key)) => key,
                    Some(other) => return Err(MessageError::wrong_type(&pair_path.key("k"), "a string", other)),
                    None if pair.is_object() => return Err(MessageError::new(&pair_path.key("k"), Problem::Missing)),
                    None => return Err(MessageError::wrong_type(&pair_path, "a mapping with `k` and `v`", pair)),
                };
                let value = match field(pair, "v") {
                    Some(value) => context_data(value, &pair_path.key("v"))?,
                    None => Value::Null,
                };
                map.insert(key.clone(), value);
            }
            Ok(Value::Object(map))
        }
        3 => scalar(object, "b", path, "a boolean", Value::is_boolean, Value::Bool(false)),
        4 => scalar(object, "n", path, "a number", Value::is_number, Value::from(0)),
        other => Err(unknown(&type_path, other.to_string())),
    }
}

/// The one member of a scalar node; absent means the type's default, as the official converter
/// leaves it.
fn scalar(
    object: &Value,
    name: &str,
    path: &Path<'_>,
    expected: &'static str,
    fits: fn(&Value) -> bool,
    default: Value,
) -> Result<Value, MessageError> {
    match field(object, name) {
        None | Some(Value::Null) => Ok(default),
        Some(value) if fits(value) => Ok(value.clone()),
        Some(other) => Err(MessageError::wrong_type(&path.key(name), expected, other)),
    }
}

fn unknown(path: &Path<'_>, found: String) -> MessageError {
    MessageError::new(path, Problem::UnknownType { what: "context data", found })
}

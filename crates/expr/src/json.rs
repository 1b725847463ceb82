//! JSON in and out: `fromJSON`, `toJSON`, and the conversions of the public `Value`.

use std::rc::Rc;

use crate::eval::val::Val;
use crate::{EvalError, Value, memory, number};

/// Deeper than this, `toJSON` gives up rather than recurse further (values parsed from JSON
/// are at most 128 deep; only a context built in code could get here).
const MAX_JSON_DEPTH: usize = 512;

pub(crate) fn value_from_json(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(value_from_json).collect()),
        serde_json::Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), value_from_json(v))).collect())
        }
    }
}

pub(crate) fn value_to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => number_to_json(*n),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(value_to_json).collect()),
        Value::Object(map) => {
            serde_json::Value::Object(map.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect())
        }
    }
}

/// Whole numbers as JSON integers (so 3 is `3`, not `3.0`), NaN and infinities as null.
fn number_to_json(n: f64) -> serde_json::Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer up to here is exact
    if n == n.trunc() && n.abs() <= EXACT {
        // In range and whole, so the conversion is exact.
        return serde_json::Value::from(n as i64);
    }
    serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// `fromJSON(text)`.
pub(crate) fn parse(text: &str) -> Result<Val, EvalError> {
    if text.trim().is_empty() {
        return Err(EvalError { message: "Error parsing fromJson: empty input".to_owned() });
    }
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| EvalError { message: format!("Error parsing fromJson: {e}") })?;
    Ok(val_from_json(&json))
}

fn val_from_json(json: &serde_json::Value) -> Val {
    match json {
        serde_json::Value::Null => Val::Null,
        serde_json::Value::Bool(b) => Val::Bool(*b),
        serde_json::Value::Number(n) => Val::Number(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Val::string(s.as_str()),
        serde_json::Value::Array(items) => Val::Array(Rc::new(items.iter().map(val_from_json).collect())),
        serde_json::Value::Object(map) => {
            Val::Object(Rc::new(map.iter().map(|(k, v)| (k.clone(), val_from_json(v))).collect()))
        }
    }
}

/// `toJSON(value)`: indented by two spaces, `"key": value`, empty containers as `[]`/`{}` —
/// the layout GitHub's runner prints.
pub(crate) fn pretty(value: &Val) -> Result<String, EvalError> {
    let mut out = String::new();
    write_value(&mut out, value, 0)?;
    Ok(out)
}

fn write_value(out: &mut String, value: &Val, depth: usize) -> Result<(), EvalError> {
    if depth > MAX_JSON_DEPTH {
        return Err(EvalError { message: "toJSON: the value is nested too deeply".to_owned() });
    }
    match value {
        Val::Null => out.push_str("null"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Number(n) => out.push_str(&number::format_json(*n)),
        Val::String(s) => write_string(out, s),
        Val::Array(items) | Val::Filtered(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_value(out, item, depth + 1)?;
                memory::check_building(out.len())?;
            }
            newline(out, depth);
            out.push(']');
        }
        Val::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item, depth + 1)?;
                memory::check_building(out.len())?;
            }
            newline(out, depth);
            out.push('}');
        }
    }
    Ok(())
}

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// Escapes as Newtonsoft.Json does by default: quote, backslash, control characters, and the
/// three line separators JavaScript would choke on.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

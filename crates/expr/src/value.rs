//! The public [`Value`]'s behaviour; each method agrees with what the evaluator does with the
//! same value.

use crate::{Value, casefold, json, number};

impl Value {
    /// GitHub truthiness: false, 0, -0, NaN, '' and null are falsy; everything else truthy.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => *n != 0.0 && !n.is_nan(),
            Value::String(s) => !s.is_empty(),
            Value::Array(_) | Value::Object(_) => true,
        }
    }

    /// The string GitHub substitutes for `${{ value }}` (and `format` arguments): null → '',
    /// booleans 'true'/'false', numbers in GitHub's format, arrays/objects as 'Array'/'Object'.
    pub fn to_coerced_string(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => number::format(*n),
            Value::String(s) => s.clone(),
            Value::Array(_) => "Array".to_owned(),
            Value::Object(_) => "Object".to_owned(),
        }
    }

    /// Case-insensitive property lookup on objects; None for anything else.
    pub fn get(&self, key: &str) -> Option<&Value> {
        let Value::Object(map) = self else {
            return None;
        };
        map.get(key).or_else(|| map.iter().find(|(k, _)| casefold::eq(k, key)).map(|(_, v)| v))
    }

    /// JSON view (NaN/±Infinity become null).
    pub fn to_json(&self) -> serde_json::Value {
        json::value_to_json(self)
    }
}

impl From<&serde_json::Value> for Value {
    fn from(v: &serde_json::Value) -> Self {
        json::value_from_json(v)
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        Value::from(&v)
    }
}

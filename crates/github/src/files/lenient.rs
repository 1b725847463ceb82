//! Reading the runner's JSON files leniently (ref §1.5, §1.6): keys in any case, numbers and
//! booleans also as strings (`"AgentId": "123"`, `"Ephemeral": "True"`), nulls as absent.

use serde_json::{Map, Value};

use super::FilesError;

/// One JSON object of a named file.
pub(super) struct Object {
    file: String,
    map: Map<String, Value>,
}

impl Object {
    /// `bytes` as a JSON object; a UTF-8 BOM (as .NET may write one) is skipped.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Self, FilesError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let value: Value =
            serde_json::from_slice(bytes).map_err(|source| FilesError::Json { file: file.to_owned(), source })?;
        Self::from_value(file, value)
    }

    fn from_value(file: &str, value: Value) -> Result<Self, FilesError> {
        match value {
            Value::Object(map) => Ok(Self { file: file.to_owned(), map }),
            other => Err(FilesError::Invalid {
                file: file.to_owned(),
                field: "(top level)",
                value: other.to_string(),
                expected: "JSON object",
            }),
        }
    }

    /// The value under `field`, whatever its case; `null` counts as absent.
    fn get(&self, field: &str) -> Option<&Value> {
        let exact = self.map.get(field).filter(|value| !value.is_null());
        exact.or_else(|| {
            self.map.iter().find(|(key, value)| key.eq_ignore_ascii_case(field) && !value.is_null()).map(|(_, v)| v)
        })
    }

    fn invalid(&self, field: &'static str, value: &Value, expected: &'static str) -> FilesError {
        FilesError::Invalid { file: self.file.clone(), field, value: value.to_string(), expected }
    }

    fn missing(&self, field: &'static str) -> FilesError {
        FilesError::Missing { file: self.file.clone(), field }
    }

    /// The nested object under `field`.
    pub fn object(&self, field: &'static str) -> Result<Object, FilesError> {
        let value = self.get(field).ok_or_else(|| self.missing(field))?;
        match value {
            Value::Object(map) => Ok(Object { file: format!("{} {field}", self.file), map: map.clone() }),
            // Some writers nest the data as a JSON string.
            Value::String(text) => match serde_json::from_str(text) {
                Ok(Value::Object(map)) => Ok(Object { file: format!("{} {field}", self.file), map }),
                _ => Err(self.invalid(field, value, "JSON object")),
            },
            other => Err(self.invalid(field, other, "JSON object")),
        }
    }

    pub fn string(&self, field: &'static str) -> Result<String, FilesError> {
        self.opt_string(field)?.ok_or_else(|| self.missing(field))
    }

    /// A string; a number is taken as its decimal text.
    pub fn opt_string(&self, field: &'static str) -> Result<Option<String>, FilesError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(other) => Err(self.invalid(field, other, "string")),
        }
    }

    pub fn u64(&self, field: &'static str) -> Result<u64, FilesError> {
        self.opt_u64(field)?.ok_or_else(|| self.missing(field))
    }

    /// A non-negative integer, as a number or a decimal string.
    pub fn opt_u64(&self, field: &'static str) -> Result<Option<u64>, FilesError> {
        match self.get(field) {
            None => Ok(None),
            Some(value @ Value::Number(number)) => {
                number.as_u64().map(Some).ok_or_else(|| self.invalid(field, value, "number"))
            }
            Some(value @ Value::String(text)) => {
                text.trim().parse().map(Some).map_err(|_| self.invalid(field, value, "number"))
            }
            Some(other) => Err(self.invalid(field, other, "number")),
        }
    }

    /// A boolean, as JSON or as the strings .NET writes (`True`/`False`, any case).
    pub fn opt_bool(&self, field: &'static str) -> Result<Option<bool>, FilesError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(on)) => Ok(Some(*on)),
            Some(value @ Value::String(text)) => match text.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(self.invalid(field, value, "boolean")),
            },
            Some(other) => Err(self.invalid(field, other, "boolean")),
        }
    }

    /// A list of strings.
    pub fn opt_strings(&self, field: &'static str) -> Result<Option<Vec<String>>, FilesError> {
        match self.get(field) {
            None => Ok(None),
            Some(value @ Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str().map(str::to_owned).ok_or_else(|| self.invalid(field, value, "list of strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.invalid(field, other, "list of strings")),
        }
    }
}

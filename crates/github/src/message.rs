//! The job message (`AgentJobRequestMessage`, ref §4.2) read out of its JSON.
//!
//! The server may spell field names in any case (ref §0: it reads case-insensitively, and the
//! Go runner's world sends PascalCase), so nothing here derives `Deserialize`: every field is
//! looked up with [`field`], exact spelling first, then ignoring ASCII case. Nested values come
//! in two encodings, each decoded into our own types: TemplateTokens ([`Token`]) and
//! PipelineContextData ([`context_data`], straight to JSON).
//!
//! Everything arrives from the network, so nothing here panics: a missing or ill-typed field is a
//! [`MessageError`] naming it, and recursion stops at [`MAX_DEPTH`] levels.

mod context_data;
mod path;
mod step;
mod token;

use std::collections::BTreeMap;

use serde_json::Value;

pub use context_data::context_data;
pub use path::Path;
pub use step::{ActionStep, Reference, steps};
pub use token::Token;

/// How deep a TemplateToken or PipelineContextData may nest. Real messages stay far below it
/// (an event payload nests a dozen levels); it only keeps a hostile message off our stack.
pub const MAX_DEPTH: usize = 100;

/// A field of the job message that cannot be read; the text names the field by its path in
/// the message (`steps[1].inputs.map[0].Value`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("read `{field}` of the job message: {problem}")]
pub struct MessageError {
    pub field: String,
    pub problem: Problem,
}

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("it is missing")]
    Missing,
    #[error("expected {expected}, found {found}")]
    WrongType { expected: &'static str, found: &'static str },
    #[error("{what} type {found} is not one the runner protocol defines")]
    UnknownType { what: &'static str, found: String },
    #[error("it nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("template insert directives (`${{{{ insert }}}}`) are not supported")]
    InsertDirective,
    #[error("{0}")]
    Unsupported(String),
}

impl MessageError {
    pub fn new(path: &Path<'_>, problem: Problem) -> Self {
        MessageError { field: path.to_string(), problem }
    }

    pub(crate) fn wrong_type(path: &Path<'_>, expected: &'static str, found: &Value) -> Self {
        Self::new(path, Problem::WrongType { expected, found: json_kind(found) })
    }
}

/// The member `name` of a JSON object: the exact spelling if present, else the first whose name
/// matches ignoring ASCII case. `None` for a missing member and for a non-object.
pub fn field<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    let map = object.as_object()?;
    map.get(name).or_else(|| map.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value))
}

/// A member that must be a string when present; `null` counts as absent.
pub fn optional_str<'a>(object: &'a Value, name: &str, path: &Path<'_>) -> Result<Option<&'a str>, MessageError> {
    match field(object, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(MessageError::wrong_type(&path.key(name), "a string", other)),
    }
}

/// A member that must be a string.
pub fn required_str<'a>(object: &'a Value, name: &str, path: &Path<'_>) -> Result<&'a str, MessageError> {
    optional_str(object, name, path)?.ok_or_else(|| MessageError::new(&path.key(name), Problem::Missing))
}

/// A list member; absent or null is empty, as the official converters leave an empty token.
pub(crate) fn list<'a>(object: &'a Value, name: &str, path: &Path<'_>) -> Result<&'a [Value], MessageError> {
    match field(object, name) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(MessageError::wrong_type(&path.key(name), "a list", other)),
    }
}

/// The `SystemVssConnection` endpoint (ref §4.2): where and with what the job talks back.
#[derive(Clone, PartialEq)]
pub struct Connection {
    /// `url`: the run service base (renewjob, completejob).
    pub url: String,
    /// `authorization.parameters.AccessToken`: the job token.
    pub access_token: String,
    /// `data.FeedStreamUrl`: the live console.
    pub feed_stream_url: Option<String>,
    /// `data.ResultsServiceUrl`: the Results base when `system.github.results_endpoint` is absent.
    pub results_service_url: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url)
            .field("access_token", &"***")
            .field("feed_stream_url", &self.feed_stream_url)
            .field("results_service_url", &self.results_service_url)
            .finish()
    }
}

/// Finds `resources.endpoints[name == "SystemVssConnection"]` and reads it.
pub fn connection(message: &Value) -> Result<Connection, MessageError> {
    let root = Path::root("resources");
    let resources = field(message, "resources").ok_or_else(|| MessageError::new(&root, Problem::Missing))?;
    let list_path = root.key("endpoints");
    let endpoints = match field(resources, "endpoints") {
        Some(Value::Array(endpoints)) => endpoints,
        Some(other) => return Err(MessageError::wrong_type(&list_path, "a list", other)),
        None => return Err(MessageError::new(&list_path, Problem::Missing)),
    };
    let found = endpoints.iter().enumerate().find(|(_, endpoint)| {
        field(endpoint, "name")
            .and_then(Value::as_str)
            .is_some_and(|name| name.eq_ignore_ascii_case("SystemVssConnection"))
    });
    let Some((index, endpoint)) = found else {
        let path = list_path.key("SystemVssConnection");
        return Err(MessageError::new(&path, Problem::Missing));
    };
    let path = list_path.index(index);
    let url = required_str(endpoint, "url", &path)?.to_owned();
    let auth_path = path.key("authorization");
    let parameters_path = auth_path.key("parameters");
    let parameters = field(endpoint, "authorization").and_then(|auth| field(auth, "parameters"));
    let access_token = match parameters {
        Some(parameters) => required_str(parameters, "AccessToken", &parameters_path)?.to_owned(),
        None => return Err(MessageError::new(&parameters_path.key("AccessToken"), Problem::Missing)),
    };
    let data_path = path.key("data");
    let data = field(endpoint, "data").unwrap_or(&Value::Null);
    let feed_stream_url = optional_str(data, "FeedStreamUrl", &data_path)?.filter(|u| !u.is_empty()).map(str::to_owned);
    let results_service_url =
        optional_str(data, "ResultsServiceUrl", &data_path)?.filter(|u| !u.is_empty()).map(str::to_owned);
    Ok(Connection { url, access_token, feed_stream_url, results_service_url })
}

/// One entry of `variables`.
#[derive(Clone, PartialEq)]
pub struct Variable {
    pub value: String,
    pub is_secret: bool,
}

impl std::fmt::Debug for Variable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value: &dyn std::fmt::Debug = if self.is_secret { &"***" } else { &self.value };
        f.debug_struct("Variable").field("value", value).field("is_secret", &self.is_secret).finish()
    }
}

/// `variables`: name → `{"value", "isSecret"}`, names as sent (look them up with [`variable`]).
pub fn variables(message: &Value) -> Result<BTreeMap<String, Variable>, MessageError> {
    let root = Path::root("variables");
    let map = match field(message, "variables") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map,
        Some(other) => return Err(MessageError::wrong_type(&root, "a mapping", other)),
    };
    let mut out = BTreeMap::new();
    for (name, entry) in map {
        let path = root.key(name);
        let variable = match entry {
            Value::Object(_) => {
                let value = optional_str(entry, "value", &path)?.unwrap_or_default().to_owned();
                let is_secret = match field(entry, "isSecret") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(secret)) => *secret,
                    Some(other) => return Err(MessageError::wrong_type(&path.key("isSecret"), "a boolean", other)),
                };
                Variable { value, is_secret }
            }
            other => return Err(MessageError::wrong_type(&path, "a mapping with `value`", other)),
        };
        out.insert(name.clone(), variable);
    }
    Ok(out)
}

/// A variable by name, ignoring ASCII case as the runner's variable table does.
pub fn variable<'a>(variables: &'a BTreeMap<String, Variable>, name: &str) -> Option<&'a Variable> {
    variables.get(name).or_else(|| variables.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// What kind of JSON value this is, for error texts.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

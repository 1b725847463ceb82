//! The GitHub Actions expression language. PUBLIC API CONTRACT — other crates code against
//! these signatures; the bodies are being written.

use indexmap::IndexMap;

/// A runtime value. Object keys compare case-insensitively on lookup (GitHub semantics); the
/// map keeps the original spelling and insertion order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Value>),
    Object(IndexMap<String, Value>),
}

impl Value {
    /// GitHub truthiness: false, 0, -0, NaN, '' and null are falsy; everything else truthy.
    pub fn is_truthy(&self) -> bool {
        todo!()
    }
    /// The string GitHub substitutes for `${{ value }}` (and `format` arguments): null → '',
    /// booleans 'true'/'false', numbers in GitHub's format, arrays/objects as 'Array'/'Object'.
    pub fn to_coerced_string(&self) -> String {
        todo!()
    }
    /// Case-insensitive property lookup on objects; None for anything else.
    pub fn get(&self, key: &str) -> Option<&Value> {
        todo!()
    }
    /// JSON view (NaN/±Infinity become null).
    pub fn to_json(&self) -> serde_json::Value {
        todo!()
    }
}

impl From<&serde_json::Value> for Value {
    fn from(_v: &serde_json::Value) -> Self {
        todo!()
    }
}
impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        Value::from(&v)
    }
}

/// The state the status functions read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobStatus {
    #[default]
    Success,
    Failure,
    Cancelled,
}

/// What an expression can see while it is evaluated.
pub trait Context {
    /// A named context (`github`, `env`, `vars`, `secrets`, `matrix`, `strategy`, `needs`,
    /// `inputs`, `steps`, `job`, `runner`). `None`: not available here (an error to reference).
    fn named(&self, name: &str) -> Option<Value>;
    /// For `success()`, `failure()`, `cancelled()`.
    fn job_status(&self) -> JobStatus {
        JobStatus::Success
    }
    /// `hashFiles(patterns…)`: hex SHA-256 as GitHub computes it, '' when nothing matches.
    fn hash_files(&self, _patterns: &[String]) -> Result<String, String> {
        Err("hashFiles is not available here".into())
    }
}

/// A context made of plain values, for tests and for the translation step.
#[derive(Debug, Clone, Default)]
pub struct MapContext {
    pub values: IndexMap<String, Value>,
    pub status: JobStatus,
}

impl Context for MapContext {
    fn named(&self, name: &str) -> Option<Value> {
        self.values.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }
    fn job_status(&self) -> JobStatus {
        self.status
    }
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    _private: (),
}

impl Expr {
    /// Named contexts it references (lowercased), e.g. `["github", "matrix"]`.
    pub fn named_contexts(&self) -> Vec<String> {
        todo!()
    }
    /// Functions it calls (lowercased).
    pub fn functions(&self) -> Vec<String> {
        todo!()
    }
    /// True when it calls `success`, `failure`, `always` or `cancelled` (so an `if:` is not
    /// wrapped in `success() && (…)`).
    pub fn has_status_function(&self) -> bool {
        todo!()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// GitHub's wording, e.g. "Unexpected symbol: ')'. Located at position 5 within expression: 1 < )".
    pub message: String,
    /// 1-based position in the source.
    pub position: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    pub message: String,
}

pub fn parse(_source: &str) -> Result<Expr, ParseError> {
    todo!()
}

pub fn eval(_expr: &Expr, _ctx: &dyn Context) -> Result<Value, EvalError> {
    todo!()
}

/// Parse and evaluate in one go.
pub fn eval_str(source: &str, ctx: &dyn Context) -> Result<Value, EvalError> {
    let expr = parse(source).map_err(|e| EvalError { message: e.message })?;
    eval(&expr, ctx)
}

/// Turns a workflow string into one expression the way GitHub's parser does:
/// `None` when it holds no `${{`; `${{ x }}` alone → `x`; text around expressions →
/// `format('text {0} more', x)` with `{`, `}` and `'` escaped. Errors on an unclosed `${{` or an
/// expression that does not parse.
pub fn template_to_expr(_text: &str) -> Result<Option<String>, ParseError> {
    todo!()
}

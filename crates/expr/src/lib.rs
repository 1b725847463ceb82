//! The GitHub Actions expression language: `parse`, `eval`, `Value`, `Context` and
//! `template_to_expr`.
//!
//! The semantics follow GitHub's documentation ("Evaluate expressions in workflows and actions")
//! and GitHub's own conformance vectors (`actions/languageservices`, `expressions/*.json`), which
//! the integration tests run. Where GitHub's two implementations (the C# runner/server and the
//! TypeScript language service) differ, this crate follows the C# one, because that is what runs
//! the user's workflow; such places say so in a comment.
//!
//! The crate is pure: no IO. Everything that is input (expression text, context values) is
//! bounded: expressions longer than [`MAX_EXPRESSION_LENGTH`] or nested deeper than
//! [`MAX_EXPRESSION_DEPTH`] are parse errors, and an evaluation that would hold more than
//! [`MAX_EVALUATION_MEMORY`] bytes of intermediate results fails instead of allocating.

mod ast;
mod casefold;
mod eval;
mod functions;
mod json;
mod lexer;
mod memory;
mod number;
mod parser;
mod template;
mod value;

use indexmap::IndexMap;

/// The longest expression GitHub accepts, in UTF-16 code units.
pub const MAX_EXPRESSION_LENGTH: usize = 21_000;
/// How deeply operators, groups, calls and dereferences may nest.
pub const MAX_EXPRESSION_DEPTH: usize = 50;
/// How many bytes of intermediate results one evaluation may hold (GitHub's accounting: a string
/// costs 26 bytes plus 2 per UTF-16 code unit, anything else 24).
pub const MAX_EVALUATION_MEMORY: usize = 1024 * 1024;

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
    /// The text it was parsed from; error messages quote it, as GitHub's do.
    source: String,
    /// `None` for an empty expression, which evaluates to null.
    root: Option<ast::Node>,
}

impl Expr {
    /// Named contexts it references (lowercased), e.g. `["github", "matrix"]`.
    pub fn named_contexts(&self) -> Vec<String> {
        let mut names = Vec::new();
        if let Some(root) = &self.root {
            root.visit(&mut |node| {
                if let ast::Node::Named { name, .. } = node {
                    push_unique(&mut names, name.to_ascii_lowercase());
                }
            });
        }
        names
    }

    /// Functions it calls (lowercased).
    pub fn functions(&self) -> Vec<String> {
        let mut names = Vec::new();
        if let Some(root) = &self.root {
            root.visit(&mut |node| {
                if let ast::Node::Call { function, .. } = node {
                    push_unique(&mut names, function.name().to_ascii_lowercase());
                }
            });
        }
        names
    }

    /// True when it calls `success`, `failure`, `always` or `cancelled` (so an `if:` is not
    /// wrapped in `success() && (…)`).
    pub fn has_status_function(&self) -> bool {
        let mut found = false;
        if let Some(root) = &self.root {
            root.visit(&mut |node| {
                if let ast::Node::Call { function, .. } = node {
                    found |= function.is_status();
                }
            });
        }
        found
    }

    /// The text this expression was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

fn push_unique(names: &mut Vec<String>, name: String) {
    if !names.contains(&name) {
        names.push(name);
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// GitHub's wording, e.g. "Unexpected symbol: ')'. Located at position 5 within expression: 1 < )".
    pub message: String,
    /// 1-based position in the source, counted in UTF-16 code units as GitHub counts them (the
    /// same number the message shows); 0 when the error concerns the whole text (too long, too
    /// deep). For `template_to_expr`, errors about `${{ }}` delimiters point into the template,
    /// errors inside one expression point into that expression (the message quotes it).
    pub position: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    pub message: String,
}

/// What `parse_with` checks beyond syntax.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// The named contexts the expression may reference (case-insensitive). `None` accepts any
    /// name; a reference to an unavailable one then fails at evaluation instead. With `Some`,
    /// an unknown name is a parse error, exactly as GitHub reports it when it validates a
    /// workflow ("Unrecognized named-value: 'secrets'. Located at position 1 within
    /// expression: secrets.foo").
    pub named_values: Option<Vec<String>>,
}

impl ParseOptions {
    /// Accept only the given named contexts.
    pub fn with_named_values<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ParseOptions { named_values: Some(names.into_iter().map(Into::into).collect()) }
    }
}

/// Parse an expression (the text between `${{` and `}}`). Any named context is accepted here;
/// see [`parse_with`] to restrict them.
pub fn parse(source: &str) -> Result<Expr, ParseError> {
    parse_with(source, &ParseOptions::default())
}

/// Parse an expression, checking named contexts as `options` say.
pub fn parse_with(source: &str, options: &ParseOptions) -> Result<Expr, ParseError> {
    let root = parser::parse(source, options)?;
    Ok(Expr { source: source.to_owned(), root })
}

/// Evaluate a parsed expression against a context.
pub fn eval(expr: &Expr, ctx: &dyn Context) -> Result<Value, EvalError> {
    eval::evaluate(expr, ctx)
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
pub fn template_to_expr(text: &str) -> Result<Option<String>, ParseError> {
    template::to_expr(text)
}

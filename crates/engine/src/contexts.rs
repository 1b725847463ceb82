//! The expression contexts of a job and the one place templates are evaluated.
//!
//! Every [`Template`] is evaluated here exactly once, when the engine reaches it; the text an
//! evaluation produces is data from then on. `hashFiles()` needs the host's files while
//! expression evaluation is synchronous, so an expression that calls it is evaluated, the
//! missing hashes are computed through the host, and it is evaluated again with them: the
//! expression language has no side effects, so this is the same single evaluation.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use contract::{Outcome, Template};
use expr::{Context, JobStatus, Value};
use indexmap::IndexMap;

use crate::host::{Host, error_chain};

/// The contexts that live as long as the job. `env`, `job` and the status come per evaluation.
#[derive(Debug, Clone)]
pub struct Contexts {
    pub github: IndexMap<String, Value>,
    pub vars: Value,
    pub secrets: Value,
    pub matrix: Value,
    pub strategy: Value,
    pub needs: Value,
    pub inputs: Value,
    pub runner: Value,
    /// `steps.<id>` for steps whose id was not generated, in order.
    pub steps: IndexMap<String, StepRecord>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    pub outputs: BTreeMap<String, String>,
    pub outcome: Outcome,
    pub conclusion: Outcome,
}

/// What an expression sees at one point of the job.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub contexts: &'a Contexts,
    /// The `env` context: workflow, job, `GITHUB_ENV` and (for step fields) step variables.
    pub env: &'a IndexMap<String, String>,
    pub status: JobStatus,
    /// `hashFiles()` patterns are relative to this directory (`GITHUB_WORKSPACE`).
    pub workspace: &'a Path,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

/// A parsed `if:` with what the engine needs to know about it.
#[derive(Debug, Clone)]
pub struct Condition {
    pub source: String,
    expr: Option<expr::Expr>,
    literal: Option<Value>,
    /// It calls `success()`, `failure()`, `always()` or `cancelled()`.
    pub has_status_function: bool,
    /// It calls `always()` or `cancelled()`: it may run after a cancel.
    pub runs_when_cancelled: bool,
}

impl Condition {
    /// `None` means `success()`. A literal string is an expression (`if:` is always one); other
    /// literals are values.
    pub fn parse(template: Option<&Template>) -> Result<Condition, EvalError> {
        let source = match template {
            None => "success()".to_owned(),
            Some(Template::Expr(source)) => source.clone(),
            Some(Template::Literal(serde_json::Value::String(source))) if !source.trim().is_empty() => source.clone(),
            Some(Template::Literal(value)) => {
                return Ok(Condition {
                    source: value.to_string(),
                    expr: None,
                    literal: Some(Value::from(value)),
                    has_status_function: false,
                    runs_when_cancelled: false,
                });
            }
        };
        let parsed = expr::parse(&source).map_err(|e| EvalError(e.message))?;
        let functions = parsed.functions();
        Ok(Condition {
            has_status_function: parsed.has_status_function(),
            runs_when_cancelled: functions.iter().any(|f| f == "always" || f == "cancelled"),
            source,
            expr: Some(parsed),
            literal: None,
        })
    }

    /// The text GitHub shows for it: `success() && (<if>)` when it has no status function.
    pub fn display(&self) -> String {
        if self.has_status_function { self.source.clone() } else { format!("success() && ({})", self.source) }
    }

    /// GitHub's rule: without a status function the condition is `success() && (<if>)`; after a
    /// cancel only conditions with `always()` or `cancelled()` may run.
    pub async fn evaluate(&self, host: &dyn Host, scope: &Scope<'_>) -> Result<bool, EvalError> {
        if scope.status == JobStatus::Cancelled && !self.runs_when_cancelled {
            return Ok(false);
        }
        if !self.has_status_function && scope.status != JobStatus::Success {
            return Ok(false);
        }
        match (&self.expr, &self.literal) {
            (Some(parsed), _) => Ok(evaluate_parsed(host, scope, parsed).await?.is_truthy()),
            (None, Some(value)) => Ok(value.is_truthy()),
            (None, None) => Ok(true),
        }
    }
}

/// Evaluates a template (a literal is its own value).
pub async fn evaluate(host: &dyn Host, scope: &Scope<'_>, template: &Template) -> Result<Value, EvalError> {
    match template {
        Template::Literal(value) => Ok(Value::from(value)),
        Template::Expr(source) => {
            let parsed = expr::parse(source).map_err(|e| EvalError(e.message))?;
            evaluate_parsed(host, scope, &parsed).await
        }
    }
}

/// Evaluates a template to the string GitHub would substitute.
pub async fn evaluate_string(host: &dyn Host, scope: &Scope<'_>, template: &Template) -> Result<String, EvalError> {
    Ok(evaluate(host, scope, template).await?.to_coerced_string())
}

async fn evaluate_parsed(host: &dyn Host, scope: &Scope<'_>, parsed: &expr::Expr) -> Result<Value, EvalError> {
    let mut hashes: HashMap<Vec<String>, String> = HashMap::new();
    // Each round computes at least one new hash, and an expression has finitely many calls.
    for _ in 0..64 {
        let missing = {
            let view = View { scope, hashes: &hashes, missing: RefCell::new(None) };
            let result = expr::eval(parsed, &view);
            match view.missing.into_inner() {
                None => return result.map_err(|e| EvalError(e.message)),
                Some(patterns) => patterns,
            }
        };
        let hash = host
            .hash_files(scope.workspace, &missing)
            .await
            .map_err(|e| EvalError(format!("hashFiles('{}') failed: {}", missing.join("', '"), error_chain(&e))))?;
        hashes.insert(missing, hash);
    }
    Err(EvalError("hashFiles() is called with too many different arguments".into()))
}

struct View<'a> {
    scope: &'a Scope<'a>,
    hashes: &'a HashMap<Vec<String>, String>,
    missing: RefCell<Option<Vec<String>>>,
}

impl Context for View<'_> {
    fn named(&self, name: &str) -> Option<Value> {
        let c = self.scope.contexts;
        let value = match name.to_ascii_lowercase().as_str() {
            "github" => Value::Object(c.github.clone()),
            "env" => Value::Object(self.scope.env.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()),
            "vars" => c.vars.clone(),
            "secrets" => c.secrets.clone(),
            "matrix" => c.matrix.clone(),
            "strategy" => c.strategy.clone(),
            "needs" => c.needs.clone(),
            "inputs" => c.inputs.clone(),
            "runner" => c.runner.clone(),
            "steps" => steps_value(&c.steps),
            "job" => {
                let mut job = IndexMap::new();
                job.insert("status".to_owned(), Value::String(status_word(self.scope.status).to_owned()));
                Value::Object(job)
            }
            _ => return None,
        };
        Some(value)
    }

    fn job_status(&self) -> JobStatus {
        self.scope.status
    }

    fn hash_files(&self, patterns: &[String]) -> Result<String, String> {
        if let Some(hash) = self.hashes.get(patterns) {
            return Ok(hash.clone());
        }
        let mut missing = self.missing.borrow_mut();
        if missing.is_none() {
            *missing = Some(patterns.to_vec());
        }
        Err("hashFiles() is being computed".into())
    }
}

fn steps_value(steps: &IndexMap<String, StepRecord>) -> Value {
    let mut out = IndexMap::new();
    for (id, record) in steps {
        let mut step = IndexMap::new();
        let outputs = record.outputs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        step.insert("outputs".to_owned(), Value::Object(outputs));
        step.insert("outcome".to_owned(), Value::String(record.outcome.as_str().to_owned()));
        step.insert("conclusion".to_owned(), Value::String(record.conclusion.as_str().to_owned()));
        out.insert(id.clone(), Value::Object(step));
    }
    Value::Object(out)
}

pub fn status_word(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Success => "success",
        JobStatus::Failure => "failure",
        JobStatus::Cancelled => "cancelled",
    }
}

impl Default for Contexts {
    fn default() -> Self {
        Contexts {
            github: IndexMap::new(),
            vars: Value::Null,
            secrets: Value::Null,
            matrix: Value::Null,
            strategy: Value::Null,
            needs: Value::Null,
            inputs: Value::Null,
            runner: Value::Null,
            steps: IndexMap::new(),
        }
    }
}

/// A JSON value as an expression value, with `null` for a missing context.
pub fn value_of(json: &serde_json::Value) -> Value {
    Value::from(json)
}

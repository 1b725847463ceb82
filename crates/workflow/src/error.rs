use std::fmt;

use crate::node::Pos;

/// Everything wrong with one workflow file, each problem with where it is. The CLI maps it to
/// exit code 2 (bad input).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", render(.diagnostics))]
pub struct WorkflowError {
    pub diagnostics: Vec<Diagnostic>,
}

/// One problem: `FILE:LINE:COL: job 'build': reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based; `None` when the problem has no single place (a matrix evaluated at run time).
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub job: Option<String>,
    pub reason: String,
}

impl Diagnostic {
    pub fn new(file: &str, pos: Option<Pos>, job: Option<&str>, reason: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.col),
            job: job.map(str::to_string),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(job) = &self.job {
            write!(f, "job '{job}': ")?;
        }
        f.write_str(&self.reason)
    }
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

impl WorkflowError {
    pub fn single(d: Diagnostic) -> Self {
        WorkflowError { diagnostics: vec![d] }
    }
}

/// Collects diagnostics for one file while a pass runs.
#[derive(Debug)]
pub(crate) struct Sink {
    pub file: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl Sink {
    pub fn new(file: &str) -> Self {
        Sink { file: file.to_string(), diagnostics: Vec::new() }
    }

    pub fn error(&mut self, pos: Pos, reason: impl Into<String>) {
        let d = Diagnostic::new(&self.file, Some(pos), None, reason);
        self.diagnostics.push(d);
    }

    pub fn job_error(&mut self, pos: Option<Pos>, job: &str, reason: impl Into<String>) {
        let d = Diagnostic::new(&self.file, pos, Some(job), reason);
        self.diagnostics.push(d);
    }

    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }

    pub fn into_result<T>(self, value: T) -> Result<T, WorkflowError> {
        if self.diagnostics.is_empty() { Ok(value) } else { Err(WorkflowError { diagnostics: self.diagnostics }) }
    }
}

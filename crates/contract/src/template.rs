use serde::{Deserialize, Serialize};

/// A value from the workflow that may hold an expression.
///
/// `Expr` holds a bare expression (no `${{ }}`): text such as `echo ${{ x }}` arrives as
/// `format('echo {0}', x)`, the way GitHub's own parser converts it. A value produced by
/// evaluating a `Template` is data and is never evaluated again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    Literal(serde_json::Value),
    Expr(String),
}

impl Template {
    pub fn literal(value: impl Into<serde_json::Value>) -> Self {
        Template::Literal(value.into())
    }

    pub fn expr(source: impl Into<String>) -> Self {
        Template::Expr(source.into())
    }

    pub fn as_literal(&self) -> Option<&serde_json::Value> {
        match self {
            Template::Literal(v) => Some(v),
            Template::Expr(_) => None,
        }
    }
}

impl Default for Template {
    fn default() -> Self {
        Template::Literal(serde_json::Value::Null)
    }
}

use serde::{Deserialize, Deserializer, Serialize};

/// A value from the workflow that may hold an expression.
///
/// `Expr` holds a bare expression (no `${{ }}`): text such as `echo ${{ x }}` arrives as
/// `format('echo {0}', x)`, the way GitHub's own parser converts it. A value produced by
/// evaluating a `Template` is data and is never evaluated again.
///
/// On the wire: `{"literal": <json>}` or `{"expr": "<expression>"}`. A reader ignores other keys
/// beside the one it knows, so a newer writer may annotate templates (source spans, say).
#[derive(Debug, Clone, PartialEq, Serialize)]
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

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        match (map.remove("literal"), map.remove("expr")) {
            (Some(value), None) => Ok(Template::Literal(value)),
            (None, Some(serde_json::Value::String(source))) => Ok(Template::Expr(source)),
            (None, Some(_)) => Err(D::Error::custom("a template's `expr` must be a string")),
            (Some(_), Some(_)) => Err(D::Error::custom("a template has either `literal` or `expr`, not both")),
            (None, None) => Err(D::Error::custom("a template needs a `literal` or an `expr` key")),
        }
    }
}

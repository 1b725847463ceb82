//! `on.workflow_dispatch.inputs` and `on.workflow_call.inputs`: what a workflow says about its
//! inputs ([`InputSpec`]), and the `inputs` context a run gets from the values it was given
//! ([`resolve_inputs`]), with GitHub's rules:
//! - an input not given takes its `default`; without one, `false` for a boolean, `0` for a
//!   number and `""` otherwise (GitHub documents this for `workflow_call`; a dispatch form
//!   submits the same for an untouched field);
//! - values keep their type: "The inputs context preserves Boolean values as Booleans";
//! - a `required` input without a default must be given, a `choice` must be one of its
//!   `options`, and an input the workflow does not define is refused, as GitHub refuses it.
//!
//! An event the workflow does not declare (`--event push`) has no definitions: its inputs are
//! the given text as is.

use expr::MapContext;
use indexmap::IndexMap;
use serde_json::{Map, Value as Json};

use crate::model::Workflow;
use crate::node::{self, Node, Value};

/// The events whose `on.<event>.inputs` define the `inputs` context.
const EVENTS_WITH_INPUTS: &[&str] = &["workflow_dispatch", "workflow_call"];

/// One input a workflow defines for an event.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub name: String,
    pub description: Option<String>,
    pub kind: InputKind,
    pub required: bool,
    pub default: Option<InputDefault>,
}

/// `type:` of an input (`string` when a `workflow_dispatch` input leaves it out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputKind {
    String,
    Boolean,
    Number,
    Choice {
        options: Vec<String>,
    },
    /// A deployment environment's name; a plain string for a local run.
    Environment,
}

/// `default:` as written.
#[derive(Debug, Clone, PartialEq)]
pub enum InputDefault {
    /// A literal: a string, boolean or number, as the schema allows.
    Value(Json),
    /// A string with `${{ }}` (`workflow_call` allows github, inputs and vars there), evaluated
    /// when the inputs are resolved.
    Expression(String),
}

/// What [`resolve_inputs`] needs besides the workflow.
#[derive(Debug, Clone, Copy)]
pub struct InputRequest<'a> {
    /// `github.event_name`: whose `on.<event>.inputs` apply.
    pub event_name: &'a str,
    /// `name=value` pairs as given, all text (a later pair for the same name wins).
    pub given: &'a [(String, String)],
    /// The contexts a default written as an expression may use, besides `inputs`.
    pub github: &'a Json,
    pub vars: &'a Json,
}

/// Why the given values do not fit the workflow's input definitions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("input '{name}' is not defined in on.{event}.inputs (defined: {defined})")]
    Unknown { event: String, name: String, defined: String },
    #[error("input '{name}' is required and has no default, but was not given")]
    Missing { name: String },
    #[error("input '{name}' is a boolean, so '{value}' must be true or false")]
    NotBoolean { name: String, value: String },
    #[error("input '{name}' is a number, but '{value}' is not one")]
    NotNumber { name: String, value: String },
    #[error("input '{name}' is a choice, but '{value}' is not one of its options ({options})")]
    NotAnOption { name: String, value: String, options: String },
    #[error("the default of input '{name}' cannot be used: {reason}")]
    Default { name: String, reason: String },
}

/// The `inputs` context for a run of `workflow` triggered by `request.event_name`.
pub fn resolve_inputs(workflow: &Workflow, request: &InputRequest<'_>) -> Result<Json, InputError> {
    let given: IndexMap<&str, &str> = request.given.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let Some(specs) = workflow.inputs(request.event_name) else {
        let text = given.iter().map(|(k, v)| ((*k).to_owned(), Json::String((*v).to_owned())));
        return Ok(Json::Object(text.collect()));
    };
    if let Some(unknown) = given.keys().find(|name| !specs.iter().any(|s| s.name == **name)) {
        let defined = specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>();
        return Err(InputError::Unknown {
            event: request.event_name.to_owned(),
            name: (*unknown).to_owned(),
            defined: if defined.is_empty() { "none".to_owned() } else { defined.join(", ") },
        });
    }

    // Given values and literal defaults first, so an expression default can read them.
    let mut inputs = Map::new();
    let mut expressions = Vec::new();
    for spec in specs {
        let value = match (given.get(spec.name.as_str()), &spec.default) {
            (Some(text), _) => typed(spec, Json::String((*text).to_owned())).map_err(|m| m.given(spec, text))?,
            (None, Some(InputDefault::Value(value))) => typed(spec, value.clone()).map_err(|m| m.default(spec))?,
            (None, Some(InputDefault::Expression(source))) => {
                expressions.push((spec, source));
                continue;
            }
            (None, None) if spec.required => return Err(InputError::Missing { name: spec.name.clone() }),
            (None, None) => empty(&spec.kind),
        };
        inputs.insert(spec.name.clone(), value);
    }
    if !expressions.is_empty() {
        let mut ctx = MapContext::default();
        for (name, value) in
            [("github", request.github), ("vars", request.vars), ("inputs", &Json::Object(inputs.clone()))]
        {
            ctx.values.insert(name.to_owned(), expr::Value::from(value));
        }
        for (spec, source) in expressions {
            let value = evaluate(source, &ctx)
                .map_err(|reason| InputError::Default { name: spec.name.clone(), reason })
                .and_then(|value| typed(spec, value).map_err(|m| m.default(spec)))?;
            inputs.insert(spec.name.clone(), value);
        }
    }
    // File order, whatever order the values were resolved in.
    let ordered = specs.iter().filter_map(|s| inputs.get(&s.name).map(|v| (s.name.clone(), v.clone())));
    Ok(Json::Object(ordered.collect()))
}

impl Workflow {
    /// The inputs the workflow defines for `event_name` (file order), or `None` when the
    /// workflow does not declare that event or the event takes no inputs. A declared
    /// `workflow_dispatch` without `inputs:` defines none: `Some(&[])`.
    pub fn inputs(&self, event_name: &str) -> Option<&[InputSpec]> {
        self.input_definitions.get(event_name).map(Vec::as_slice)
    }
}

/// Input definitions per declared event that takes inputs, from a schema-checked `on:`.
pub(crate) fn definitions(on: &Node) -> IndexMap<String, Vec<InputSpec>> {
    let mut out = IndexMap::new();
    let declared: Vec<(&str, Option<&Node>)> = match &on.value {
        Value::String(event) => vec![(event.as_str(), None)],
        Value::Seq(events) => events.iter().filter_map(Node::as_str).map(|e| (e, None)).collect(),
        Value::Map(entries) => entries.iter().map(|e| (e.key.as_str(), e.value.get("inputs"))).collect(),
        _ => Vec::new(),
    };
    for (event, inputs) in declared {
        if !EVENTS_WITH_INPUTS.contains(&event) {
            continue;
        }
        let specs = inputs.and_then(Node::as_map).unwrap_or_default().iter().map(|e| spec(&e.key, &e.value));
        out.insert(event.to_owned(), specs.collect());
    }
    out
}

fn spec(name: &str, node: &Node) -> InputSpec {
    let options = node.get("options").and_then(Node::as_seq).unwrap_or_default();
    let kind = match node.get("type").and_then(Node::as_str).unwrap_or("string") {
        "boolean" => InputKind::Boolean,
        "number" => InputKind::Number,
        "choice" => InputKind::Choice { options: options.iter().filter_map(Node::scalar_text).collect() },
        "environment" => InputKind::Environment,
        _ => InputKind::String,
    };
    let default = node.get("default").and_then(|d| match &d.value {
        Value::Null => None,
        Value::String(s) if d.has_expression() => Some(InputDefault::Expression(s.clone())),
        _ => Some(InputDefault::Value(d.to_json())),
    });
    InputSpec {
        name: name.to_owned(),
        description: node.get("description").and_then(Node::scalar_text),
        kind,
        required: matches!(node.get("required").map(|r| &r.value), Some(Value::Bool(true))),
        default,
    }
}

/// What a value not given and without a default is.
fn empty(kind: &InputKind) -> Json {
    match kind {
        InputKind::Boolean => Json::Bool(false),
        InputKind::Number => Json::from(0),
        InputKind::String | InputKind::Choice { .. } | InputKind::Environment => Json::String(String::new()),
    }
}

/// Why a value does not have its input's type; which error it becomes depends on where the
/// value came from.
enum Mismatch {
    Boolean,
    Number,
    Option,
}

impl Mismatch {
    fn given(self, spec: &InputSpec, text: &str) -> InputError {
        let (name, value) = (spec.name.clone(), text.to_owned());
        match self {
            Mismatch::Boolean => InputError::NotBoolean { name, value },
            Mismatch::Number => InputError::NotNumber { name, value },
            Mismatch::Option => InputError::NotAnOption { name, value, options: options_text(&spec.kind) },
        }
    }

    fn default(self, spec: &InputSpec) -> InputError {
        let reason = match self {
            Mismatch::Boolean => "it is not a boolean".to_owned(),
            Mismatch::Number => "it is not a number".to_owned(),
            Mismatch::Option => format!("it is not one of the options ({})", options_text(&spec.kind)),
        };
        InputError::Default { name: spec.name.clone(), reason }
    }
}

/// `value` with the input's type: text given for a boolean must be `true` or `false`, text for
/// a number must be a finite number; a string input takes any scalar's text.
fn typed(spec: &InputSpec, value: Json) -> Result<Json, Mismatch> {
    match (&spec.kind, value) {
        (InputKind::Boolean, Json::Bool(b)) => Ok(Json::Bool(b)),
        (InputKind::Boolean, Json::String(s)) => match s.as_str() {
            "true" => Ok(Json::Bool(true)),
            "false" => Ok(Json::Bool(false)),
            _ => Err(Mismatch::Boolean),
        },
        (InputKind::Boolean, _) => Err(Mismatch::Boolean),
        (InputKind::Number, Json::Number(n)) => Ok(Json::Number(n)),
        (InputKind::Number, Json::String(s)) => match s.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(node::number_json(n)),
            _ => Err(Mismatch::Number),
        },
        (InputKind::Number, _) => Err(Mismatch::Number),
        (InputKind::Choice { options }, value) => {
            let text = scalar_text(&value);
            if options.contains(&text) { Ok(Json::String(text)) } else { Err(Mismatch::Option) }
        }
        (InputKind::String | InputKind::Environment, value) => Ok(Json::String(scalar_text(&value))),
    }
}

fn scalar_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => expr::Value::from(other).to_coerced_string(),
    }
}

fn options_text(kind: &InputKind) -> String {
    match kind {
        InputKind::Choice { options } => options.join(", "),
        _ => String::new(),
    }
}

/// A default written as `${{ }}`: a whole-value expression keeps its type, text around
/// expressions makes it a string.
fn evaluate(source: &str, ctx: &MapContext) -> Result<Json, String> {
    match expr::template_to_expr(source).map_err(|e| e.message)? {
        Some(expression) => expr::eval_str(&expression, ctx).map(|v| v.to_json()).map_err(|e| e.message),
        None => Ok(Json::String(source.to_owned())),
    }
}

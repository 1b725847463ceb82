//! Workflow translation: a workflow file (`.github/workflows/*.yml`, `.forgejo/workflows/*.yml`,
//! or the KDL superset `.solstice/workflow.kdl`) → a validated [`Workflow`] → one
//! [`contract::JobRequest`] per job and matrix combination ([`expand_job`]).
//!
//! Pure: callers pass the text and the file name; nothing here reads files or the network.
//!
//! The pipeline: each front end (`yaml`, `kdl_format`) builds the same positioned tree; the
//! `schema` checks it the way GitHub's parser does (unknown keys, types, where each context may
//! be used in `${{ }}`); `convert` builds the `Workflow` (ids, `needs`, templates) and applies
//! Solstice's product rules; `expand` evaluates the routing fields per matrix combination.
//! `resolve_inputs` turns the values a run was given into its typed `inputs` context.

mod convert;
mod error;
mod expand;
mod expression;
mod identifier;
mod inputs;
mod kdl_format;
mod matrix;
mod model;
mod needs;
mod node;
mod routing;
mod schema;
mod single_job;
mod yaml;

pub use error::{Diagnostic, WorkflowError};
pub use expand::{ExpandInput, expand_job};
pub use inputs::{InputDefault, InputError, InputKind, InputRequest, InputSpec, resolve_inputs};
pub use model::{Mode, ParseOptions, Workflow};
pub use routing::{GENERIC_LABELS, is_generic};
pub use single_job::{SingleJob, SingleJobError, expand_single_job, parse_single_job};

use error::Sink;

/// Parses an Actions workflow (YAML) with Solstice's product rules.
pub fn parse_yaml(source: &str, file: &str) -> Result<Workflow, WorkflowError> {
    parse_yaml_with(source, file, &ParseOptions::default())
}

/// Parses a `.solstice/workflow.kdl` (KDL v2) with Solstice's product rules.
pub fn parse_kdl(source: &str, file: &str) -> Result<Workflow, WorkflowError> {
    parse_kdl_with(source, file, &ParseOptions::default())
}

/// Picks [`parse_kdl`] for `*.kdl`, [`parse_yaml`] otherwise.
pub fn parse(source: &str, file: &str) -> Result<Workflow, WorkflowError> {
    parse_with(source, file, &ParseOptions::default())
}

/// [`parse`] with explicit options (e.g. [`Mode::GitHub`] to check GitHub's rules only).
pub fn parse_with(source: &str, file: &str, options: &ParseOptions) -> Result<Workflow, WorkflowError> {
    if file.ends_with(".kdl") { parse_kdl_with(source, file, options) } else { parse_yaml_with(source, file, options) }
}

pub fn parse_yaml_with(source: &str, file: &str, options: &ParseOptions) -> Result<Workflow, WorkflowError> {
    let mut sink = Sink::new(file);
    let Some(root) = yaml::load(source, &mut sink) else {
        return sink.into_result(()).and_then(|()| unreachable_empty(file));
    };
    from_tree(&root, file, options, sink)
}

pub fn parse_kdl_with(source: &str, file: &str, options: &ParseOptions) -> Result<Workflow, WorkflowError> {
    let mut sink = Sink::new(file);
    let Some(root) = kdl_format::load(source, &mut sink) else {
        return sink.into_result(()).and_then(|()| unreachable_empty(file));
    };
    from_tree(&root, file, options, sink)
}

fn from_tree(root: &node::Node, file: &str, options: &ParseOptions, mut sink: Sink) -> Result<Workflow, WorkflowError> {
    schema::check(root, schema::ROOT, &mut sink);
    // Like GitHub's parser, conversion runs only on a tree the schema accepted: its checks
    // assume the shapes the schema guarantees.
    if !sink.is_empty() {
        return sink.into_result(()).and_then(|()| unreachable_empty(file));
    }
    let workflow = convert::workflow(root, file, options.mode, &mut sink);
    sink.into_result(workflow)
}

/// A front end that returns no tree always records why; this keeps the types honest.
fn unreachable_empty(file: &str) -> Result<Workflow, WorkflowError> {
    Err(WorkflowError::single(Diagnostic::new(file, None, None, "the workflow could not be read")))
}

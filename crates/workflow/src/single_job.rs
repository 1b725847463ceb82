//! A workflow that a forge already split into jobs: Forgejo's task payload is a YAML document
//! with exactly one job, its matrix reduced to the one combination (`{key: [value]}`), its
//! `name` computed, its `runs-on` evaluated and its `needs` erased. This module feeds such a
//! document through the same schema check and conversion as a file from disk, after taking out
//! what the forge added or already decided, and expands it into exactly one `JobRequest`.
//!
//! The forge's evaluated values (the name, `runs-on` labels, matrix values) are data: a `${{`
//! inside them is kept as text, never evaluated again.

use contract::JobRequest;

use crate::error::{Diagnostic, Sink, WorkflowError};
use crate::expand::{ExpandInput, expand_job};
use crate::model::{Mode, Workflow};
use crate::node::{Entry, Node, Pos, Value};
use crate::schema::{self, Kind};
use crate::{convert, identifier, yaml};

/// The key a job is parsed under when the forge's key is not a valid identifier (Forgejo names
/// the jobs of an expanded reusable workflow `caller.inner` or `__namespace.<hash>.inner`).
const PLACEHOLDER_KEY: &str = "job";

/// A forge's one-job workflow, validated, ready for [`expand_single_job`].
#[derive(Debug, Clone)]
pub struct SingleJob {
    workflow: Workflow,
    /// The key the job is known by in the workflow model.
    parse_key: String,
    /// The key the forge gave the job.
    job_key: String,
    /// The display name the forge computed, if it sent one.
    name: Option<String>,
    runs_on: Vec<String>,
}

/// Why a forge's one-job workflow cannot become a JobRequest.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SingleJobError {
    #[error("read the job: the payload holds {count} jobs{}, a task carries exactly one", keys_text(.keys))]
    NotOneJob { count: usize, keys: Vec<String> },
    #[error("read the job: its runs-on must be a label or a list of labels, found {found}")]
    RunsOn { found: String },
    #[error("expand the job: its matrix yields {count} combinations, a task carries exactly one")]
    NotOneCombination { count: usize },
    #[error("{0}")]
    Invalid(WorkflowError),
}

fn keys_text(keys: &[String]) -> String {
    if keys.is_empty() { String::new() } else { format!(" ({})", keys.join(", ")) }
}

impl SingleJob {
    /// The validated workflow, for [`crate::resolve_inputs`].
    pub fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    /// The job's key as the forge sent it.
    pub fn job_key(&self) -> &str {
        &self.job_key
    }

    /// The `runs-on` labels as the forge evaluated them.
    pub fn runs_on(&self) -> &[String] {
        &self.runs_on
    }

    /// The display name the forge computed, if it sent one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// Reads a forge's one-job workflow with Solstice's product rules. Keys the schema does not
/// know are dropped at the top level and on the job (forges add their own, such as Forgejo's
/// `__metadata` and `incomplete_*`); `needs` is dropped (the forge passes the needed jobs'
/// results instead), so is `concurrency` (the forge applied it); `on` keeps only what defines
/// inputs. Diagnostics carry no line and column: the document is the forge's re-serialisation,
/// so its positions would not match the user's file.
pub fn parse_single_job(source: &str, file: &str) -> Result<SingleJob, SingleJobError> {
    let mut sink = Sink::new(file);
    let Some(mut root) = yaml::load(source, &mut sink) else {
        return Err(invalid(sink.diagnostics, None));
    };
    let Value::Map(entries) = &mut root.value else {
        let found = describe(&root);
        return Err(invalid(
            vec![Diagnostic::new(file, None, None, format!("the payload must be a mapping, found {found}"))],
            None,
        ));
    };
    // Concurrency is the forge's business (it decided this job may start now), and Forgejo
    // writes `cancel-in-progress` as text, which the schema refuses.
    entries.retain(|e| e.key != "concurrency" && known_key(&e.key, &["workflow-root"]));
    rewrite_on(entries, root.pos);

    let Some(jobs) = entries.iter_mut().find(|e| e.key == "jobs") else {
        return Err(SingleJobError::NotOneJob { count: 0, keys: Vec::new() });
    };
    let Value::Map(job_entries) = &mut jobs.value.value else {
        return Err(SingleJobError::NotOneJob { count: 0, keys: Vec::new() });
    };
    let [job_entry] = job_entries.as_mut_slice() else {
        let keys = job_entries.iter().map(|e| e.key.clone()).collect();
        return Err(SingleJobError::NotOneJob { count: job_entries.len(), keys });
    };

    let job_key = job_entry.key.clone();
    if identifier::invalid(&job_key).is_some() {
        job_entry.key = PLACEHOLDER_KEY.to_string();
    }
    let parse_key = job_entry.key.clone();
    let job = &mut job_entry.value;
    if let Some(uses) = job.get("uses") {
        let what = uses.scalar_text().unwrap_or_default();
        let reason = format!("reusable workflow jobs are not supported ('uses: {what}'); see docs/faq.md");
        return Err(invalid(vec![Diagnostic::new(file, None, Some(&job_key), reason)], None));
    }
    let Value::Map(job_fields) = &mut job.value else {
        let reason = format!("the job must be a mapping, found {}", describe(job));
        return Err(invalid(vec![Diagnostic::new(file, None, Some(&job_key), reason)], None));
    };
    job_fields.retain(|e| {
        !matches!(e.key.as_str(), "needs" | "concurrency") && known_key(&e.key, &["job-factory", "workflow-job"])
    });
    let name = take(job_fields, "name").and_then(|n| n.scalar_text()).filter(|n| !n.is_empty());
    let runs_on = match job_fields.iter_mut().find(|e| e.key == "runs-on") {
        Some(entry) => {
            let labels = labels(&entry.value)?;
            keep_as_text(&mut entry.value);
            labels
        }
        None => Vec::new(),
    };
    if let Some(strategy) = job_fields.iter_mut().find(|e| e.key == "strategy") {
        normalize_strategy(&mut strategy.value);
    }
    number_fields(job_fields);
    for step in job_fields.iter_mut().filter(|e| e.key == "steps").flat_map(|e| match &mut e.value.value {
        Value::Seq(steps) => steps.iter_mut().collect(),
        _ => Vec::new(),
    }) {
        if let Value::Map(fields) = &mut step.value {
            number_fields(fields);
        }
    }

    let mut sink = Sink::new(file);
    schema::check(&root, schema::ROOT, &mut sink);
    if !sink.is_empty() {
        return Err(invalid(sink.diagnostics, Some(&job_key)));
    }
    let workflow = convert::workflow(&root, file, Mode::Solstice, &mut sink);
    if !sink.is_empty() {
        return Err(invalid(sink.diagnostics, Some(&job_key)));
    }
    Ok(SingleJob { workflow, parse_key, job_key, name, runs_on })
}

/// The job as one `JobRequest`: `workflow::expand_job` with the forge's decisions kept. Only
/// the `runs-on` labels `input.is_catalog_label` accepts are routed by (the forge runner has
/// already checked the others are generic labels it serves); the display name is the forge's;
/// the job key is the forge's.
pub fn expand_single_job(job: &SingleJob, input: &ExpandInput<'_>) -> Result<JobRequest, SingleJobError> {
    let mut workflow = job.workflow.clone();
    if let Some(model) = workflow.jobs.get_mut(&job.parse_key) {
        let pos = model.runs_on.as_ref().map_or(model.pos, |n| n.pos);
        let mut routed: Vec<Node> = Vec::new();
        for label in job.runs_on.iter().filter(|l| (input.is_catalog_label)(l)) {
            if !routed.iter().any(|n| n.as_str() == Some(label)) {
                routed.push(Node::new(pos, Value::String(label.clone())));
            }
        }
        model.runs_on = Some(Node::new(pos, Value::Seq(routed)));
    }
    let mut requests =
        expand_job(&workflow, &job.parse_key, input).map_err(|e| invalid(e.diagnostics, Some(&job.job_key)))?;
    let mut request = match requests.len() {
        1 => requests.remove(0),
        count => return Err(SingleJobError::NotOneCombination { count }),
    };
    request.job_key = job.job_key.clone();
    request.runs_on = job.runs_on.clone();
    if let Some(name) = &job.name {
        request.name = name.clone();
    } else if job.parse_key != job.job_key {
        request.name = request.name.replacen(&job.parse_key, &job.job_key, 1);
    }
    Ok(request)
}

/// Diagnostics without positions (see [`parse_single_job`]), naming the forge's job key.
fn invalid(diagnostics: Vec<Diagnostic>, job_key: Option<&str>) -> SingleJobError {
    let diagnostics = diagnostics
        .into_iter()
        .map(|d| Diagnostic {
            line: None,
            column: None,
            job: match (d.job, job_key) {
                (Some(_), Some(key)) => Some(key.to_string()),
                (job, _) => job,
            },
            ..d
        })
        .collect();
    SingleJobError::Invalid(WorkflowError { diagnostics })
}

/// Whether `key` is a property of any of the mapping definitions `defs`.
fn known_key(key: &str, defs: &[&str]) -> bool {
    defs.iter().filter_map(|d| schema::schema().get(d)).any(|d| match &d.kind {
        Kind::Mapping { props, .. } => props.iter().any(|p| p.name == key),
        _ => false,
    })
}

/// Keeps from `on` only the events whose inputs define the `inputs` context; without them the
/// trigger no longer matters (the forge decided the run), so `on` becomes `push`.
fn rewrite_on(entries: &mut Vec<Entry>, root_pos: Pos) {
    const WITH_INPUTS: &[&str] = &["workflow_dispatch", "workflow_call"];
    let position = entries.iter().position(|e| e.key == "on");
    let kept: Vec<Entry> = match position.map(|i| &entries[i].value) {
        Some(Node { value: Value::Map(events), .. }) => {
            events.iter().filter(|e| WITH_INPUTS.contains(&e.key.as_str())).cloned().collect()
        }
        Some(node @ Node { value: Value::String(event), .. }) if WITH_INPUTS.contains(&event.as_str()) => {
            vec![Entry { key: event.clone(), key_pos: node.pos, value: Node::new(node.pos, Value::Null) }]
        }
        Some(Node { value: Value::Seq(events), .. }) => events
            .iter()
            .filter_map(|n| n.as_str().filter(|e| WITH_INPUTS.contains(e)).map(|e| (e, n.pos)))
            .map(|(e, pos)| Entry { key: e.to_string(), key_pos: pos, value: Node::new(pos, Value::Null) })
            .collect(),
        _ => Vec::new(),
    };
    let mut kept = kept;
    kept.iter_mut().for_each(|event| drop_null_defaults(&mut event.value));
    let value = if kept.is_empty() {
        Node::new(root_pos, Value::String("push".into()))
    } else {
        Node::new(root_pos, Value::Map(kept))
    };
    match position {
        Some(i) => entries[i].value = value,
        None => entries.insert(0, Entry { key: "on".into(), key_pos: root_pos, value }),
    }
}

/// Forgejo's job parser keeps `timeout-minutes` as text, so `30` arrives as `"30"`; the schema
/// wants a number (or an expression, which stays as it is).
fn number_fields(fields: &mut [Entry]) {
    for field in fields.iter_mut().filter(|f| matches!(f.key.as_str(), "timeout-minutes" | "cancel-timeout-minutes")) {
        if let Value::String(text) = &field.value.value
            && let Ok(n) = text.trim().parse::<f64>()
        {
            field.value.value = Value::Number(n);
        }
    }
}

/// Forgejo writes an input without a default as `default: null`, which the schema refuses for a
/// typed input; it means what leaving `default` out means.
fn drop_null_defaults(event: &mut Node) {
    let Value::Map(fields) = &mut event.value else { return };
    let Some(Value::Map(inputs)) = fields.iter_mut().find(|f| f.key == "inputs").map(|f| &mut f.value.value) else {
        return;
    };
    for input in inputs.iter_mut() {
        if let Value::Map(fields) = &mut input.value.value {
            fields.retain(|f| !(f.key == "default" && matches!(f.value.value, Value::Null)));
        }
    }
}

/// The evaluated labels: a string or a list of strings (a `{labels}` mapping is read too).
fn labels(node: &Node) -> Result<Vec<String>, SingleJobError> {
    let found = || SingleJobError::RunsOn { found: node.to_json().to_string() };
    match &node.value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Seq(items) => items.iter().map(|i| i.as_str().map(str::to_string).ok_or_else(found)).collect(),
        Value::Map(_) => match node.get("labels") {
            Some(inner) => labels(inner),
            None => Err(found()),
        },
        _ => Err(found()),
    }
}

/// Removes and returns the value of `key`.
fn take(entries: &mut Vec<Entry>, key: &str) -> Option<Node> {
    let index = entries.iter().position(|e| e.key == key)?;
    Some(entries.remove(index).value)
}

/// Forgejo sends `fail-fast` and `max-parallel` as strings and the matrix reduced to one
/// combination; the schema wants a boolean and a number, and the matrix values are data.
fn normalize_strategy(strategy: &mut Node) {
    let Value::Map(fields) = &mut strategy.value else { return };
    for field in fields.iter_mut() {
        let Value::String(text) = &field.value.value else { continue };
        let trimmed = text.trim();
        match field.key.as_str() {
            "fail-fast" if trimmed.eq_ignore_ascii_case("true") => field.value.value = Value::Bool(true),
            "fail-fast" if trimmed.eq_ignore_ascii_case("false") => field.value.value = Value::Bool(false),
            "max-parallel" => {
                if let Ok(n) = trimmed.parse::<f64>() {
                    field.value.value = Value::Number(n);
                }
            }
            _ => {}
        }
    }
    // An empty or null matrix is what a forge writes for a job without one.
    fields.retain(|f| !(f.key == "matrix" && is_empty(&f.value)));
    if let Some(matrix) = fields.iter_mut().find(|f| f.key == "matrix") {
        keep_as_text(&mut matrix.value);
    }
}

fn is_empty(node: &Node) -> bool {
    match &node.value {
        Value::Null => true,
        Value::Map(entries) => entries.is_empty(),
        _ => false,
    }
}

/// Turns every string holding `${{` into the expression that yields exactly that text, so a
/// value the forge already evaluated is never evaluated again.
fn keep_as_text(node: &mut Node) {
    match &mut node.value {
        Value::String(s) if s.contains("${{") => *s = format!("${{{{ '{}' }}}}", s.replace('\'', "''")),
        Value::Seq(items) => items.iter_mut().for_each(keep_as_text),
        Value::Map(entries) => entries.iter_mut().for_each(|e| keep_as_text(&mut e.value)),
        _ => {}
    }
}

fn describe(node: &Node) -> &'static str {
    match node.value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Seq(_) => "a sequence",
        Value::Map(_) => "a mapping",
    }
}

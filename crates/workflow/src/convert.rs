//! A schema-checked `Node` tree → `Workflow`: job and step ids, the `needs` graph, the checks
//! GitHub makes after its schema (runs-on groups, container images, inputs, cron), Solstice's
//! product rules, and every non-routing value turned into a `Template`.

mod events;
mod step;

use std::collections::BTreeMap;

use contract::Template;
use indexmap::IndexMap;

use crate::error::Sink;
use crate::expression;
use crate::identifier;
use crate::inputs;
use crate::matrix;
use crate::model::{Defaults, Job, Mode, Workflow};
use crate::needs::{self, JobNeeds};
use crate::node::{Node, Value};
use crate::schema;

pub(crate) fn workflow(root: &Node, file: &str, mode: Mode, sink: &mut Sink) -> Workflow {
    if let Some(on) = root.get("on") {
        events::check(on, sink);
    }
    let name = root.get("name").and_then(Node::scalar_text).filter(|n| !n.is_empty());
    let env = root.get("env").map(|e| templates(e, sink)).unwrap_or_default();
    let defaults = root.get("defaults").and_then(|d| d.get("run")).map(|r| run_defaults(r, sink)).unwrap_or_default();

    let mut jobs = IndexMap::new();
    let jobs_node = root.get("jobs");
    for entry in jobs_node.and_then(Node::as_map).unwrap_or_default() {
        if let Some(reason) = identifier::invalid(&entry.key) {
            sink.error(entry.key_pos, reason);
            continue;
        }
        let job = job(&entry.key, &entry.value, mode, sink);
        jobs.insert(entry.key.clone(), job);
    }

    let graph: Vec<JobNeeds<'_>> = jobs_node
        .and_then(Node::as_map)
        .unwrap_or_default()
        .iter()
        .filter(|e| jobs.contains_key(&e.key))
        .map(|e| JobNeeds { key: &e.key, needs: need_nodes(&e.value) })
        .collect();
    let jobs_pos = jobs_node.map_or(root.pos, |n| n.pos);
    let order = needs::order(&graph, jobs_pos, sink);

    let input_definitions = root.get("on").map(inputs::definitions).unwrap_or_default();
    Workflow { file: file.to_string(), name, env, defaults, jobs, order, input_definitions }
}

fn need_nodes(job: &Node) -> Vec<(&str, crate::node::Pos)> {
    match job.get("needs") {
        Some(n) => match &n.value {
            Value::String(s) => vec![(s.as_str(), n.pos)],
            Value::Seq(items) => items.iter().filter_map(|i| i.as_str().map(|s| (s, i.pos))).collect(),
            _ => Vec::new(),
        },
        None => Vec::new(),
    }
}

fn job(key: &str, node: &Node, mode: Mode, sink: &mut Sink) -> Job {
    let mut unsupported = Vec::new();
    if let Some(uses) = node.entry("uses") {
        let what = uses.value.scalar_text().unwrap_or_default();
        unsupported.push((
            uses.key_pos,
            format!("reusable workflow jobs are not supported ('uses: {what}'); see docs/faq.md"),
        ));
    }
    if let Some(container) = node.entry("container") {
        events::container_image(&container.value, sink);
        unsupported.push((
            container.key_pos,
            "job-level 'container:' is not supported: every job runs in a VM of its 'runs-on' image; see docs/faq.md"
                .into(),
        ));
    }
    if let Some(services) = node.entry("services") {
        for service in services.value.as_map().unwrap_or_default() {
            events::container_image(&service.value, sink);
        }
        unsupported.push((services.key_pos, "'services:' are not supported; see docs/faq.md".into()));
    }
    if let Some(runs_on) = node.get("runs-on") {
        runs_on_group(runs_on, sink);
    }
    if node.get("uses").is_none() && node.get("steps").is_none() {
        unsupported.push((node.pos, "Required property is missing: steps".into()));
    }

    let if_ = node.get("if").and_then(|n| at(sink, key, n, expression::condition(n, schema::JOB_IF)).flatten());
    let name = node.get("name").filter(|n| n.scalar_text().is_some_and(|t| !t.is_empty())).cloned();
    let env = node.get("env").map(|e| templates(e, sink)).unwrap_or_default();
    let outputs = node.get("outputs").map(|e| templates(e, sink)).unwrap_or_default();
    let defaults = node.get("defaults").and_then(|d| d.get("run")).map(|r| run_defaults(r, sink)).unwrap_or_default();
    let timeout_minutes = node.get("timeout-minutes").and_then(|n| at(sink, key, n, expression::template(n, false)));
    let continue_on_error =
        node.get("continue-on-error").and_then(|n| at(sink, key, n, expression::template(n, false)));
    let steps = match node.get("steps") {
        Some(steps) => step::steps(key, steps, &mut unsupported, sink),
        None => Vec::new(),
    };
    if let Some(strategy) = node.get("strategy") {
        static_matrix(key, strategy, sink);
    }

    let job = Job {
        key: key.to_string(),
        pos: node.pos,
        needs: need_nodes(node).into_iter().map(|(n, _)| n.to_string()).collect(),
        if_,
        name,
        runs_on: node.get("runs-on").cloned(),
        strategy: node.get("strategy").cloned(),
        env,
        defaults,
        timeout_minutes,
        continue_on_error,
        outputs,
        steps,
        unsupported: Vec::new(),
    };
    match mode {
        Mode::Solstice => {
            for (pos, reason) in unsupported {
                sink.job_error(Some(pos), key, reason);
            }
            job
        }
        Mode::GitHub => Job { unsupported, ..job },
    }
}

/// Records a conversion error for `node` and yields the value when there is none.
fn at<T>(sink: &mut Sink, job: &str, node: &Node, result: Result<T, String>) -> Option<T> {
    result.map_err(|reason| sink.job_error(Some(node.pos), job, reason)).ok()
}

/// A mapping of strings (`env`, `outputs`, `with`) → templates.
pub(crate) fn templates(node: &Node, sink: &mut Sink) -> BTreeMap<String, Template> {
    let mut out = BTreeMap::new();
    for entry in node.as_map().unwrap_or_default() {
        if entry.key.contains("${{") {
            sink.error(entry.key_pos, "expressions as keys (such as `${{ insert }}`) are not supported");
            continue;
        }
        match expression::template(&entry.value, true) {
            Ok(t) => {
                out.insert(entry.key.clone(), t);
            }
            Err(reason) => sink.error(entry.value.pos, reason),
        }
    }
    out
}

fn run_defaults(node: &Node, sink: &mut Sink) -> Defaults {
    let working_directory = node.get("working-directory").and_then(|n| match expression::template(n, true) {
        Ok(t) => Some(t),
        Err(reason) => {
            sink.error(n.pos, reason);
            None
        }
    });
    Defaults { shell: node.get("shell").cloned(), working_directory }
}

/// `runs-on: { group: … }` names one group, optionally with an `org/` or `ent/` prefix.
fn runs_on_group(runs_on: &Node, sink: &mut Sink) {
    let Some(group) = runs_on.get("group") else { return };
    let Some(name) = group.as_str().filter(|n| !n.contains("${{")) else { return };
    let parts: Vec<&str> = name.split('/').collect();
    let bad_prefix = || {
        format!(
            "Invalid runs-on group name '{name}. Please use 'organization/' or 'enterprise/' prefix to target a single runner group.'"
        )
    };
    match parts.as_slice() {
        [_] => {}
        [prefix, rest] => {
            if !["org", "organization", "ent", "enterprise"].contains(prefix) {
                sink.error(group.pos, bad_prefix());
            } else if rest.is_empty() {
                sink.error(group.pos, format!("Invalid runs-on group name '{name}'."));
            }
        }
        _ => sink.error(group.pos, bad_prefix()),
    }
}

/// A matrix written without expressions is expanded now, so one that yields no job is a
/// validation error rather than a surprise at run time.
fn static_matrix(key: &str, strategy: &Node, sink: &mut Sink) {
    let Some(matrix) = strategy.get("matrix") else { return };
    let mut strings = Vec::new();
    matrix.walk_strings(&mut strings);
    if strings.iter().any(|(s, _)| s.contains("${{")) {
        return;
    }
    if let Err(reason) = matrix::combinations(&matrix.to_json()) {
        sink.job_error(Some(matrix.pos), key, reason);
    }
}

//! One job of a `Workflow` → one `JobRequest` per matrix combination. Only routing data is
//! evaluated here (`strategy`, the matrix, `runs-on`, and the display `name`), with the
//! contexts github, vars, inputs, needs, matrix and strategy — never secrets, steps, job or
//! runner. Everything else travels as `Template`s for the step engine.

use std::collections::BTreeMap;

use contract::{BusKey, Contexts, EnvLayers, JobRequest, Origin, RunDefaults, SecretString, Workspace};
use expr::MapContext;
use serde_json::{Value as Json, json};
use ulid::Ulid;

use crate::error::{Diagnostic, WorkflowError};
use crate::matrix::{self, Combination};
use crate::model::{Job, Workflow};
use crate::node::{Node, Pos, Value};
use crate::routing;

/// What the forge knows about the run, for [`expand_job`].
pub struct ExpandInput<'a> {
    pub origin: Origin,
    pub github: Json,
    pub vars: Json,
    pub inputs: Json,
    /// `needs.<job>.{result,outputs}` of the finished jobs this job needs.
    pub needs: Json,
    /// Plaintext secrets; sealed per JobRequest under `key` with that request's job id as AAD.
    /// `GITHUB_TOKEN`, when present and `workspace.token` is `None`, also becomes the sealed
    /// workspace token the built-in checkout uses.
    pub secrets: &'a BTreeMap<String, SecretString>,
    pub key: &'a BusKey,
    /// Is this `runs-on` entry a catalog label? (`solstice run --executor local` accepts any.)
    pub is_catalog_label: &'a dyn Fn(&str) -> bool,
    pub workspace: Workspace,
}

/// One JobRequest per matrix combination (after include/exclude), each with a fresh ULID job id.
pub fn expand_job(
    workflow: &Workflow,
    job_key: &str,
    input: &ExpandInput<'_>,
) -> Result<Vec<JobRequest>, WorkflowError> {
    let fail = |pos: Option<Pos>, reason: String| {
        WorkflowError::single(Diagnostic::new(&workflow.file, pos, Some(job_key), reason))
    };
    let Some(job) = workflow.jobs.get(job_key) else {
        return Err(fail(None, "no such job in the workflow".into()));
    };
    if !job.unsupported.is_empty() {
        let diagnostics = job
            .unsupported
            .iter()
            .map(|(pos, reason)| Diagnostic::new(&workflow.file, Some(*pos), Some(job_key), reason.clone()))
            .collect();
        return Err(WorkflowError { diagnostics });
    }

    let base = [("github", &input.github), ("vars", &input.vars), ("inputs", &input.inputs), ("needs", &input.needs)];
    let strategy = strategy(job, &context(&base)).map_err(|(pos, r)| fail(Some(pos), r))?;
    let total = strategy.combinations.len();

    let mut requests = Vec::with_capacity(total);
    for (index, combination) in strategy.combinations.iter().enumerate() {
        let matrix_json = combination.as_ref().map_or(Json::Null, |c| Json::Object(c.clone().into_iter().collect()));
        let strategy_json = json!({
            "fail-fast": strategy.fail_fast,
            "job-index": index,
            "job-total": total,
            "max-parallel": strategy.max_parallel.unwrap_or(total as u64),
        });
        let mut values = base.to_vec();
        values.push(("matrix", &matrix_json));
        values.push(("strategy", &strategy_json));
        let ctx = context(&values);

        let runs_on =
            job.runs_on.as_ref().ok_or_else(|| fail(Some(job.pos), "Required property is missing: runs-on".into()))?;
        let runs_on_value = evaluate(runs_on, &ctx).map_err(|r| fail(Some(runs_on.pos), r))?;
        let labels = routing::labels(&runs_on_value).map_err(|r| fail(Some(runs_on.pos), r))?;
        let route = routing::route_label(&labels, input.is_catalog_label).map_err(|r| fail(Some(runs_on.pos), r))?;
        let name = display_name(job, combination.as_ref(), &ctx).map_err(|(pos, r)| fail(Some(pos), r))?;
        let shell = match job.defaults.shell.as_ref().or(workflow.defaults.shell.as_ref()) {
            Some(node) => Some(text(&evaluate(node, &ctx).map_err(|r| fail(Some(node.pos), r))?)),
            None => None,
        };

        let job_id = Ulid::new();
        let mut request = JobRequest::new(job_id, input.origin.clone(), route, job_key);
        request.runs_on = labels;
        request.name = name;
        request.workflow_name = workflow.name().to_string();
        request.if_ = job.if_.clone();
        request.env = EnvLayers { workflow: workflow.env.clone(), job: job.env.clone() };
        request.defaults = RunDefaults {
            shell,
            working_directory: job
                .defaults
                .working_directory
                .clone()
                .or_else(|| workflow.defaults.working_directory.clone()),
        };
        request.timeout_minutes = job.timeout_minutes.clone();
        request.continue_on_error = job.continue_on_error.clone();
        request.outputs = job.outputs.clone();
        request.contexts = Contexts {
            github: input.github.clone(),
            vars: input.vars.clone(),
            needs: input.needs.clone(),
            matrix: matrix_json,
            strategy: strategy_json,
            inputs: input.inputs.clone(),
        };
        for (name, secret) in input.secrets {
            let sealed = input
                .key
                .seal(job_id, secret.expose())
                .map_err(|e| fail(None, format!("seal secret '{name}': {e}")))?;
            request.secrets.insert(name.clone(), sealed);
        }
        request.workspace = input.workspace.clone();
        if request.workspace.token.is_none()
            && let Some(token) = input.secrets.get("GITHUB_TOKEN")
        {
            let sealed = input.key.seal(job_id, token.expose()).map_err(|e| fail(None, format!("seal token: {e}")))?;
            request.workspace.token = Some(sealed);
        }
        request.steps = job.steps.clone();
        requests.push(request);
    }
    Ok(requests)
}

struct Strategy {
    /// `None` for a job without a matrix (one request, `matrix` context null).
    combinations: Vec<Option<Combination>>,
    fail_fast: bool,
    max_parallel: Option<u64>,
}

fn strategy(job: &Job, ctx: &MapContext) -> Result<Strategy, (Pos, String)> {
    let mut out = Strategy { combinations: vec![None], fail_fast: true, max_parallel: None };
    let Some(node) = &job.strategy else { return Ok(out) };
    let value = evaluate(node, ctx).map_err(|r| (node.pos, r))?;
    let Json::Object(map) = &value else {
        return Err((node.pos, format!("strategy must be a mapping, found {value}")));
    };
    if let Some(ff) = map.get("fail-fast") {
        out.fail_fast = match ff {
            Json::Bool(b) => *b,
            Json::String(s) if s.eq_ignore_ascii_case("true") => true,
            Json::String(s) if s.eq_ignore_ascii_case("false") => false,
            other => return Err((node.pos, format!("strategy.fail-fast must be a boolean, found {other}"))),
        };
    }
    if let Some(mp) = map.get("max-parallel") {
        let n = match mp {
            Json::Number(n) => n.as_f64(),
            Json::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n >= 1.0 && n.fract() == 0.0 => out.max_parallel = Some(n as u64),
            _ => {
                return Err((
                    node.pos,
                    format!("strategy.max-parallel must be a whole number of at least 1, found {mp}"),
                ));
            }
        }
    }
    if let Some(matrix) = map.get("matrix") {
        let pos = node.get("matrix").map_or(node.pos, |m| m.pos);
        let combinations = matrix::combinations(matrix).map_err(|r| (pos, r))?;
        out.combinations = combinations.into_iter().map(Some).collect();
    }
    Ok(out)
}

/// `name:` evaluated (matrix is routing data, so `name: test ${{ matrix.os }}` is resolved
/// here); without `name:`, or when the name does not use `matrix`, the combination's values are
/// appended as GitHub shows them: `build (linux, 1)`.
fn display_name(job: &Job, combination: Option<&Combination>, ctx: &MapContext) -> Result<String, (Pos, String)> {
    let (mut name, uses_matrix) = match &job.name {
        Some(node) => {
            let value = evaluate(node, ctx).map_err(|r| (node.pos, r))?;
            (text(&value), mentions_matrix(node))
        }
        None => (job.key.clone(), false),
    };
    if let Some(c) = combination
        && !uses_matrix
        && !c.is_empty()
    {
        name = format!("{name} ({})", matrix::display_values(c).join(", "));
    }
    Ok(name)
}

fn mentions_matrix(node: &Node) -> bool {
    let Some(text) = node.as_str() else { return false };
    match expr::template_to_expr(text) {
        Ok(Some(source)) => expr::parse(&source).is_ok_and(|e| e.named_contexts().iter().any(|c| c == "matrix")),
        _ => false,
    }
}

/// The text a string field gets from a value (`${{ 1 }}` → "1").
fn text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => expr::Value::from(other).to_coerced_string(),
    }
}

fn context(values: &[(&str, &Json)]) -> MapContext {
    let mut ctx = MapContext::default();
    for (name, value) in values {
        ctx.values.insert((*name).to_string(), expr::Value::from(*value));
    }
    ctx
}

/// Evaluates a routing value: strings with `${{ }}` become what their expression yields (a
/// whole-value expression keeps its type, e.g. `fromJSON(…)` gives a list); the rest is literal.
fn evaluate(node: &Node, ctx: &MapContext) -> Result<Json, String> {
    match &node.value {
        Value::String(s) if s.contains("${{") => {
            let source = expr::template_to_expr(s).map_err(|e| e.message)?;
            match source {
                Some(source) => {
                    let value = expr::eval_str(&source, ctx).map_err(|e| format!("evaluate '{s}': {}", e.message))?;
                    Ok(matrix::normalize(&value.to_json()))
                }
                None => Ok(Json::String(s.clone())),
            }
        }
        Value::Seq(items) => items.iter().map(|i| evaluate(i, ctx)).collect::<Result<Vec<_>, _>>().map(Json::Array),
        Value::Map(entries) => {
            let mut map = serde_json::Map::new();
            for e in entries {
                map.insert(e.key.clone(), evaluate(&e.value, ctx)?);
            }
            Ok(Json::Object(map))
        }
        _ => Ok(node.to_json()),
    }
}

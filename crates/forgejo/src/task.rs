//! A Forgejo task turned into a JobRequest.
//!
//! The task's `workflow_payload` is the server's one-job workflow (protocol notes §5): the job's
//! name is computed, `runs-on` evaluated, the matrix reduced to one combination and `needs`
//! erased. `workflow::parse_single_job` reads it with the same schema and product rules as
//! `solstice run`; this module adds what only the task knows: the contexts (`github` from
//! `task.context`, `vars`, `needs` rebuilt from `task.needs`, `inputs`), the secrets sealed for
//! the bus, the route label out of `runs-on`, and the task id as the forge reference. Nothing
//! here evaluates an expression: the step engine does, once, at run time.

mod context;
mod route;
mod secrets;

use std::collections::BTreeMap;
use std::fmt;

use contract::{BusKey, ForgeKind, JobRequest, Origin, SecretString, Workspace};
use serde_json::Value as Json;
use workflow::{ExpandInput, SingleJobError, WorkflowError};

use crate::report::TaskResult;

/// A task as fetched, in our own types (the Connect client converts from the wire).
#[derive(Clone, Default)]
pub struct TaskInput {
    pub id: i64,
    pub workflow_payload: Vec<u8>,
    pub context: serde_json::Map<String, Json>,
    pub secrets: BTreeMap<String, String>,
    pub vars: BTreeMap<String, String>,
    pub needs: BTreeMap<String, NeedInput>,
}

/// One job this task's job needs: its outputs (merged across its matrix combinations) and its
/// aggregated result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NeedInput {
    pub outputs: BTreeMap<String, String>,
    pub result: TaskResult,
}

/// What this runner is, for [`translate`].
pub struct TranslateSettings<'a> {
    /// Our runner instance id: the JobRequest's `origin.runner_id`, the routing key of its events.
    pub runner_id: String,
    /// The Forgejo instance as this runner reaches it (the repository is cloned from there).
    pub instance_url: String,
    /// The catalog labels this deployment serves; exactly one must be in `runs-on`.
    pub catalog_labels: Vec<String>,
    /// Labels that may accompany the catalog label (`self-hosted`, …); `workflow::GENERIC_LABELS`
    /// are always accepted too.
    pub generic_labels: Vec<String>,
    /// Seals the secrets, with the job id as associated data.
    pub bus_key: &'a BusKey,
}

/// A task ready to publish.
#[derive(Debug)]
pub struct Translated {
    pub request: JobRequest,
    /// The payload job's steps: StepState ids `0..step_count`, equal to `StepCommand.index`.
    pub step_count: usize,
    /// Secret values (the task token, secrets, their lines) to mask in rows the runner writes
    /// itself; the step engine masks the job's own output.
    pub masks: Vec<SecretString>,
}

/// Why a task cannot run. Its text is what the user reads in the task's log on Forgejo.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaskError {
    #[error("the workflow payload is not UTF-8 text")]
    PayloadNotText,
    #[error("the workflow payload holds {count} jobs{}; a task must carry exactly one", list_in_parens(.keys))]
    NotOneJob { count: usize, keys: Vec<String> },
    #[error("the job's matrix yields {count} combinations; a task must carry exactly one")]
    NotOneCombination { count: usize },
    #[error("runs-on must be a label or a list of labels, found {found}")]
    RunsOnShape { found: String },
    #[error("runs-on [{}] names no label this runner serves (it serves: {})", .labels.join(", "), .serves.join(", "))]
    NoServedLabel { labels: Vec<String>, serves: Vec<String> },
    #[error(
        "runs-on [{}] names {} labels this runner serves ({}); a job runs on exactly one",
        .labels.join(", "), .served.len(), .served.join(", ")
    )]
    SeveralServedLabels { labels: Vec<String>, served: Vec<String> },
    #[error(
        "runs-on [{}] names {}, neither a label this runner serves nor a generic label (it serves: {})",
        .labels.join(", "), quoted(.unknown), .serves.join(", ")
    )]
    UnknownLabels { labels: Vec<String>, unknown: Vec<String>, serves: Vec<String> },
    #[error("the job cannot run: {0}")]
    Workflow(WorkflowError),
    #[error("the workflow's inputs cannot be resolved: {0}")]
    Inputs(#[from] workflow::InputError),
}

fn list_in_parens(items: &[String]) -> String {
    if items.is_empty() { String::new() } else { format!(" ({})", items.join(", ")) }
}

fn quoted(items: &[String]) -> String {
    items.iter().map(|i| format!("'{i}'")).collect::<Vec<_>>().join(", ")
}

impl From<SingleJobError> for TaskError {
    fn from(error: SingleJobError) -> Self {
        match error {
            SingleJobError::NotOneJob { count, keys } => TaskError::NotOneJob { count, keys },
            SingleJobError::NotOneCombination { count } => TaskError::NotOneCombination { count },
            SingleJobError::RunsOn { found } => TaskError::RunsOnShape { found },
            SingleJobError::Invalid(e) => TaskError::Workflow(e),
        }
    }
}

/// The task's one job as a JobRequest, or why it cannot run (the caller fails the task with
/// that text as a log row).
pub fn translate(input: &TaskInput, settings: &TranslateSettings<'_>) -> Result<Translated, TaskError> {
    let payload = std::str::from_utf8(&input.workflow_payload).map_err(|_| TaskError::PayloadNotText)?;
    let github = context::github(&input.context);
    let file = github.get("workflow").and_then(Json::as_str).filter(|w| !w.is_empty()).unwrap_or("workflow payload");
    let job = workflow::parse_single_job(payload, file)?;
    let route_label = route::route_label(job.runs_on(), settings)?;

    let vars = Json::Object(input.vars.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect());
    let inputs = context::inputs(job.workflow(), &github, &vars)?;
    let secrets = secrets::plaintext(input);
    let masks = secrets::masks(input, &secrets);
    let is_route = |label: &str| label == route_label;
    let expand = ExpandInput {
        origin: Origin {
            forge: ForgeKind::Forgejo,
            runner_id: settings.runner_id.clone(),
            forge_ref: Json::from(input.id),
        },
        workspace: workspace(&github, &settings.instance_url),
        github,
        vars,
        inputs,
        needs: context::needs(&input.needs),
        secrets: &secrets,
        key: settings.bus_key,
        is_catalog_label: &is_route,
    };
    let mut request = workflow::expand_single_job(&job, &expand)?;
    if let Some(attempt) = expand.github.get("run_attempt").and_then(context::number) {
        request.attempt = attempt.max(1);
    }
    let step_count = request.steps.len();
    tracing::debug!(task = input.id, job_id = %request.job_id, route = %request.route_label, "translated task");
    Ok(Translated { request, step_count, masks })
}

/// What the built-in checkout fetches: the triggering commit, from the instance as this runner
/// reaches it (`github.server_url` is the public address, which need not be reachable from here).
fn workspace(github: &Json, instance_url: &str) -> Workspace {
    let text = |key: &str| github.get(key).and_then(Json::as_str).unwrap_or_default().to_owned();
    let repository = text("repository");
    let repository_url = if repository.is_empty() {
        String::new()
    } else {
        format!("{}/{repository}.git", instance_url.trim_end_matches('/'))
    };
    Workspace { repository_url, repository, sha: text("sha"), git_ref: text("ref"), token: None }
}

impl fmt::Debug for TaskInput {
    /// Secrets are named, never shown; the context holds the task token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskInput")
            .field("id", &self.id)
            .field("workflow_payload", &format_args!("{} bytes", self.workflow_payload.len()))
            .field("context", &self.context.keys().collect::<Vec<_>>())
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("vars", &self.vars)
            .field("needs", &self.needs)
            .finish()
    }
}

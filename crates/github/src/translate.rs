//! A GitHub job message → the [`JobRequest`] we publish, plus the [`JobContext`] the rest of the
//! job's handling needs (ref §4.2, §7).
//!
//! The server has already done what Forgejo leaves to `workflow`: it chose the matrix
//! combination, evaluated `runs-on` and `strategy`, and resolved the contexts. What is left is
//! a change of encoding: TemplateTokens become [`Template`]s (an expression token is
//! `Template::Expr` with its text as sent, never re-wrapped in `${{ }}`), PipelineContextData
//! becomes JSON, secret variables are sealed for the bus. Nothing here evaluates an expression:
//! the step engine does, once, at run time.

mod context;
mod secrets;
mod steps;
mod template;

use contract::{BusKey, ForgeKind, JobRequest, Origin, SealError, SecretString};
use serde_json::{Value, json};
use ulid::Ulid;

use crate::job::{JobContext, StepRef};
use crate::message::{self, MessageError, Path, Problem, Token, field, optional_str, required_str};

/// What this runner is, for [`translate`].
pub struct TranslateSettings<'a> {
    /// Our runner instance id: `origin.runner_id`, the routing key of the job's events.
    pub runner_id: String,
    /// The catalog label this runner serves: the request's route label and its one `runs-on`
    /// entry (the server already matched the job's labels against the runner's).
    pub route_label: String,
    /// Seals the secrets and the checkout token, with `job_ulid` as associated data.
    pub bus_key: &'a BusKey,
    /// Our id for the job (`JobRequest.job_id`), chosen by the caller so it can record the job
    /// before translating it.
    pub job_ulid: Ulid,
}

/// A job message ready to publish.
#[derive(Debug)]
pub struct Translated {
    pub request: JobRequest,
    /// The ids, URLs and token the job's reporting needs; `context.steps[i]` is
    /// `request.steps[i]`.
    pub context: JobContext,
    /// Values the runner masks in what it writes itself: every secret, each line of a
    /// multi-line one, the job token, and `base64("x-access-token:" + token)` (ref §4.2).
    pub masks: Vec<SecretString>,
}

/// Why a job message cannot become a JobRequest. The text is what the user reads in the failed
/// "Set up job" step, so it names the field or the step.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum TranslateError {
    #[error(transparent)]
    Message(#[from] MessageError),
    #[error("run step {step}: uses: {uses} is not supported (only run: steps and actions/checkout)")]
    UnsupportedAction { step: String, uses: String },
    #[error("run step {step}: its reference type '{kind}' is not one the runner protocol defines")]
    UnknownReference { step: String, kind: String },
    #[error("run the job: {what} are not supported; every job runs in a VM of its runs-on image")]
    Containers { what: &'static str },
    #[error("seal the secret '{name}' for the bus")]
    Seal {
        name: String,
        #[source]
        source: SealError,
    },
}

/// The ids, URLs and token of a job message, without translating its steps: the runner needs
/// them to fail a job whose steps cannot run (completejob must still be sent). Steps whose ids
/// cannot be read leave `steps` empty rather than failing, for the same reason.
pub fn job_context(message: &Value) -> Result<JobContext, TranslateError> {
    let mut context = context_without_steps(message)?;
    context.steps = match message::steps(message) {
        Ok(steps) => steps.iter().map(step_ref).collect(),
        Err(error) => {
            tracing::warn!(%error, "the job message's steps cannot be read; reporting none");
            Vec::new()
        }
    };
    Ok(context)
}

/// Everything of the [`JobContext`] but the steps.
fn context_without_steps(message: &Value) -> Result<JobContext, TranslateError> {
    let plan_path = Path::root("plan");
    let plan = field(message, "plan").ok_or_else(|| MessageError::new(&plan_path, Problem::Missing))?;
    let plan_id = required_str(plan, "planId", &plan_path)?.to_owned();
    let job_id = required_str(message, "jobId", &Path::root("message"))?.to_owned();
    let connection = message::connection(message)?;
    let variables = message::variables(message)?;
    let results_url = message::variable(&variables, "system.github.results_endpoint")
        .map(|v| v.value.clone())
        .filter(|url| !url.is_empty())
        .or(connection.results_service_url);
    Ok(JobContext {
        plan_id,
        display_name: display_name(message)?.unwrap_or_else(|| job_id.clone()),
        job_id,
        job_token: connection.access_token,
        run_service_url: connection.url,
        results_url,
        feed_stream_url: connection.feed_stream_url,
        billing_owner_id: billing_owner_id(message)?,
        steps: Vec::new(),
    })
}

/// The job message as a JobRequest, or why it cannot run.
pub fn translate(message: &Value, settings: &TranslateSettings<'_>) -> Result<Translated, TranslateError> {
    let mut context = context_without_steps(message)?;
    let action_steps = message::steps(message)?;
    context.steps = action_steps.iter().map(step_ref).collect();
    refuse_containers(message)?;
    let variables = message::variables(message)?;
    let secrets = secrets::Secrets::from_variables(&variables);
    let contexts = context::contexts(message, &secrets)?;

    let root = Path::root("message");
    let job_key = contexts.github.get("job").and_then(Value::as_str).filter(|k| !k.is_empty()).map(str::to_owned);
    let job_key = job_key
        .or_else(|| {
            message::variable(&variables, "system.github.job").map(|v| v.value.clone()).filter(|k| !k.is_empty())
        })
        .or(optional_str(message, "jobName", &root)?.map(str::to_owned))
        .unwrap_or_else(|| "job".to_owned());
    let origin = Origin {
        forge: ForgeKind::Github,
        runner_id: settings.runner_id.clone(),
        forge_ref: json!({"job_id": context.job_id, "plan_id": context.plan_id}),
    };
    let mut request = JobRequest::new(settings.job_ulid, origin, settings.route_label.clone(), job_key);
    request.runs_on = vec![settings.route_label.clone()];
    if let Some(name) = display_name(message)? {
        request.name = name;
    }
    if let Some(workflow) = contexts.github.get("workflow").and_then(Value::as_str) {
        request.workflow_name = workflow.to_owned();
    }
    if let Some(attempt) = contexts.github.get("run_attempt").and_then(context::number) {
        request.attempt = attempt.max(1);
    }
    request.env.job = context::job_env(message)?;
    request.defaults = context::run_defaults(message)?;
    request.outputs = context::outputs(message)?;
    request.workspace = context::workspace(&contexts.github);
    request.contexts = contexts;
    request.secrets = secrets.seal(settings.bus_key, settings.job_ulid)?;
    request.workspace.token = secrets.seal_token(settings.bus_key, settings.job_ulid)?;
    request.steps = action_steps.iter().enumerate().map(|(i, step)| steps::step(i, step)).collect::<Result<_, _>>()?;
    let masks = secrets.masks(&context.job_token, message)?;
    tracing::debug!(job = %context.job_id, job_id = %request.job_id, steps = request.steps.len(), "translated job message");
    Ok(Translated { request, context, masks })
}

/// `jobDisplayName`, else `jobName`.
fn display_name(message: &Value) -> Result<Option<String>, MessageError> {
    let root = Path::root("message");
    let name = optional_str(message, "jobDisplayName", &root)?.filter(|n| !n.is_empty());
    let name = match name {
        Some(name) => Some(name),
        None => optional_str(message, "jobName", &root)?.filter(|n| !n.is_empty()),
    };
    Ok(name.map(str::to_owned))
}

/// `billingOwnerId`, text or a number, echoed in completejob.
fn billing_owner_id(message: &Value) -> Result<Option<String>, MessageError> {
    match field(message, "billingOwnerId") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if id.is_empty() => Ok(None),
        Some(Value::String(id)) => Ok(Some(id.clone())),
        Some(Value::Number(id)) => Ok(Some(id.to_string())),
        Some(other) => Err(MessageError::wrong_type(&Path::root("billingOwnerId"), "a string", other)),
    }
}

/// A step as the services know it (ref §5.4): the record id, the name shown before the step
/// runs, and the step's `name` as its ref.
fn step_ref(step: &message::ActionStep) -> StepRef {
    let ref_name = step.name.clone().or_else(|| step.context_name.clone()).unwrap_or_default();
    let display_name = step.display_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| ref_name.clone());
    StepRef { external_id: step.id.clone(), display_name, ref_name }
}

/// Job containers and service containers: we run jobs in VMs, never in containers, and running
/// such a job without its container would run it somewhere it was not written for.
fn refuse_containers(message: &Value) -> Result<(), TranslateError> {
    let root = Path::root("message");
    let present = |name: &str| -> Result<bool, MessageError> {
        Ok(match Token::optional(message, name, &root)? {
            None | Some(Token::Null) => false,
            Some(Token::String(text)) => !text.is_empty(),
            Some(Token::Mapping(pairs)) => !pairs.is_empty(),
            Some(Token::Sequence(items)) => !items.is_empty(),
            Some(_) => true,
        })
    };
    if present("jobContainer")? {
        return Err(TranslateError::Containers { what: "job containers (container:)" });
    }
    if present("jobServiceContainers")? {
        return Err(TranslateError::Containers { what: "service containers (services:)" });
    }
    Ok(())
}

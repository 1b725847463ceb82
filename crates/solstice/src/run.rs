//! `solstice run`: read and check the workflow, build the contexts, then run its jobs in
//! `needs` order through the in-process bus and orchestrator.
//!
//! Decisions a user can rely on (also in docs/solstice-run.md):
//! - `--env K=V` is added to the workflow-level `env:` layer, over the file's own value; a job's
//!   or step's `env:` still wins.
//! - `--input K=V` is typed by the workflow's `on.<event>.inputs` when it declares the event
//!   (`workflow::resolve_inputs`); a value that does not fit is bad input before any job runs.
//!   `github.event.inputs` of a `workflow_dispatch` holds them as text unless `--event-file`
//!   gave it.
//! - `--job ID` runs that job only; the jobs it needs count as successful with no outputs.
//! - A matrix job's combinations run one at a time unless `strategy.max-parallel` is below
//!   their number. `fail-fast` cancels the remaining combinations when one fails.
//! - Every job is handed to the engine, which evaluates its `if:` against `needs`: a failed need
//!   skips dependents unless their `if:` says otherwise.
//! - A failing job with `continue-on-error: true` does not fail the run.
//! - Ctrl-C cancels the running jobs and waits for their `always()` steps; a second Ctrl-C stops
//!   waiting. Either way the exit code is 1.
//! - Per-job work directories go under `$SOLSTICE_STATE_DIR/work` when it is set, else under the
//!   system's temp directory, and are removed when the job ends.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bus::{Bus, BusError, InProcessBus};
use contract::{BusKey, KeyError, SecretString, Workspace};
use orchestrator::{
    AgentNotFound, LocalExecutor, LocalExecutorConfig, Orchestrator, OrchestratorConfig, WorkspaceSource, locate_agent,
};
use serde_json::Value as Json;
use tokio::sync::mpsc;
use workflow::{InputError, InputRequest, WorkflowError};

use crate::cli::{ExecutorKind, RunArgs};
use crate::context::{self, RunEvent};
use crate::local_repo::LocalRepo;
use crate::plan::{ExpandError, Plan, RUNNER_ID};
use crate::printer::Printer;
use crate::results::{self, JobOutcome};
use crate::stage::{Runner, StageError};
use crate::vm_host::{self, VmHostError};

/// Exit codes (ARCHITECTURE.md, brief §3.7).
pub mod exit {
    pub const OK: u8 = 0;
    pub const JOB_FAILED: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
    pub const DEPENDENCY_MISSING: u8 = 3;
}

/// Why `solstice run` could not run the workflow as asked.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("read the workflow file {path}")]
    ReadWorkflow {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Diagnostics with file, line and reason, one per line.
    #[error("{0}")]
    Workflow(WorkflowError),
    #[error("{0}")]
    NoMatrixMatch(String),
    #[error("--matrix {key}=…: no job in {file} has a matrix key '{key}'")]
    UnknownMatrixKey { file: String, key: String },
    #[error("read the event file {path}")]
    ReadEventFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("parse the event file {path}: it is not JSON")]
    EventJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("use the event file {path}: it must hold a JSON object")]
    EventNotObject { path: PathBuf },
    #[error("resolve the workflow's inputs from --input")]
    Inputs(#[source] InputError),
    #[error("--job {job}: {file} has no such job (jobs: {known})")]
    UnknownJob { job: String, file: String, known: String },
    #[error(transparent)]
    VmHost(#[from] VmHostError),
    #[error(transparent)]
    AgentNotFound(#[from] AgentNotFound),
    #[error("generate the bus key")]
    BusKey(#[source] KeyError),
    #[error("run the jobs on the in-process bus")]
    Bus(#[from] BusError),
    #[error("write the job log to stdout")]
    Stdout(#[source] io::Error),
}

impl RunError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::ReadWorkflow { .. }
            | RunError::Workflow(_)
            | RunError::NoMatrixMatch(_)
            | RunError::UnknownMatrixKey { .. }
            | RunError::ReadEventFile { .. }
            | RunError::EventJson { .. }
            | RunError::EventNotObject { .. }
            | RunError::Inputs(_)
            | RunError::UnknownJob { .. } => exit::BAD_INPUT,
            RunError::VmHost(error) => error.exit_code(),
            RunError::AgentNotFound(_) | RunError::BusKey(_) => exit::DEPENDENCY_MISSING,
            RunError::Bus(_) | RunError::Stdout(_) => exit::JOB_FAILED,
        }
    }
}

impl From<ExpandError> for RunError {
    fn from(error: ExpandError) -> Self {
        match error {
            ExpandError::Workflow(error) => RunError::Workflow(error),
            other @ ExpandError::NoMatrixMatch { .. } => RunError::NoMatrixMatch(other.to_string()),
        }
    }
}

/// What the jobs came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    pub failed: bool,
    pub interrupted: bool,
}

/// Runs and reports: the exit code for the process.
pub async fn main(args: RunArgs) -> u8 {
    match run(args).await {
        Ok(outcome) if outcome.failed || outcome.interrupted => exit::JOB_FAILED,
        Ok(_) => exit::OK,
        Err(error) => {
            report(&error);
            error.exit_code()
        }
    }
}

/// One diagnostic per line of the error (a workflow error has one per problem).
fn report(error: &RunError) {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    for line in text.lines() {
        tracing::error!("{line}");
    }
}

pub async fn run(args: RunArgs) -> Result<RunOutcome, RunError> {
    let file = args.workflow.display().to_string();
    let source = std::fs::read_to_string(&args.workflow)
        .map_err(|source| RunError::ReadWorkflow { path: args.workflow.clone(), source })?;
    let workflow = workflow::parse(&source, &file).map_err(RunError::Workflow)?;
    let payload = event_payload(&args)?;
    let selected = select_jobs(&workflow.job_keys(), args.job.as_deref(), &file)?;

    let workflow_dir = args.workflow.parent().unwrap_or(Path::new(""));
    let repo = LocalRepo::discover(workflow_dir);
    let mut github = context::github(
        &repo,
        RunEvent { event_name: &args.event, payload, workflow_name: workflow.name(), workflow_file: &file },
    );
    let vars = context::object(&args.var);
    let inputs = workflow::resolve_inputs(
        &workflow,
        &InputRequest { event_name: &args.event, given: &args.input, github: &github, vars: &vars },
    )
    .map_err(RunError::Inputs)?;
    if args.event == "workflow_dispatch" {
        context::add_event_inputs(&mut github, &inputs);
    }
    let key = BusKey::generate().map_err(RunError::BusKey)?;
    let plan = Plan {
        github,
        vars,
        inputs,
        secrets: args.secret.iter().map(|(k, v)| (k.clone(), SecretString::new(v.clone()))).collect(),
        key: key.clone(),
        workspace: Workspace {
            repository_url: repo.remote_url.clone(),
            repository: repo.repository(),
            sha: repo.sha.clone(),
            git_ref: repo.git_ref.clone(),
            token: None,
        },
        env: args.env.clone(),
        matrix_filter: args.matrix.clone(),
        workflow,
    };
    let labels = preflight(&plan)?;

    let mut config = OrchestratorConfig::new(RUNNER_ID, key);
    config.workspace = Some(WorkspaceSource {
        root: repo.root.clone(),
        repository: repo.remote_repository.clone(),
        exclude: repo.ignored.clone(),
    });
    match args.executor {
        ExecutorKind::Qemu => {
            run_on(vm_host::qemu_executor(&labels, args.guest_network)?, config, &plan, &selected).await
        }
        ExecutorKind::Local => {
            tracing::warn!("the local executor runs every step directly on this machine as you: no isolation at all");
            let agent = locate_agent(std::env::var_os("SOLSTICE_AGENT_DIR").as_deref().map(Path::new))?;
            let mut executor = LocalExecutorConfig::new(agent);
            executor.work_root = std::env::var_os("SOLSTICE_STATE_DIR").map(|dir| PathBuf::from(dir).join("work"));
            run_on(LocalExecutor::new(executor), config, &plan, &selected).await
        }
    }
}

/// Runs the selected jobs through an in-process bus and an orchestrator on `executor`.
async fn run_on<E: orchestrator::Executor>(
    executor: E,
    config: OrchestratorConfig,
    plan: &Plan,
    selected: &[String],
) -> Result<RunOutcome, RunError> {
    let bus = InProcessBus::new();
    let events = bus.consume_events(RUNNER_ID).await?;
    let orchestrator = Orchestrator::start(bus.clone(), executor, config).await?;
    let runner = Runner {
        bus,
        orchestrator,
        events,
        printer: Printer::new(io::stdout()),
        interrupts: watch_ctrl_c(),
        interrupted: false,
    };
    run_jobs(plan, selected, runner).await
}

/// `github.event`: the `--event-file` payload, or what a local run can honestly say (an empty
/// object; `workflow_dispatch` inputs are added once they are resolved).
fn event_payload(args: &RunArgs) -> Result<Json, RunError> {
    let Some(path) = &args.event_file else {
        return Ok(Json::Object(serde_json::Map::new()));
    };
    let text =
        std::fs::read_to_string(path).map_err(|source| RunError::ReadEventFile { path: path.clone(), source })?;
    let payload: Json =
        serde_json::from_str(&text).map_err(|source| RunError::EventJson { path: path.clone(), source })?;
    if !payload.is_object() {
        return Err(RunError::EventNotObject { path: path.clone() });
    }
    Ok(payload)
}

fn select_jobs(all: &[String], only: Option<&str>, file: &str) -> Result<Vec<String>, RunError> {
    match only {
        None => Ok(all.to_vec()),
        Some(job) if all.iter().any(|k| k == job) => Ok(vec![job.to_owned()]),
        Some(job) => Err(RunError::UnknownJob { job: job.to_owned(), file: file.to_owned(), known: all.join(", ") }),
    }
}

/// Expands every job before anything runs, so a broken job fails the run before a step of
/// another job ran. A job that needs others is expanded with those taken as successful without
/// outputs: its errors count only at its turn, when the real `needs` may make them go away.
/// Returns the `runs-on` labels of the jobs it could expand, so the executor can check them.
fn preflight(plan: &Plan) -> Result<Vec<String>, RunError> {
    let workflow = &plan.workflow;
    let mut expanded = Vec::new();
    let mut all_static = true;
    for key in workflow.job_keys() {
        let needs = workflow.needs(&key);
        match plan.expand(&key, results::needs_context(needs, &HashMap::new())) {
            Ok(requests) => expanded.extend(requests),
            Err(error) if needs.is_empty() => return Err(error.into()),
            Err(error) => {
                all_static = false;
                tracing::debug!(job = %key, %error, "expansion deferred until its needs finished");
            }
        }
    }
    if all_static
        && let Some((key, _)) = plan.matrix_filter.iter().find(|(key, _)| !Plan::has_matrix_key(&expanded, key))
    {
        return Err(RunError::UnknownMatrixKey { file: workflow.file().to_owned(), key: key.clone() });
    }
    let mut labels: Vec<String> = expanded.into_iter().map(|request| request.route_label).collect();
    labels.sort();
    labels.dedup();
    Ok(labels)
}

async fn run_jobs<B: Bus, E: orchestrator::Executor, W: Write>(
    plan: &Plan,
    selected: &[String],
    mut runner: Runner<B, E, W>,
) -> Result<RunOutcome, RunError> {
    let mut finished: HashMap<String, JobOutcome> = HashMap::new();
    let mut failed = false;
    for key in selected {
        if runner.interrupted {
            break;
        }
        let needs = plan.workflow.needs(key);
        let requests = match plan.expand(key, results::needs_context(needs, &finished)) {
            Ok(requests) => requests,
            Err(error)
                if needs.iter().any(|n| finished.get(n).is_some_and(|o| o.result != contract::JobResult::Success)) =>
            {
                // Its matrix or name depended on a need that did not succeed: GitHub skips it.
                tracing::info!(job = %key, %error, "not expanded: a job it needs did not succeed");
                runner.printer.job_line(key, "job skipped").map_err(RunError::Stdout)?;
                finished
                    .insert(key.clone(), JobOutcome { result: contract::JobResult::Skipped, outputs: BTreeMap::new() });
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        let combinations = match runner.run_stage(requests).await {
            Ok(combinations) => combinations,
            Err(StageError::Aborted) => return Ok(RunOutcome { failed: true, interrupted: true }),
            Err(StageError::Bus(error)) => return Err(error.into()),
            Err(StageError::Stdout(error)) => return Err(RunError::Stdout(error)),
        };
        failed |= combinations.iter().any(|c| c.fails_run());
        finished.insert(key.clone(), results::combine(&combinations));
    }
    Ok(RunOutcome { failed, interrupted: runner.interrupted })
}

/// Turns each Ctrl-C into a message; the stages decide what it means.
fn watch_ctrl_c() -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    rx
}

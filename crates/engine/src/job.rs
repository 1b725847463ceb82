//! A job from start to `job_finished`: set-up (directories, contexts, job `if:`, env), the steps
//! in order, job outputs, and the clean-up of processes steps left behind.

use std::collections::BTreeMap;

use contract::{AnnotationLevel, JobRequest, JobResult, Outcome, SecretString, Section};
use expr::{JobStatus, Value};
use indexmap::IndexMap;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::config::EngineConfig;
use crate::contexts::{self, Condition, Contexts, Scope};
use crate::control::{self, CancelReason, Canceller, ControlReceiver, WorkspaceMessage};
use crate::events::{Emitter, EventSink};
use crate::github;
use crate::host::{Host, Platform, Process, Signal, error_chain};
use crate::layout::Layout;
use crate::masking::Masker;
use crate::output::report;

/// What [`run_job`] reports back (the same as its `job_finished` event).
#[derive(Debug, Clone, PartialEq)]
pub struct JobReport {
    pub result: JobResult,
    pub outputs: BTreeMap<String, String>,
    pub error: Option<String>,
}

/// Runs one job to its end and emits its events on `events`, `job_finished` last.
///
/// `secrets` are the plaintext values of `request.secrets` (the caller opened them). `control`
/// carries cancel and workspace messages; its closing is not a cancel.
pub async fn run_job(
    request: JobRequest,
    secrets: BTreeMap<String, SecretString>,
    host: &dyn Host,
    config: &EngineConfig,
    events: EventSink,
    control: ControlReceiver,
) -> JobReport {
    let span = tracing::info_span!("job", job_id = %request.job_id, attempt = request.attempt);
    async move {
        let mut masker = Masker::new();
        for value in secrets.values() {
            masker.add(value.expose());
        }
        let emitter = Emitter::new(events, config.events.clone(), masker);
        let (canceller, cancel) = control::cancellation();
        let (workspace, dispatcher) = control::dispatch(control, canceller.clone());
        let mut job = Job::new(&request, &secrets, host, config, emitter, cancel, workspace);
        let report = job.run(&canceller).await;
        dispatcher.abort();
        tracing::info!(result = report.result.as_str(), "job finished");
        report
    }
    .instrument(span)
    .await
}

/// The state of a running job. Steps live in `step.rs`, `script.rs` and `checkout.rs`.
pub(crate) struct Job<'a> {
    pub request: &'a JobRequest,
    pub secrets: &'a BTreeMap<String, SecretString>,
    pub host: &'a dyn Host,
    pub config: &'a EngineConfig,
    pub emitter: Emitter,
    pub cancel: watch::Receiver<Option<CancelReason>>,
    pub workspace_rx: mpsc::Receiver<WorkspaceMessage>,
    pub layout: Layout,
    pub platform: Platform,
    pub contexts: Contexts,
    /// The host's environment with the colour variables applied.
    pub base_env: BTreeMap<String, String>,
    /// Workflow and job `env:`, evaluated.
    pub job_env: IndexMap<String, String>,
    /// What steps wrote to `GITHUB_ENV`.
    pub added_env: IndexMap<String, String>,
    /// What steps wrote to `GITHUB_PATH`, latest first.
    pub added_path: Vec<String>,
    /// A step failed (after `continue-on-error`).
    pub failed: bool,
    /// `ACTIONS_STEP_DEBUG`.
    pub step_debug: bool,
    /// Every step's process group, killed at the end so no pipe stays open.
    pub processes: Vec<(u32, Box<dyn Process>)>,
    /// Fires the job timeout; aborted when the job ends.
    timeout_task: Option<JoinHandle<()>>,
}

impl<'a> Job<'a> {
    fn new(
        request: &'a JobRequest,
        secrets: &'a BTreeMap<String, SecretString>,
        host: &'a dyn Host,
        config: &'a EngineConfig,
        emitter: Emitter,
        cancel: watch::Receiver<Option<CancelReason>>,
        workspace_rx: mpsc::Receiver<WorkspaceMessage>,
    ) -> Job<'a> {
        let layout = Layout::new(&config.work_dir, &request.workspace.repository);
        let step_debug = is_true(secrets.get("ACTIONS_STEP_DEBUG").map(|s| s.expose()))
            || is_true(request.contexts.vars.get("ACTIONS_STEP_DEBUG").and_then(|v| v.as_str()));
        Job {
            request,
            secrets,
            host,
            config,
            emitter,
            cancel,
            workspace_rx,
            layout,
            platform: Platform { os: String::new(), arch: String::new() },
            contexts: Contexts::default(),
            base_env: BTreeMap::new(),
            job_env: IndexMap::new(),
            added_env: IndexMap::new(),
            added_path: Vec::new(),
            failed: false,
            step_debug,
            processes: Vec::new(),
            timeout_task: None,
        }
    }

    async fn run(&mut self, canceller: &Canceller) -> JobReport {
        self.emitter.begin_section(Section::Setup).await;
        let report = match self.set_up(canceller).await {
            Err(error) => {
                let error = format!("The job could not be set up: {error}");
                report(&mut self.emitter, None, AnnotationLevel::Error, &error).await;
                self.skip_all_steps().await;
                JobReport { result: Outcome::Failure, outputs: BTreeMap::new(), error: Some(error) }
            }
            Ok(false) => {
                self.skip_all_steps().await;
                // The condition is false because a cancel came before the job began (its
                // `success()` sees the cancel): the job was cancelled, not skipped.
                let result = if self.cancel.borrow().is_some() { Outcome::Cancelled } else { Outcome::Skipped };
                JobReport { result, outputs: BTreeMap::new(), error: None }
            }
            Ok(true) => {
                for step in &self.request.steps {
                    self.run_step(step).await;
                }
                self.emitter.begin_section(Section::Complete).await;
                let report = self.complete().await;
                self.clean_up().await;
                report
            }
        };
        if let Some(task) = self.timeout_task.take() {
            task.abort();
        }
        let error = report.error.as_deref();
        self.emitter.job_finished(report.result, &report.outputs, error).await;
        report
    }

    /// Directories, contexts, the job condition and env. `Ok(false)`: the job is skipped.
    async fn set_up(&mut self, canceller: &Canceller) -> Result<bool, String> {
        let host = self.host;
        self.platform = host.platform().await.map_err(|e| format!("inspect the host: {}", error_chain(&e)))?;
        let name = self.config.runner_name.clone();
        self.emitter.line(&format!("Runner name: '{name}'")).await;
        self.emitter.line(&format!("Runner version: 'solstice {}'", env!("CARGO_PKG_VERSION"))).await;
        self.emitter.line("Operating System").await;
        self.emitter.line(&format!("  {}", self.platform.os)).await;
        self.emitter.line(&format!("  {}", self.platform.arch)).await;

        self.base_env =
            colour_env(host.base_env().await.map_err(|e| format!("read the host's environment: {}", error_chain(&e)))?);
        self.prepare_directories().await.map_err(|e| format!("prepare the work directory: {e}"))?;
        self.emitter.line(&format!("Workspace: {}", self.layout.workspace.display())).await;

        let github = github::github_context(self.request, self.secrets, &self.layout);
        // `github.token` is a secret wherever it came from, as on GitHub.
        if let Some(expr::Value::String(token)) = github.get("token") {
            self.emitter.masker_mut().add(token);
        }
        let contexts = &self.request.contexts;
        self.contexts = Contexts {
            github,
            vars: contexts::value_of(&contexts.vars),
            secrets: Value::Object(
                self.secrets.iter().map(|(k, v)| (k.clone(), Value::String(v.expose().to_owned()))).collect(),
            ),
            matrix: contexts::value_of(&contexts.matrix),
            strategy: contexts::value_of(&contexts.strategy),
            needs: contexts::value_of(&contexts.needs),
            inputs: contexts::value_of(&contexts.inputs),
            runner: github::runner_context(&self.platform, &name, &self.layout, self.step_debug),
            steps: IndexMap::new(),
        };

        // Job `if:` over the needed jobs' results: `success()` means all of them succeeded.
        let condition =
            Condition::parse(self.request.if_.as_ref()).map_err(|e| format!("parse the job condition: {e}"))?;
        let status = self.needs_status();
        let empty = IndexMap::new();
        let scope = Scope { contexts: &self.contexts, env: &empty, status, workspace: &self.layout.workspace };
        self.emitter.line(&format!("Evaluating job condition: {}", condition.display())).await;
        let run = condition.evaluate(host, &scope).await.map_err(|e| format!("evaluate the job condition: {e}"))?;
        self.emitter.line(&format!("Result: {run}")).await;
        if !run {
            return Ok(false);
        }

        // Job timeout: a cancel that fires by itself.
        let minutes = match &self.request.timeout_minutes {
            None => 360.0,
            Some(template) => {
                let value = contexts::evaluate(host, &scope, template)
                    .await
                    .map_err(|e| format!("evaluate timeout-minutes: {e}"))?;
                crate::step::minutes_of(&value).map_err(|e| format!("use timeout-minutes: {e}"))?
            }
        };
        if minutes > 0.0 {
            let limit = self.config.timeout_unit.mul_f64(minutes);
            let canceller = canceller.clone();
            self.timeout_task = Some(tokio::spawn(async move {
                tokio::time::sleep(limit).await;
                canceller.cancel(CancelReason::JobTimeout { minutes });
            }));
        }

        // env: workflow layer, then job layer, each seeing the ones before it.
        let mut env = IndexMap::new();
        for layer in [&self.request.env.workflow, &self.request.env.job] {
            let mut evaluated = Vec::new();
            for (key, template) in layer {
                let scope = Scope { contexts: &self.contexts, env: &env, status, workspace: &self.layout.workspace };
                let value = contexts::evaluate_string(host, &scope, template)
                    .await
                    .map_err(|e| format!("evaluate env {key}: {e}"))?;
                evaluated.push((key.clone(), value));
            }
            env.extend(evaluated);
        }
        self.job_env = env;
        Ok(true)
    }

    async fn prepare_directories(&self) -> Result<(), String> {
        let host = self.host;
        let l = &self.layout;
        let io = |e: crate::host::HostError| error_chain(&e);
        host.remove_all(&l.temp).await.map_err(io)?;
        for dir in [&l.temp, &l.file_commands, &l.tool_cache, &l.workspace] {
            host.create_dir_all(dir).await.map_err(io)?;
        }
        if let Some(parent) = l.event_path.parent() {
            host.create_dir_all(parent).await.map_err(io)?;
        }
        host.write_file(&l.event_path, github::event_json(self.request).as_bytes()).await.map_err(io)?;
        Ok(())
    }

    fn needs_status(&self) -> JobStatus {
        if self.cancel.borrow().is_some() {
            return JobStatus::Cancelled;
        }
        let Some(needs) = self.request.contexts.needs.as_object() else { return JobStatus::Success };
        let all_succeeded = needs.values().all(|need| need.get("result").and_then(|r| r.as_str()) == Some("success"));
        if all_succeeded { JobStatus::Success } else { JobStatus::Failure }
    }

    /// The status the status functions see now.
    pub fn status(&self) -> JobStatus {
        if self.cancel.borrow().is_some() {
            JobStatus::Cancelled
        } else if self.failed {
            JobStatus::Failure
        } else {
            JobStatus::Success
        }
    }

    /// `workflow` + `job` env + `GITHUB_ENV`: the `env` context outside a step's own `env:`.
    pub fn env_context(&self) -> IndexMap<String, String> {
        let mut env = self.job_env.clone();
        env.extend(self.added_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    async fn skip_all_steps(&mut self) {
        for step in &self.request.steps {
            let name = crate::step::fallback_name(step);
            self.emitter.step_finished(step.index, &name, Outcome::Skipped, Outcome::Skipped, &BTreeMap::new()).await;
        }
    }

    /// Job outputs, evaluated after the last step; one that holds a secret is left out.
    async fn complete(&mut self) -> JobReport {
        let cancelled = self.cancel.borrow().clone();
        let result = match (&cancelled, self.failed) {
            (Some(_), _) => Outcome::Cancelled,
            (None, true) => Outcome::Failure,
            (None, false) => Outcome::Success,
        };
        let mut outputs = BTreeMap::new();
        if !self.request.outputs.is_empty() {
            self.emitter.line("Evaluate and set job outputs").await;
            let env = self.env_context();
            let scope =
                Scope { contexts: &self.contexts, env: &env, status: self.status(), workspace: &self.layout.workspace };
            for (name, template) in &self.request.outputs {
                match contexts::evaluate_string(self.host, &scope, template).await {
                    // GitHub redacts an output that holds a secret: it is not sent at all.
                    Ok(value) if self.emitter.mask(&value) != value => {
                        let message = format!("Skip output '{name}' since it may contain secret.");
                        report(&mut self.emitter, None, AnnotationLevel::Warning, &message).await;
                    }
                    Ok(value) => {
                        self.emitter.line(&format!("Set output '{name}'")).await;
                        outputs.insert(name.clone(), value);
                    }
                    Err(e) => {
                        let message = format!("Failed to evaluate job output '{name}': {e}");
                        report(&mut self.emitter, None, AnnotationLevel::Warning, &message).await;
                    }
                }
            }
        }
        let error = cancelled.and_then(|reason| match reason {
            CancelReason::JobTimeout { .. } => Some(reason.message(&self.config.runner_name)),
            CancelReason::Requested(_) => None,
        });
        JobReport { result, outputs, error }
    }

    /// Kills what steps left behind so their pipes close and nothing outlives the job.
    async fn clean_up(&mut self) {
        self.emitter.line("Cleaning up orphan processes").await;
        for (index, process) in std::mem::take(&mut self.processes) {
            match process.signal_group(Signal::Kill).await {
                Ok(true) => {
                    self.emitter
                        .line(&format!(
                            "Terminate orphan processes of step {} (process group {})",
                            index + 1,
                            process.id()
                        ))
                        .await;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %error_chain(&e), "could not kill a step's process group"),
            }
        }
        match self.host.kill_orphans().await {
            Ok(killed) => {
                for pid in killed {
                    self.emitter.line(&format!("Terminate orphan process: pid ({pid})")).await;
                }
            }
            Err(e) => tracing::warn!(error = %error_chain(&e), "could not look for orphan processes"),
        }
        self.emitter.flush().await;
    }
}

/// `TERM`, `FORCE_COLOR` and `CLICOLOR_FORCE` set and `NO_COLOR` removed before any job or step
/// env, so tools colour their output for the forge's log viewer and users can still opt out.
/// A documented deviation from GitHub, whose runner sets none of them.
fn colour_env(mut env: BTreeMap<String, String>) -> BTreeMap<String, String> {
    env.remove("NO_COLOR");
    env.insert("TERM".to_owned(), "xterm-256color".to_owned());
    env.insert("FORCE_COLOR".to_owned(), "1".to_owned());
    env.insert("CLICOLOR_FORCE".to_owned(), "1".to_owned());
    env
}

fn is_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

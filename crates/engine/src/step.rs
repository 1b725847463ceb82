//! One step's life: condition, env, display name, `continue-on-error`, `timeout-minutes`, then
//! the kind-specific part (`script.rs`, `checkout.rs`) and its result.

use std::collections::BTreeMap;

use contract::{AnnotationLevel, Outcome, Section, StepCommand, StepKind, Template};
use expr::{JobStatus, Value};
use indexmap::IndexMap;
use tracing::Instrument;

use crate::contexts::{self, Condition, Scope, StepRecord};
use crate::job::Job;
use crate::output::report;

/// What the kind-specific part of a step produced.
pub(crate) struct StepRun {
    pub outcome: Outcome,
    pub outputs: BTreeMap<String, String>,
}

impl StepRun {
    pub fn failed() -> StepRun {
        StepRun { outcome: Outcome::Failure, outputs: BTreeMap::new() }
    }
}

/// A step's fields evaluated for running.
pub(crate) struct Prepared {
    pub name: String,
    /// The step's own `env:`, evaluated.
    pub env: IndexMap<String, String>,
    /// The `env` context for the step's fields: job env, `GITHUB_ENV`, step env.
    pub env_context: IndexMap<String, String>,
    /// The evaluated script of a `run` step.
    pub script: String,
    pub timeout_minutes: Option<f64>,
    /// The job was already cancelled when the step's condition let it run.
    pub runs_after_cancel: bool,
}

impl Job<'_> {
    pub(crate) async fn run_step(&mut self, step: &StepCommand) {
        let span = tracing::info_span!("step", index = step.index, id = %step.id);
        self.run_step_inner(step).instrument(span).await
    }

    async fn run_step_inner(&mut self, step: &StepCommand) {
        let host = self.host;
        self.contexts.github.insert("action".to_owned(), Value::String(step.id.clone()));
        let status = self.status();
        let env_context = self.env_context();

        let condition = Condition::parse(step.if_.as_ref());
        let run = match &condition {
            Ok(condition) => {
                let scope = self.scope(&env_context, status);
                condition.evaluate(host, &scope).await
            }
            Err(e) => Err(e.clone()),
        };
        let run = match run {
            Ok(run) => run,
            Err(e) => {
                let name = self.display_name(step, &env_context, status, None).await;
                self.begin(step, &name).await;
                let source = step.if_.as_ref().map(template_source).unwrap_or_default();
                let message = format!("The step's condition '{source}' could not be evaluated: {e}");
                report(&mut self.emitter, Some(step.index), AnnotationLevel::Error, &message).await;
                self.finish(step, &name, StepRun::failed(), false).await;
                return;
            }
        };
        if !run {
            let name = self.display_name(step, &env_context, status, None).await;
            tracing::info!("skipped");
            self.record(step, Outcome::Skipped, Outcome::Skipped, BTreeMap::new());
            self.emitter.step_finished(step.index, &name, Outcome::Skipped, Outcome::Skipped, &BTreeMap::new()).await;
            return;
        }

        // The step's env, each variable seeing the ones before it.
        let mut step_env = IndexMap::new();
        let mut step_env_context = env_context.clone();
        let mut env_error = None;
        for (key, template) in &step.env {
            let scope = self.scope(&step_env_context, status);
            match contexts::evaluate_string(host, &scope, template).await {
                Ok(value) => {
                    step_env.insert(key.clone(), value.clone());
                    step_env_context.insert(key.clone(), value);
                }
                Err(e) => {
                    env_error = Some(format!("Evaluating env '{key}' failed: {e}"));
                    break;
                }
            }
        }

        let script = match (step.kind, &step.run) {
            (StepKind::Run, Some(template)) => {
                let scope = self.scope(&step_env_context, status);
                Some(contexts::evaluate_string(host, &scope, template).await)
            }
            (StepKind::Run, None) => Some(Err(contexts::EvalError("the step has no script".into()))),
            (StepKind::Checkout, _) => None,
        };
        let script_text = script.as_ref().and_then(|s| s.as_ref().ok()).map(String::as_str);
        let name = self.display_name(step, &step_env_context, status, script_text).await;
        self.begin(step, &name).await;

        let mut problems = Vec::new();
        problems.extend(env_error);
        if let Some(Err(e)) = &script {
            problems.push(format!("Evaluating the script failed: {e}"));
        }
        let scope = self.scope(&step_env_context, status);
        let continue_on_error = match &step.continue_on_error {
            None => false,
            Some(template) => match contexts::evaluate(host, &scope, template).await {
                Ok(value) => value.is_truthy(),
                Err(e) => {
                    problems.push(format!("Evaluating continue-on-error failed: {e}"));
                    false
                }
            },
        };
        let timeout_minutes = match &step.timeout_minutes {
            None => None,
            Some(template) => {
                match contexts::evaluate(host, &scope, template).await.map_err(|e| e.0).and_then(|v| minutes_of(&v)) {
                    Ok(minutes) if minutes > 0.0 => Some(minutes),
                    Ok(_) => None,
                    Err(e) => {
                        problems.push(format!("Evaluating timeout-minutes failed: {e}"));
                        None
                    }
                }
            }
        };
        if !problems.is_empty() {
            for problem in problems {
                report(&mut self.emitter, Some(step.index), AnnotationLevel::Error, &problem).await;
            }
            self.finish(step, &name, StepRun::failed(), continue_on_error).await;
            return;
        }

        let prepared = Prepared {
            name: name.clone(),
            env: step_env,
            env_context: step_env_context,
            script: script.and_then(Result::ok).unwrap_or_default(),
            timeout_minutes,
            runs_after_cancel: status == JobStatus::Cancelled,
        };
        let result = match step.kind {
            StepKind::Run => self.run_script(step, &prepared).await,
            StepKind::Checkout => self.checkout(step, &prepared).await,
        };
        self.finish(step, &name, result, continue_on_error).await;
    }

    pub(crate) fn scope<'s>(&'s self, env: &'s IndexMap<String, String>, status: JobStatus) -> Scope<'s> {
        Scope { contexts: &self.contexts, env, status, workspace: &self.layout.workspace }
    }

    async fn begin(&mut self, step: &StepCommand, name: &str) {
        tracing::info!("started");
        self.emitter.step_started(step.index, name).await;
        self.emitter.begin_section(Section::Step(step.index)).await;
    }

    async fn finish(&mut self, step: &StepCommand, name: &str, run: StepRun, continue_on_error: bool) {
        let conclusion = match run.outcome {
            Outcome::Failure if continue_on_error => Outcome::Success,
            other => other,
        };
        if conclusion == Outcome::Failure {
            self.failed = true;
        }
        tracing::info!(outcome = run.outcome.as_str(), conclusion = conclusion.as_str(), "finished");
        self.emitter.step_finished(step.index, name, run.outcome, conclusion, &run.outputs).await;
        self.record(step, run.outcome, conclusion, run.outputs);
    }

    fn record(&mut self, step: &StepCommand, outcome: Outcome, conclusion: Outcome, outputs: BTreeMap<String, String>) {
        // Generated ids (`__run`, `__run_2`) are not addressable, as on GitHub.
        // Kept in clear, as on GitHub: a later step may need the real value; whatever is printed
        // or emitted passes the masker.
        if !step.id.starts_with("__") {
            self.contexts.steps.insert(step.id.clone(), StepRecord { outputs, outcome, conclusion });
        }
    }

    /// `name:` evaluated; else `Run <first line of the script>`; else the unevaluated text.
    async fn display_name(
        &self,
        step: &StepCommand,
        env: &IndexMap<String, String>,
        status: JobStatus,
        script: Option<&str>,
    ) -> String {
        let scope = self.scope(env, status);
        if let Some(template) = &step.name {
            if let Ok(name) = contexts::evaluate_string(self.host, &scope, template).await
                && !name.trim().is_empty()
            {
                return name;
            }
            return fallback_name(step);
        }
        match (step.kind, script, &step.run) {
            (StepKind::Run, Some(script), _) => run_name(script),
            (StepKind::Run, None, Some(template)) => match contexts::evaluate_string(self.host, &scope, template).await
            {
                Ok(script) => run_name(&script),
                Err(_) => fallback_name(step),
            },
            _ => fallback_name(step),
        }
    }
}

/// A display name without evaluating anything.
pub(crate) fn fallback_name(step: &StepCommand) -> String {
    if let Some(template) = &step.name {
        let text = template_source(template);
        if !text.trim().is_empty() {
            return text;
        }
    }
    match step.kind {
        // GitHub names an action step after its reference: `Run actions/checkout@v4`.
        StepKind::Checkout => format!("Run {}", step.uses.as_deref().unwrap_or("actions/checkout")),
        StepKind::Run => match &step.run {
            Some(template) => run_name(&template_source(template)),
            None => format!("Run {}", step.id),
        },
    }
}

/// GitHub's default: `Run ` and the script's first line after leading blank space.
pub(crate) fn run_name(script: &str) -> String {
    let first = script.trim_start().split(['\r', '\n']).next().unwrap_or_default();
    format!("Run {}", first.trim_end())
}

fn template_source(template: &Template) -> String {
    match template {
        Template::Literal(serde_json::Value::String(s)) => s.clone(),
        Template::Literal(other) => other.to_string(),
        Template::Expr(source) => format!("${{{{ {source} }}}}"),
    }
}

/// `timeout-minutes` as a number (GitHub accepts fractions).
pub(crate) fn minutes_of(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(n) if n.is_finite() => Ok(*n),
        Value::String(s) => s.trim().parse::<f64>().map_err(|_| format!("'{s}' is not a number")),
        Value::Null => Ok(0.0),
        other => Err(format!("'{}' is not a number", other.to_coerced_string())),
    }
}

pub(crate) fn format_minutes(minutes: f64) -> String {
    if minutes.fract() == 0.0 { format!("{}", minutes as i64) } else { format!("{minutes}") }
}

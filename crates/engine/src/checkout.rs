//! The built-in `actions/checkout`: the host fetches the repository and streams it in as a tar
//! archive over the control channel (brief §4); the engine unpacks it through the [`Host`].
//!
//! [`Host`]: crate::Host

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use contract::{AnnotationLevel, CheckoutRequest, Outcome, StepCommand};
use expr::Value;
use tokio::time::Instant;

use crate::contexts;
use crate::control::WorkspaceMessage;
use crate::host::{TarSink, error_chain};
use crate::job::Job;
use crate::output::report;
use crate::step::{Prepared, StepRun, format_minutes};

impl Job<'_> {
    pub(crate) async fn checkout(&mut self, step: &StepCommand, prepared: &Prepared) -> StepRun {
        let request = match self.checkout_request(step, prepared).await {
            Ok(request) => request,
            Err(message) => {
                report(&mut self.emitter, Some(step.index), AnnotationLevel::Error, &message).await;
                return StepRun::failed();
            }
        };
        let target = match inside_workspace(&self.layout.workspace, &request.path) {
            Some(target) => target,
            None => {
                let message =
                    format!("Repository path '{}' is not under '{}'", request.path, self.layout.workspace.display());
                report(&mut self.emitter, Some(step.index), AnnotationLevel::Error, &message).await;
                return StepRun::failed();
            }
        };
        let repository = request.repository.clone().unwrap_or_else(|| self.request.workspace.repository.clone());
        self.emitter.line(&format!("Syncing repository: {repository}")).await;
        if let Some(git_ref) = &request.git_ref {
            self.emitter.line(&format!("Ref: {git_ref}")).await;
        }
        self.emitter.line(&format!("Workspace: {}", target.display())).await;

        let host = self.host;
        let prepare = async {
            host.remove_all(&target).await?;
            host.create_dir_all(&target).await?;
            host.unpack_tar(&target).await
        };
        let sink = match prepare.await {
            Ok(sink) => sink,
            Err(e) => {
                let message = format!("Preparing '{}' failed: {}", target.display(), error_chain(&e));
                report(&mut self.emitter, Some(step.index), AnnotationLevel::Error, &message).await;
                return StepRun::failed();
            }
        };
        self.emitter.checkout_requested(step.index, request).await;
        let timeout = prepared.timeout_minutes.map(|m| Instant::now() + self.config.timeout_unit.mul_f64(m));
        let outcome = self.receive_workspace(step, prepared, sink, timeout).await;
        if outcome == Outcome::Success {
            self.emitter.line("The workspace is ready.").await;
        }
        StepRun { outcome, outputs: BTreeMap::new() }
    }

    async fn checkout_request(&self, step: &StepCommand, prepared: &Prepared) -> Result<CheckoutRequest, String> {
        let scope = self.scope(&prepared.env_context, self.status());
        let mut with = BTreeMap::new();
        for (key, template) in &step.with {
            let value = contexts::evaluate(self.host, &scope, template)
                .await
                .map_err(|e| format!("Evaluating with.{key} failed: {e}"))?;
            with.insert(key.to_ascii_lowercase(), value);
        }
        for unsupported in ["submodules", "lfs"] {
            if with.get(unsupported).is_some_and(enabled) {
                return Err(format!("actions/checkout: `{unsupported}` is not supported yet by this runner."));
            }
        }
        let text = |key: &str| with.get(key).map(Value::to_coerced_string).filter(|s| !s.trim().is_empty());
        let fetch_depth = match text("fetch-depth") {
            None => None,
            Some(depth) => Some(
                depth
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| format!("actions/checkout: fetch-depth '{depth}' is not a number"))?,
            ),
        };
        Ok(CheckoutRequest {
            path: text("path").unwrap_or_default(),
            repository: text("repository"),
            git_ref: text("ref"),
            fetch_depth,
        })
    }

    /// Feeds the workspace messages of this step into `sink` until the host says it is done.
    async fn receive_workspace(
        &mut self,
        step: &StepCommand,
        prepared: &Prepared,
        sink: Box<dyn TarSink>,
        deadline: Option<Instant>,
    ) -> Outcome {
        let mut sink = Some(sink);
        let mut failure: Option<String> = None;
        let mut bytes = 0usize;
        let mut watch_cancel = !prepared.runs_after_cancel;
        loop {
            tokio::select! {
                message = self.workspace_rx.recv() => match message {
                    Some(WorkspaceMessage::Chunk { index, data }) if index == step.index => {
                        bytes += data.len();
                        if let Some(s) = sink.as_mut()
                            && let Err(e) = s.write(&data).await {
                                failure.get_or_insert(error_chain(&e));
                                sink = None;
                            }
                    }
                    Some(WorkspaceMessage::Corrupt { index }) if index == step.index => {
                        failure.get_or_insert("the host sent workspace data that is not base64".to_owned());
                        sink = None;
                    }
                    Some(WorkspaceMessage::End { index, error }) if index == step.index => {
                        if let Some(error) = error {
                            failure.get_or_insert(format!("the host could not provide the workspace: {error}"));
                        } else if let Some(s) = sink.take()
                            && let Err(e) = s.finish().await {
                                failure.get_or_insert(error_chain(&e));
                            }
                        break;
                    }
                    Some(other) => tracing::warn!(?other, "ignoring workspace data of another step"),
                    None => {
                        failure.get_or_insert("the host closed the control channel before the workspace arrived".to_owned());
                        break;
                    }
                },
                changed = self.cancel.changed(), if watch_cancel => {
                    watch_cancel = false;
                    let reason = self.cancel.borrow().clone();
                    if let (Ok(()), Some(reason)) = (changed, reason) {
                        let message = reason.message(&self.config.runner_name);
                        report(&mut self.emitter, Some(step.index), AnnotationLevel::Error, &message).await;
                        return Outcome::Cancelled;
                    }
                }
                _ = sleep_until(deadline), if deadline.is_some() => {
                    let minutes = format_minutes(prepared.timeout_minutes.unwrap_or_default());
                    let message = format!("The action '{}' has timed out after {minutes} minutes.", prepared.name);
                    report(&mut self.emitter, Some(step.index), AnnotationLevel::Error, &message).await;
                    return Outcome::Failure;
                }
            }
        }
        match failure {
            None => {
                tracing::info!(bytes, "workspace unpacked");
                Outcome::Success
            }
            Some(reason) => {
                let message = format!("Checkout failed: {reason}");
                report(&mut self.emitter, Some(step.index), AnnotationLevel::Error, &message).await;
                Outcome::Failure
            }
        }
    }
}

/// `with.submodules: true|recursive`, `with.lfs: true`.
fn enabled(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "recursive"),
        _ => false,
    }
}

/// `workspace/path` when `path` stays inside the workspace.
fn inside_workspace(workspace: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path.trim());
    let mut target = workspace.to_path_buf();
    for component in relative.components() {
        match component {
            Component::Normal(part) => target.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(target)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

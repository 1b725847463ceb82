//! A `run:` step: environment, shell, script file, the process, and the file commands it wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use contract::{AnnotationLevel, Outcome, StepCommand};

use crate::contexts;
use crate::files::{self, StepFiles};
use crate::github;
use crate::host::{HostError, SpawnSpec, Spawned, error_chain};
use crate::job::Job;
use crate::output::{CommandProcessor, report};
use crate::shell::ShellTemplate;
use crate::step::{Prepared, StepRun, format_minutes};
use crate::supervise::{self, Stopped};

impl Job<'_> {
    pub(crate) async fn run_script(&mut self, step: &StepCommand, prepared: &Prepared) -> StepRun {
        match self.try_run_script(step, prepared).await {
            Ok(run) => run,
            Err(message) => {
                report(&mut self.emitter, Some(step.index), AnnotationLevel::Error, &message).await;
                StepRun::failed()
            }
        }
    }

    async fn try_run_script(&mut self, step: &StepCommand, prepared: &Prepared) -> Result<StepRun, String> {
        let host = self.host;
        let files = StepFiles::new(&self.layout.file_commands, step.index);
        let env = self.process_env(prepared, &files);
        let path_var = env.get("PATH").cloned().unwrap_or_default();

        let shell_option = step.shell.as_deref().or(self.request.defaults.shell.as_deref());
        let bash_on_path = match shell_option {
            None => host.find_program("bash", &path_var).await.map_err(|e| error_chain(&e))?.is_some(),
            Some(_) => false,
        };
        let shell = ShellTemplate::choose(shell_option, bash_on_path).map_err(|e| e.to_string())?;
        let Some(program) = host.find_program(&shell.program, &path_var).await.map_err(|e| error_chain(&e))? else {
            return Err(format!(
                "The shell '{}' is not installed on this runner ({} was not found on PATH).",
                shell.program, shell.program
            ));
        };

        let cwd = self.working_directory(step, prepared).await?;
        for file in files.all() {
            host.write_file(file, b"").await.map_err(|e| error_chain(&e))?;
        }
        let script_path = self.layout.temp.join(format!("step_{}{}", step.index, shell.extension()));
        host.write_file(&script_path, shell.wrap_script(&prepared.script).as_bytes())
            .await
            .map_err(|e| error_chain(&e))?;

        self.log_invocation(prepared, &program, &shell).await;
        let spec =
            SpawnSpec { program: program.clone(), args: shell.argv(&script_path.display().to_string()), env, cwd };
        let spawned = host.spawn(spec).await.map_err(|e| spawn_message(&e))?;
        let Spawned { process, stdout, stderr } = spawned;
        let process_id = process.id();
        tracing::info!(pid = process_id, "process started");

        let mut commands = CommandProcessor::new(step.index, self.step_debug, &self.layout.workspace);
        let timeout = prepared.timeout_minutes.map(|m| self.config.timeout_unit.mul_f64(m));
        let ended = supervise::supervise(
            supervise::Parts {
                emitter: &mut self.emitter,
                commands: &mut commands,
                cancel: &mut self.cancel,
                workspace_rx: &mut self.workspace_rx,
                config: self.config,
            },
            process.as_ref(),
            stdout,
            stderr,
            timeout,
            !prepared.runs_after_cancel,
        )
        .await;
        self.processes.push((step.index, process));
        tracing::info!(exit = ?ended.exit, stopped = ?ended.stopped, "process ended");

        // File commands count even when the step failed, as on GitHub.
        let mut outcome = Outcome::Success;
        let outputs = match self.apply_file_commands(step, &files).await {
            Ok(outputs) => outputs,
            Err(message) => {
                report(&mut self.emitter, Some(step.index), AnnotationLevel::Error, &message).await;
                outcome = Outcome::Failure;
                BTreeMap::new()
            }
        };
        match (&ended.stopped, ended.exit) {
            (Some(Stopped::Timeout), _) => {
                let minutes = format_minutes(prepared.timeout_minutes.unwrap_or_default());
                let message = format!("The action '{}' has timed out after {minutes} minutes.", prepared.name);
                report(&mut self.emitter, Some(step.index), AnnotationLevel::Error, &message).await;
                outcome = Outcome::Failure;
            }
            (Some(Stopped::Cancelled(reason)), _) => {
                let message = reason.message(&self.config.runner_name);
                report(&mut self.emitter, Some(step.index), AnnotationLevel::Error, &message).await;
                outcome = Outcome::Cancelled;
            }
            (None, Some(exit)) if !exit.success() => {
                let message = format!("Process completed with exit code {}.", exit.code());
                report(&mut self.emitter, Some(step.index), AnnotationLevel::Error, &message).await;
                outcome = Outcome::Failure;
            }
            (None, Some(_)) => {}
            (None, None) => {
                let message = match &ended.wait_error {
                    Some(e) => format!("Lost track of the step's process: {}", error_chain(e)),
                    None => "Lost track of the step's process.".to_owned(),
                };
                report(&mut self.emitter, Some(step.index), AnnotationLevel::Error, &message).await;
                outcome = Outcome::Failure;
            }
        }
        if commands.failed && outcome == Outcome::Success {
            outcome = Outcome::Failure;
        }
        Ok(StepRun { outcome, outputs })
    }

    /// The process environment in GitHub's merge order: host env (with colour variables), job
    /// env, `GITHUB_ENV`, step env, `GITHUB_PATH` prepended, then the runner's own variables,
    /// and `CI`/`GITHUB_ACTIONS` unless a user set them.
    fn process_env(&self, prepared: &Prepared, files: &StepFiles) -> BTreeMap<String, String> {
        let mut env = self.base_env.clone();
        env.extend(self.job_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env.extend(self.added_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env.extend(prepared.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        if !self.added_path.is_empty() {
            let mut path = self.added_path.join(":");
            if let Some(old) = env.get("PATH").filter(|p| !p.is_empty()) {
                path.push(':');
                path.push_str(old);
            }
            env.insert("PATH".to_owned(), path);
        }
        env.extend(github::github_env(&self.contexts.github));
        let file_var = |p: &Path| p.display().to_string();
        env.insert("GITHUB_ENV".to_owned(), file_var(&files.env));
        env.insert("GITHUB_OUTPUT".to_owned(), file_var(&files.output));
        env.insert("GITHUB_PATH".to_owned(), file_var(&files.path));
        env.insert("GITHUB_STEP_SUMMARY".to_owned(), file_var(&files.summary));
        env.insert("GITHUB_STATE".to_owned(), file_var(&files.state));
        env.extend(github::runner_env(&self.contexts.runner));
        env.entry("CI".to_owned()).or_insert_with(|| "true".to_owned());
        env.entry("GITHUB_ACTIONS".to_owned()).or_insert_with(|| "true".to_owned());
        env
    }

    /// `working-directory` (or `defaults.run.working-directory`) relative to the workspace.
    async fn working_directory(&self, step: &StepCommand, prepared: &Prepared) -> Result<PathBuf, String> {
        let template = step.working_directory.as_ref().or(self.request.defaults.working_directory.as_ref());
        let Some(template) = template else { return Ok(self.layout.workspace.clone()) };
        let scope = self.scope(&prepared.env_context, self.status());
        let dir = contexts::evaluate_string(self.host, &scope, template)
            .await
            .map_err(|e| format!("Evaluating working-directory failed: {e}"))?;
        if dir.trim().is_empty() {
            return Ok(self.layout.workspace.clone());
        }
        Ok(self.layout.workspace.join(dir))
    }

    /// The group GitHub opens before a script: the script, the shell, the env.
    async fn log_invocation(&mut self, prepared: &Prepared, program: &Path, shell: &ShellTemplate) {
        let title = crate::step::run_name(&prepared.script);
        self.emitter.line(&format!("##[group]{title}")).await;
        for line in prepared.script.trim_end_matches(['\n', '\r']).lines() {
            self.emitter.line(line).await;
        }
        self.emitter.line(&format!("shell: {} {}", program.display(), shell.args)).await;
        if !prepared.env_context.is_empty() {
            self.emitter.line("env:").await;
            for (key, value) in &prepared.env_context {
                self.emitter.line(&format!("  {key}: {value}")).await;
            }
        }
        self.emitter.line("##[endgroup]").await;
    }

    /// Reads the step's `GITHUB_*` files: env and path for later steps, outputs, summary.
    async fn apply_file_commands(
        &mut self,
        step: &StepCommand,
        files: &StepFiles,
    ) -> Result<BTreeMap<String, String>, String> {
        let host = self.host;
        let read = |path: PathBuf| async move {
            host.read_file(&path).await.map(|b| b.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default())
        };
        let mut problems = Vec::new();

        let env_text = read(files.env.clone()).await.map_err(|e| error_chain(&e))?;
        match files::parse_key_values(&env_text) {
            Ok(pairs) => {
                for (name, value) in pairs {
                    if name == "NODE_OPTIONS" {
                        problems
                            .push("Can't store NODE_OPTIONS output parameter using '$GITHUB_ENV' command.".to_owned());
                        continue;
                    }
                    self.added_env.insert(name, value);
                }
            }
            Err(e) => problems.push(format!("Unable to process file command 'env' successfully. {e}")),
        }

        let path_text = read(files.path.clone()).await.map_err(|e| error_chain(&e))?;
        for dir in files::parse_paths(&path_text) {
            self.added_path.retain(|d| d != &dir);
            self.added_path.insert(0, dir);
        }

        let mut outputs = BTreeMap::new();
        let output_text = read(files.output.clone()).await.map_err(|e| error_chain(&e))?;
        match files::parse_key_values(&output_text) {
            Ok(pairs) => outputs.extend(pairs),
            Err(e) => problems.push(format!("Unable to process file command 'output' successfully. {e}")),
        }

        let summary = read(files.summary.clone()).await.map_err(|e| error_chain(&e))?;
        if summary.len() > files::SUMMARY_LIMIT {
            problems.push(format!(
                "$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of {}k, got {}k.",
                files::SUMMARY_LIMIT / 1024,
                summary.len() / 1024
            ));
        } else if !summary.trim().is_empty() {
            self.emitter.step_summary(step.index, &summary).await;
        }

        if problems.is_empty() { Ok(outputs) } else { Err(problems.join(" ")) }
    }
}

fn spawn_message(error: &HostError) -> String {
    match error {
        HostError::Spawn { program, cwd, source } => format!(
            "An error occurred trying to start process '{}' with working directory '{}'. {source}",
            program.display(),
            cwd.display()
        ),
        other => error_chain(other),
    }
}

//! What a step's output lines mean: plain lines go to the log, workflow commands act
//! (`add-mask`, groups, annotations, `stop-commands`, `debug`, `echo`) and refused commands
//! (`set-output`, `set-env`, `add-path`, `save-state`) fail the step with an explanation.

use contract::{Annotation, AnnotationLevel};

use crate::commands::{self, Command};
use crate::events::Emitter;

/// Per-step command state.
#[derive(Debug, Default)]
pub struct CommandProcessor {
    step: Option<u32>,
    /// `ACTIONS_STEP_DEBUG` is true: `::debug::` lines are shown.
    debug: bool,
    /// Set by `::stop-commands::TOKEN`: lines are plain text until `::TOKEN::`.
    stop_token: Option<String>,
    /// `::echo::on`: commands are echoed to the log.
    echo: bool,
    /// A command failed (a refused command): the step fails.
    pub failed: bool,
    /// `GITHUB_WORKSPACE` with a trailing `/`: annotation paths under it become relative.
    workspace: String,
}

impl CommandProcessor {
    pub fn new(step: u32, debug: bool, workspace: &std::path::Path) -> CommandProcessor {
        let mut workspace = workspace.display().to_string();
        if !workspace.ends_with('/') {
            workspace.push('/');
        }
        CommandProcessor { step: Some(step), debug, workspace, ..CommandProcessor::default() }
    }

    pub async fn line(&mut self, emitter: &mut Emitter, line: &str) {
        if let Some(token) = &self.stop_token {
            match commands::parse(line) {
                Some(command) if command.name == token.to_ascii_lowercase() => {
                    self.stop_token = None;
                    self.echo_command(emitter, line).await;
                }
                _ => emitter.line(line).await,
            }
            return;
        }
        let Some(command) = commands::parse(line) else {
            emitter.line(line).await;
            return;
        };
        match command.name.as_str() {
            "add-mask" => {
                let value = command.data.trim();
                if !value.is_empty() {
                    emitter.masker_mut().add(value);
                }
                // Echo after registering, so the echoed line is masked.
                self.echo_command(emitter, line).await;
            }
            "group" => emitter.line(&format!("##[group]{}", command.data)).await,
            "endgroup" => emitter.line("##[endgroup]").await,
            "error" => self.annotation(emitter, AnnotationLevel::Error, command).await,
            "warning" => self.annotation(emitter, AnnotationLevel::Warning, command).await,
            "notice" => self.annotation(emitter, AnnotationLevel::Notice, command).await,
            "debug" => {
                if self.debug {
                    emitter.line(&format!("##[debug]{}", command.data)).await;
                }
            }
            "stop-commands" => {
                let token = command.data.trim();
                if token.is_empty() {
                    self.error(emitter, "Invalid stop-commands: a token is required (::stop-commands::TOKEN).").await;
                } else {
                    self.echo_command(emitter, line).await;
                    self.stop_token = Some(token.to_owned());
                }
            }
            "echo" => match command.data.trim().to_ascii_lowercase().as_str() {
                "on" => self.echo = true,
                "off" => self.echo = false,
                other => {
                    self.error(emitter, &format!("Invalid echo command value. Possible values can be: 'on', 'off'. Current value is: '{other}'.")).await
                }
            },
            "set-output" | "save-state" => {
                let name = command.name.clone();
                self.error(
                    emitter,
                    &format!(
                        "The `{name}` command is disabled. Please upgrade to using Environment Files: \
                         write `name=value` lines to the file named by ${}.",
                        if name == "set-output" { "GITHUB_OUTPUT" } else { "GITHUB_STATE" }
                    ),
                )
                .await;
            }
            "set-env" | "add-path" => {
                let name = command.name.clone();
                self.error(
                    emitter,
                    &format!(
                        "The `{name}` command is disabled. Please upgrade to using Environment Files: \
                         write to the file named by ${}.",
                        if name == "set-env" { "GITHUB_ENV" } else { "GITHUB_PATH" }
                    ),
                )
                .await;
            }
            "add-matcher" | "remove-matcher" => {
                // Problem matchers are not supported; the line is ignored like an unknown command.
                tracing::debug!(command = %command.name, "problem matchers are not supported");
            }
            // Not a command we know: GitHub prints such a line as it is.
            _ => emitter.line(line).await,
        }
    }

    async fn annotation(&mut self, emitter: &mut Emitter, level: AnnotationLevel, command: Command) {
        let prefix = match level {
            AnnotationLevel::Error => "error",
            AnnotationLevel::Warning => "warning",
            AnnotationLevel::Notice => "notice",
        };
        emitter.line(&format!("##[{prefix}]{}", command.data)).await;
        let number = |key: &str| command.properties.get(key).and_then(|v| v.trim().parse::<u64>().ok());
        let annotation = Annotation {
            level,
            message: command.data.clone(),
            step: self.step,
            title: command.properties.get("title").cloned(),
            // GitHub reports files relative to the repository.
            file: command.properties.get("file").map(|f| f.strip_prefix(&self.workspace).unwrap_or(f).to_owned()),
            line: number("line"),
            end_line: number("endLine"),
            col: number("col"),
            end_column: number("endColumn"),
        };
        emitter.annotation(annotation).await;
    }

    /// A command that could not be processed: logged like GitHub does, and the step fails.
    async fn error(&mut self, emitter: &mut Emitter, message: &str) {
        self.failed = true;
        report(emitter, self.step, AnnotationLevel::Error, message).await;
    }

    async fn echo_command(&self, emitter: &mut Emitter, line: &str) {
        if self.echo {
            emitter.line(line.trim_start()).await;
        }
    }
}

/// A message of the engine itself: a `##[error]`/`##[warning]` line and its annotation, the way
/// GitHub's runner reports a failed process or a bad command.
pub async fn report(emitter: &mut Emitter, step: Option<u32>, level: AnnotationLevel, message: &str) {
    let prefix = match level {
        AnnotationLevel::Error => "error",
        AnnotationLevel::Warning => "warning",
        AnnotationLevel::Notice => "notice",
    };
    emitter.line(&format!("##[{prefix}]{message}")).await;
    emitter
        .annotation(Annotation {
            level,
            message: message.to_owned(),
            step,
            title: None,
            file: None,
            line: None,
            end_line: None,
            col: None,
            end_column: None,
        })
        .await;
}

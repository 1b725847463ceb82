//! `steps[]` → [`StepCommand`]s: `run:` steps, and `actions/checkout` as our built-in
//! checkout (as the Forgejo runner does); any other `uses:` is refused.

use contract::{StepCommand, StepKind, Template};

use super::TranslateError;
use super::template::{entries, text, text_map, value};
use crate::message::{ActionStep, MessageError, Path, Problem, Reference, Token};

/// The message's step `index` (0-based) as a StepCommand with the same index.
pub(super) fn step(index: usize, step: &ActionStep) -> Result<StepCommand, TranslateError> {
    let root = Path::root("steps");
    let path = root.index(index);
    let index_u32 = u32::try_from(index)
        .map_err(|_| MessageError::new(&path, Problem::Unsupported("a job has at most 2^32 steps".into())))?;
    let id = [&step.context_name, &step.name]
        .into_iter()
        .flatten()
        .find(|id| !id.is_empty())
        .cloned()
        .unwrap_or_else(|| format!("__step_{index}"));
    let mut command = StepCommand::run(index_u32, id, Template::default());
    command.run = None;
    command.forge_ref = Some(step.id.clone());
    command.name = match (&step.display_name_token, &step.display_name) {
        (Some(token), _) => Some(text(token, &path.key("displayNameToken"))?),
        (None, Some(name)) if !name.is_empty() => Some(Template::Literal(name.clone().into())),
        (None, _) => None,
    };
    command.if_ = step.condition.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(Template::expr);
    if let Some(token) = &step.continue_on_error {
        command.continue_on_error = Some(value(token, &path.key("continueOnError"))?);
    }
    if let Some(token) = &step.timeout_in_minutes {
        command.timeout_minutes = Some(value(token, &path.key("timeoutInMinutes"))?);
    }
    if let Some(token) = &step.environment {
        command.env = text_map(token, &path.key("environment"))?;
    }
    let inputs = step.inputs.as_ref().unwrap_or(&Token::Null);
    let inputs_path = path.key("inputs");
    match &step.reference {
        Reference::Script => {
            for (key, input) in entries(inputs, &inputs_path)? {
                let input_path = inputs_path.key(&key);
                match key.to_ascii_lowercase().as_str() {
                    "script" => command.run = Some(text(input, &input_path)?),
                    "shell" => command.shell = shell(input, &input_path)?,
                    "workingdirectory" => command.working_directory = Some(text(input, &input_path)?),
                    _ => tracing::debug!(input = %key, "ignoring an unknown input of a run step"),
                }
            }
            if command.run.is_none() {
                return Err(MessageError::new(&inputs_path.key("script"), Problem::Missing).into());
            }
        }
        Reference::Repository { name, path: sub_path, repository_type, .. }
            if name.eq_ignore_ascii_case("actions/checkout")
                && sub_path.trim_matches('/').is_empty()
                && !repository_type.eq_ignore_ascii_case("self") =>
        {
            command.kind = StepKind::Checkout;
            command.uses = Some(step.reference.uses());
            command.with = text_map(inputs, &inputs_path)?;
        }
        Reference::Repository { .. } | Reference::ContainerRegistry { .. } => {
            return Err(TranslateError::UnsupportedAction { step: describe(index, step), uses: step.reference.uses() });
        }
        Reference::Unknown(kind) => {
            return Err(TranslateError::UnknownReference { step: describe(index, step), kind: kind.clone() });
        }
    }
    Ok(command)
}

/// `shell:` is a name or a command template, used as is: an expression cannot be, since the
/// contract carries the shell as text.
fn shell(token: &Token, path: &Path<'_>) -> Result<Option<String>, MessageError> {
    match token {
        Token::Expression(_) => {
            Err(MessageError::new(path, Problem::Unsupported("an expression as the shell is not supported".into())))
        }
        other => match other.literal_text() {
            Some(shell) if shell.trim().is_empty() => Ok(None),
            Some(shell) => Ok(Some(shell.trim().to_owned())),
            None => Err(MessageError::new(path, Problem::WrongType { expected: "text", found: other.kind() })),
        },
    }
}

/// How errors name a step: its number as the job page counts them (from 1, after "Set up job"
/// which is not a message step) and its display name when it has a literal one.
fn describe(index: usize, step: &ActionStep) -> String {
    match step.display_name.as_deref().filter(|n| !n.is_empty()).or(step.name.as_deref()) {
        Some(name) => format!("{} '{name}'", index + 1),
        None => (index + 1).to_string(),
    }
}

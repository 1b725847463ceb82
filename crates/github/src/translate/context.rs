//! The job-level parts of the message: contexts, job `env:`, `defaults.run`, job outputs, and
//! what the built-in checkout fetches.

use std::collections::BTreeMap;

use contract::{Contexts, RunDefaults, Template, Workspace};
use serde_json::Value;

use super::secrets::Secrets;
use super::template::{entries, text, text_map};
use crate::message::{self, MessageError, Path, Problem, Token, field, list};

/// `contextData.{github,needs,matrix,strategy,inputs,vars}` as JSON, null when absent. The
/// `github` context loses its credentials: `token`, and any top-level text equal to the job's
/// tokens (the step engine gives `github.token` back from the sealed `GITHUB_TOKEN`).
pub(super) fn contexts(message: &Value, secrets: &Secrets) -> Result<Contexts, MessageError> {
    let root = Path::root("contextData");
    let data = match field(message, "contextData") {
        None | Some(Value::Null) => &Value::Null,
        Some(data @ Value::Object(_)) => data,
        Some(other) => return Err(MessageError::wrong_type(&root, "a mapping", other)),
    };
    let read = |name: &str| match field(data, name) {
        None => Ok(Value::Null),
        Some(value) => message::context_data(value, &root.key(name)),
    };
    let mut github = read("github")?;
    if let Value::Object(map) = &mut github {
        map.retain(|key, value| {
            !key.eq_ignore_ascii_case("token") && !value.as_str().is_some_and(|text| secrets.is_credential(text))
        });
    }
    Ok(Contexts {
        github,
        vars: read("vars")?,
        needs: read("needs")?,
        matrix: read("matrix")?,
        strategy: read("strategy")?,
        inputs: read("inputs")?,
    })
}

/// `environmentVariables`: a list of mappings (the workflow's and the job's `env:`), later
/// entries overriding earlier ones, as the runner evaluates them in order (ref §4.2).
pub(super) fn job_env(message: &Value) -> Result<BTreeMap<String, Template>, MessageError> {
    let root = Path::root("message");
    let list_path = root.key("environmentVariables");
    let mut env = BTreeMap::new();
    for (i, item) in list(message, "environmentVariables", &root)?.iter().enumerate() {
        let path = list_path.index(i);
        env.extend(text_map(&Token::parse(item, &path)?, &path)?);
    }
    Ok(env)
}

/// `defaults`: a list of mappings whose `run` holds `shell` and `working-directory`, later
/// entries overriding earlier ones.
pub(super) fn run_defaults(message: &Value) -> Result<RunDefaults, MessageError> {
    let root = Path::root("message");
    let list_path = root.key("defaults");
    let mut defaults = RunDefaults::default();
    for (i, item) in list(message, "defaults", &root)?.iter().enumerate() {
        let path = list_path.index(i);
        let token = Token::parse(item, &path)?;
        for (key, run) in entries(&token, &path)? {
            if !key.eq_ignore_ascii_case("run") {
                continue;
            }
            let run_path = path.key("run");
            for (name, value) in entries(run, &run_path)? {
                let value_path = run_path.key(&name);
                match name.to_ascii_lowercase().as_str() {
                    "shell" => match value.literal_text() {
                        Some(shell) if !shell.trim().is_empty() => defaults.shell = Some(shell.trim().to_owned()),
                        Some(_) => {}
                        None => {
                            let problem =
                                Problem::Unsupported(format!("{} as the shell is not supported", value.kind()));
                            return Err(MessageError::new(&value_path, problem));
                        }
                    },
                    "working-directory" => defaults.working_directory = Some(text(value, &value_path)?),
                    _ => {}
                }
            }
        }
    }
    Ok(defaults)
}

/// `jobOutputs`: output name → its value, evaluated by the step engine after the last step.
pub(super) fn outputs(message: &Value) -> Result<BTreeMap<String, Template>, MessageError> {
    let root = Path::root("message");
    match Token::optional(message, "jobOutputs", &root)? {
        None => Ok(BTreeMap::new()),
        Some(token) => text_map(&token, &root.key("jobOutputs")),
    }
}

/// What the built-in checkout fetches by default: the triggering commit of `github.repository`
/// at `github.server_url`.
pub(super) fn workspace(github: &Value) -> Workspace {
    let text = |key: &str| github.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let repository = text("repository");
    let server = text("server_url");
    let repository_url = if repository.is_empty() || server.is_empty() {
        String::new()
    } else {
        format!("{}/{repository}.git", server.trim_end_matches('/'))
    };
    Workspace { repository_url, repository, sha: text("sha"), git_ref: text("ref"), token: None }
}

/// A counter the server sends as text (`"2"`) or as a number.
pub(super) fn number(value: &Value) -> Option<u32> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

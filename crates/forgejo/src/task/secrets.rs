//! A task's secrets: what is sealed for the job, and what the runner masks in the rows it
//! writes itself.

use std::collections::BTreeMap;

use contract::SecretString;

use super::TaskInput;

/// Names under which forge runners hand the task token to a job (protocol notes §3.5).
const TOKEN_NAMES: &[&str] = &["GITHUB_TOKEN", "GITEA_TOKEN", "FORGEJO_TOKEN"];

/// `task.context` keys that hold credentials besides the task token.
const CONTEXT_CREDENTIALS: &[&str] = &[
    "token",
    "gitea_runtime_token",
    "forgejo_runtime_token",
    "forgejo_actions_id_token_request_token",
    "gitea_actions_id_token_request_token",
];

/// The task's secrets, plus the task token under each name a workflow may expect it when the
/// server did not send that name (it normally sends all three).
pub(super) fn plaintext(input: &TaskInput) -> BTreeMap<String, SecretString> {
    let mut secrets: BTreeMap<String, SecretString> =
        input.secrets.iter().map(|(k, v)| (k.clone(), SecretString::new(v.clone()))).collect();
    if let Some(token) = input.context.get("token").and_then(|t| t.as_str()).filter(|t| !t.is_empty()) {
        for name in TOKEN_NAMES {
            secrets.entry((*name).to_owned()).or_insert_with(|| SecretString::new(token.to_owned()));
        }
    }
    secrets
}

/// Every secret value and credential of the task, each line of a multi-line one too (a step may
/// print one line of a key), without duplicates; empty strings are never masks.
pub(super) fn masks(input: &TaskInput, secrets: &BTreeMap<String, SecretString>) -> Vec<SecretString> {
    let credentials = CONTEXT_CREDENTIALS.iter().filter_map(|k| input.context.get(*k)).filter_map(|v| v.as_str());
    let mut values: Vec<&str> = secrets.values().map(SecretString::expose).chain(credentials).collect();
    let lines: Vec<&str> = values.iter().filter(|v| v.contains('\n')).flat_map(|v| v.lines()).map(str::trim).collect();
    values.extend(lines);
    values.retain(|v| !v.trim().is_empty());
    values.sort_unstable();
    values.dedup();
    values.into_iter().map(|v| SecretString::new(v.to_owned())).collect()
}

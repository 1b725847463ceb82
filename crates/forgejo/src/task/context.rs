//! The contexts a task resolves before its job starts: `github` out of `task.context`, `needs`
//! out of `task.needs`, and `inputs` the way protocol notes §5 leave it to the runner.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};
use workflow::{InputRequest, Workflow};

use super::NeedInput;
use crate::report::TaskResult;

/// The keys of GitHub's `github` context. Forgejo's `task.context` carries these plus its own
/// (`token`, `gitea_runtime_token`, `*_default_actions_url`, `forgejo_server_version`, OIDC
/// request tokens, `runner_*`, `job_name`); those are not part of the context a step sees, and
/// the tokens must not travel in clear. `github.token` comes back in the step engine from the
/// sealed `GITHUB_TOKEN`.
const GITHUB_KEYS: &[&str] = &[
    "action",
    "action_path",
    "action_ref",
    "action_repository",
    "action_status",
    "actor",
    "actor_id",
    "api_url",
    "base_ref",
    "env",
    "event",
    "event_name",
    "event_path",
    "graphql_url",
    "head_ref",
    "job",
    "path",
    "ref",
    "ref_name",
    "ref_protected",
    "ref_type",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "repositoryUrl",
    "retention_days",
    "run_attempt",
    "run_id",
    "run_number",
    "secret_source",
    "server_url",
    "sha",
    "triggering_actor",
    "workflow",
    "workflow_ref",
    "workflow_sha",
    "workspace",
];

/// `github`: the GitHub keys of `task.context`, values as the server sent them, with `event`
/// as an object (a server that sends it as JSON text gets it parsed).
pub(super) fn github(context: &Map<String, Json>) -> Json {
    let mut github: Map<String, Json> = context
        .iter()
        .filter(|(k, _)| GITHUB_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let event = match github.remove("event") {
        Some(Json::Object(event)) => event,
        Some(Json::String(text)) => match serde_json::from_str::<Json>(&text) {
            Ok(Json::Object(event)) => event,
            _ => {
                tracing::warn!("the task's github.event is text that is not a JSON object; using an empty event");
                Map::new()
            }
        },
        _ => Map::new(),
    };
    github.insert("event".to_owned(), Json::Object(event));
    Json::Object(github)
}

/// `needs.<job>.{result,outputs}`, results named as the workflow language has them.
pub(super) fn needs(needs: &BTreeMap<String, NeedInput>) -> Json {
    let entries = needs.iter().map(|(job, need)| {
        let outputs: Map<String, Json> =
            need.outputs.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect();
        let value = serde_json::json!({ "result": result_name(need.result), "outputs": outputs });
        (job.clone(), value)
    });
    Json::Object(entries.collect())
}

/// Lowercase, as forgejo-runner names `runner.v1.Result` values for `needs.*.result`; a need
/// without a final result is not `success`, so `success()` is false.
fn result_name(result: TaskResult) -> &'static str {
    match result {
        TaskResult::Unspecified => "unspecified",
        TaskResult::Success => "success",
        TaskResult::Failure => "failure",
        TaskResult::Cancelled => "cancelled",
        TaskResult::Skipped => "skipped",
    }
}

/// `inputs`: for `workflow_dispatch` and `workflow_call` runs, the values in
/// `github.event.inputs` that the payload's `on.<event>.inputs` define, typed, defaults for the
/// rest (for the inner jobs of a reusable workflow Forgejo writes the caller's `with:` values as
/// those defaults). Other events have no inputs.
pub(super) fn inputs(workflow: &Workflow, github: &Json, vars: &Json) -> Result<Json, workflow::InputError> {
    let event_name = github.get("event_name").and_then(Json::as_str).unwrap_or_default();
    if !matches!(event_name, "workflow_dispatch" | "workflow_call") {
        return Ok(Json::Object(Map::new()));
    }
    let defined = workflow.inputs(event_name).unwrap_or_default();
    let given: Vec<(String, String)> = github
        .pointer("/event/inputs")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
        .filter(|(name, value)| !value.is_null() && defined.iter().any(|spec| spec.name == **name))
        .map(|(name, value)| (name.clone(), text(value)))
        .collect();
    workflow::resolve_inputs(workflow, &InputRequest { event_name, given: &given, github, vars })
}

fn text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => expr::Value::from(other).to_coerced_string(),
    }
}

/// A counter the server sends as text (`"2"`) or as a number.
pub(super) fn number(value: &Json) -> Option<u32> {
    match value {
        Json::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

//! The contexts a forge would resolve before a job starts, built the way GitHub builds them for
//! a push (or the `--event` given), from the local repository.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value as Json, json};

use crate::local_repo::LocalRepo;

/// What the user asked for that shapes `github`.
pub(crate) struct RunEvent<'a> {
    pub event_name: &'a str,
    pub payload: Json,
    pub workflow_name: &'a str,
    pub workflow_file: &'a str,
}

/// GitHub's public instance: a local run has no forge, so URLs point where GitHub's would.
const SERVER_URL: &str = "https://github.com";

/// `github` for every job of one run. The engine fills in the host paths (`workspace`,
/// `event_path`) and `job` itself.
pub(crate) fn github(repo: &LocalRepo, event: RunEvent<'_>) -> Json {
    let repository = repo.repository();
    let owner = repository.split('/').next().unwrap_or_default().to_owned();
    let actor = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_default();
    let run_id = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    let (ref_name, ref_type) = match repo.git_ref.strip_prefix("refs/heads/") {
        Some(branch) => (branch.to_owned(), "branch"),
        None => match repo.git_ref.strip_prefix("refs/tags/") {
            Some(tag) => (tag.to_owned(), "tag"),
            None => (String::new(), ""),
        },
    };
    let pull_request_ref = |side: &str| -> String {
        event
            .payload
            .pointer(&format!("/pull_request/{side}/ref"))
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let workflow_ref = format!("{repository}/{}@{}", event.workflow_file, repo.git_ref);
    json!({
        "event_name": event.event_name,
        "event": event.payload,
        "repository": repository,
        "repository_owner": owner,
        "repositoryUrl": format!("{SERVER_URL}/{repository}.git"),
        "sha": repo.sha,
        "ref": repo.git_ref,
        "ref_name": ref_name,
        "ref_type": ref_type,
        "head_ref": pull_request_ref("head"),
        "base_ref": pull_request_ref("base"),
        "actor": actor,
        "triggering_actor": actor,
        "run_id": run_id.to_string(),
        "run_number": "1",
        "run_attempt": "1",
        "retention_days": "90",
        "workflow": event.workflow_name,
        "workflow_ref": workflow_ref,
        "workflow_sha": repo.sha,
        "server_url": SERVER_URL,
        "api_url": "https://api.github.com",
        "graphql_url": "https://api.github.com/graphql",
        "action": "",
        "secret_source": "Actions",
    })
}

/// `K=V` pairs as a JSON object of strings (`vars`).
pub(crate) fn object(pairs: &[(String, String)]) -> Json {
    Json::Object(pairs.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect::<Map<_, _>>())
}

/// `github.event.inputs` of a `workflow_dispatch`, unless the event file gave it: the resolved
/// inputs as text, the way GitHub's payload carries them ("the inputs context preserves Boolean
/// values as Booleans instead of converting them to strings").
pub(crate) fn add_event_inputs(github: &mut Json, inputs: &Json) {
    let Some(event) = github.get_mut("event").and_then(Json::as_object_mut) else { return };
    if event.contains_key("inputs") {
        return;
    }
    let text = |value: &Json| match value {
        Json::String(s) => s.clone(),
        other => expr::Value::from(other).to_coerced_string(),
    };
    let inputs = inputs.as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), Json::String(text(v)))).collect());
    event.insert("inputs".to_owned(), Json::Object(inputs.unwrap_or_default()));
}

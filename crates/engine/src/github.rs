//! The `github` and `runner` contexts as the engine completes them, and the `GITHUB_*` /
//! `RUNNER_*` variables derived from them.

use std::collections::BTreeMap;

use contract::{ForgeKind, JobRequest, SecretString};
use expr::Value;
use indexmap::IndexMap;

use crate::host::Platform;
use crate::layout::Layout;

/// `github` context keys that become `GITHUB_<KEY>` variables, as GitHub's runner exports them.
const ENV_KEYS: &[&str] = &[
    "action",
    "action_path",
    "action_ref",
    "action_repository",
    "actor",
    "actor_id",
    "api_url",
    "base_ref",
    "event_name",
    "event_path",
    "graphql_url",
    "head_ref",
    "job",
    "ref",
    "ref_name",
    "ref_protected",
    "ref_type",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "retention_days",
    "run_attempt",
    "run_id",
    "run_number",
    "server_url",
    "sha",
    "triggering_actor",
    "workflow",
    "workflow_ref",
    "workflow_sha",
    "workspace",
];

/// The forge's `github` context, with what the runner fills in where it is missing or empty.
pub fn github_context(
    request: &JobRequest,
    secrets: &BTreeMap<String, SecretString>,
    layout: &Layout,
) -> IndexMap<String, Value> {
    let mut github = match Value::from(&request.contexts.github) {
        Value::Object(map) => map,
        _ => IndexMap::new(),
    };
    fn fill(github: &mut IndexMap<String, Value>, key: &str, value: String) {
        let missing = match github.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
            None => true,
            Some((_, Value::Null)) => true,
            Some((_, Value::String(s))) => s.is_empty(),
            Some(_) => false,
        };
        if missing && !value.is_empty() {
            github.insert(key.to_owned(), Value::String(value));
        }
    }
    let workspace = &request.workspace;
    fill(&mut github, "repository", workspace.repository.clone());
    fill(&mut github, "repository_owner", workspace.repository.split('/').next().unwrap_or_default().to_owned());
    fill(&mut github, "sha", workspace.sha.clone());
    fill(&mut github, "ref", workspace.git_ref.clone());
    let git_ref = string_of(&github, "ref");
    fill(&mut github, "ref_name", ref_name(&git_ref).to_owned());
    fill(&mut github, "ref_type", ref_type(&git_ref).to_owned());
    fill(&mut github, "job", request.job_key.clone());
    fill(&mut github, "workflow", request.workflow_name.clone());
    fill(&mut github, "run_id", request.job_id.timestamp_ms().to_string());
    fill(&mut github, "run_number", "1".to_owned());
    fill(&mut github, "run_attempt", request.attempt.to_string());
    if request.origin.forge == ForgeKind::Github {
        fill(&mut github, "server_url", "https://github.com".to_owned());
        fill(&mut github, "api_url", "https://api.github.com".to_owned());
        fill(&mut github, "graphql_url", "https://api.github.com/graphql".to_owned());
    }
    if let Some(token) = secrets.get("GITHUB_TOKEN") {
        fill(&mut github, "token", token.expose().to_owned());
    }
    // The runner owns these: they are paths on this host.
    github.insert("workspace".to_owned(), Value::String(layout.workspace.display().to_string()));
    github.insert("event_path".to_owned(), Value::String(layout.event_path.display().to_string()));
    if !github.contains_key("event") {
        github.insert("event".to_owned(), Value::Object(IndexMap::new()));
    }
    github
}

/// `github.event` as the JSON GitHub writes to `GITHUB_EVENT_PATH`.
pub fn event_json(request: &JobRequest) -> String {
    let event = request.contexts.github.get("event").cloned().unwrap_or_else(|| serde_json::json!({}));
    serde_json::to_string_pretty(&event).unwrap_or_else(|_| "{}".to_owned())
}

/// `GITHUB_<KEY>` for every exported key (empty when the context lacks it, as GitHub does).
pub fn github_env(github: &IndexMap<String, Value>) -> BTreeMap<String, String> {
    ENV_KEYS.iter().map(|key| (format!("GITHUB_{}", key.to_ascii_uppercase()), string_of(github, key))).collect()
}

pub fn runner_context(platform: &Platform, name: &str, layout: &Layout, debug: bool) -> Value {
    let mut runner = IndexMap::new();
    let mut put = |k: &str, v: String| {
        runner.insert(k.to_owned(), Value::String(v));
    };
    put("os", platform.os.clone());
    put("arch", platform.arch.clone());
    put("name", name.to_owned());
    put("environment", "self-hosted".to_owned());
    put("temp", layout.temp.display().to_string());
    put("tool_cache", layout.tool_cache.display().to_string());
    put("workspace", layout.runner_workspace.display().to_string());
    if debug {
        put("debug", "1".to_owned());
    }
    Value::Object(runner)
}

/// `RUNNER_<KEY>` for every `runner` context key.
pub fn runner_env(runner: &Value) -> BTreeMap<String, String> {
    match runner {
        Value::Object(map) => {
            map.iter().map(|(k, v)| (format!("RUNNER_{}", k.to_ascii_uppercase()), v.to_coerced_string())).collect()
        }
        _ => BTreeMap::new(),
    }
}

fn string_of(map: &IndexMap<String, Value>, key: &str) -> String {
    map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.to_coerced_string()).unwrap_or_default()
}

/// `refs/heads/main` → `main`, `refs/tags/v1` → `v1`, `refs/pull/7/merge` → `7/merge`.
pub fn ref_name(git_ref: &str) -> &str {
    ["refs/heads/", "refs/tags/", "refs/pull/"].iter().find_map(|p| git_ref.strip_prefix(p)).unwrap_or(git_ref)
}

fn ref_type(git_ref: &str) -> &'static str {
    if git_ref.starts_with("refs/tags/") {
        "tag"
    } else if git_ref.starts_with("refs/heads/") {
        "branch"
    } else {
        ""
    }
}

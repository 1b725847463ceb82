//! The `context` Struct of a Task: the `github` context plus Forgejo's extras (forgejo.md §3.5).

use serde_json::{Value, json};

use crate::job_spec::JobSpec;

/// Builds the context of task `task_id` of job `job_id`; the test's overrides win.
pub(crate) fn task_context(
    spec: &JobSpec,
    instance_url: &str,
    job_id: i64,
    task_id: i64,
    token: &str,
) -> Result<pbjson_types::Struct, serde_json::Error> {
    // §3.5: server_url is the AppURL with its trailing slash; api_url hangs off it.
    let server_url = format!("{}/", instance_url.trim_end_matches('/'));
    let (owner, _) = spec.repository.split_once('/').unwrap_or((spec.repository.as_str(), ""));
    let run_id = job_id.to_string();
    let mut context = json!({
        "event": {},
        "event_name": "push",
        "event_path": "",
        "workflow": "ci.yml",
        "workflow_ref": format!("{}/.forgejo/workflows/ci.yml@refs/heads/main", spec.repository),
        "run_id": run_id,
        "run_number": run_id,
        "run_attempt": "1",
        "job": spec.job_id,
        "job_name": spec.job_id,
        "actor": "tester",
        "actor_id": "1",
        "triggering_actor": "tester",
        "repository": spec.repository,
        "repository_id": "1",
        "repository_owner": owner,
        "repository_owner_id": "1",
        "repositoryUrl": format!("{server_url}{}.git", spec.repository),
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "ref": "refs/heads/main",
        "ref_name": "main",
        "ref_type": "branch",
        "ref_protected": false,
        "head_ref": "",
        "base_ref": "",
        "server_url": server_url,
        "api_url": format!("{server_url}api/v1"),
        "graphql_url": "",
        "retention_days": "90",
        "secret_source": "Actions",
        "workspace": "",
        "action": "",
        "action_path": "",
        "action_ref": "",
        "action_repository": "",
        "env": "",
        "path": "",
        "runner_os": "",
        "token": token,
        "gitea_runtime_token": format!("runtime-token-of-task-{task_id}"),
        // forgejo-runner fails a task without a default actions URL; pointing it at the fake
        // itself keeps any action download on this machine.
        "gitea_default_actions_url": instance_url,
        "forgejo_default_actions_url": instance_url,
        "forgejo_server_version": "15.0.0+fake",
    });
    if let Value::Object(fields) = &mut context {
        for (key, value) in &spec.context {
            fields.insert(key.clone(), value.clone());
        }
    }
    serde_json::from_value(context)
}

/// The `secrets` of a task: the job's plus the task token under its three names (§3.5).
pub(crate) fn task_secrets(spec: &JobSpec, token: &str) -> std::collections::HashMap<String, String> {
    let mut secrets: std::collections::HashMap<String, String> =
        spec.secrets.iter().map(|(name, value)| (name.clone(), value.clone())).collect();
    for name in ["GITHUB_TOKEN", "GITEA_TOKEN", "FORGEJO_TOKEN"] {
        secrets.insert(name.to_string(), token.to_string());
    }
    secrets
}

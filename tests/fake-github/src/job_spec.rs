//! What a test says a job is, and the `AgentJobRequestMessage` built from it (ref §4.2).

use serde_json::{Value, json};

/// A small description of a job; [`JobSpec::message`] turns it into what acquirejob returns.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The job's display name (`jobDisplayName`).
    pub name: String,
    /// The `runs-on` labels a runner must all carry.
    pub labels: Vec<String>,
    pub steps: Vec<StepSpec>,
    /// Repository secrets: variables with `isSecret: true` (ref §4.2 "Important variables").
    pub secrets: Vec<(String, String)>,
    /// Job outputs as expressions (`jobOutputs`), e.g. `("v", "steps.a.outputs.v")`.
    pub outputs: Vec<(String, String)>,
    /// Where `FeedStreamUrl` points instead of the fake's own `ws://` base, e.g. `wss://` on a
    /// TLS terminator in front of the fake (github.com's feed is wss).
    pub feed_base: Option<String>,
}

/// One `run:` step.
#[derive(Debug, Clone)]
pub struct StepSpec {
    /// The step's `id:` (its `contextName`) and display name.
    pub name: String,
    pub script: String,
}

impl JobSpec {
    /// A job with one step per `(name, script)`, for a runner carrying `labels`.
    pub fn new(name: &str, labels: &[&str], steps: &[(&str, &str)]) -> Self {
        Self {
            name: name.to_string(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            steps: steps
                .iter()
                .map(|(name, script)| StepSpec { name: name.to_string(), script: script.to_string() })
                .collect(),
            secrets: Vec::new(),
            outputs: Vec::new(),
            feed_base: None,
        }
    }
}

/// The ids and URLs the message carries; they must agree with what the fake checks later
/// (ref §5.4 "IDs must agree").
pub(crate) struct MessageIds<'a> {
    pub base: &'a str,
    pub plan_id: &'a str,
    pub job_id: &'a str,
    pub job_token: &'a str,
    pub step_ids: &'a [String],
    pub request_id: i64,
}

/// Builds the `AgentJobRequestMessage` (ref §4.2): steps with TemplateToken inputs,
/// PipelineContextData contexts, variables with `isSecret`, and the SystemVssConnection endpoint.
pub(crate) fn message(spec: &JobSpec, ids: &MessageIds<'_>) -> Value {
    let base = ids.base;
    let ws_base = spec.feed_base.clone().unwrap_or_else(|| base.replacen("http://", "ws://", 1));
    let steps: Vec<Value> = spec
        .steps
        .iter()
        .zip(ids.step_ids)
        .map(|(step, id)| {
            json!({
                "type": "action",
                "id": id,
                "name": step.name,
                "displayName": step.name,
                "contextName": step.name,
                "condition": "success()",
                // ref §4.2: `reference.type` "script" is a `run:` step, inputs hold `script`.
                "reference": {"type": "script"},
                "inputs": {"type": 2, "map": [{"Key": "script", "Value": step.script}]},
            })
        })
        .collect();
    let mut variables = json!({
        "system.github.token": {"value": ids.job_token, "isSecret": true},
        "system.github.job": {"value": spec.name, "isSecret": false},
        "system.github.results_endpoint": {"value": format!("{base}/results/"), "isSecret": false},
        "system.runnerEnvironment": {"value": "self-hosted", "isSecret": false},
    });
    for (name, value) in &spec.secrets {
        variables[name] = json!({"value": value, "isSecret": true});
    }
    let outputs: Vec<Value> =
        spec.outputs.iter().map(|(name, expr)| json!({"Key": name, "Value": {"type": 3, "expr": expr}})).collect();
    // ref §4.2 PipelineContextData: `t` 2 is a dictionary of `{"k", "v"}` pairs.
    let github = json!({"t": 2, "d": [
        {"k": "repository", "v": "octo/hello"},
        {"k": "repository_owner", "v": "octo"},
        {"k": "server_url", "v": base},
        {"k": "api_url", "v": format!("{base}/api/v3")},
        {"k": "event_name", "v": "push"},
        {"k": "ref", "v": "refs/heads/main"},
        {"k": "sha", "v": "0123456789abcdef0123456789abcdef01234567"},
        {"k": "run_id", "v": "1"},
        {"k": "run_attempt", "v": "1"},
        {"k": "job", "v": spec.name},
        {"k": "event", "v": {"t": 2, "d": []}},
    ]});
    json!({
        "messageType": "RunnerJobRequest",
        "plan": {"scopeIdentifier": uuid::Uuid::nil().to_string(), "planType": "actions", "version": 1, "planId": ids.plan_id},
        "timeline": {"id": ids.plan_id, "changeId": 1, "location": null},
        "jobId": ids.job_id,
        "jobDisplayName": spec.name,
        "jobName": "__default",
        "requestId": ids.request_id,
        "lockedUntil": "0001-01-01T00:00:00Z",
        "resources": {"endpoints": [{
            "name": "SystemVssConnection",
            "url": format!("{base}/run/"),
            "authorization": {"scheme": "OAuth", "parameters": {"AccessToken": ids.job_token}},
            "data": {
                "ResultsServiceUrl": format!("{base}/results/"),
                "PipelinesServiceUrl": format!("{base}/pipelines/"),
                "FeedStreamUrl": format!("{ws_base}/feed/{}", ids.job_id),
            },
        }]},
        "contextData": {"github": github, "matrix": null, "needs": {"t": 2, "d": []}, "inputs": null},
        "variables": variables,
        "steps": steps,
        "environmentVariables": [],
        "defaults": [],
        "jobOutputs": if outputs.is_empty() { Value::Null } else { json!({"type": 2, "map": outputs}) },
        "workspace": {},
        "mask": [],
        "fileTable": [".github/workflows/ci.yml"],
    })
}

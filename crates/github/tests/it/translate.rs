//! Tests of github::translate and github::message: job messages (from the fake GitHub and
//! hand-written) → JobRequest, JobContext and masks.

mod fake;
mod garbage;
mod secrets;
mod steps;
mod tokens;

use contract::BusKey;
use github::translate::{TranslateError, TranslateSettings, Translated, translate};
use serde_json::{Value, json};
use ulid::Ulid;

pub const TOKEN: &str = "ghs_jobtoken0123456789";
pub const JOB_ID: &str = "6b1c5b1e-1f8e-4a4e-9d4c-6a1e2f3a4b5c";
pub const PLAN_ID: &str = "0d0c0b0a-0000-4000-8000-000000000001";

pub fn key() -> BusKey {
    BusKey::generate().unwrap()
}

pub fn settings(key: &BusKey) -> TranslateSettings<'_> {
    TranslateSettings {
        runner_id: "runner-7".into(),
        route_label: "illumos".into(),
        bus_key: key,
        job_ulid: Ulid::new(),
    }
}

pub fn run(message: &Value) -> Result<Translated, TranslateError> {
    let key = key();
    translate(message, &settings(&key))
}

/// A `run:` step as the server sends it; `script` is a TemplateToken.
pub fn script_step(id: &str, name: &str, script: Value) -> Value {
    json!({
        "type": "action", "id": id, "name": name, "displayName": format!("Run {name}"), "contextName": name,
        "condition": "success()", "reference": {"type": "script"},
        "inputs": {"type": 2, "map": [{"Key": "script", "Value": script}]},
    })
}

/// A message with what github.com sends for a two-step job with a matrix, env, defaults,
/// outputs and a secret, written from ref §4.2.
pub fn message() -> Value {
    json!({
        "messageType": "RunnerJobRequest",
        "plan": {"scopeIdentifier": "00000000-0000-0000-0000-000000000000", "planType": "actions", "version": 1, "planId": PLAN_ID},
        "timeline": {"id": PLAN_ID, "changeId": 1, "location": null},
        "jobId": JOB_ID,
        "jobDisplayName": "build (1.80)",
        "jobName": "__default",
        "requestId": 42,
        "billingOwnerId": "U_kgDOAAAA",
        "resources": {"endpoints": [
            {"name": "GitHub", "url": "https://api.github.com/"},
            {"name": "SystemVssConnection", "url": "https://run.example/",
             "authorization": {"scheme": "OAuth", "parameters": {"AccessToken": "jwt.job.token"}},
             "data": {"ResultsServiceUrl": "https://results.example/", "FeedStreamUrl": "wss://feed.example/x"}}
        ]},
        "contextData": {
            "github": {"t": 2, "d": [
                {"k": "repository", "v": "octo/hello"},
                {"k": "server_url", "v": "https://github.com"},
                {"k": "sha", "v": "abc123"},
                {"k": "ref", "v": "refs/heads/main"},
                {"k": "job", "v": "build"},
                {"k": "workflow", "v": "CI"},
                {"k": "run_attempt", "v": "2"},
                {"k": "token", "v": TOKEN},
                {"k": "event", "v": {"t": 2, "d": [{"k": "forced", "v": {"t": 3, "b": false}}]}}
            ]},
            "matrix": {"t": 2, "d": [{"k": "rust", "v": "1.80"}]},
            "strategy": {"t": 2, "d": [{"k": "job-index", "v": {"t": 4, "n": 0}}, {"k": "fail-fast", "v": true}]},
            "needs": {"t": 2, "d": [{"k": "lint", "v": {"t": 2, "d": [{"k": "result", "v": "success"}]}}]},
            "vars": {"t": 2, "d": [{"k": "REGION", "v": "eu"}]},
            "inputs": null
        },
        "variables": {
            "system.github.token": {"value": TOKEN, "isSecret": true},
            "system.github.job": {"value": "build", "isSecret": false},
            "system.github.results_endpoint": {"value": "https://results-receiver.example/", "isSecret": false},
            "system.accessToken": {"value": "vss-access", "isSecret": true},
            "DEPLOY_KEY": {"value": "-----BEGIN KEY-----\nline-one\nline-two\n-----END KEY-----", "isSecret": true},
            "PLAIN": {"value": "not secret", "isSecret": false}
        },
        "steps": [
            script_step("11111111-1111-1111-1111-111111111111", "__run", json!("cargo build")),
            {
                "type": "action", "id": "22222222-2222-2222-2222-222222222222", "name": "test",
                "displayNameToken": {"type": 3, "expr": "format('Test {0}', matrix.rust)"},
                "contextName": "test", "condition": "success() && (github.event_name == 'push')",
                "continueOnError": {"type": 5, "bool": true}, "timeoutInMinutes": {"type": 6, "num": 10},
                "environment": {"type": 2, "map": [
                    {"Key": "RUST", "Value": {"type": 3, "expr": "matrix.rust"}},
                    {"Key": "N", "Value": 3}
                ]},
                "reference": {"type": "script"},
                "inputs": {"type": 2, "map": [
                    {"Key": "script", "Value": {"type": 3, "expr": "format('cargo test --{0}', matrix.rust)"}},
                    {"Key": "shell", "Value": "bash"},
                    {"Key": "workingDirectory", "Value": "crates/x"}
                ]}
            }
        ],
        "environmentVariables": [
            {"type": 2, "map": [{"Key": "A", "Value": "workflow"}, {"Key": "B", "Value": "kept"}]},
            {"type": 2, "map": [{"Key": "A", "Value": {"type": 3, "expr": "vars.REGION"}}]}
        ],
        "defaults": [{"type": 2, "map": [{"Key": "run", "Value": {"type": 2, "map": [
            {"Key": "shell", "Value": "sh"}, {"Key": "working-directory", "Value": "src"}]}}]}],
        "jobOutputs": {"type": 2, "map": [{"Key": "version", "Value": {"type": 3, "expr": "steps.test.outputs.v"}}]},
        "jobContainer": null,
        "jobServiceContainers": null,
        "workspace": {},
        "mask": [{"type": "variable", "value": "hinted-secret"}, {"type": "regex", "value": "a+b"}],
        "fileTable": [".github/workflows/ci.yml"]
    })
}

/// The same message with every object member name in PascalCase (`jobId` → `JobId`), map and
/// dictionary keys untouched, as a server writing .NET property names would send it.
pub fn pascal_case(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(name, member)| {
                    let mut chars = name.chars();
                    let pascal = match chars.next() {
                        Some(first) if !name.contains('.') && *name != name.to_uppercase() => {
                            first.to_uppercase().chain(chars).collect()
                        }
                        _ => name.clone(),
                    };
                    (pascal, pascal_case(member))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(pascal_case).collect()),
        other => other.clone(),
    }
}

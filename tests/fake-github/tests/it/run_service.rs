//! The run service (ref §4): acquire, renew, complete.

use fake_github::{JobPhase, JobSpec};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::broker::{fake, open_session, poll, runner};
use crate::registration::http;

/// Finds a value in a PipelineContextData dictionary (ref §4.2, `t` 2 with `d` pairs).
fn context_value<'a>(dict: &'a Value, key: &str) -> Option<&'a Value> {
    dict["d"].as_array()?.iter().find(|pair| pair["k"] == key).map(|pair| &pair["v"])
}

#[tokio::test]
async fn acquired_message_carries_steps_contexts_variables_and_the_job_connection() {
    let fake = fake().await;
    let runner = runner(&fake).await;
    let session = open_session(&runner).await;
    let mut spec = JobSpec::new("build", &["illumos"], &[("a", "echo one"), ("b", "echo two")]);
    spec.secrets.push(("DEPLOY_KEY".into(), "hunter2".into()));
    spec.outputs.push(("v".into(), "steps.a.outputs.v".into()));
    let job = fake.queue(spec);
    let (_, message) = poll(&runner, &session, "Online").await;
    let body: Value =
        serde_json::from_str(message.expect("job message")["body"].as_str().expect("body")).expect("json body");
    let run_service = body["run_service_url"].as_str().expect("run service url");

    let acquire = || {
        http()
            .post(format!("{run_service}acquirejob"))
            .header("Authorization", &runner.bearer)
            .json(&json!({"jobMessageId": body["runner_request_id"], "runnerOS": "Linux", "billingOwnerId": body["billing_owner_id"]}))
            .send()
    };
    let answer = acquire().await.expect("acquire");
    assert_eq!(answer.status(), StatusCode::OK);
    let message: Value = answer.json().await.expect("job message json");
    assert_eq!(fake.job_phase(&job), Some(JobPhase::Acquired { runner_id: runner.id }));
    assert_eq!(acquire().await.expect("acquire again").status(), StatusCode::CONFLICT);

    assert_eq!(message["jobId"], job);
    assert_eq!(message["jobDisplayName"], "build");
    let steps = message["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[1]["reference"]["type"], "script");
    assert_eq!(steps[1]["inputs"]["map"][0]["Value"], "echo two");
    assert_eq!(message["variables"]["DEPLOY_KEY"], json!({"value": "hunter2", "isSecret": true}));
    assert_eq!(message["variables"]["system.github.token"]["isSecret"], true);
    assert_eq!(context_value(&message["contextData"]["github"], "repository"), Some(&json!("octo/hello")));
    assert_eq!(message["jobOutputs"]["map"][0]["Value"]["expr"], "steps.a.outputs.v");
    let connection = message["resources"]["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .find(|e| e["name"] == "SystemVssConnection")
        .expect("SystemVssConnection");
    let job_token = connection["authorization"]["parameters"]["AccessToken"].as_str().expect("job token");
    assert_eq!(message["variables"]["system.github.token"]["value"], job_token);
    assert!(connection["data"]["FeedStreamUrl"].as_str().is_some_and(|u| u.starts_with("ws://127.0.0.1:")));
}

#[tokio::test]
async fn renew_and_complete_with_the_job_token_record_what_the_run_page_shows() {
    let fake = fake().await;
    let runner = runner(&fake).await;
    let session = open_session(&runner).await;
    let job = fake.queue_job(&["illumos"]);
    let (_, message) = poll(&runner, &session, "Online").await;
    let body: Value = serde_json::from_str(message.expect("message")["body"].as_str().expect("body")).expect("json");
    let run_service = body["run_service_url"].as_str().expect("url").to_string();
    let message: Value = http()
        .post(format!("{run_service}acquirejob"))
        .header("Authorization", &runner.bearer)
        .json(&json!({"jobMessageId": body["runner_request_id"], "runnerOS": "Linux"}))
        .send()
        .await
        .expect("acquire")
        .json()
        .await
        .expect("json");
    let connection = &message["resources"]["endpoints"][0];
    let url = connection["url"].as_str().expect("connection url");
    let token = format!("Bearer {}", connection["authorization"]["parameters"]["AccessToken"].as_str().expect("token"));
    let ids = json!({"planId": message["plan"]["planId"], "jobId": message["jobId"]});

    let renew = |auth: String| http().post(format!("{url}renewjob")).header("Authorization", auth).json(&ids).send();
    assert_eq!(renew(runner.bearer.clone()).await.expect("renew").status(), StatusCode::UNAUTHORIZED);
    let renewed = renew(token.clone()).await.expect("renew");
    assert_eq!(renewed.status(), StatusCode::OK);
    let renewed: Value = renewed.json().await.expect("json");
    assert!(renewed["lockedUntil"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(fake.renewals(&job), Some(1));

    let step = message["steps"][0]["id"].clone();
    let completion = json!({
        "planId": message["plan"]["planId"], "jobId": message["jobId"], "conclusion": "succeeded",
        "outputs": {"v": {"value": "42", "isSecret": false}},
        "stepResults": [{"external_id": step, "number": 2, "name": "hello", "status": "completed", "conclusion": "succeeded"}],
        "annotations": [],
    });
    let completed = http()
        .post(format!("{url}completejob"))
        .header("Authorization", &token)
        .json(&completion)
        .send()
        .await
        .expect("complete");
    assert_eq!(completed.status(), StatusCode::OK);
    assert_eq!(fake.job_phase(&job), Some(JobPhase::Completed { runner_id: runner.id }));
    assert_eq!(fake.completion(&job), Some(completion));
    // ref §1.6: this runner registered as ephemeral, so its one job done, GitHub deletes it.
    assert!(fake.runners().is_empty(), "the ephemeral runner is gone: {:?}", fake.runners());
    // ref §4.3: once the job is over, renew answers 404 and the runner abandons it.
    assert_eq!(renew(token).await.expect("renew").status(), StatusCode::NOT_FOUND);
}

/// A job acquired by a runner: what a runner holds while it runs the job.
pub struct Acquired {
    pub job: String,
    pub message: Value,
    /// `Bearer <job token>`.
    pub token: String,
    pub results: String,
}

pub async fn acquired(fake: &fake_github::FakeGithub, spec: JobSpec) -> Acquired {
    let runner = runner(fake).await;
    let session = open_session(&runner).await;
    let job = fake.queue(spec);
    let (_, message) = poll(&runner, &session, "Online").await;
    let body: Value = serde_json::from_str(message.expect("message")["body"].as_str().expect("body")).expect("json");
    let message: Value = http()
        .post(format!("{}acquirejob", body["run_service_url"].as_str().expect("url")))
        .header("Authorization", &runner.bearer)
        .json(&json!({"jobMessageId": body["runner_request_id"], "runnerOS": "Linux"}))
        .send()
        .await
        .expect("acquire")
        .json()
        .await
        .expect("json");
    let token =
        message["resources"]["endpoints"][0]["authorization"]["parameters"]["AccessToken"].as_str().expect("job token");
    let results = message["variables"]["system.github.results_endpoint"]["value"].as_str().expect("results");
    Acquired { job, token: format!("Bearer {token}"), results: results.to_string(), message }
}

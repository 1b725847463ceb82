//! The broker (ref §3.3, §3.6, §3.7): sessions, long poll, job messages, cancel, faults.

use std::time::Duration;

use fake_github::{Config, FakeGithub, JobPhase};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::oauth::{exchange, registered};
use crate::registration::http;
use crate::runner_key::{self, Alg};

const WAIT: Duration = Duration::from_secs(10);

pub struct Runner {
    pub id: u64,
    pub bearer: String,
    pub broker: String,
}

pub async fn fake() -> FakeGithub {
    let config = Config { long_poll: Duration::from_millis(300), ..Config::default() };
    FakeGithub::start(config).await.expect("start")
}

/// A registered runner with an OAuth token (ref §8 A + B.1).
pub async fn runner(fake: &FakeGithub) -> Runner {
    let (url, client_id) = registered(fake).await;
    let jwt = runner_key::jwt(runner_key::key(), Alg::Ps256, &runner_key::claims(&client_id, &url));
    let (_, token) = exchange(&url, &jwt).await;
    Runner {
        id: fake.runners()[0].id,
        bearer: format!("Bearer {}", token["access_token"].as_str().expect("access token")),
        broker: format!("{}/broker/", fake.base_url()),
    }
}

pub async fn create_session(runner: &Runner) -> reqwest::Response {
    http()
        .post(format!("{}session", runner.broker))
        .header("Authorization", &runner.bearer)
        .json(&json!({
            "sessionId": "00000000-0000-0000-0000-000000000000",
            "ownerName": "host (PID: 1)",
            "agent": {"id": runner.id, "name": "solstice-1", "version": "2.336.0", "osDescription": "illumos"},
            "useFipsEncryption": false,
        }))
        .send()
        .await
        .expect("post session")
}

pub async fn open_session(runner: &Runner) -> String {
    let answer = create_session(runner).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.expect("json");
    body["sessionId"].as_str().expect("session id").to_string()
}

/// One poll; `None` for "no message" (2xx without JSON, ref §3.3), else (status, body).
pub async fn poll(runner: &Runner, session: &str, status: &str) -> (StatusCode, Option<Value>) {
    let answer = http()
        .get(format!(
            "{}message?sessionId={session}&status={status}&runnerVersion=2.336.0&os=Linux&architecture=X64&disableUpdate=true",
            runner.broker
        ))
        .header("Authorization", &runner.bearer)
        .send()
        .await
        .expect("get message");
    let code = answer.status();
    let text = answer.text().await.expect("body");
    (code, serde_json::from_str(&text).ok())
}

#[tokio::test]
async fn empty_poll_is_held_then_answered_without_a_message() {
    let fake = fake().await;
    let runner = runner(&fake).await;
    let session = open_session(&runner).await;
    let started = std::time::Instant::now();
    let (code, message) = poll(&runner, &session, "Online").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(message, None);
    assert!(started.elapsed() >= Duration::from_millis(250), "held {:?}", started.elapsed());
    assert_eq!(fake.runner_status(runner.id).as_deref(), Some("Online"));
}

#[tokio::test]
async fn job_for_the_runners_labels_arrives_in_a_waiting_poll_and_is_acknowledged() {
    let config = Config { long_poll: Duration::from_secs(30), ..Config::default() };
    let fake = FakeGithub::start(config).await.expect("start");
    let runner = runner(&fake).await;
    let session = open_session(&runner).await;
    let other = fake.queue_job(&["self-hosted", "windows"]);
    let waiting = {
        let runner = Runner { id: runner.id, bearer: runner.bearer.clone(), broker: runner.broker.clone() };
        let session = session.clone();
        tokio::spawn(async move { poll(&runner, &session, "Online").await })
    };
    // The poll is parked before the job exists: it must be woken by the queueing itself.
    fake.wait_for(WAIT, |f| f.runner_status(runner.id)).await.expect("runner polled");
    let job = fake.queue_job(&["self-hosted", "illumos"]);
    let (code, message) = tokio::time::timeout(WAIT, waiting).await.expect("woken").expect("task");
    assert_eq!(code, StatusCode::OK);
    let message = message.expect("a message");
    assert_eq!(message["messageType"], "RunnerJobRequest");
    assert!(message["iv"].is_null());
    let body: Value = serde_json::from_str(message["body"].as_str().expect("body string")).expect("json body");
    assert_eq!(body["should_acknowledge"], true);
    assert_eq!(body["run_service_url"], format!("{}/run/", fake.base_url()));
    assert_eq!(fake.job_phase(&job), Some(JobPhase::Offered { runner_id: runner.id }));
    assert_eq!(fake.job_phase(&other), Some(JobPhase::Queued));

    let ack = http()
        .post(format!(
            "{}acknowledge?sessionId={session}&status=Online&runnerVersion=2.336.0&os=Linux&architecture=X64",
            runner.broker
        ))
        .header("Authorization", &runner.bearer)
        .json(&json!({"runnerRequestId": body["runner_request_id"]}))
        .send()
        .await
        .expect("ack");
    assert_eq!(ack.status(), StatusCode::OK);
    assert_eq!(fake.job_phase(&job), Some(JobPhase::Acknowledged { runner_id: runner.id }));
}

#[tokio::test]
async fn busy_runner_gets_no_new_job_but_gets_the_cancellation() {
    let fake = fake().await;
    let runner = runner(&fake).await;
    let session = open_session(&runner).await;
    let job = fake.queue_job(&["illumos"]);
    let (_, first) = poll(&runner, &session, "Online").await;
    assert_eq!(first.expect("job message")["messageType"], "RunnerJobRequest");
    let second = fake.queue_job(&["illumos"]);
    let (_, none) = poll(&runner, &session, "Busy").await;
    assert_eq!(none, None);
    assert_eq!(fake.runner_status(runner.id).as_deref(), Some("Busy"));
    assert_eq!(fake.job_phase(&second), Some(JobPhase::Queued));
    fake.cancel_job(&job);
    let (_, cancel) = poll(&runner, &session, "Busy").await;
    let cancel = cancel.expect("cancellation");
    assert_eq!(cancel["messageType"], "JobCancellation");
    let body: Value = serde_json::from_str(cancel["body"].as_str().expect("body")).expect("json");
    assert_eq!(body["jobId"], job);
}

#[tokio::test]
async fn second_session_conflicts_until_the_first_is_deleted() {
    let fake = fake().await;
    let runner = runner(&fake).await;
    fake.occupy_session(runner.id);
    assert_eq!(create_session(&runner).await.status(), StatusCode::CONFLICT);
    let deleted = http()
        .delete(format!("{}session", runner.broker))
        .header("Authorization", &runner.bearer)
        .send()
        .await
        .expect("delete session");
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(create_session(&runner).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn faults_show_as_the_reference_says() {
    let fake = fake().await;
    let runner = runner(&fake).await;
    let session = open_session(&runner).await;

    fake.invalidate_sessions();
    let (code, body) = poll(&runner, &session, "Online").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(body.expect("error body")["errorKind"], "RunnerSessionInvalid");

    let session = open_session(&runner).await;
    fake.fail_next(2);
    assert_eq!(poll(&runner, &session, "Online").await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(poll(&runner, &session, "Online").await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(poll(&runner, &session, "Online").await.0, StatusCode::OK);

    fake.fail_for(Duration::from_secs(600));
    for _ in 0..3 {
        assert_eq!(poll(&runner, &session, "Online").await.0, StatusCode::SERVICE_UNAVAILABLE);
    }
    fake.recover();
    assert_eq!(poll(&runner, &session, "Online").await.0, StatusCode::OK);

    fake.expire_tokens();
    assert_eq!(poll(&runner, &session, "Online").await.0, StatusCode::UNAUTHORIZED);

    let unknown = Runner { bearer: "Bearer nope".into(), ..runner };
    assert_eq!(create_session(&unknown).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deleted_runner_learns_it_from_its_next_poll() {
    let fake = fake().await;
    let runner = runner(&fake).await;
    let session = open_session(&runner).await;
    // A token minted before the deletion is the case the reference names (ref §6).
    fake.delete_runner(runner.id);
    let (code, body) = poll(&runner, &session, "Online").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(body.expect("error body")["errorKind"], "RunnerNotFound");
    assert!(fake.runners().is_empty());
    let again = create_session(&runner).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["errorKind"], "RunnerNotFound");
}

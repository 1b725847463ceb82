//! Tests of github::run_service against the fake GitHub over real HTTP: acquire, the job's lease
//! and completejob as the run page shows them (ref §4.1, §4.3, §4.4).

use std::collections::BTreeMap;
use std::time::Duration;

use fake_github::{FakeGithub, JobPhase};
use github::broker::{Backoff, Message, Status};
use github::job::{Completion, Conclusion, JobContext, OutputValue, StepResult};
use github::run_service::{
    AcquireError, CompleteError, LeaseConfig, RenewError, RunService, RunServiceConfig, keep_renewing,
    renew_before_start,
};
use serde_json::Value;

use crate::broker::runner::{LABELS, TestRunner, WAIT, fake, runner};

/// Retries cut to milliseconds.
fn quick() -> RunServiceConfig {
    RunServiceConfig {
        acquire_tries: 3,
        acquire_backoff: Backoff::fixed(Duration::from_millis(20)),
        complete_tries: 5,
        complete_backoff: Backoff::fixed(Duration::from_millis(20)),
    }
}

fn lease() -> LeaseConfig {
    LeaseConfig {
        interval: Duration::from_millis(30),
        retry_backoff: Backoff::fixed(Duration::from_millis(20)),
        later_retry_backoff: Backoff::fixed(Duration::from_millis(40)),
        first_backoff: Backoff::fixed(Duration::from_millis(20)),
        ..LeaseConfig::default()
    }
}

struct Offered {
    runner: TestRunner,
    service: RunService,
    job: String,
    request: github::broker::JobRequestRef,
}

/// A queued job offered to a fresh runner through one poll.
async fn offered(fake: &FakeGithub) -> Offered {
    let runner = runner(fake).await;
    let session = runner.broker.create_session(&runner.request).await.expect("session");
    let job = fake.queue_job(LABELS);
    let Some(Message::RunnerJobRequest(request)) = runner.broker.poll(&session, Status::Online).await.expect("poll")
    else {
        panic!("expected the job request");
    };
    runner.broker.acknowledge(&session, Status::Online, &request.runner_request_id).await.expect("ack");
    let service = RunService::new(github::http::client().expect("http"), runner.tokens.clone()).with_config(quick());
    Offered { runner, service, job, request }
}

/// What the daemon reads from the message for the run service (translate's job_context does
/// this in the runner; the test reads only the fields it needs).
fn context(message: &Value) -> JobContext {
    let connection = message["resources"]["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .find(|e| e["name"] == "SystemVssConnection")
        .expect("SystemVssConnection");
    JobContext {
        plan_id: message["plan"]["planId"].as_str().expect("plan id").into(),
        job_id: message["jobId"].as_str().expect("job id").into(),
        display_name: message["jobDisplayName"].as_str().unwrap_or_default().into(),
        job_token: connection["authorization"]["parameters"]["AccessToken"].as_str().expect("token").into(),
        run_service_url: connection["url"].as_str().expect("url").into(),
        results_url: None,
        feed_stream_url: None,
        billing_owner_id: None,
        steps: Vec::new(),
    }
}

fn completion(context: &JobContext) -> Completion {
    Completion {
        plan_id: context.plan_id.clone(),
        job_id: context.job_id.clone(),
        conclusion: Conclusion::Succeeded,
        outputs: BTreeMap::from([("v".to_owned(), OutputValue { value: "42".into(), is_secret: false })]),
        step_results: vec![StepResult {
            external_id: uuid::Uuid::new_v4().to_string(),
            number: 1,
            name: "Set up job".into(),
            status: "completed".into(),
            conclusion: Conclusion::Succeeded,
            started_at: None,
            completed_at: None,
            completed_log_lines: Some(1),
            annotations: Vec::new(),
        }],
        annotations: Vec::new(),
        billing_owner_id: Some("fake-billing-owner".into()),
    }
}

#[tokio::test]
async fn acquire_gives_the_job_message_once_then_skips() {
    let fake = fake(Duration::from_millis(200)).await;
    let offered = offered(&fake).await;
    let message = offered.service.acquire(&offered.request).await.expect("acquire");
    assert_eq!(message["jobId"], offered.job);
    assert_eq!(message["jobDisplayName"], "build");
    assert_eq!(fake.job_phase(&offered.job), Some(JobPhase::Acquired { runner_id: offered.runner.id }));
    let again = offered.service.acquire(&offered.request).await.expect_err("acquired already");
    assert!(matches!(again, AcquireError::Skip { status: 409, .. }), "{again:?}");
    let unknown = github::broker::JobRequestRef { runner_request_id: "nope".into(), ..offered.request.clone() };
    let unknown = offered.service.acquire(&unknown).await.expect_err("never offered");
    assert!(matches!(unknown, AcquireError::Skip { status: 404, .. }), "{unknown:?}");
}

#[tokio::test]
async fn acquire_rides_out_two_failures_but_not_three() {
    let fake = fake(Duration::from_millis(200)).await;
    let offered = offered(&fake).await;
    fake.fail_next(3);
    let error = offered.service.acquire(&offered.request).await.expect_err("three 503s");
    assert!(matches!(error, AcquireError::Failed(ref e) if e.status() == Some(503)), "{error:?}");
    assert_eq!(fake.job_phase(&offered.job), Some(JobPhase::Acknowledged { runner_id: offered.runner.id }));
    fake.fail_next(2);
    let message = offered.service.acquire(&offered.request).await.expect("the third try");
    assert_eq!(message["jobId"], offered.job);
}

#[tokio::test]
async fn acquire_replaces_an_expired_token() {
    let fake = fake(Duration::from_millis(200)).await;
    let offered = offered(&fake).await;
    fake.expire_tokens();
    let message = offered.service.acquire(&offered.request).await.expect("acquire after a 401");
    assert_eq!(message["jobId"], offered.job);
    assert_eq!(*offered.runner.tokens.minted.borrow(), 2);
}

#[tokio::test]
async fn the_lease_is_renewed_until_the_job_completes_then_lost() {
    let fake = fake(Duration::from_millis(200)).await;
    let offered = offered(&fake).await;
    let context = context(&offered.service.acquire(&offered.request).await.expect("acquire"));
    let config = lease();
    let locked_until = renew_before_start(&offered.service, &context, &config).await.expect("first renewal");
    assert!(locked_until > time::OffsetDateTime::now_utc(), "{locked_until}");
    assert_eq!(fake.renewals(&offered.job), Some(1));

    let renewing = tokio::spawn(keep_renewing(offered.service.clone(), context.clone(), locked_until, config));
    fake.wait_for(WAIT, |f| f.renewals(&offered.job).filter(|n| *n >= 4)).await.expect("renewed every interval");
    // A short outage is retried through; renewals go on.
    fake.fail_next(2);
    let before = fake.renewals(&offered.job).expect("job");
    fake.wait_for(WAIT, |f| f.renewals(&offered.job).filter(|n| *n >= before + 2)).await.expect("renewals resume");
    assert!(!renewing.is_finished());

    let sent = completion(&context);
    offered.service.complete(&context, &sent).await.expect("complete");
    assert_eq!(fake.job_phase(&offered.job), Some(JobPhase::Completed { runner_id: offered.runner.id }));
    assert_eq!(fake.completion(&offered.job), Some(serde_json::to_value(&sent).expect("json")));
    // ref §4.3: the job is over, renewjob answers 404 and the lease is lost.
    let lost = tokio::time::timeout(WAIT, renewing).await.expect("lost in time").expect("task");
    assert!(lost.reason.contains("no longer has it"), "{lost}");
}

#[tokio::test]
async fn an_unknown_or_finished_job_is_not_started() {
    let fake = fake(Duration::from_millis(200)).await;
    let offered = offered(&fake).await;
    let context = context(&offered.service.acquire(&offered.request).await.expect("acquire"));
    let other_job = JobContext { job_id: uuid::Uuid::new_v4().to_string(), ..context.clone() };
    let error = renew_before_start(&offered.service, &other_job, &lease()).await.expect_err("unknown job");
    assert!(matches!(error, RenewError::Gone(_)), "{error:?}");
    assert_eq!(fake.renewals(&offered.job), Some(0));

    // A passing outage before the start is retried.
    fake.fail_next(3);
    renew_before_start(&offered.service, &context, &lease()).await.expect("the fourth try");
    assert_eq!(fake.renewals(&offered.job), Some(1));
}

#[tokio::test]
async fn complete_retries_failures_but_not_a_refusal() {
    let fake = fake(Duration::from_millis(200)).await;
    let offered = offered(&fake).await;
    let context = context(&offered.service.acquire(&offered.request).await.expect("acquire"));
    let sent = completion(&context);
    fake.fail_next(4);
    offered.service.complete(&context, &sent).await.expect("the fifth try");
    assert_eq!(fake.completion(&offered.job), Some(serde_json::to_value(&sent).expect("json")));
    // Completed already: 404, final at once.
    let error = offered.service.complete(&context, &sent).await.expect_err("not running");
    assert!(matches!(error, CompleteError::Refused(ref e) if e.status() == Some(404)), "{error:?}");
    let stranger = JobContext { job_token: "job-unknown".into(), ..context.clone() };
    let error = offered.service.complete(&stranger, &sent).await.expect_err("unknown token");
    assert!(matches!(error, CompleteError::Refused(ref e) if e.status() == Some(401)), "{error:?}");
}

#[tokio::test]
async fn complete_gives_up_after_five_failures() {
    let fake = fake(Duration::from_millis(200)).await;
    let offered = offered(&fake).await;
    let context = context(&offered.service.acquire(&offered.request).await.expect("acquire"));
    fake.fail_next(5);
    let error = offered.service.complete(&context, &completion(&context)).await.expect_err("five 503s");
    assert!(matches!(error, CompleteError::Failed(ref e) if e.status() == Some(503)), "{error:?}");
    assert_eq!(fake.completion(&offered.job), None);
    assert_eq!(fake.job_phase(&offered.job), Some(JobPhase::Acquired { runner_id: offered.runner.id }));
}

#[tokio::test]
async fn renewals_failing_past_the_locks_end_lose_the_lease() {
    let fake = fake(Duration::from_millis(200)).await;
    let offered = offered(&fake).await;
    let context = context(&offered.service.acquire(&offered.request).await.expect("acquire"));
    fake.fail_for(Duration::from_secs(600));
    // The lock ends now and the grace is short: the outage outlasts both.
    let config = LeaseConfig { grace: Duration::from_millis(300), ..lease() };
    let lost = tokio::time::timeout(
        WAIT,
        keep_renewing(offered.service.clone(), context, time::OffsetDateTime::now_utc(), config),
    )
    .await
    .expect("lost in time");
    assert!(lost.reason.contains("renewals failed past the lock's end"), "{lost}");
    assert!(lost.reason.contains("503"), "{lost}");
    assert_eq!(fake.renewals(&offered.job), Some(0));
}

#[tokio::test]
async fn acquire_for_a_deleted_runner_says_the_registration_is_gone() {
    let fake = fake(Duration::from_millis(200)).await;
    let offered = offered(&fake).await;
    assert!(fake.delete_runner(offered.runner.id));
    fake.expire_tokens();
    let error = offered.service.acquire(&offered.request).await.expect_err("deleted");
    assert!(error.registration_gone(), "{error:?}");
}

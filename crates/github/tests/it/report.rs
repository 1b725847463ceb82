//! Tests of github::report against the fake GitHub over real HTTP: a job's events in, the run
//! page (steps, logs, completion) out, with Results failing in the ways ref §5 allows.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use contract::{Event, JobEvent, JobResult, Outcome, Section};
use fake_github::{FakeGithub, JobSpec, JobView};
use github::broker::{Message, Status};
use github::job::{Completion, Conclusion, JobContext};
use github::report::{Checkpoint, CheckpointError, JobReport, ReportConfig, ReportEnd, ReportState};
use github::results::ResultsConfig;
use github::run_service::{RunService, RunServiceConfig};
use tokio::sync::mpsc;
use ulid::Ulid;

use crate::broker::runner::{LABELS, fake, runner};

/// Saves nothing: these tests do not restart the report.
struct NoCheckpoint;

#[async_trait]
impl Checkpoint for NoCheckpoint {
    async fn save(&mut self, _state: &ReportState) -> Result<(), CheckpointError> {
        Ok(())
    }
}

/// Results retries in milliseconds: `tries` with waits of 20, 40, then 80 ms.
fn quick(tries: u32) -> ReportConfig {
    ReportConfig {
        results: ResultsConfig {
            tries,
            first_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(80),
        },
        ..ReportConfig::default()
    }
}

/// A job of `steps` queued, offered to a fresh runner and acquired: its context as the daemon
/// reads it.
async fn acquired(fake: &FakeGithub, steps: &[(&str, &str)]) -> JobContext {
    let runner = runner(fake).await;
    let session = runner.broker.create_session(&runner.request).await.expect("session");
    fake.queue(JobSpec::new("build", LABELS, steps));
    let Some(Message::RunnerJobRequest(request)) = runner.broker.poll(&session, Status::Online).await.expect("poll")
    else {
        panic!("expected the job request");
    };
    runner.broker.acknowledge(&session, Status::Online, &request.runner_request_id).await.expect("ack");
    let service = RunService::new(github::http::client().expect("http"), runner.tokens.clone())
        .with_config(RunServiceConfig::default());
    let message = service.acquire(&request).await.expect("acquire");
    github::translate::job_context(&message).expect("the job's context")
}

/// The events of a job that ran `logs` (one list of lines per step) and succeeded.
fn events(logs: &[Vec<String>]) -> Vec<Event> {
    let mut events = vec![
        Event::Accepted { orchestrator: "o-1".into() },
        Event::VmBooting { label: "linux-test".into() },
        Event::VmReady { label: "linux-test".into() },
    ];
    for (index, lines) in logs.iter().enumerate() {
        let index = index as u32;
        events.push(Event::StepStarted { index, name: format!("step {index}") });
        for (chunk, batch) in lines.chunks(500).enumerate() {
            let first_line = (chunk * 500) as u64 + 1;
            events.push(Event::Log { section: Section::Step(index), first_line, lines: batch.to_vec() });
        }
        events.push(Event::StepFinished {
            index,
            name: format!("step {index}"),
            outcome: Outcome::Success,
            conclusion: Outcome::Success,
            outputs: BTreeMap::new(),
        });
    }
    events.push(Event::JobFinished { result: JobResult::Success, outputs: BTreeMap::new(), error: None });
    events
}

/// Runs a report of `context` over `events` to its completion.
async fn report(context: JobContext, config: ReportConfig, events: Vec<Event>) -> Completion {
    let spool = tempfile::tempdir().expect("a spool dir");
    let report = JobReport::new(context, spool.path().to_owned(), config);
    let (sender, receiver) = mpsc::channel(events.len() + 1);
    let job_id = Ulid::new();
    for (seq, event) in events.into_iter().enumerate() {
        let at = time::OffsetDateTime::now_utc();
        let event = JobEvent { job_id, attempt: 1, seq: seq as u64 + 1, at, event };
        sender.send(event).await.expect("queued");
    }
    match report.run(receiver, &mut NoCheckpoint).await {
        ReportEnd::Completed(completion) => completion,
        ReportEnd::Detached => panic!("the report detached"),
    }
}

fn view(fake: &FakeGithub, context: &JobContext) -> JobView {
    fake.view(&context.job_id).expect("the job's page")
}

fn lines(prefix: &str, count: usize) -> Vec<String> {
    (1..=count).map(|n| format!("{prefix} {n:06} {}", "x".repeat(40))).collect()
}

/// The uploaded log's lines (the fake shows them without their timestamps, as the UI does).
fn texts(log: &Option<Vec<String>>) -> Vec<String> {
    log.clone().expect("a log was uploaded")
}

#[tokio::test]
async fn a_step_log_over_the_2_mib_soft_limit_arrives_whole() {
    let fake = fake(Duration::from_millis(300)).await;
    let context = acquired(&fake, &[("big", "produce 3 MiB")]).await;
    // 50,000 lines of ~60 bytes with their timestamps: over 3 MiB.
    let big = lines("line", 50_000);
    let completion = report(context.clone(), quick(4), events(std::slice::from_ref(&big))).await;
    assert_eq!(completion.conclusion, Conclusion::Succeeded);
    let page = view(&fake, &context);
    let step = page.steps.iter().find(|step| step.name == "big").expect("the step");
    assert_eq!(texts(&step.log), big, "every line once, in order");
    assert!(completion.annotations.is_empty(), "{:#?}", completion.annotations);
}

#[tokio::test]
async fn a_results_outage_shorter_than_the_retries_loses_nothing() {
    let fake = fake(Duration::from_millis(300)).await;
    let context = acquired(&fake, &[("hello", "echo hello")]).await;
    fake.fail_results_for(Duration::from_millis(60));
    let hello = lines("hello", 3);
    // 8 tries over 20 + 40 + 80 × 5 ms: longer than the outage.
    let completion = report(context.clone(), quick(8), events(std::slice::from_ref(&hello))).await;
    assert!(fake.results_refused() > 0, "the outage was felt");
    assert_eq!(completion.conclusion, Conclusion::Succeeded);
    assert!(completion.annotations.is_empty(), "{:#?}", completion.annotations);
    let page = view(&fake, &context);
    let step = page.steps.iter().find(|step| step.name == "hello").expect("the step");
    assert_eq!(texts(&step.log), hello);
    assert_eq!(step.status, "completed");
    assert!(page.log.is_some(), "the job log arrived");
}

#[tokio::test]
async fn results_down_for_good_still_completes_the_job_and_says_what_is_missing() {
    let fake = fake(Duration::from_millis(300)).await;
    let context = acquired(&fake, &[("hello", "echo hello")]).await;
    fake.fail_results_for(Duration::from_secs(3600));
    let completion = report(context.clone(), quick(3), events(&[lines("hello", 3)])).await;
    assert_eq!(completion.conclusion, Conclusion::Succeeded, "the job ran: its result is not the upload's");
    let messages: Vec<&str> = completion.annotations.iter().map(|a| a.message.as_str()).collect();
    for missing in ["the step list", "the log of step 'hello'", "the job log"] {
        let expected =
            format!("The runner could not upload {missing} to GitHub (Results did not take it after 3 tries)");
        assert!(messages.iter().any(|m| m.starts_with(&expected)), "{expected:?} in {messages:#?}");
    }
    assert!(completion.annotations.iter().all(|a| a.level == "warning"), "{:#?}", completion.annotations);
    let page = view(&fake, &context);
    assert!(page.steps.iter().all(|step| step.log.is_none()), "nothing reached the page: {page:#?}");
}
